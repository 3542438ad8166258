"""Appendix B's prior sensitivity by importance reweighting against the real refits.

For each spec of ``pipeline.PRIOR_SCALED_SPECS`` and each prior factor, reweights the saved x1
fit to the scaled prior (``grassroots.inference.prior_reweighting.reweight_prior``) and compares
the Appendix B / B3 estimates (medians and 95% interval ends) with those of the saved refit under
that prior, in refit posterior SDs (the refit's 95% interval width / 3.92: log scale for
hazard and odds ratios, SD scale for group SDs). The x1 fit's own estimates are compared too: how
far off the table would be if the weights were ignored.

    PYTHONPATH=src nice -n 5 .venv/bin/python benchmarks/prior_reweighting.py \\
        --fitted-dir /work/fitted-shared --out reports/benchmarks/prior_reweighting.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import grassroots
from grassroots.inference import Fit
from grassroots.inference.fitting import bundle_name
from grassroots.inference.prior_reweighting import reweight_prior
from grassroots.models import load_spec
from grassroots.pipeline import PRIOR_FACTORS, PRIOR_SCALED_SPECS, STRUCTURAL_SPEC
from grassroots.reporting.appendix import scale_priors, sensitivity_estimates
from grassroots.reporting.structural_tables import structural_sensitivity_estimates

SEED = 20250325


def _estimates(fitted: Fit, reweighting=None) -> pd.DataFrame:
    """Appendix B (or B3, for the structural model) rows of one fit, weighted if asked."""
    if fitted.spec.name.startswith(STRUCTURAL_SPEC):
        reweighted = None if reweighting is None else {2.0: reweighting}
        frame = structural_sensitivity_estimates({2.0: fitted}, reweighted=reweighted)
    else:
        reweighted = None if reweighting is None else {2.0: {"m": reweighting}}
        frame = sensitivity_estimates({2.0: {"m": fitted}}, reweighted=reweighted)
    return frame.set_index(["model", "term"])[["median", "lower", "upper"]]


def _distance(estimates: pd.DataFrame, refit: pd.DataFrame) -> dict[str, float]:
    """Largest and median distance of medians and interval ends from the refit's, in refit
    posterior SDs (log scale for ratios)."""
    ratios = ~refit.index.get_level_values("term").str.startswith("sd_")

    def scale(frame: pd.DataFrame) -> pd.DataFrame:
        logged = np.log(frame)
        return logged.where(np.repeat(ratios[:, None], frame.shape[1], axis=1), frame)

    ours, theirs = scale(estimates.loc[refit.index]), scale(refit)
    sd = (theirs["upper"] - theirs["lower"]) / 3.92
    off = (ours - theirs).abs().div(sd, axis=0)
    ends = pd.concat([off["lower"], off["upper"]])
    return {
        "median_max": round(float(off["median"].max()), 3),
        "median_median": round(float(off["median"].median()), 3),
        "ends_max": round(float(ends.max()), 3),
        "ends_median": round(float(ends.median()), 3),
        "rows": len(off),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fitted-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    study = grassroots.load_dataset()
    frame, data_hash = study.flat(), study.data_hash()
    results = []
    for name in PRIOR_SCALED_SPECS:
        base = Fit.load(args.fitted_dir / bundle_name(load_spec(name), data_hash, SEED))
        unweighted = _estimates(base)
        for factor in PRIOR_FACTORS:
            spec = scale_priors(load_spec(name), factor)
            refit = Fit.load(args.fitted_dir / bundle_name(spec, data_hash, SEED))
            cpu = time.process_time()
            reweighting = reweight_prior(base, spec, frame)
            cpu = time.process_time() - cpu
            expected = _estimates(refit)
            results.append({
                "spec": spec.name,
                "pareto_k": round(reweighting.pareto_k, 3),
                "threshold": round(reweighting.threshold, 3),
                "reliable": reweighting.reliable,
                "ess_of_weights": round(float(1 / np.sum(reweighting.weights**2)), 0),
                "draws": int(reweighting.weights.size),
                "reweight_wall_s": round(reweighting.seconds, 1),
                "reweight_cpu_s": round(cpu, 1),
                "refit_wall_s": round(refit.timings["compile_seconds"]
                                      + refit.timings["sample_seconds"], 1),
                "refit_max_rhat": round(float(refit.diagnostics.max_rhat), 4),
                "reweighted_vs_refit": _distance(_estimates(base, reweighting), expected),
                "x1_vs_refit": _distance(unweighted, expected),
            })  # fmt: skip
            print(json.dumps(results[-1]), flush=True)
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "fitted_dir": str(args.fitted_dir),
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
