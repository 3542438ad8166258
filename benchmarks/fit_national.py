"""Benchmark: the joint structural model at national size, within a wall-clock budget.

Run from the repository root (it needs the machine to itself: 2 cores, ~6 GiB)::

    nice -n 5 .venv/bin/python benchmarks/fit_national.py --minutes 25

Issue 6's target is a 4 chains x 1,000 draws fit of ``models/structural.toml`` on a study of
2,800 counties / ~37,900 townships / ~150,000 projects in at most 20 minutes and 6 GiB. A fit that
cannot finish is still measured: the script simulates the study, builds the model, compiles it
for nutpie (numba, the package's default path), starts sampling without blocking, and at the
budget (or at the end) inspects what the chains have done: iterations of warm-up and sampling,
leapfrog steps, and so the time per gradient evaluation. From those it projects the time of the
whole fit at the tree sizes seen so far (early warm-up trees are often larger than later ones,
so the projection from the last window of iterations is given beside the overall one).

Draws stream to a zarr store on disk (nutpie's ``zarr_store``) unless ``--in-memory`` is given:
one draw of the national model holds ~380,000 values (township effects and their standard
normals), so 4,000 draws held in memory need ~12 GB on their own.

Peak memory is the process's VmHWM (nutpie's chains are threads of this process) and the
largest RSS seen while polling. Writes ``reports/benchmarks/fit_national.json`` atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPOSITORY / "reports" / "benchmarks" / "fit_national.json"


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _iterations(trace: Any, group: str) -> dict[str, Any]:
    """Iterations per chain and leapfrog steps of one sample-stats group of nutpie's trace."""
    if group not in trace.children:
        return {"per_chain": [], "steps": 0, "steps_per_chain": []}
    stats = trace[group].to_dataset()
    # (chain, draw); a zarr store holds every draw from the start, unfinished ones as 0 (a
    # finished draw takes at least one leapfrog step), an aborted arrow trace may hold NaN.
    steps = np.nan_to_num(stats["n_steps"].values.astype(float), nan=0.0)
    done = steps > 0
    return {
        "per_chain": done.sum(axis=1).tolist(),
        "steps": int(np.nansum(np.where(done, steps, 0))),
        "steps_per_chain": np.nansum(np.where(done, steps, 0), axis=1).astype(int).tolist(),
        "mean_steps_last_50": [
            float(np.mean(row[mask][-50:])) if mask.any() else None
            for row, mask in zip(steps, done, strict=True)
        ],
        "max_tree_depth_seen": int(np.nanmax(stats["depth"].values[done]))
        if "depth" in stats and done.any()
        else None,
    }


