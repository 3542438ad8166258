"""The structural model fitted with ADVI (mean-field and full-rank) against NUTS on one simulated
study, per parameter, group SDs first.

The study is the engine benchmark's medium one (100 counties / 1,500 townships / 6,000 projects,
simulator seed 20240601: the same ``grassroots.simulate`` call). NUTS (the spec's 4 chains x
1,000 draws) is the reference; each approximation is compared with it per parameter element:

* ``z`` = (approximate mean - NUTS mean) / NUTS SD: how far off the approximation's centre is,
  in posterior SDs;
* ``sd_ratio`` = approximate SD / NUTS SD: below 1, the approximation is overconfident (mean-field
  ADVI is known to shrink group SDs' spread; on a comparable model it understated the township
  SDs by a third).

Writes ``approximate_vs_nuts.{csv,md,json}`` under ``--out`` (default ``reports/validation/``);
fits are cached as bundles under ``--fitted-dir`` (default ``models/fitted/``), so a rerun only
recomputes the comparison. The medium run takes hours on two cores (NUTS alone ~1 h; full-rank
ADVI has d(d+1)/2 covariance parameters for d ~ 8,000 latent dimensions)::

    nice -n 10 .venv/bin/python analysis/validation/approximate_vs_nuts.py
    nice -n 10 .venv/bin/python analysis/validation/approximate_vs_nuts.py --counties 8 \\
        --townships 40 --projects 200 --chains 2 --draws 200 --tune 200 --out /tmp/approx

``--methods consensus --shards S`` compares consensus Monte Carlo over ``S`` county shards
(:mod:`grassroots.inference.consensus`) instead; ``--study PATH`` reads a study instead of
simulating one, and ``--stem`` names the output files::

    nice -n 10 .venv/bin/python analysis/validation/approximate_vs_nuts.py --methods consensus \\
        --shards 4 --stem consensus_vs_nuts
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import grassroots
from grassroots._io import write_text_atomic
from grassroots._paths import default_reports_dir
from grassroots._seeds import ANALYSIS_SEED
from grassroots.data.simulate import SimulationConfig
from grassroots.data.study import Study, load_study
from grassroots.inference import ApproximationError, ConvergenceWarning, Fit, fit
from grassroots.inference.consensus import fit_consensus
from grassroots.inference.diagnostics import METHOD_LABELS
from grassroots.inference.fitting import fitted_dir, package_versions
from grassroots.models import load_spec
from grassroots.reporting.tables import Table

SPEC = "structural"
#: The engine benchmark's data seed: with the same counts the study is its medium study.
DATA_SEED = 20240601
FIT_SEED = ANALYSIS_SEED
#: Parameter groups in the order they are reported: the group SDs, which approximations get
#: wrong first, before everything else.
GROUPS = (
    "county SDs",
    "township SDs",
    "correlations",
    "cut points",
    "coefficients",
    "intercepts and baseline",
    "county effects",
    "township effects",
)
#: Groups listed parameter by parameter in the Markdown (the effects, thousands of them, only in
#: the group summary and the CSV).
LISTED = GROUPS[:6]


def parameter_group(label: str, outcome: str | None, parameter: str, levels: tuple[str, ...]):
    """The reporting group of a summary row (see :data:`GROUPS`)."""
    name = label.split("[", 1)[0]
    outer, inner = levels
    if name in (f"{outer}_sd", f"{outcome}_sd_{outer}"):
        return "county SDs"
    if name in (f"{inner}_sd", f"{outcome}_sd_{inner}"):
        return "township SDs"
    if name.endswith("_corr"):
        return "correlations"
    if parameter == "cutpoints":
        return "cut points"
    if parameter in ("beta", "beta_late"):
        return "coefficients"
    if parameter in ("intercept", "log_hazard") or parameter.startswith("log_hazard"):
        return "intercepts and baseline"
    if name in (f"{outer}_effect", f"{outcome}_effect_{outer}"):
        return "county effects"
    if name in (f"{inner}_effect", f"{outcome}_effect_{inner}"):
        return "township effects"
    return "other"


def posterior_moments(fitted: Fit) -> pd.DataFrame:
    """Mean and SD per reported parameter element (group effects included), with its group."""
    table = fitted.summary(group_effects=True)
    levels = fitted.spec.levels
    groups = [
        parameter_group(label, outcome, parameter, levels)
        for label, outcome, parameter in zip(
            table.index, table["outcome"], table["parameter"], strict=True
        )
    ]
    return pd.DataFrame({"group": groups, "mean": table["mean"], "sd": table["sd"]})


def compare(reference: pd.DataFrame, approximate: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per parameter element: both fits' moments, ``z`` and ``sd_ratio``, groups in order."""
    joined = reference.join(approximate[["mean", "sd"]], rsuffix="_approx", how="inner")
    rows = pd.DataFrame(
        {
            "method": method,
            "group": joined["group"],
            "parameter": joined.index,
            "nuts_mean": joined["mean"],
            "nuts_sd": joined["sd"],
            "approx_mean": joined["mean_approx"],
            "approx_sd": joined["sd_approx"],
        }
    )
    rows["z"] = (rows["approx_mean"] - rows["nuts_mean"]) / rows["nuts_sd"]
    rows["sd_ratio"] = rows["approx_sd"] / rows["nuts_sd"]
    order = {group: k for k, group in enumerate((*GROUPS, "other"))}
    rows["order"] = rows["group"].map(order)
    rows["position"] = np.arange(len(rows))
    rows = rows.sort_values(["order", "position"]).drop(columns=["order", "position"])
    return rows.reset_index(drop=True)


