"""Fit two small public R data sets and set the estimates beside the published R ones.

Issue 13 found that the default coefficient prior, Normal(0, 1) meant per SD but applied to 0/1
and dummy terms as it stood, shrank large binary effects on small data. This script fits:

* ``ordinal::wine`` (72 ratings 1-5 by 9 judges): ``rating ~ temp + contact + (1 | judge)``,
  published ``clmm`` estimates temp (warm vs cold) 3.063 (SE 0.595), contact (yes vs no) 1.835
  (SE 0.513) (Christensen, *Analysis of ordinal data with cumulative link models*, the ``ordinal``
  package's tutorial);
* ``survival::kidney`` (76 infection times of 38 patients): ``Surv(time, status) ~ age + sex +
  disease`` with a patient frailty; the sex coefficient (female vs male) is about -1.70 as
  quoted in issue 13 (R's ``coxph(... + frailty(id))``; not re-checked here: no R is installed).
  The package's frailty is log-normal and its baseline piecewise constant (times in months,
  cuts at 1, 2, 4 and 8 months), so the comparison is approximate.

The data are in ``tests/data/real/`` (see its README for source and licence). Run::

    PYTHONPATH=src python analysis/validation/real_data.py [--draws 1000] [--out FILE]

It prints, per data set and coefficient, the posterior mean and SD, the R estimate and, when the
installed grassroots has the prior-dominance check, the posterior-to-prior SD ratio. Run it with
an older grassroots on ``PYTHONPATH`` to see the estimates before the change.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

from grassroots.inference import fit
from grassroots.models import spec_from_dict

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "real"
DAYS_PER_MONTH = 365.25 / 12
PUBLISHED = {
    ("wine", "temp[warm]"): 3.063,
    ("wine", "contact[yes]"): 1.835,
    ("kidney", "sex[2]"): -1.70,
}


def wine_data() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "wine.csv", index_col=0)
    return frame.assign(judge=frame["judge"].astype(str))


def kidney_data() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "kidney.csv", index_col=0)
    return frame.assign(months=frame["time"] / DAYS_PER_MONTH, id=frame["id"].astype(str))


def specs(draws: int, tune: int, chains: int) -> dict[str, object]:
    sampler = {"chains": chains, "draws": draws, "tune": tune, "target_accept": 0.95}
    return {
        "wine": spec_from_dict(
            {
                "name": "wine_clmm",
                "family": "ordinal",
                "groups": ["judge"],
                "predictors": ["temp", "contact"],
                "outcome": {"column": "rating"},
                "categorical": {"temp": "cold", "contact": "no"},
                "sampler": sampler,
            }
        ),
        "kidney": spec_from_dict(
            {
                "name": "kidney_frailty",
                "family": "survival",
                "groups": ["id"],
                "predictors": ["age", "sex", "disease"],
                "outcome": {"time": "months", "event": "status"},
                "baseline": {"kind": "piecewise", "cuts": [1, 2, 4, 8]},
                # R's kidney codes sex 1 = male, 2 = female; disease's R reference is Other.
                "categorical": {"sex": "1", "disease": "Other"},
                "sampler": sampler,
            }
        ),
    }


def run(*, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 13) -> pd.DataFrame:
    """Fit both data sets; one row per reported coefficient."""
    frames = {"wine": wine_data(), "kidney": kidney_data()}
    rows = []
    for key, spec in specs(draws, tune, chains).items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = fit(frames[key], spec, seed=seed, save=False, progress=False)
        summary = fitted.summary()
        for (data_set, term), published in PUBLISHED.items():
            if data_set != key:
                continue
            row = summary[(summary["parameter"] == "beta") & (summary["term"] == term)].iloc[0]
            rows.append(
                {
                    "data": key,
                    "term": term,
                    "posterior_mean": row["mean"],
                    "posterior_sd": row["sd"],
                    "published_R": published,
                    "prior_sd": row.get("prior_sd", float("nan")),
                    "prior_sd_ratio": row.get("prior_sd_ratio", float("nan")),
                    "max_rhat": fitted.diagnostics.overview()["max_rhat"],
                    "warnings": "; ".join(sorted({type(w.message).__name__ for w in caught})),
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    table = run(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    if args.out is not None:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
