"""One call in a new interpreter: its value, its exception, its death."""

from __future__ import annotations

import operator
import os

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
