"""Simulation-based calibration of the model families, run on Dask (``grassroots.validation``).

For each family (piecewise and Weibull survival, ordinal demand fit, a logistic strategy, the
joint structural model), draws parameters from the prior and data from the model on small fixed
covariates, fits the package's model to each data set, ranks the drawn values among thinned
posterior draws (simuk) and tests the ranks for uniformity (ArviZ's ``pot_c``, Holm-corrected
within each family, alpha 0.01). See :mod:`grassroots.validation.sbc` for the method.

Writes to ``--out``: ``sbc_results.csv``/``.md`` (family, quantity, n_sims, p-value, adjusted
p-value, pass/fail), per family ``sbc_<family>_ranks.csv``, ``sbc_<family>_fits.csv`` (seed,
ESS, draws kept, divergences, time of every fit) and ``sbc_<family>_ecdf.png``, and
``sbc_run.json`` (versions, seed, settings, the chunks' span and this invocation's wall time).
Every finished chunk is saved at once in ``OUT/sbc_chunks/``; rerunning the same command
resumes from them (``--fresh`` starts over; ``--report-only`` writes the report of the chunks
finished so far and runs nothing).

Usage (from the repository root; not part of CI; about 10 worker-hours in all, 5 h
on two free cores, most of it in the ordinal and structural families)::

    nice -n 10 .venv/bin/python analysis/validation/sbc.py --simulations 200 --workers 2

``--scheduler tcp://HOST:8786`` runs the chunks on an existing Dask cluster instead (its workers
need this package installed). The exit code is 1 when a family has a failed quantity or a failed
chunk, else 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

from grassroots._io import write_text_atomic  # noqa: E402
from grassroots.validation.sbc import (  # noqa: E402
    ALL_FAMILIES,
    DEFAULT_SEED,
    family_summary,
    run_sbc,
    write_results,
)

_VERSIONED = (
    "grassroots",
    "simuk",
    "pymc",
    "pytensor",
    "arviz-base",
    "arviz-stats",
    "arviz-plots",
    "dask",
    "distributed",
    "numpy",
    "pandas",
    "xarray",
)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--families",
        nargs="+",
        default=list(ALL_FAMILIES),
        choices=ALL_FAMILIES,
        help="families to calibrate (default: all)",
    )
    parser.add_argument("--simulations", type=int, default=200, help="simulations per family")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="use this Dask scheduler instead")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--chunk-size", type=int, default=10, help="simulations per Dask task")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "validation")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        help="folder of finished chunks, resumed on a rerun (default: OUT/sbc_chunks)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore chunks already finished")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: test and report the chunks already finished (an interim report)",
    )
    args = parser.parse_args(argv)
    checkpoints = args.checkpoints or args.out / "sbc_chunks"
    if args.fresh and checkpoints.is_dir():
        for saved in checkpoints.glob("*.json"):
            saved.unlink()

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    where = args.scheduler or f"a LocalCluster of {args.workers} worker(s)"
    if args.report_only:
        where = f"nothing: a report of the chunks saved in {checkpoints}"
    print(
        f"SBC of {', '.join(args.families)}: {args.simulations} simulations each, seed "
        f"{args.seed}, chunks of {args.chunk_size}, on {where}",
        flush=True,
    )
    result = run_sbc(
        args.families,
        args.simulations,
        seed=args.seed,
        chunk_size=args.chunk_size,
        workers=args.workers,
        scheduler=args.scheduler,
        checkpoints=checkpoints,
        run_pending=not args.report_only,
        progress=lambda line: print(line, flush=True),
    )
    written = write_results(result, args.out)
    wall = time.perf_counter() - started
    record = {
        "started": started_at,
        "invocation_wall_seconds": round(wall, 1),
        "chunks_span_seconds": round(result.settings.get("chunks_span_seconds", wall), 1),
        "seed": args.seed,
        "command": " ".join(sys.argv),
        "settings": result.settings,
        "families": {
            family: {**family_summary(r), "settings": r.settings, "failures": r.failures}
            for family, r in result.families.items()
        },
        "versions": versions(),
        "files": [str(p.relative_to(args.out)) for p in written],
    }
    write_text_atomic(args.out / "sbc_run.json", json.dumps(record, indent=2, default=str) + "\n")

    table = result.table
    failed = table[~table["passed"]] if len(table) else table
    for family, r in result.families.items():
        s = family_summary(r)
        print(
            f"{family}: {s['n_sims']} sims, {s['n_quantities']} quantities, "
            f"{s['n_failed_quantities']} failed, {s['failed_chunks']} failed chunks, "
            f"{s['worker_seconds'] / 60:.1f} worker-min"
        )
    for row in failed.itertuples(index=False):
        print(
            f"  FAIL {row.family} {row.quantity}: p = {row.p_value:.2g}, "
            f"adjusted {row.p_adjusted:.2g}"
        )
    print(f"this invocation: {wall / 60:.1f} min; results in {args.out}")
    any_failure = len(failed) > 0 or any(r.failures for r in result.families.values())
    return 1 if any_failure else 0


if __name__ == "__main__":
    sys.exit(main())