def _finished(sampler: Any) -> bool:
    """Whether nutpie's background sampler is done (its check raises TimeoutError while the
    chains still run)."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def run(minutes: float, seed: int, chains: int, draws: int, tune: int, stream: bool) -> dict:
    import nutpie

    from grassroots.data.simulate import national_config, simulate
    from grassroots.data.study import Study
    from grassroots.models import build_model, load_spec

    record: dict[str, Any] = {"load_average_before": _load_average()}
    started = time.perf_counter()
    sim = simulate(seed, national_config())
    frame = Study.from_frames(sim.projects, sim.townships, sim.counties).flat()
    record["simulate_seconds"] = time.perf_counter() - started
    record["counts"] = {
        "counties": int(frame["county_id"].nunique()),
        "townships": int(frame["township_id"].nunique()),
        "projects": len(frame),
    }
    del sim

    spec = load_spec("structural").with_sampler(chains=chains, draws=draws, tune=tune)
    start = time.perf_counter()
    built = build_model(spec, frame)
    record["build_seconds"] = time.perf_counter() - start
    record["unconstrained_coordinates"] = int(
        sum(np.size(v) for v in built.model.initial_point().values())
    )
    record["rss_after_build_mib"] = _status_mib("VmRSS")

    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(
        built.model, backend="numba", initial_points=built.initial_points or None
    )
    record["compile_seconds"] = time.perf_counter() - start
    record["rss_after_compile_mib"] = _status_mib("VmRSS")

    store_dir = Path(tempfile.mkdtemp(prefix="grassroots-national-"))
    options: dict[str, Any] = {}
    if stream:
        from nutpie import zarr_store

        (store_dir / "trace.zarr").mkdir()
        options["zarr_store"] = zarr_store.LocalStore(str(store_dir / "trace.zarr"))
    sampler = nutpie.sample(
        compiled,
        seed=seed,
        chains=chains,
        draws=draws,
        tune=tune,
        cores=min(chains, os.cpu_count() or 1),
        target_accept=spec.sampler.target_accept,
        maxdepth=spec.sampler.max_treedepth,
        save_warmup=True,
        progress_bar=False,
        blocking=False,
        **options,
    )
    sampling_started = time.perf_counter()
    deadline = started + 60 * minutes
    largest_rss = _status_mib("VmRSS")
    finished = False
    try:
        while not finished and time.perf_counter() < deadline:
            time.sleep(5)
            largest_rss = max(largest_rss, _status_mib("VmRSS"))
            finished = _finished(sampler)
        elapsed = time.perf_counter() - sampling_started
        # abort() stops the chains and returns what they drew, warm-up included.
        trace = sampler.wait() if finished else sampler.abort()
    except BaseException:
        with contextlib.suppress(Exception):
            sampler.cancel()
        raise
    largest_rss = max(largest_rss, _status_mib("VmRSS"))

    warmup = _iterations(trace, "warmup_sample_stats")
    kept = _iterations(trace, "sample_stats")
    steps = warmup["steps"] + kept["steps"]
    iterations = sum(warmup["per_chain"]) + sum(kept["per_chain"])
    cores = min(chains, os.cpu_count() or 1)
    total_iterations = chains * (draws + tune)
    last_window = [x for x in (kept["mean_steps_last_50"] or []) if x] or [
        x for x in warmup["mean_steps_last_50"] if x
    ]
    seconds_per_step = elapsed * cores / steps if steps else float("nan")
    record |= {
        "finished": finished,
        "sampling_seconds": elapsed,
        "wall_seconds_total": time.perf_counter() - started,
        "iterations_done": iterations,
        "iterations_needed": total_iterations,
        "warmup": warmup,
        "sampling": kept,
        "leapfrog_steps": steps,
        "seconds_per_gradient_per_core": seconds_per_step,
        "projected_sampling_minutes_at_mean_tree": (
            total_iterations * (steps / iterations) * seconds_per_step / cores / 60
            if iterations
            else None
        ),
        "projected_sampling_minutes_at_last_window_tree": (
            total_iterations * float(np.mean(last_window)) * seconds_per_step / cores / 60
            if last_window
            else None
        ),
        "peak_rss_mib": _status_mib("VmHWM"),
        "largest_polled_rss_mib": largest_rss,
        "streamed_to_zarr": stream,
        "load_average_after": _load_average(),
    }
    shutil.rmtree(store_dir, ignore_errors=True)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=25.0, help="wall-clock budget")
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--in-memory", action="store_true", help="keep draws in memory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    import nutpie
    import pymc
    import pytensor

    record = run(args.minutes, args.seed, args.chains, args.draws, args.tune, not args.in_memory)
    report = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "benchmarks/fit_national.py " + " ".join(argv or sys.argv[1:]),
        "settings": {
            "minutes": args.minutes,
            "seed": args.seed,
            "chains": args.chains,
            "draws": args.draws,
            "tune": args.tune,
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "nutpie": nutpie.__version__,
            "pymc": pymc.__version__,
            "pytensor": pytensor.__version__,
        },
        "targets": {"minutes": 20, "peak_rss_gib": 6},
        "result": record,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".json.partial")
    partial.write_text(json.dumps(report, indent=2, default=float))
    partial.replace(args.out)
    print(json.dumps(record, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
