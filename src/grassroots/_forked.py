"""Run one call in a forked child process, beside the caller, and collect its result later.

``reproduce`` draws and writes its figures (matplotlib, one core, ~30 s) while it computes the
estimands: the child is forked with everything already loaded (fits, study, estimates), so
nothing is pickled on the way in and the figures are drawn from the very objects the parent
holds. Only the result (a few paths) is pickled back. POSIX only: where ``fork`` is missing the
call runs in the caller, at once, with the same result.
"""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

from grassroots._fresh_process import exit_reason

_STARTED_ELSEWHERE = "a forked child"


class ForkedCallError(RuntimeError):
    """The forked child died before it could send a result or an exception."""


class ForkedCall:
    """``function(*args)`` started in a forked child; :meth:`result` waits for it.

    An exception raised by ``function`` is raised by :meth:`result` again, with the child's
    traceback as a note. :meth:`stop` ends a child whose result is no longer wanted (the caller
    failed); a child still running when the caller exits is ended too (a daemon).
    """

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self._name = getattr(function, "__qualname__", repr(function))
        if "fork" not in multiprocessing.get_all_start_methods():
            self._process = None
            self._outcome = _outcome(function, args)
            return
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_child, args=(send, function, args), daemon=True)
        # The child's garbage collections would otherwise visit every object the parent holds
        # (after a cold reproduce: 14 compiled models, the fits) and so copy every page they
        # live on; frozen, they are left alone and their pages stay shared.
        gc.freeze()
        try:
            self._process.start()
        finally:
            gc.unfreeze()
        send.close()

    def result(self) -> Any:
        if self._process is not None:
            try:
                self._outcome = self._receive.recv()
            except EOFError:
                self._process.join()
                raise ForkedCallError(
                    f"{self._name} died in {_STARTED_ELSEWHERE} "
                    f"({exit_reason(self._process.exitcode)}) without a result"
                ) from None
            finally:
                self._receive.close()
            self._process.join()
            self._process = None
        outcome, value, child_traceback = self._outcome
        if outcome == "error":
            value.add_note(f"raised in {_STARTED_ELSEWHERE}:\n{child_traceback}")
            raise value
        return value

    def stop(self) -> None:
        """End the child if it still runs (its result is then lost)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _outcome(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any, str]:
    try:
        return ("ok", function(*args), "")
    except Exception as error:
        return ("error", error, traceback.format_exc())


def _child(send: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    outcome = _outcome(function, args)
    try:
        send.send(outcome)
    except Exception as error:  # the result or the exception does not pickle
        send.send(("error", TypeError(f"{outcome[0]} of the call does not pickle: {error}"),
                   outcome[2] or traceback.format_exc()))  # fmt: skip
    send.close()
