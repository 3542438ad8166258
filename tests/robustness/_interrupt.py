"""Interrupting ``python -m grassroots`` commands: at random moments, or just before the k-th
change to the file system under the output folder; and checking what is left behind.

A plain module, shared by ``tests/robustness/test_interruption.py`` and the long run
``analysis/validation/interruption.py``.

Two ways to interrupt a run:

* :func:`run_killed_at_time` sends SIGKILL or SIGINT after a random delay (the real thing, but
  most delays fall in the start-up, before anything is written);
* :func:`run_killed_at_event` runs the command under an audit hook (:func:`sys.addaudithook`)
  that counts the changes the run makes under the output folder (opening a file for writing,
  ``mkstemp``, ``mkdtemp``, ``rename``/``replace``, ``remove``, ``rmtree``, ``copytree``,
  ``chmod``, ...) and sends the signal to itself at the k-th: every write window can be hit
  on purpose. SIGKILL stops the process before that change; SIGINT raises
  ``KeyboardInterrupt`` just after it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"
USER_FILE = "my_notes.txt"  # a file of the user's in the output folder: it must survive
USER_TEXT = "kept across runs\n"

# The commands, with {out} for the output folder. simulate is smaller than the bundled study
# to keep the runs short; the write path is the same.
COMMANDS: dict[str, list[str]] = {
    # reproduce now fits every model; describe writes its tables through the same atomic path
    # in seconds. The fitting steps are covered by tests/test_pipeline.py with a fake sampler.
    "describe": ["describe", "--out", "{out}"],
    "simulate": ["simulate", "--out", "{out}", "--seed", "7", "--counties", "12"],
}
# Where the command writes its own files, relative to {out}; the user's file goes there too.
WRITES_INTO = {"describe": "tables", "simulate": "."}

_HOOK = r"""
import os, runpy, signal, sys

_AT = int(os.environ["GRASSROOTS_KILL_AT"])
_SIGNAL = int(os.environ["GRASSROOTS_KILL_SIGNAL"])
_ROOT = os.path.realpath(os.environ["GRASSROOTS_KILL_ROOT"])
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CHANGES = {"open", "os.chmod", "os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.utime",
            "shutil.copyfile", "shutil.copytree", "shutil.rmtree", "tempfile.mkstemp",
            "tempfile.mkdtemp"}
_count = 0


def _path(value):
    if isinstance(value, int) or value is None:
        return None
    try:
        return os.path.realpath(os.fsdecode(value))
    except (TypeError, ValueError):
        return None


