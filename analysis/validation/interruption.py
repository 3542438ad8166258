"""Interruption campaign: kill ``grassroots describe`` and ``grassroots simulate`` many times.

The commands are those of ``tests/robustness/_interrupt.py`` (``reproduce`` now fits every
model, so its quick part, validation and the tables, runs as ``describe``). For each command,
into one output folder that also holds a file of the user's:

1. ``--random N`` kills (default 50): half just before a random one of the run's changes to
   the file system, half after a random delay; SIGKILL and SIGINT in turn; a full run every
   5 kills;
2. with ``--every-change``: a kill just before each change in turn, with each signal (the
   write windows one by one), a full run after each.

After every kill, every file in the folder must be complete and byte-identical to a clean
run's (temporaries aside) and the user's file untouched; after every full run, the folder must
hold exactly the clean run's files and the user's file, with no temporary left beside it. The
checks are those of ``tests/robustness/_interrupt.py``; a failed check stops the campaign
with its message.

Usage (from the repository root; not part of CI)::

    nice -n 10 .venv/bin/python analysis/validation/interruption.py --random 50 --every-change
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

import _interrupt  # noqa: E402


def campaign(command: str, n_random: int, every_change: bool, seed: int) -> dict[str, object]:
    """Kill ``command`` as asked; returns the tally."""
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
        return {
            "files": len(reference),
            "changes per run": n_events,
            "kills survived": tally.kills,
            "kills inside the write window": tally.during_writes,
            "recoveries": tally.recoveries,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", type=int, default=50, help="random kills per command")
    parser.add_argument("--every-change", action="store_true", help="also kill at each change")
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--commands", nargs="+", default=sorted(_interrupt.COMMANDS))
    parser.add_argument("--summary", type=Path, help="write the tallies as JSON here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = {}
    for command in args.commands:
        print(f"grassroots {command}: killing ...", flush=True)
        results[command] = campaign(command, args.random, args.every_change, args.seed)
        print(f"  {results[command]}", flush=True)
    total = sum(int(r["kills survived"]) for r in results.values())
    print(f"\n{total} kills survived, 0 failures, {time.monotonic() - started:.0f} s")
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