def group_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per method and group: elements, max and median |z|, and the SD ratio's median and range."""
    grouped = rows.assign(abs_z=rows["z"].abs()).groupby(["method", "group"], sort=False)
    return grouped.agg(
        elements=("z", "size"),
        max_abs_z=("abs_z", "max"),
        median_abs_z=("abs_z", "median"),
        median_sd_ratio=("sd_ratio", "median"),
        min_sd_ratio=("sd_ratio", "min"),
        max_sd_ratio=("sd_ratio", "max"),
    ).reset_index()


def timed_fit(study: Study, spec, method: str, args: argparse.Namespace) -> tuple[Fit, dict]:
    load_before = os.getloadavg()
    started = time.perf_counter()
    with warnings.catch_warnings():
        # The report states every fit's diagnostics; the approximations' warning is its subject.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fit(study, spec, seed=args.seed, method=method, fitted_dir=args.fitted_dir,
                     progress=args.progress)  # fmt: skip
    seconds = time.perf_counter() - started
    record = {
        "bundle": str(fitted.path),
        "script_wall_seconds": round(seconds, 1),
        "timings": {key: round(value, 1) for key, value in fitted.timings.items()},
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
    }
    return fitted, record


def timed_consensus(study: Study, spec, args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    """Consensus Monte Carlo over ``args.shards`` county shards: its moments and its record."""
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = fit_consensus(study, spec, shards=args.shards, seed=args.seed, progress=args.progress,
                           on_shard=lambda row: print(row, flush=True))  # fmt: skip
    seconds = time.perf_counter() - started
    overview = result.diagnostics.overview()
    record = {
        "shards": args.shards,
        "script_wall_seconds": round(seconds, 1),
        "shard_fits": result.shards.to_dict(orient="records"),
        "combined": {key: overview[key] for key in ("max_rhat", "min_ess_bulk", "min_ess_tail")},
        "converged": result.converged,
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
    }
    return result.summary()[["mean", "sd"]], record


def nuts_record(fitted: Fit) -> dict:
    overview = fitted.diagnostics.overview()
    return {
        "max_rhat": overview["max_rhat"],
        "min_ess_bulk": overview["min_ess_bulk"],
        "min_ess_tail": overview["min_ess_tail"],
        "divergences": overview["n_divergent"],
        "converged": overview["converged"],
    }


def _number(value: float, digits: int = 3) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _consensus_text(fitted: dict, nuts: dict) -> str:
    shards = pd.DataFrame(fitted["shard_fits"])
    combined = fitted["combined"]
    return (
        f"**{METHOD_LABELS['consensus']}**: {fitted['shards']} shards of "
        f"{shards['groups'].min()}-{shards['groups'].max()} counties "
        f"({shards['rows'].min():,d}-{shards['rows'].max():,d} projects); shards' max R-hat "
        f"{shards['max_rhat'].max():.3f}, min bulk ESS {shards['min_ess_bulk'].min():.0f}, "
        f"{int(shards['divergences'].sum())} divergences; combined draws' max R-hat "
        f"{combined['max_rhat']:.3f}, min bulk ESS {combined['min_ess_bulk']:.0f}"
        + ("" if fitted["converged"] else " (NOT converged)")
        + f"; {shards['compile_seconds'].sum():,.0f} s compiling and "
        f"{shards['sample_seconds'].sum():,.0f} s sampling in all, "
        f"{fitted['script_wall_seconds']:,.0f} s wall "
        f"(NUTS: {nuts['timings'].get('sample_seconds', float('nan')):,.0f} s sampling). "
        "Compared on the shared parameters only (the group effects are not combined)."
    )


def markdown(record: dict, rows: pd.DataFrame, summary: pd.DataFrame) -> str:
    settings = record["settings"]
    nuts = record["fits"]["nuts"]
    realised = record["study"]
    lines = [
        "# Approximate inference against NUTS: the structural model",
        "",
        (
            f"One simulated study ({realised['counties']:,d} counties, "
            f"{realised['townships']:,d} townships, {realised['projects']:,d} projects; simulator "
            f"seed {settings['data_seed']}, asked for {settings['counties']} / "
            f"{settings['townships']} / {settings['projects']}), "
            if settings.get("study_path") is None
            else f"The study at {settings['study_path']} ({realised['counties']:,d} counties, "
            f"{realised['townships']:,d} townships, {realised['projects']:,d} projects), "
        )
        + f"fit seed {settings['fit_seed']}. NUTS: {settings['chains']} chains x "
        f"{settings.get('reference_draws', settings['draws'])} draws after {settings['tune']} "
        "warm-up (max R-hat "
        f"{nuts['max_rhat']:.3f}, min bulk ESS {nuts['min_ess_bulk']:.0f}, "
        f"{nuts['divergences']} divergences"
        + ("" if nuts["converged"] else "; NOT converged, so the reference itself is in doubt")
        + f"). Variational approximations: at most {settings['iterations']:,d} iterations, "
        "stopped when no variational parameter moved by more than "
        f"{settings['tolerance']:g} in 1,000; {settings['chains'] * settings['draws']:,d} draws "
        "of each. Consensus Monte Carlo: the spec's NUTS settings in every shard.",
        "",
        "z = (approximate mean - NUTS mean) / NUTS SD; SD ratio = approximate SD / NUTS SD "
        "(below 1: overconfident). Group SDs first.",
        "",
    ]
    for method, fitted in record["fits"].items():
        if method == "nuts":
            continue
        label = METHOD_LABELS[method]
        if "error" in fitted:
            lines += [f"**{label}** failed: {fitted['error']}", ""]
            continue
        if method == "consensus":
            lines += [_consensus_text(fitted, nuts), ""]
            continue
        run = fitted["optimisation"]
        lines += [
            f"**{label}**: {run['iterations']:,d} iterations, "
            + ("converged" if run["converged"] else "did NOT converge")
            + f", final ELBO {run['final_elbo']:,.1f}, {run['latent_dimensions']:,d} latent "
            f"dimensions, {fitted['timings'].get('sample_seconds', float('nan')):,.0f} s "
            f"(NUTS: {nuts['timings'].get('sample_seconds', float('nan')):,.0f} s sampling).",
            "",
        ]
    if summary.empty:
        return "\n".join(lines)
    shown = summary.assign(
        method=summary["method"].map(METHOD_LABELS),
        max_abs_z=summary["max_abs_z"].map(_number),
        median_abs_z=summary["median_abs_z"].map(_number),
        median_sd_ratio=summary["median_sd_ratio"].map(_number),
        sd_ratio_range=[
            f"{_number(low)} to {_number(high)}"
            for low, high in zip(summary["min_sd_ratio"], summary["max_sd_ratio"], strict=True)
        ],
    )[["method", "group", "elements", "max_abs_z", "median_abs_z", "median_sd_ratio",
       "sd_ratio_range"]]  # fmt: skip
    lines.append(Table("summary", "Per parameter group", shown).to_markdown())
    listed = rows[rows["group"].isin(LISTED)]
    for method, part in listed.groupby("method", sort=False):
        frame = part[["group", "parameter", "nuts_mean", "nuts_sd", "approx_mean", "approx_sd",
                      "z", "sd_ratio"]].copy()  # fmt: skip
        for column in ("nuts_mean", "nuts_sd", "approx_mean", "approx_sd", "z", "sd_ratio"):
            frame[column] = frame[column].map(_number)
        lines.append(
            Table("parameters", f"Per parameter: {METHOD_LABELS[method]}", frame).to_markdown()
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, default=100)
    parser.add_argument("--townships", type=int, default=1500)
    parser.add_argument("--projects", type=int, default=6000)
    parser.add_argument("--methods", default="advi,fullrank_advi",
                        help="approximations to compare with NUTS, comma-separated: advi, "
                             "fullrank_advi, consensus")
    parser.add_argument("--shards", type=int, default=4,
                        help="county shards of consensus Monte Carlo")
    parser.add_argument("--study", type=Path,
                        help="a study folder to read instead of simulating one")
    parser.add_argument("--stem", default="approximate_vs_nuts", help="output files' name")
    parser.add_argument("--chains", type=int, help="NUTS chains (default: the spec's)")
    parser.add_argument("--draws", type=int, help="draws per chain (default: the spec's)")
    parser.add_argument("--tune", type=int, help="NUTS warm-up per chain (default: the spec's)")
    parser.add_argument("--reference-draws", type=int,
                        help="draws per chain of the NUTS reference alone (default: --draws): "
                             "more draws, a smaller Monte Carlo error in the reference")
    parser.add_argument("--seed", type=int, default=FIT_SEED, help="seed of every fit")
    parser.add_argument("--fitted-dir", type=Path, default=fitted_dir())
    parser.add_argument("--out", type=Path, default=default_reports_dir() / "validation")
    parser.add_argument("--progress", action="store_true", help="show the fits' progress")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - {"advi", "fullrank_advi", "consensus"})
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from advi, fullrank_advi, consensus")

    started = time.perf_counter()
    config = SimulationConfig(
        n_counties=args.counties,
        townships_per_county=args.townships / args.counties,
        projects_per_township=args.projects / args.townships,
    )
    if args.study is None:
        simulated = grassroots.simulate(DATA_SEED, config)
        study = Study.from_frames(simulated.projects, simulated.townships, simulated.counties)
    else:
        study = load_study(args.study)
    spec = load_spec(SPEC).with_sampler(chains=args.chains, draws=args.draws, tune=args.tune)
    reference_spec = spec.with_sampler(draws=args.reference_draws)
    settings = {
        "spec": SPEC,
        "data_seed": DATA_SEED,
        "fit_seed": args.seed,
        "counties": args.counties,
        "townships": args.townships,
        "projects": args.projects,
        "chains": spec.sampler.chains,
        "draws": spec.sampler.draws,
        "tune": spec.sampler.tune,
        "reference_draws": reference_spec.sampler.draws,
        "iterations": spec.sampler.iterations,
        "tolerance": spec.sampler.tolerance,
        "methods": methods,
        "shards": args.shards,
        "study_path": None if args.study is None else str(args.study),
    }
    print(f"study: {study.n}; NUTS {spec.sampler.chains} x {spec.sampler.draws}", flush=True)

    reference, nuts = timed_fit(study, reference_spec, "nuts", args)
    fits: dict[str, dict] = {"nuts": {**nuts, **nuts_record(reference)}}
    print(f"NUTS: {fits['nuts']}", flush=True)
    reference_moments = posterior_moments(reference)
    compared = []
    for method in methods:
        if method == "consensus":
            moments, fits[method] = timed_consensus(study, spec, args)
            print(f"consensus: {fits[method]}", flush=True)
            compared.append(compare(reference_moments, moments, method))
            continue
        try:
            approximation, record = timed_fit(study, spec, method, args)
        except (ApproximationError, MemoryError) as error:
            fits[method] = {"error": f"{type(error).__name__}: {error}"}
            print(f"{method}: {fits[method]['error']}", flush=True)
            continue
        record["optimisation"] = approximation.diagnostics.optimisation
        fits[method] = record
        print(f"{method}: {record}", flush=True)
        compared.append(compare(reference_moments, posterior_moments(approximation), method))

    rows = pd.concat(compared, ignore_index=True) if compared else pd.DataFrame()
    summary = group_summary(rows) if compared else pd.DataFrame()
    record = {
        "command": "analysis/validation/approximate_vs_nuts.py " + " ".join(sys.argv[1:]),
        "settings": settings,
        "study": {"counties": study.n["county"], "townships": study.n["township"],
                  "projects": study.n["project"]},  # fmt: skip
        "data_hash": study.data_hash(),
        "fits": fits,
        "summary": summary.to_dict(orient="records"),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "platform": platform.platform(),
        },
        "versions": package_versions(),
    }
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / f"{args.stem}.csv",
                      rows.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
    write_text_atomic(out / f"{args.stem}.json",
                      json.dumps(record, indent=2, default=float) + "\n")
    write_text_atomic(out / f"{args.stem}.md", markdown(record, rows, summary) + "\n")
    if compared:
        print(summary.to_string(index=False))
    print(f"wrote {out}/{args.stem}.{{csv,md,json}} in {record['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
