"""Fuzz campaign: feed generated malformed inputs to ``load_study`` and the ``grassroots`` CLI.

Every input is one :class:`Case` of ``tests/robustness/_fuzz.py`` (valid tables, mutated,
written as CSV/Parquet/xlsx/Stata/SPSS in various encodings, maybe damaged, with or without a
damaged mapping file). The property: ``load_study`` returns a valid ``Study`` or raises
``DataValidationError``; ``grassroots validate`` and ``grassroots describe --out DIR`` exit 0
or 2, print no traceback, write nothing on exit 2, and agree with ``load_study``. Unlike the
tests, the campaign does not stop at the first failure: it counts every crash and keeps the
first input of each kind, then prints the totals.

Usage (from the repository root; not part of CI)::

    nice -n 10 .venv/bin/python analysis/validation/fuzz_inputs.py --examples 10000

The exit code is 1 when any input crashed, else 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

import _fuzz  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402


def _signature(exc: BaseException) -> str:
    """The exception type and the innermost frame in the package (or in _fuzz's checks)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "grassroots" in f.filename or "_fuzz" in f.filename]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{Path(where.filename).name}:{where.lineno}" if where else "?"
    return f"{type(exc).__name__} at {place}"


def run(
    examples: int, random_seed: int, cli_every: int, subprocess_every: int
) -> dict[str, object]:
    """Run the campaign; returns the counts, the crashes by kind and the first input of each."""
    counts: collections.Counter[str] = collections.Counter()
    crashes: dict[str, dict[str, object]] = {}
    stray: collections.Counter[str] = collections.Counter()
    stray_cases: dict[str, str] = {}
    kinds: collections.Counter[str] = collections.Counter()  # inputs per kind of problem
    started = time.monotonic()

    def crash(kind: str, case: _fuzz.Case, exc: BaseException) -> None:
        counts["crashes"] += 1
        signature = f"{kind}: {_signature(exc)}"
        entry = crashes.setdefault(
            signature,
            {
                "count": 0,
                "case": repr(case),
                "error": "".join(traceback.format_exception(exc, limit=-8)),
            },
        )
        entry["count"] = int(entry["count"]) + 1

    @seed(random_seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(_fuzz.cases())
    def campaign(case: _fuzz.Case) -> None:
        n = counts["inputs"]
        counts["inputs"] += 1
        for suffix in case.formats.values():
            counts[f"format {suffix}"] += 1
        if case.mapping:
            counts[f"mapping {case.mapping}"] += 1
        with tempfile.TemporaryDirectory(prefix="grassroots-fuzz-") as tmp:
            folder = Path(tmp)
            try:
                outcome = _fuzz.check_load(case, folder / "load")
            except Exception as exc:  # the campaign counts crashes instead of stopping
                crash("load_study", case, exc)
                return
            counts[f"outcome {outcome.kind}"] += 1
            if outcome.problems is not None:
                kinds.update({_fuzz.problem_kind(p) for p in outcome.problems["problem"]})
            for message in outcome.stray_warnings:
                stray[message[:160]] += 1
                stray_cases.setdefault(message[:160], repr(case))
            if cli_every and n % cli_every == 0:
                counts["cli runs"] += 1
                try:
                    _fuzz.check_cli(case, folder / "cli", expected=outcome)
                except Exception as exc:
                    crash("cli", case, exc)
            if subprocess_every and n % subprocess_every == 0:
                counts["python -m runs"] += 1
                try:
                    _check_subprocess(case, folder / "sub", outcome)
                except Exception as exc:
                    crash("python -m grassroots", case, exc)
        if counts["inputs"] % 500 == 0:
            print(
                f"  {counts['inputs']:,d} inputs, {counts['crashes']} crashes, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )

    campaign()
    return {
        "inputs": counts["inputs"],
        "crashes": counts["crashes"],
        "seconds": round(time.monotonic() - started, 1),
        "seed": random_seed,
        "counts": dict(sorted(counts.items())),
        "problem_kinds": dict(kinds.most_common()),
        "crash_kinds": crashes,
        "stray_warnings": {
            message: {"count": count, "case": stray_cases[message]}
            for message, count in stray.most_common(20)
        },
    }


def _check_subprocess(case: _fuzz.Case, folder: Path, expected: _fuzz.Outcome) -> None:
    """``python -m grassroots validate``: exit 0 or 2 as ``load_study`` says, no traceback."""
    written = _fuzz.materialise(case, folder)
    completed = subprocess.run(
        [sys.executable, "-m", "grassroots", "validate", *_fuzz.cli_args(written)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output, output[-2000:]
    assert completed.returncode == (0 if expected.kind == "valid" else 2), (
        completed.returncode,
        output[-2000:],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--examples",
        type=int,
        default=int(os.environ.get("GRASSROOTS_FUZZ_EXAMPLES", "10000")),
        help="generated inputs (default: $GRASSROOTS_FUZZ_EXAMPLES or 10000)",
    )
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--cli-every", type=int, default=4, help="run the CLI on every k-th")
    parser.add_argument(
        "--subprocess-every", type=int, default=250, help="python -m grassroots on every k-th"
    )
    parser.add_argument("--summary", type=Path, help="write the summary as JSON here")
    args = parser.parse_args(argv)
    print(f"fuzzing {args.examples:,d} inputs (seed {args.seed}) ...", flush=True)
    summary = run(args.examples, args.seed, args.cli_every, args.subprocess_every)
    for kind, entry in summary["crash_kinds"].items():
        print(f"\nCRASH x{entry['count']}: {kind}\n  input: {entry['case']}\n{entry['error']}")
    print("\ncounts:")
    for key, value in summary["counts"].items():
        print(f"  {key}: {value:,d}")
    print("inputs stopped by each kind of problem:")
    for kind, count in summary["problem_kinds"].items():
        print(f"  {kind}: {count:,d}")
    if summary["stray_warnings"]:
        print("warnings other than DataValidationWarning:")
        for message, entry in summary["stray_warnings"].items():
            print(f"  {entry['count']:,d} x {message}\n    first input: {entry['case']}")
    print(
        f"\n{summary['inputs']:,d} generated inputs, {summary['crashes']} crashes "
        f"({len(summary['crash_kinds'])} kinds), {summary['seconds']} s"
    )
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
