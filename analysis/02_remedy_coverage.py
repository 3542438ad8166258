"""Check the remedies' contrasts from the structural fit against the simulator's truth.

Fits the structural spec on the bundled synthetic study (or reuses the saved fit), computes the
remedies' contrasts by g-computation, applies the same g-computation to the true parameters in
``data/synthetic_study/truth.json``, and reports whether each 90% interval covers the truth.
Writes ``reports/validation/remedy_coverage.csv``.

    .venv/bin/python analysis/02_remedy_coverage.py [--seed 20250325]
"""

from __future__ import annotations

import argparse

from grassroots import estimands
from grassroots._io import write_text_atomic
from grassroots._paths import default_reports_dir
from grassroots._seeds import ANALYSIS_SEED
from grassroots.data import load_dataset
from grassroots.inference import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=ANALYSIS_SEED)
    args = parser.parse_args()
    study = load_dataset()
    structural = fit(study, "structural", seed=args.seed)
    print(structural.diagnostics.overview())
    estimated = estimands.contrasts(
        structural, study, settings=estimands.EstimandSettings(prob=0.9, seed=args.seed)
    )
    truth = estimands.true_contrasts(study)
    checked = estimands.coverage(estimated, truth, prob=0.9)
    out = default_reports_dir() / "validation" / "remedy_coverage.csv"
    write_text_atomic(out, checked.to_csv(index=False, lineterminator="\n"))
    comparable = checked[checked["comparable"]]
    columns = ["scenario", "outcome", "quantity", "median", "lower", "upper", "truth", "covered"]
    print(comparable[columns].to_string(index=False))
    print(f"covered {int(comparable['covered'].sum())} of {len(comparable)} comparable contrasts"
          f" within their 90% intervals; wrote {out}")


if __name__ == "__main__":
    main()
