"""One call in a forked child, beside the caller: its value, its exception, its death, its stop."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grassroots._forked import ForkedCall, ForkedCallError


def test_the_call_runs_beside_the_caller_on_what_the_caller_holds():
    held = {"draws": list(range(5))}  # never pickled on the way in: the child has it already
    started = time.monotonic()
    slow = ForkedCall(time.sleep, 1.0)
    child = ForkedCall(lambda: (os.getpid(), sum(held["draws"])))
    assert time.monotonic() - started < 0.9, "starting a call must not wait for it"
    pid, total = child.result()
    assert pid != os.getpid() and total == 10
    assert slow.result() is None


def test_an_exception_of_the_call_is_raised_again_with_the_child_traceback():
    call = ForkedCall(operator.truediv, 1, 0)
    with pytest.raises(ZeroDivisionError) as raised:
        call.result()
    assert any("raised in a forked child" in note for note in raised.value.__notes__)


def test_a_result_that_does_not_pickle_is_an_error():
    with pytest.raises(TypeError, match="does not pickle"):
        ForkedCall(lambda: (lambda: None)).result()


def test_a_child_that_dies_without_a_result_is_an_error_naming_its_exit():
    with pytest.raises(ForkedCallError, match=r"_exit died in a forked child .*exit code 7"):
        ForkedCall(os._exit, 7).result()


def test_a_stopped_child_ends_at_once():
    call = ForkedCall(time.sleep, 60)
    started = time.monotonic()
    call.stop()
    assert time.monotonic() - started < 10
    with pytest.raises(ForkedCallError, match="signal SIGTERM"):
        call.result()


def _report_then_sum(emit, numbers):
    for number in numbers:
        emit(("at", number))
    return sum(numbers)


def test_messages_of_the_child_reach_the_caller_in_order_while_it_waits():
    received = []
    call = ForkedCall(_report_then_sum, [1, 2, 3], on_message=received.append, daemon=False)
    assert call.result() == 6
    assert received == [("at", 1), ("at", 2), ("at", 3)]


def test_ctrl_c_in_the_caller_lets_the_child_clean_up_then_goes_on(tmp_path: Path):
    cleaned = tmp_path / "cleaned"

    def work(emit):
        emit("started")
        try:
            time.sleep(60)
        finally:
            cleaned.write_text("yes")

    started = threading.Event()
    call = ForkedCall(work, on_message=lambda message: started.set(), daemon=False)

    def interrupt() -> None:
        # Taken by this thread, not the main one: as when a library's thread gets the signal.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
        if started.wait(30):
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        call.result()
    assert time.monotonic() - begun < 30
    assert cleaned.read_text() == "yes", "the child must stop its own work, not be killed"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_a_child_dies_with_a_killed_caller(tmp_path: Path):
    pid_file = tmp_path / "child.pid"
    caller = (
        "import os, pathlib, signal, time\n"
        "from grassroots._forked import ForkedCall\n"
        "call = ForkedCall(time.sleep, 60, daemon=False)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(call._process.pid))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", caller], check=False, timeout=60)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "a killed caller must not leave its child running"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
