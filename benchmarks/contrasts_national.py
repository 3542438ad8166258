"""Benchmark: the remedies' contrasts of a structural fit at national size, from a saved bundle.

Run from the repository root::

    nice -n 5 .venv/bin/python benchmarks/contrasts_national.py [--repeats 2] [--draws 1000]

The set-up (not timed) simulates the national study (``simulate(seed, national_config())``:
2,800 counties, ~38,000 townships, ~150,000 projects), builds a structural :class:`Fit` whose
posterior has the variables, dims and coords of a real one (``load_spec("structural")``) filled
with random values of plausible scale instead of sampling, saves it with ``Fit.save`` and keeps
the flat table. Each repetition then runs two fresh processes, alternately (ABBA order, so
neither always runs first on a shared, noisy machine):

* **contrasts**: ``Fit.load`` of the bundle, as a user would, then
  ``grassroots.estimands.contrasts(fit, frame)`` (built-in scenarios, fitted group effects,
  modelled mediators);
* **reference**: plain numpy reading the same draws from the same bundle and computing one
  estimand, the status-quo S(24) row average (``X @ beta`` + county and township effects,
  ``exp(-H0(24) exp(eta))``, mean over rows), in chunks of draws: the floor of any
  g-computation over these draws and rows.

The report gives the median times, the peak resident memory of each worker (``VmHWM``, which
restarts at ``exec``), the ratio contrasts / reference (per pair, then its median), the sizes
and the machine, and writes ``reports/benchmarks/contrasts_national.json`` atomically.
``--draws`` (per chain) shrinks the posterior for quick profiling runs, ``--measure-draws N``
times the first N draws of every chain of the full bundle (both workers; the rest is never
read); ``--bundle`` keeps and reuses the bundle between runs (writing the ~6 GB of township
effects takes a minute or more). The workers inherit the environment: prefix
``OPENBLAS_NUM_THREADS=1`` to give the reference one BLAS thread too (the engine limits its own
to one), ``PYTHONPATH=<other src>`` to measure another version of the package on the same
bundle. The report's ``command`` is the command line as run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _process import REPOSITORY, peak_rss_mb, run_worker

DEFAULT_OUT = REPOSITORY / "reports" / "benchmarks" / "contrasts_national.json"
BUDGET_SECONDS = 30.0
BUDGET_RSS_MB = 4096.0
# The reference's chunk: draws per chain read and computed at once.
REFERENCE_DRAWS_PER_CHUNK = 10


# ---------------------------------------------------------------------------------------------
# Set-up: the study and a fake structural fit


def _posterior_dims(spec: Any) -> dict[str, tuple[str, ...]]:
    """Every posterior variable the engine reads (and the small ones a fit also stores), with
    its dims after ``chain, draw``."""
    dims: dict[str, tuple[str, ...]] = {}
    correlated = spec.correlated
    for outcome in spec.outcomes:
        o = outcome.name
        dims[f"{o}_beta"] = (f"{o}_term",)
        if outcome.family == "survival":
            dims[f"{o}_log_hazard"] = (f"{o}_interval",)
            if outcome.time_varying:
                dims[f"{o}_beta_late"] = (f"{o}_late_term",)
        elif outcome.family == "ordinal":
            dims[f"{o}_cutpoints"] = (f"{o}_cut",)
        else:
            dims[f"{o}_intercept"] = ()
        for level in spec.groups:
            if level.name != correlated:
                dims[f"{o}_sd_{level.name}"] = ()
                dims[f"{o}_effect_{level.name}"] = (level.name,)
    if correlated is not None:
        dims[f"{correlated}_sd"] = ("outcome",)
        dims[f"{correlated}_corr"] = ("outcome", "outcome2")
        dims[f"{correlated}_effect"] = (correlated, "outcome")
    return dims


def _fake_value(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random draws of plausible scale for a posterior variable."""
    samples = shape[:2]
    if name.endswith("_log_hazard"):
        # Monthly hazards around 1-2%: S(24) near 0.6-0.7.
        return np.log(0.015) + 0.2 * rng.standard_normal(shape)
    if name.endswith("_cutpoints"):
        k = shape[-1]
        centres = np.linspace(-2.0, 2.0, k)
        return np.sort(centres + 0.1 * rng.standard_normal(shape), axis=-1)
    if name.endswith("_corr"):
        k = shape[-1]
        corr = np.full(shape, 0.2)
        corr[..., np.arange(k), np.arange(k)] = 1.0
        return corr
    if name.endswith(("_sd", "_sd_county", "_sd_township")):
        return 0.3 + 0.05 * np.abs(rng.standard_normal(shape))
    if name.endswith("_effect") or "_effect_" in name:
        # In float64 chain by chain: the township effects are the bulk of the posterior.
        out = np.empty(shape)
        for chain in range(samples[0]):
            out[chain] = 0.35 * rng.standard_normal(shape[1:])
        return out
    if name.endswith("_intercept"):
        return 0.5 * rng.standard_normal(shape)
    return 0.15 * rng.standard_normal(shape)


