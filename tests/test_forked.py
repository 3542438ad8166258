"""One call in a forked child, beside the caller: its value, its exception, its death, its stop."""

from __future__ import annotations

import operator
import os
import time

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
