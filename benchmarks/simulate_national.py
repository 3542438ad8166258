"""Benchmark: simulate and write a national-size study (2,800 counties, ~150,000 projects).

Run from the repository root::

    .venv/bin/python benchmarks/simulate_national.py [--repeats 5] [--seed 20250325]

Each repetition runs two fresh processes, alternately (ABBA order, so neither always runs
first on a shared, noisy machine):

* **simulate**: ``simulate(seed, national_config())`` then ``write_simulation`` (four files);
* **reference**: pandas writing the same three tables with ``DataFrame.to_csv`` and nothing
  else, the floor any CSV-writing simulator pays.

The report gives the median times, the peak resident memory of the simulate process, and the
ratio simulate / reference (per pair, then its median), which travels between machines better
than seconds do. It prints a table and writes ``reports/benchmarks/simulate_national.json``
atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _process import REPOSITORY, peak_rss_mb, run_worker

DEFAULT_OUT = REPOSITORY / "reports" / "benchmarks" / "simulate_national.json"


def _worker_simulate(seed: int, folder: Path) -> dict[str, float]:
    from grassroots.data.simulate import national_config, simulate, write_simulation

    rss_before = peak_rss_mb()
    start = time.perf_counter()
    sim = simulate(seed, national_config())
    simulated = time.perf_counter()
    write_simulation(sim, folder / "study")
    done = time.perf_counter()
    return {
        "seconds": done - start,
        "simulate_seconds": simulated - start,
        "write_seconds": done - simulated,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
        "n_projects": len(sim.projects),
        "n_townships": len(sim.townships),
        "n_counties": len(sim.counties),
    }


def _worker_reference(tables: Path, folder: Path) -> dict[str, float]:
    import pandas as pd  # noqa: F401  (imported before the clock starts, like the simulator)

    frames = pickle.loads(tables.read_bytes())
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {
        "seconds": time.perf_counter() - start,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_before,
    }


def _versions() -> dict[str, str]:
    import numpy
    import pandas

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }


def run(repeats: int, seed: int, out: Path) -> dict[str, Any]:
    from grassroots._io import write_text_atomic
    from grassroots.data.simulate import national_config, simulate

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="grassroots-bench-") as tmp:
        tmp_path = Path(tmp)
        # The reference writes the very tables the simulator writes; they are drawn once here
        # and handed over as a pickle, whose loading is not timed.
        sim = simulate(seed, national_config())
        tables = tmp_path / "tables.pkl"
        tables.write_bytes(pickle.dumps(sim.tables, protocol=pickle.HIGHEST_PROTOCOL))
        del sim
        runs: dict[str, list[dict[str, float]]] = {"simulate": [], "reference": []}
        for i in range(repeats):
            order = ("simulate", "reference") if i % 2 == 0 else ("reference", "simulate")
            for kind in order:
                folder = tmp_path / f"{kind}-{i}"
                folder.mkdir()
                if kind == "simulate":
                    runs[kind].append(run_worker(__file__, kind, str(seed), str(folder)))
                else:
                    runs[kind].append(run_worker(__file__, kind, str(tables), str(folder)))
                print(f"  repetition {i + 1}/{repeats} {kind:<9} {runs[kind][-1]['seconds']:.2f} s")

    sim_s = [r["seconds"] for r in runs["simulate"]]
    ref_s = [r["seconds"] for r in runs["reference"]]
    ratios = [a / b for a, b in zip(sim_s, ref_s, strict=True)]
    first = runs["simulate"][0]
    report: dict[str, Any] = {
        "benchmark": "simulate_national",
        "command": ".venv/bin/python benchmarks/simulate_national.py",
        "seed": seed,
        "repeats": repeats,
        "size": {k: first[k] for k in ("n_counties", "n_townships", "n_projects")},
        "simulate_and_write_seconds": {
            "median": statistics.median(sim_s),
            "min": min(sim_s),
            "max": max(sim_s),
            "all": sim_s,
        },
        "simulate_seconds_median": statistics.median(
            r["simulate_seconds"] for r in runs["simulate"]
        ),
        "write_seconds_median": statistics.median(r["write_seconds"] for r in runs["simulate"]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["simulate"]),
        "rss_after_imports_mb": statistics.median(
            r["rss_after_imports_mb"] for r in runs["simulate"]
        ),
        "reference": {
            "workload": "pandas DataFrame.to_csv of the same three tables",
            "seconds_median": statistics.median(ref_s),
            "all": ref_s,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["reference"]),
        },
        "ratio_to_reference": {
            "median_of_pairs": statistics.median(ratios),
            "of_medians": statistics.median(sim_s) / statistics.median(ref_s),
            "all": ratios,
        },
        "budget_seconds": 30.0,
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "environment": _versions(),
    }
    report = json.loads(json.dumps(report), parse_float=lambda x: round(float(x), 4))
    write_text_atomic(out, json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _print(report: dict[str, Any], out: Path) -> None:
    size = report["size"]
    rows = [
        (
            "size",
            f"{size['n_counties']:,} counties, {size['n_townships']:,} townships, "
            f"{size['n_projects']:,} projects",
        ),
        (
            "simulate + write, median",
            f"{report['simulate_and_write_seconds']['median']:.2f} s "
            f"(min {report['simulate_and_write_seconds']['min']:.2f}, "
            f"max {report['simulate_and_write_seconds']['max']:.2f}; budget 30 s)",
        ),
        ("  of which simulate", f"{report['simulate_seconds_median']:.2f} s"),
        ("  of which write", f"{report['write_seconds_median']:.2f} s"),
        (
            "peak RSS (simulate process)",
            f"{report['peak_rss_mb']:.0f} MB "
            f"({report['rss_after_imports_mb']:.0f} MB after imports)",
        ),
        ("reference: pandas to_csv, median", f"{report['reference']['seconds_median']:.2f} s"),
        (
            "ratio simulate / reference",
            f"{report['ratio_to_reference']['median_of_pairs']:.2f} (median of alternating pairs)",
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
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", choices=["simulate", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("worker_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "simulate":
        print(json.dumps(_worker_simulate(int(args.worker_args[0]), Path(args.worker_args[1]))))
        return
    if args.worker == "reference":
        print(json.dumps(_worker_reference(Path(args.worker_args[0]), Path(args.worker_args[1]))))
        return
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    print(f"simulate_national: {args.repeats} alternating repetitions, seed {args.seed}")
    report = run(args.repeats, args.seed, args.out)
    _print(report, args.out)


if __name__ == "__main__":
    main()
