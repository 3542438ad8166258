"""Rank the townships by what a remedy would gain them (Table 8), from the structural fit.

Prints the first townships per scenario and writes the whole ranked list as CSV:

    .venv/bin/python analysis/04_targeting.py --quantity "S(24)" --top 20 \\
        --out reports/validation/targeting_s24.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grassroots import estimands
from grassroots._io import write_text_atomic
from grassroots._seeds import ANALYSIS_SEED
from grassroots.data import load_dataset, load_study
from grassroots.inference import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder, file or mapping (default: bundled study)")
    parser.add_argument("--outcome", default="survival")
    parser.add_argument("--quantity", default="S(24)", help='e.g. "S(12)", "P(>=4)", "E"')
    parser.add_argument("--group-effects", choices=["fitted", "new", "none"], default="fitted")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--seed", type=int, default=ANALYSIS_SEED)
    parser.add_argument("--out", type=Path, help="CSV of the whole ranked list")
    args = parser.parse_args()
    study = load_study(args.data) if args.data else load_dataset()
    structural = fit(study, "structural", seed=args.seed)
    ranked = estimands.targeting(
        structural, study, outcome=args.outcome, quantity=args.quantity,
        group_effects=args.group_effects, settings=estimands.EstimandSettings(seed=args.seed),
    )  # fmt: skip
    for scenario in dict.fromkeys(ranked.table["scenario"]):
        print(f"\n{scenario}")
        print(ranked.top(args.top, scenario).to_string(index=False))
    if args.out:
        write_text_atomic(args.out, ranked.table.to_csv(index=False, lineterminator="\n"))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
