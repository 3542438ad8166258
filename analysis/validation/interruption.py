"""Interruption campaign: kill ``grassroots describe``, ``simulate``, ``fit`` and ``reproduce``
many times.

The commands and checks are those of ``tests/robustness/_interrupt.py``; a failed check stops
the campaign with its message.

``describe`` and ``simulate``, each into one output folder that also holds a file of the
user's:

1. ``--random N`` kills (default 50): half just before a random one of the run's changes to
   the file system, half after a random delay; SIGKILL and SIGINT in turn; a full run every
   5 kills;
2. with ``--every-change``: a kill just before each change in turn, with each signal (the
   write windows one by one), a full run after each.

``fit`` (a small survival model, 2 x 500 draws, ``--refit``) and ``reproduce --quick`` (18
fits, the estimands, every table and figure), on a tiny simulated study with their own
``--fitted-dir`` and ``--out``, for ``--fit-minutes`` and ``--reproduce-minutes`` of wall
time each. Clean runs first, the reference (rerun while a run compiled anything anew: a
model's first compile on a machine gives other draws than the cached ones). Then kills in
turn a moment into a sampling (a timer started when nutpie's compile ends), at a change
inside a bundle write, at any change, and after a random delay; SIGKILL and SIGINT
alternate. A full run every 3 kills; after it, fit's bundle is deleted every other time, and
each of reproduce's bundles with probability 1/4, so that later kills fall in sampling and
first writes again (and fit's others in the replacement of a saved bundle).

After every kill, every file in the folder must be complete and byte-identical to a clean
run's (temporaries aside), every fit bundle left must load (``Fit.load``) and hold the clean
run's draws, and the user's file must be untouched; after every full run, the folder must
hold exactly the clean run's files and draws and the user's file, with no temporary left
beside it.

Usage (from the repository root; not part of CI)::

    nice -n 10 .venv/bin/python analysis/validation/interruption.py --random 50 --every-change
    nice -n 10 .venv/bin/python analysis/validation/interruption.py --commands fit reproduce \\
        --fit-minutes 12 --reproduce-minutes 28 --summary reports/validation/interruption.json

``--summary`` keeps the entries of commands not run this time (marked as from an earlier run).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

import _interrupt  # noqa: E402

EARLIER = " (earlier run)"


def campaign(command: str, n_random: int, every_change: bool, seed: int) -> dict[str, object]:
    """Kill ``describe`` or ``simulate`` as asked; returns the tally."""
    with tempfile.TemporaryDirectory(prefix=f"grassroots-kill-{command}-") as tmp:
        folder = Path(tmp)
        clean = _interrupt.run_clean(command, folder / "clean" / "out")
        reference = _interrupt.snapshot(folder / "clean" / "out")
        n_events = _interrupt.count_events(command, folder / "count" / "out")
        tally = _interrupt.Tally()
        rng = random.Random(f"{seed}-{command}")
        event_kills, time_kills = _interrupt.random_plan(rng, n_events, clean.seconds, n_random)
        _interrupt.interrupt_series(
            command,
            folder / "random",
            reference,
            event_kills=event_kills,
            time_kills=time_kills,
            recover_every=5,
            tally=tally,
        )
        if every_change:
            for signum in (signal.SIGKILL, signal.SIGINT):
                _interrupt.interrupt_series(
                    command,
                    folder / f"every-{signum.name}",
                    reference,
                    event_kills=[(k, signum) for k in range(1, n_events + 1)],
                    time_kills=[],
                    recover_every=1,
                    tally=tally,
                )
        return {"files": len(reference), "changes per run": n_events, **tally.as_dict()}


def sampling_campaign(command: str, minutes: float, seed: int) -> dict[str, object]:
    """Kill ``fit`` or ``reproduce`` for about ``minutes`` of wall time; returns the tally."""
    started = time.monotonic()
    # Kept when a check fails (the folder to look at is named in the message), removed else.
    folder = Path(tempfile.mkdtemp(prefix=f"grassroots-kill-{command}-"))
    try:
        result = _sampling_campaign(command, minutes, seed, folder, started)
    except BaseException:
        print(f"  kept {folder} for a look", flush=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return result


def _sampling_campaign(
    command: str, minutes: float, seed: int, folder: Path, started: float
) -> dict[str, object]:
    """The campaign of :func:`sampling_campaign` in ``folder``."""
    inputs = _interrupt.make_study(folder / "inputs")
    # Rerun while a run compiles anything anew: a model's first compile on a machine gives
    # other draws than the cached compiles of every later run.
    reference, clean, replacing = _interrupt.clean_reference(
        command, inputs, folder / "clean", max_runs=3 if command == "fit" else 2
    )
    print(f"  clean run: {clean.seconds:.0f} s, {_interrupt.events_of(clean)} changes, "
          f"{len(reference.bundles)} bundles, {len(reference.files)} other files",
          flush=True)
    rng = random.Random(f"{seed}-{command}")
    if command == "fit":
        planner = _interrupt.fit_planner(rng, clean, replacing)
        recoveries: list[Path] = []

        def forget(out: Path) -> None:
            recoveries.append(out)
            if len(recoveries) % 2:
                _interrupt.forget_bundles(out, rng, keep=0.0)

        # The last recovery is one fit run.
        margin = clean.seconds
    else:
        planner = _interrupt.reproduce_planner(rng, clean)

        def forget(out: Path) -> None:
            _interrupt.forget_bundles(out, rng, keep=0.75)

        # The last recovery refits what the kills since the last one did not.
        margin = clean.seconds / 3
    tally = _interrupt.Tally()
    _interrupt.interrupt_series(
        command,
        folder / "series",
        reference,
        planner=planner,
        n_planned=10**6,
        recover_every=3,
        tally=tally,
        study=inputs,
        after_recovery=forget,
        deadline=started + 60 * minutes - margin,
        log=lambda line: print(line, flush=True),
    )
    return {
        "bundles": len(reference.bundles),
        "other files": len(reference.files),
        "changes per clean run": _interrupt.events_of(clean),
        "clean run seconds": round(clean.seconds),
        "wall minutes": round((time.monotonic() - started) / 60, 1),
        **tally.as_dict(),
    }


def _merge(path: Path, results: dict[str, dict[str, object]], argv: list[str]) -> dict:
    """The new results, and the old file's entries for the commands not run this time (marked
    as from an earlier run, with the earlier runs' notes)."""
    old = json.loads(path.read_text()) if path.exists() else {}
    notes = list(old.get("notes (earlier runs)", []))
    for key in ("note (earlier run)", "note"):
        if key in old and old[key] not in notes:
            notes.append(old[key])
    merged: dict[str, object] = {
        "note": "python analysis/validation/interruption.py " + " ".join(argv)
        + "; 'kills survived' counts runs the signal stopped, not those that ended first.",
    }
    merged.update(results)
    merged["kills survived, total (this run)"] = sum(
        int(r["kills survived"]) for r in results.values()
    )
    for key, value in old.items():
        name = key.removesuffix(EARLIER)
        if key.startswith(("note", "kills survived, total")) or name in results:
            continue
        merged[name + EARLIER] = value
    if notes:
        merged["notes (earlier runs)"] = notes
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", type=int, default=50, help="random kills per command")
    parser.add_argument("--every-change", action="store_true", help="also kill at each change")
    parser.add_argument("--fit-minutes", type=float, default=12.0)
    parser.add_argument("--reproduce-minutes", type=float, default=28.0)
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument(
        "--commands", nargs="+", default=sorted(_interrupt.ALL_COMMANDS),
        choices=sorted(_interrupt.ALL_COMMANDS),
    )
    parser.add_argument("--summary", type=Path, help="write the tallies as JSON here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: dict[str, dict[str, object]] = {}
    try:
        for command in args.commands:
            print(f"grassroots {command}: killing ...", flush=True)
            if command in _interrupt.SAMPLING_COMMANDS:
                minutes = args.fit_minutes if command == "fit" else args.reproduce_minutes
                results[command] = sampling_campaign(command, minutes, args.seed)
            else:
                results[command] = campaign(command, args.random, args.every_change, args.seed)
            print(f"  {results[command]}", flush=True)
    finally:  # a failed check stops the campaign; what passed before it is still written
        if args.summary and results:
            args.summary.parent.mkdir(parents=True, exist_ok=True)
            merged = _merge(args.summary, results, sys.argv[1:] if argv is None else argv)
            args.summary.write_text(json.dumps(merged, indent=2) + "\n")
    total = sum(int(r["kills survived"]) for r in results.values())
    print(f"\n{total} kills survived, 0 failures, {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
