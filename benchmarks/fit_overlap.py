"""Fits in turn against fits overlapped (``reproduce``'s way), side by side.

``reproduce`` fits its models with :func:`grassroots.inference.fitting.start_fit`: each model is
built and compiled (one core) while the one before it samples (nutpie's threads), and each fit
is checked and saved while the next one samples. The peer is the loop it replaced: ``fit()``
after ``fit()``. Each run fits the same specs to the bundled study into a new empty fitted
folder, in a fresh interpreter with empty PyTensor/numba caches (a first ``reproduce``), the two
ways alternated (``--repeats`` each). Records wall and CPU seconds (every thread), peak resident
memory, the load average, and whether the two ways saved the same draws (byte-identical
``trace.zarr`` files).

    nice -n 5 .venv/bin/python benchmarks/fit_overlap.py --repeats 2
    nice -n 5 .venv/bin/python benchmarks/fit_overlap.py --specs survival_m0,survival_m1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _process import REPOSITORY, cpu_seconds, peak_rss_mb, run_worker

DEFAULT_SPECS = "survival_m0,survival_m1,survival_m2,demand_fit_m0,strategy_expedient"
WAYS = ("in_turn", "overlapped")


def _worker(way: str, specs: list[str], fitted: Path, seed: int) -> dict:
    # Before PyTensor is imported: its compile folder (and numba's cache) is read once.
    cache = tempfile.mkdtemp(prefix="fit-overlap-cache-")
    os.environ["PYTENSOR_FLAGS"] = f"compiledir={cache}"
    os.environ["NUMBA_CACHE_DIR"] = cache
    import warnings

    from grassroots.data import load_dataset
    from grassroots.inference import ConvergenceWarning, fit
    from grassroots.inference.fitting import start_fit

    study = load_dataset()
    wall, cpu = time.perf_counter(), cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if way == "in_turn":
            for name in specs:
                fit(study, name, seed=seed, fitted_dir=fitted, progress=False, log_likelihood=True)
        else:
            in_flight = []
            for name in specs:
                in_flight.append(start_fit(study, name, seed=seed, fitted_dir=fitted,
                                           progress=False, log_likelihood=True))  # fmt: skip
                if len(in_flight) > 1:
                    in_flight.pop(0).result()
            in_flight.pop().result()
    return {
        "way": way,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(cpu_seconds() - cpu, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def _draw_files(folder: Path) -> dict[str, bytes]:
    """Every stored chunk of every bundle's draws, keyed by spec and path; not the zarr.json
    metadata, whose ``created_at`` differs between any two runs."""
    chunks = {}
    for path in sorted(folder.glob("*/trace.zarr/**/c/**/*")):
        if path.is_file():
            bundle, *inside = path.relative_to(folder).parts
            chunks["/".join([bundle.split("-seed")[0], *inside])] = path.read_bytes()
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default=DEFAULT_SPECS)
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=REPOSITORY / "reports/benchmarks/fit_overlap.json"
    )
    parser.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--fitted", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    specs = args.specs.split(",")
    if args.worker:
        print(json.dumps(_worker(args.worker, specs, args.fitted, args.seed)))
        return

    runs, draws = [], {}
    for repeat in range(args.repeats):
        for way in WAYS if repeat % 2 == 0 else WAYS[::-1]:
            with tempfile.TemporaryDirectory(prefix="fit-overlap-") as folder:
                load = os.getloadavg()[0]
                record = run_worker(__file__, way, "--specs", args.specs, "--seed",
                                    str(args.seed), "--fitted", folder)  # fmt: skip
                record |= {"repeat": repeat, "load_start": load, "load_end": os.getloadavg()[0]}
                draws.setdefault(way, _draw_files(Path(folder)))
            runs.append(record)
            print(json.dumps(record), file=sys.stderr, flush=True)

    def median(way: str, key: str) -> float:
        return statistics.median(run[key] for run in runs if run["way"] == way)

    summary = {
        "specs": specs,
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "runs": runs,
        "same_draws": bool(draws["in_turn"]) and draws["in_turn"] == draws["overlapped"],
        "wall_ratio_overlapped_to_in_turn": round(
            median("overlapped", "wall_s") / median("in_turn", "wall_s"), 3
        ),
        "cpu_ratio_overlapped_to_in_turn": round(
            median("overlapped", "cpu_s") / median("in_turn", "cpu_s"), 3
        ),
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
