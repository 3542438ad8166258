"""One call in a new interpreter: its value, its exception, its death."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grassroots._fresh_process import FreshProcessError, call_in_fresh_process


def test_the_call_runs_in_another_process_and_returns_its_value():
    assert call_in_fresh_process(os.getpid) != os.getpid()
    assert call_in_fresh_process(divmod, 7, 2) == (3, 1)
    assert call_in_fresh_process(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]


def test_an_exception_of_the_call_is_raised_again_with_the_child_traceback():
    with pytest.raises(ZeroDivisionError) as raised:
        call_in_fresh_process(operator.truediv, 1, 0)
    assert any("raised in a fresh process" in note for note in raised.value.__notes__)


def test_a_child_that_dies_without_a_result_is_an_error_naming_its_exit():
    with pytest.raises(FreshProcessError, match=r"posix\._exit died .*exit code 7"):
        call_in_fresh_process(os._exit, 7)


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its reaper is late


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_the_child_exits_when_its_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from grassroots._fresh_process import call_in_fresh_process; "
         "call_in_fresh_process(time.sleep, 120)"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (children := _children_of(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert children, "the parent never started its child"
        call = Path(Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")[3].decode())
        assert call.name == "call.pickle"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while _running(children[0]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(children[0]), "the orphan went on running"
        assert not call.parent.exists(), "the dead parent's call folder was left behind"
    finally:
        parent.kill()
