"""Refit model specs with every coefficient and group-SD prior half and twice as wide, and
print how the key estimates move (Appendix B, part 2).

``grassroots reproduce`` does this for survival M4 and demand fit M4; this script does it for
any shipped spec or spec file, e.g. the strategy models:

    .venv/bin/python analysis/03_prior_sensitivity.py strategy_expedient --factors 0.5 2
"""

from __future__ import annotations

import argparse

from grassroots._seeds import ANALYSIS_SEED
from grassroots.data import load_dataset, load_study
from grassroots.inference import fit
from grassroots.models import load_spec
from grassroots.reporting.appendix import (
    appendix_b_sensitivity,
    scale_priors,
    sensitivity_estimates,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", help="shipped spec names or spec files")
    parser.add_argument("--factors", type=float, nargs="+", default=[0.5, 2.0])
    parser.add_argument("--data", help="data folder, file or mapping (default: bundled study)")
    parser.add_argument("--seed", type=int, default=ANALYSIS_SEED)
    parser.add_argument("--lang", choices=["en", "zh"], default="en")
    args = parser.parse_args()
    study = load_study(args.data) if args.data else load_dataset()
    by_factor: dict[float, dict] = {}
    for factor in sorted({1.0, *args.factors}):
        by_factor[factor] = {}
        for name in args.specs:
            spec = load_spec(name)
            scaled = spec if factor == 1.0 else scale_priors(spec, factor)
            by_factor[factor][spec.name] = fit(study, scaled, seed=args.seed)
    table = appendix_b_sensitivity(sensitivity_estimates(by_factor), args.lang)
    print(table.to_markdown())


if __name__ == "__main__":
    main()
