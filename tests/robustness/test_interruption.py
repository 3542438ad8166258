"""Interruption safety of ``grassroots describe`` and ``grassroots simulate``.

The commands run as ``python -m grassroots`` subprocesses and are killed (SIGKILL) or
interrupted (SIGINT) at seeded random moments: after a random delay, or just before a random
one of their changes to the file system (see ``_interrupt.py``). After each kill, every file in
the output folder is complete and byte-identical to a clean run's (temporaries aside), and the
user's own file in that folder is untouched; the next full run leaves exactly the clean run's
files and no temporary. The unit tests below pin the mechanism (``grassroots._io``) in process.

The CI version kills each command a few times; ``-m slow`` kills each 50 times (and
``analysis/validation/interruption.py`` also kills at every change, in turn).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import _interrupt
import pytest

import grassroots._io as io_module
from grassroots._io import atomic_directory, atomic_path, clean_stale, write_text_atomic


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(process.stdout)


# ----------------------------------------------------------------------------------------------
# The mechanism, in process
# ----------------------------------------------------------------------------------------------


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    stale_file = tmp_path / f".tmp-table.csv.{dead}.abc123"
    stale_folder = tmp_path / f".tmp-out.{dead}.x9y8z7"
    live_file = tmp_path / f".tmp-table.csv.{alive}.qwerty"
    for path in (stale_file, live_file):
        path.write_text("half a tab")
    stale_folder.mkdir()
    (stale_folder / "projects.csv").write_text("half")
    (tmp_path / ".tmp-not-ours").write_text("left alone")  # not our pattern

    write_text_atomic(tmp_path / "table.csv", "a,b\n")

    assert (tmp_path / "table.csv").read_text() == "a,b\n"
    assert not stale_file.exists() and not stale_folder.exists()
    assert live_file.exists(), "a live process's temporary must be left alone"
    assert (tmp_path / ".tmp-not-ours").exists()


def test_folder_moved_aside_by_a_killed_run_is_put_back(tmp_path: Path) -> None:
    """Killed between moving the old folder aside and moving the new one in: the next write
    in that folder restores the old one (with the user's files in it)."""
    aside = tmp_path / f".tmp-out.{_dead_pid()}.k1ll3d.old"
    aside.mkdir()
    (aside / "my_notes.txt").write_text("mine")
    (aside / "projects.csv").write_text("complete old table")

    assert clean_stale(tmp_path) == [aside]
    assert (tmp_path / "out" / "my_notes.txt").read_text() == "mine"
    assert (tmp_path / "out" / "projects.csv").read_text() == "complete old table"


def test_ctrl_c_between_the_two_moves_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("mine")
    real_replace = os.replace
    calls = []

    def interrupted_replace(src, dst):  # the second move (new folder in) is interrupted
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(io_module.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt), atomic_directory(out) as tmp:
        (tmp / "projects.csv").write_text("new")
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == ["my_notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "temporaries left behind"


def test_failed_block_leaves_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.md"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_outputs_get_the_umask_permissions_not_mkstemp_0600(tmp_path: Path) -> None:
    old_mask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "t.csv", "x\n")
        with atomic_directory(tmp_path / "sim") as tmp:
            (tmp / "a.csv").write_text("x\n")
    finally:
        os.umask(old_mask)
    assert (tmp_path / "t.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "sim").stat().st_mode & 0o777 == 0o755


# ----------------------------------------------------------------------------------------------
# Killing the real commands
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(_interrupt.COMMANDS))
def test_killed_runs_leave_only_complete_files_and_recover(
    command: str, clean_outputs: dict[str, dict[str, bytes]], tmp_path: Path
) -> None:
    """Three kills in a row into one folder, then a full run: SIGKILL half-way through the
    writes, SIGKILL after a seeded random delay, SIGINT at a seeded random change."""
    reference = clean_outputs[command]
    # An uninterrupted run through the audit hook counts the changes a run makes (and shows
    # that the hook changes nothing).
    counted = tmp_path / "count" / "out"
    _interrupt.add_user_file(command, counted)
    n_events = _interrupt.count_events(command, counted)
    _interrupt.check_recovered(command, counted, reference)
    assert n_events >= len(reference), "the audit hook misses the command's writes"
    rng = random.Random(f"ci-{command}")
    tally = _interrupt.interrupt_series(
        command,
        tmp_path / "work",
        reference,
        event_kills=[(n_events // 2, signal.SIGKILL), (rng.randint(1, n_events), signal.SIGINT)],
        time_kills=[(rng.uniform(0.3, 1.2), signal.SIGKILL)],
        recover_every=3,
    )
    assert (tally.kills, tally.recoveries) == (3, 1)
    assert tally.during_writes >= 1, "no kill fell inside the write window"


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(_interrupt.COMMANDS))
def test_fifty_kills(
    command: str, clean_outputs: dict[str, dict[str, bytes]], tmp_path: Path
) -> None:
    reference = clean_outputs[command]
    n_events = _interrupt.count_events(command, tmp_path / "count" / "out")
    rng = random.Random(f"slow-{command}")
    event_kills, time_kills = _interrupt.random_plan(rng, n_events, run_seconds=1.0, n=50)
    tally = _interrupt.interrupt_series(
        command,
        tmp_path / "work",
        reference,
        event_kills=event_kills,
        time_kills=time_kills,
        recover_every=5,
    )
    assert tally.kills == 50
