"""Run one call in a forked child process, beside the caller, and collect its result later.

``reproduce`` draws and writes its figures (matplotlib, one core, ~30 s) while it computes the
estimands: the child is forked with everything already loaded (fits, study, estimates), so
nothing is pickled on the way in and the figures are drawn from the very objects the parent
holds. Only the result (a few paths) is pickled back. It also fits its models in a child: what
compiling and sampling leave behind (numba's code, the sampler's freed heap) then leaves with
the child instead of staying in the process that goes on to compute the estimands.

POSIX only: where ``fork`` is missing the call runs in the caller, at once, with the same result.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from grassroots._fresh_process import exit_reason

_STARTED_ELSEWHERE = "a forked child"
# How long an interrupted caller waits for its child to stop its own work cleanly (cancel its
# samplers, remove its temporary files) before ending it.
_INTERRUPT_GRACE_SECONDS = 60.0
_WAIT_SLICE_SECONDS = 0.25


class ForkedCallError(RuntimeError):
    """The forked child died before it could send a result or an exception."""


class ForkedCall:
    """``function(*args)`` started in a forked child; :meth:`result` waits for it.

    An exception raised by ``function`` is raised by :meth:`result` again, with the child's
    traceback as a note. :meth:`stop` ends a child whose result is no longer wanted (the caller
    failed); the child is ended too when the caller dies (a daemon, and on Linux a parent-death
    signal, so that even a killed caller leaves no orphan sampling on).

    With ``on_message``, the child calls ``function(emit, *args)``: each ``emit(message)`` is
    handed to ``on_message(message)`` in the caller while :meth:`result` waits (progress, say).
    Ctrl-C in the caller while it waits is passed on to the child, which is given
    :data:`_INTERRUPT_GRACE_SECONDS` to stop cleanly; :meth:`result` then raises
    ``KeyboardInterrupt``. ``daemon=False`` lets the child start processes of its own (PyMC's
    chains, a Dask cluster), which a daemon may not.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *args: Any,
        on_message: Callable[[Any], None] | None = None,
        daemon: bool = True,
    ) -> None:
        self._name = getattr(function, "__qualname__", repr(function))
        self._on_message = on_message
        if "fork" not in multiprocessing.get_all_start_methods():
            self._process = None
            self._outcome = _outcome(function, (on_message, *args) if on_message else args)
            return
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child,
            args=(send, function, args, on_message is not None, os.getpid()),
            daemon=daemon,
        )
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
                self._outcome = self._receive_outcome()
            except KeyboardInterrupt:
                self._outcome = self._interrupted()
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

    def _receive_outcome(self, timeout: float | None = None) -> tuple[str, Any, str]:
        assert self._process is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # In slices: a SIGINT taken by another of this process's threads (numba's, nutpie's)
            # does not wake a blocking read; between slices Python raises it here.
            while not self._receive.poll(_WAIT_SLICE_SECONDS):
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError
            try:
                kind, *content = self._receive.recv()
            except EOFError:
                self._process.join()
                raise ForkedCallError(
                    f"{self._name} died in {_STARTED_ELSEWHERE} "
                    f"({exit_reason(self._process.exitcode)}) without a result"
                ) from None
            if kind != "message":
                return (kind, *content)  # type: ignore[return-value]
            if self._on_message is not None:
                self._on_message(content[0])

    def _interrupted(self) -> tuple[str, Any, str]:
        """Ctrl-C while waiting: the child stops its own work (it may have had the signal from
        the terminal already, and takes only the first), then the interrupt goes on."""
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, signal.SIGINT)
        try:
            self._receive_outcome(timeout=_INTERRUPT_GRACE_SECONDS)
        except (TimeoutError, ForkedCallError, KeyboardInterrupt):
            self.stop()
        return ("error", KeyboardInterrupt(), "")


def _outcome(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any, str]:
    try:
        return ("ok", function(*args), "")
    except (Exception, KeyboardInterrupt) as error:
        return ("error", error, traceback.format_exc())


def _interrupt_once(signum: int, frame: Any) -> None:
    # A second Ctrl-C (the terminal's and the parent's passed on) must not break the clean-up
    # the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _end_with_parent(parent: int) -> None:
    """Linux: this child gets SIGKILL when its parent dies, killed included (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was set
        os._exit(1)


def _child(
    send: Any, function: Callable[..., Any], args: tuple[Any, ...], messages: bool, parent: int
) -> None:
    _end_with_parent(parent)
    signal.signal(signal.SIGINT, _interrupt_once)

    def emit(message: Any) -> None:
        send.send(("message", message))

    outcome = _outcome(function, (emit, *args) if messages else args)
    try:
        send.send(outcome)
    except Exception as error:  # the result or the exception does not pickle
        send.send(("error", TypeError(f"{outcome[0]} of the call does not pickle: {error}"),
                   outcome[2] or traceback.format_exc()))  # fmt: skip
    send.close()