def build_bundle(seed: int, chains: int, draws: int, folder: Path) -> dict[str, Any]:
    """Simulate the national study, save a fake structural fit's bundle and the flat table."""
    import pandas as pd
    import xarray as xr

    from grassroots.data.identity import data_hash
    from grassroots.data.simulate import national_config, simulate
    from grassroots.inference import Diagnostics, Fit
    from grassroots.models import load_spec, prepare_inputs

    study = simulate(seed, national_config())
    frame = study.flat()
    spec = load_spec("structural")
    inputs = prepare_inputs(spec, frame)
    coords = {k: v for k, v in inputs.coords().items() if not k.endswith("_obs")}
    rng = np.random.default_rng(seed)
    data = {}
    for name, dims in _posterior_dims(spec).items():
        shape = (chains, draws, *(len(coords[d]) for d in dims))
        data[name] = (("chain", "draw", *dims), _fake_value(name, shape, rng))
    used = {d for dims, _ in data.values() for d in dims}
    posterior = xr.Dataset(
        data,
        coords={
            **{k: v for k, v in coords.items() if k in used},
            "chain": np.arange(chains),
            "draw": np.arange(draws),
        },
    )
    diagnostics = Diagnostics(
        pd.DataFrame({"r_hat": [1.0], "ess_bulk": [1000.0], "ess_tail": [1000.0]}, index=["x"]),
        0,
        chains * draws,
        0,
    )
    fitted = Fit(
        spec=spec,
        trace=xr.DataTree.from_dict({"posterior": posterior}),
        scaling=inputs.scaling,
        composite=inputs.groups.composite,
        data_hash=data_hash(frame),
        seed=seed,
        diagnostics=diagnostics,
        model_coords=coords,
    )
    start = time.perf_counter()
    fitted.save(folder / "bundle")
    save_seconds = time.perf_counter() - start
    (folder / "frame.pkl").write_bytes(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
    sizes = {
        "n_counties": len(study.counties),
        "n_townships": len(study.townships),
        "n_projects": len(frame),
        "chains": chains,
        "draws_per_chain": draws,
        "posterior_gb": round(posterior.nbytes / 1e9, 3),
        "township_effect_gb": round(posterior[f"{spec.correlated}_effect"].nbytes / 1e9, 3),
        "save_seconds": round(save_seconds, 2),
    }
    (folder / "sizes.json").write_text(json.dumps(sizes))
    return sizes


# ---------------------------------------------------------------------------------------------
# Workers (fresh processes)


def _worker_contrasts(folder: Path, max_cells: int | None, measure: int | None) -> dict[str, Any]:
    import grassroots.estimands as estimands
    from grassroots.inference import Fit

    frame = pickle.loads((folder / "frame.pkl").read_bytes())
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    fitted = Fit.load(folder / "bundle", frame)
    if measure:
        # The first draws of every chain only (a lazy slice: nothing else is read).
        fitted.trace = fitted.trace.isel(draw=slice(0, measure))
    loaded = time.perf_counter()
    settings = estimands.EstimandSettings(**({} if max_cells is None else {"max_cells": max_cells}))
    result = estimands.contrasts(fitted, frame, settings=settings)
    done = time.perf_counter()
    table = result.table
    s24 = table[(table["quantity"] == "S(24)") & (table["group_by"] == "all")]
    return {
        "seconds": done - start,
        "load_seconds": loaded - start,
        "contrasts_seconds": done - loaded,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "table_rows": len(table),
        "status_quo_s24": float(s24["status_quo"].iloc[0]),
        # A fingerprint of every per-draw value, bit for bit.
        "checksum": hashlib.sha256(
            b"".join(np.ascontiguousarray(v.values).tobytes() for v in result.levels.values())
        ).hexdigest()[:16],
    }


def _worker_reference(folder: Path, measure: int | None) -> dict[str, Any]:
    import xarray as xr

    from grassroots.models.design import Scaling, design_matrix, group_keys
    from grassroots.models.spec import spec_from_dict
    from grassroots.models.survival import piecewise_exposure

    frame = pickle.loads((folder / "frame.pkl").read_bytes())
    meta = json.loads((folder / "bundle" / "fit.json").read_text())
    spec = spec_from_dict(meta["spec"])
    scaling = Scaling.from_dict(meta["scaling"])
    outcome = spec.outcome("survival")
    # The inputs a g-computation needs before it sees a draw (not timed): the design matrix
    # (mediators at 0), each row's county and township, and the exposure of months 0-24.
    terms, matrix = design_matrix(frame, outcome, scaling)
    keys, _ = group_keys(frame, spec.groups, tuple(meta["composite"]))
    exposure, _ = piecewise_exposure(np.array([24.0]), outcome.baseline.cuts)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    tree = xr.open_datatree(folder / "bundle" / "trace.zarr", engine="zarr", consolidated=False)
    posterior = tree["posterior"].to_dataset()
    if measure:
        posterior = posterior.isel(draw=slice(0, measure))
    codes = []
    for level, level_keys in zip(spec.groups, keys, strict=True):
        labels = [str(v) for v in posterior.coords[level.name].values]
        position = {label: k for k, label in enumerate(labels)}
        codes.append(np.array([position[str(k)] for k in level_keys]))
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    position = list(posterior.coords["outcome"].values).index("survival")
    averages = np.empty((chains, draws))
    for begin in range(0, draws, REFERENCE_DRAWS_PER_CHUNK):
        part = posterior.isel(draw=slice(begin, begin + REFERENCE_DRAWS_PER_CHUNK))
        beta = part["survival_beta"].sel(survival_term=list(terms)).to_numpy()
        county = part["survival_effect_county"].to_numpy()
        township = part["township_effect"].isel(outcome=position).to_numpy()
        hazard = np.exp(part["survival_log_hazard"].to_numpy()) @ exposure[0]
        for chain in range(chains):
            eta = beta[chain] @ matrix.T + county[chain][:, codes[0]] + township[chain][:, codes[1]]
            survival = np.exp(-hazard[chain][:, None] * np.exp(eta))
            averages[chain, begin : begin + beta.shape[1]] = survival.mean(axis=1)
    done = time.perf_counter()
    return {
        "seconds": done - start,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "status_quo_s24": float(np.median(averages)),
    }


def _environment() -> dict[str, str]:
    import numpy
    import pandas
    import xarray
    import zarr

    import grassroots

    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        memory = meminfo.read_text().splitlines()[0].split(":", 1)[1].strip()
    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "xarray": xarray.__version__,
        "zarr": zarr.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "memory": memory,
        # The engine runs its BLAS products on one thread whatever this says (threadpoolctl);
        # it applies to the reference's product.
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "grassroots": str(Path(grassroots.__file__).parent),
    }