def _hook(event, args):
    global _count
    if event not in _CHANGES or not args:
        return
    if event == "open":
        mode, flags = (list(args) + [None, 0])[1:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if not writes:
            return
    if event in ("tempfile.mkstemp", "tempfile.mkdtemp"):
        path = _path(os.path.dirname(args[0]))
    else:
        path = _path(args[0])
    if path is None or not (path == _ROOT or path.startswith(_ROOT + os.sep)):
        return
    _count += 1
    if _count == _AT:
        os.kill(os.getpid(), _SIGNAL)


sys.addaudithook(_hook)
if _AT == 0:
    import atexit
    atexit.register(lambda: sys.stderr.write(f"\nGRASSROOTS_EVENTS={_count}\n"))
sys.argv = ["grassroots", *sys.argv[1:]]
runpy.run_module("grassroots", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Run:
    """One run of a command: how it ended and what it printed."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _argv(command: str, out: Path) -> list[str]:
    return [part.replace("{out}", str(out)) for part in COMMANDS[command]]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_clean(command: str, out: Path, timeout: float = 300) -> Run:
    """Run the command to the end (it must succeed)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grassroots", *_argv(command, out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
        check=False,
    )
    run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    assert run.returncode == 0, f"grassroots {command} failed: {run.stderr[-3000:]}"
    return run


def count_events(command: str, out: Path) -> int:
    """How many file-system changes under ``out``'s folder a full run makes (it runs once)."""
    run = run_killed_at_event(command, out, at=0, signum=signal.SIGKILL)
    assert run.returncode == 0, run.stderr[-3000:]
    line = [x for x in run.stderr.splitlines() if x.startswith("GRASSROOTS_EVENTS=")][-1]
    return int(line.split("=")[1])


def run_killed_at_event(command: str, out: Path, at: int, signum: int, timeout: float = 300) -> Run:
    """Run the command and send ``signum`` to it just before its ``at``-th file-system change
    under ``out.parent`` (``at=0``: never; the count is printed to stderr)."""
    env = _environment()
    env.update(
        GRASSROOTS_KILL_AT=str(at),
        GRASSROOTS_KILL_SIGNAL=str(int(signum)),
        GRASSROOTS_KILL_ROOT=str(out.parent),
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _HOOK, *_argv(command, out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def run_killed_at_time(command: str, out: Path, delay: float, signum: int) -> Run:
    """Start the command and send ``signum`` after ``delay`` seconds (if it still runs)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "grassroots", *_argv(command, out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        stdout, stderr = process.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=300)  # reaps it: no zombie keeps its pid
    return Run(process.returncode, stdout, stderr, time.monotonic() - started)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (dotfiles too), by path relative to it."""
    if not folder.exists():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def temporaries(folder: Path) -> list[str]:
    """Temporaries (``.tmp-*``) anywhere under ``folder``, files or folders."""
    if not folder.exists():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.name.startswith(TEMPORARY_PREFIX)
    )


def add_user_file(command: str, out: Path) -> None:
    """Put the user's own file where the command writes."""
    folder = out / WRITES_INTO[command]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / USER_FILE).write_text(USER_TEXT)


def expected_files(command: str, reference: dict[str, bytes]) -> dict[str, bytes]:
    """The clean run's files plus the user's file."""
    user = (Path(WRITES_INTO[command]) / USER_FILE).as_posix()
    return {**reference, user: USER_TEXT.encode()}


def check_interrupted(command: str, out: Path, reference: dict[str, bytes]) -> None:
    """After an interrupted run: every file in ``out`` (temporaries aside) is complete and
    byte-identical to the clean run's (or is the user's file, unchanged)."""
    expected = expected_files(command, reference)
    for name, data in snapshot(out).items():
        if any(part.startswith(TEMPORARY_PREFIX) for part in Path(name).parts):
            continue
        assert name in expected, f"{command}: unexpected file {name} after an interruption"
        assert data == expected[name], (
            f"{command}: {name} is truncated or different after an interruption "
            f"({len(data)} bytes, a complete one has {len(expected[name])})"
        )


def check_recovered(command: str, out: Path, reference: dict[str, bytes]) -> None:
    """After a full run that followed interruptions: exactly the clean run's files and the
    user's file, byte for byte, and no temporary left beside or inside ``out``."""
    assert snapshot(out) == expected_files(command, reference), f"{command}: not recovered"
    leftovers = temporaries(out.parent)
    assert not leftovers, f"{command}: temporaries left after a full run: {leftovers}"


@dataclass
class Tally:
    """Kills survived, by command, signal and way of interrupting."""

    kills: int = 0
    during_writes: int = 0  # kills that left something in the folder to check
    recoveries: int = 0


def interrupt_series(
    command: str,
    work: Path,
    reference: dict[str, bytes],
    *,
    event_kills: list[tuple[int, int]],
    time_kills: list[tuple[float, int]],
    recover_every: int = 1,
    tally: Tally | None = None,
) -> Tally:
    """Interrupt ``command`` again and again into one output folder under ``work``, checking
    after each kill, and run it to the end every ``recover_every`` kills (and at the end),
    checking that it recovered.

    ``event_kills`` are ``(k, signal)`` (kill at the k-th change), ``time_kills`` are
    ``(delay, signal)``; they alternate.
    """
    tally = tally or Tally()
    out = work / "out"
    add_user_file(command, out)
    plan: list[tuple[str, float, int]] = []
    for i in range(max(len(event_kills), len(time_kills))):
        if i < len(event_kills):
            plan.append(("event", *event_kills[i]))
        if i < len(time_kills):
            plan.append(("time", *time_kills[i]))
    for number, (how, when, signum) in enumerate(plan, start=1):
        if how == "event":
            run = run_killed_at_event(command, out, int(when), signum)
        else:
            run = run_killed_at_time(command, out, when, signum)
        assert "Traceback" not in run.stderr or signum == signal.SIGINT, run.stderr[-3000:]
        tally.kills += 1
        if snapshot(out) != expected_files(command, reference) or temporaries(work):
            tally.during_writes += 1
        check_interrupted(command, out, reference)
        if number % recover_every == 0 or number == len(plan):
            run_clean(command, out)
            check_recovered(command, out, reference)
            tally.recoveries += 1
    return tally


def random_plan(
    rng: random.Random, n_events: int, run_seconds: float, n: int
) -> tuple[list[tuple[int, int]], list[tuple[float, int]]]:
    """``n`` kills, half at a random change, half after a random delay, signals alternating."""
    signals = [signal.SIGKILL, signal.SIGINT]
    event_kills = [(rng.randint(1, n_events), signals[i % 2]) for i in range((n + 1) // 2)]
    time_kills = [
        (rng.uniform(0.2, 1.2) * run_seconds, signals[(i + 1) % 2]) for i in range(n // 2)
    ]
    return event_kills, time_kills