def _command(argv: list[str]) -> str:
    """The command line of this run, as given (niceness and PYTHONPATH included)."""
    parts = []
    if os.nice(0):
        parts.append(f"nice -n {os.nice(0)}")
    if os.environ.get("PYTHONPATH"):
        parts.append(f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])}")
    parts.append(".venv/bin/python benchmarks/contrasts_national.py")
    parts += [shlex.quote(arg) for arg in argv]
    return " ".join(parts)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from grassroots._io import write_text_atomic

    load_before = os.getloadavg()
    keep = args.bundle is not None
    folder = Path(args.bundle) if keep else Path(tempfile.mkdtemp(prefix="grassroots-bench-"))
    try:
        if not (folder / "sizes.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            print(f"building the bundle in {folder} ...")
            build_bundle(args.seed, args.chains, args.draws, folder)
        sizes = json.loads((folder / "sizes.json").read_text())
        runs: dict[str, list[dict[str, Any]]] = {"contrasts": [], "reference": []}
        measure = str(args.measure_draws or 0)
        worker_args = {
            "contrasts": [str(folder), str(args.max_cells or 0), measure],
            "reference": [str(folder), measure],
        }
        for i in range(args.repeats):
            order = ("contrasts", "reference") if i % 2 == 0 else ("reference", "contrasts")
            for kind in order:
                runs[kind].append(run_worker(__file__, kind, *worker_args[kind]))
                last = runs[kind][-1]
                print(
                    f"  repetition {i + 1}/{args.repeats} {kind:<9} {last['seconds']:7.2f} s, "
                    f"peak RSS {last['peak_rss_mb']:.0f} MB"
                )
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)

    con_s = [r["seconds"] for r in runs["contrasts"]]
    ref_s = [r["seconds"] for r in runs["reference"]]
    ratios = [a / b for a, b in zip(con_s, ref_s, strict=True)]
    first = runs["contrasts"][0]
    report: dict[str, Any] = {
        "benchmark": "contrasts_national",
        "command": _command(args.argv),
        "seed": args.seed,
        "repeats": args.repeats,
        "max_cells": args.max_cells or "default",
        "measured_draws_per_chain": args.measure_draws or sizes["draws_per_chain"],
        "size": sizes,
        "contrasts_seconds": {
            "median": statistics.median(con_s),
            "min": min(con_s),
            "max": max(con_s),
            "all": con_s,
        },
        "load_seconds_median": statistics.median(r["load_seconds"] for r in runs["contrasts"]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["contrasts"]),
        "rss_before_mb": statistics.median(r["rss_before_mb"] for r in runs["contrasts"]),
        "table_rows": first["table_rows"],
        "status_quo_s24": first["status_quo_s24"],
        "checksums": [r["checksum"] for r in runs["contrasts"]],
        "reference": {
            "workload": "numpy: status-quo S(24) row average over the same draws, read from the "
            f"bundle {REFERENCE_DRAWS_PER_CHUNK} draws per chain at a time",
            "seconds_median": statistics.median(ref_s),
            "all": ref_s,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["reference"]),
            "status_quo_s24": runs["reference"][0]["status_quo_s24"],
        },
        "ratio_to_reference": {
            "median_of_pairs": statistics.median(ratios),
            "of_medians": statistics.median(con_s) / statistics.median(ref_s),
            "all": ratios,
        },
        "children_max_rss_mb": max(r["children_max_rss_mb"] for rs in runs.values() for r in rs),
        "budget": {"seconds": BUDGET_SECONDS, "peak_rss_mb": BUDGET_RSS_MB},
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "environment": _environment(),
    }
    report = json.loads(json.dumps(report), parse_float=lambda x: round(float(x), 4))
    write_text_atomic(args.out, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _print(report: dict[str, Any], out: Path) -> None:
    size = report["size"]
    con = report["contrasts_seconds"]
    rows = [
        (
            "size",
            f"{size['n_counties']:,} counties, {size['n_townships']:,} townships, "
            f"{size['n_projects']:,} projects; {size['chains']} x {size['draws_per_chain']:,} "
            f"draws ({size['posterior_gb']:.1f} GB posterior)",
        ),
        (
            "load + contrasts, median",
            f"{con['median']:.2f} s (min {con['min']:.2f}, max {con['max']:.2f}; budget "
            f"{report['budget']['seconds']:.0f} s)",
        ),
        ("  of which Fit.load", f"{report['load_seconds_median']:.2f} s"),
        (
            "peak RSS (contrasts process)",
            f"{report['peak_rss_mb']:.0f} MB ({report['rss_before_mb']:.0f} MB before the load; "
            f"budget {report['budget']['peak_rss_mb']:.0f} MB)",
        ),
        (
            "reference: numpy S(24), median",
            f"{report['reference']['seconds_median']:.2f} s, peak RSS "
            f"{report['reference']['peak_rss_mb']:.0f} MB",
        ),
        (
            "ratio contrasts / reference",
            f"{report['ratio_to_reference']['median_of_pairs']:.1f} (median of alternating pairs)",
        ),
        (
            "status-quo S(24): contrasts / reference",
            f"{report['status_quo_s24']:.4f} / {report['reference']['status_quo_s24']:.4f}",
        ),
        (
            "load average (1 min) before/after",
            f"{report['load_average_1min']['before']:.2f} / "
            f"{report['load_average_1min']['after']:.2f} on {report['environment']['cpus']} CPUs",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\nwrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000, help="draws per chain")
    parser.add_argument("--max-cells", type=int, default=None, help="the engine's max_cells")
    parser.add_argument(
        "--measure-draws",
        type=int,
        default=None,
        help="time only the first N draws of every chain (both workers); default: all",
    )
    parser.add_argument("--bundle", type=Path, default=None, help="keep/reuse the bundle here")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", choices=["contrasts", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.worker == "contrasts":
        folder, max_cells, measure = args.worker_args
        print(json.dumps(_worker_contrasts(Path(folder), int(max_cells) or None, int(measure))))
        return
    if args.worker == "reference":
        folder, measure = args.worker_args
        print(json.dumps(_worker_reference(Path(folder), int(measure))))
        return
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    print(f"contrasts_national: {args.repeats} alternating repetitions, seed {args.seed}")
    report = run(args)
    _print(report, args.out)


if __name__ == "__main__":
    main()
