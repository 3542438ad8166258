"""Run one call in a new Python interpreter and return its result.

The validation campaigns fit hundreds of models on a few long-lived Dask workers. Each fit
JIT-compiles a new model, and a worker process keeps what every fit leaves behind: numba code
mappings and memory never returned to the system. In the coverage campaign a worker's memory
mappings rose from about 2,300 to 3,900 and its resident memory from 0.8 to 1.5 GB over its
first three structural fits; after about 95 minutes of SBC fits both workers died with
``LLVM ERROR: Unable to allocate section memory!``. A task that runs its fit in
a fresh interpreter leaves its worker as it found it, at the cost of one interpreter start and
the imports (seconds, against minutes of sampling).
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

_STDERR_TAIL = 4000


class FreshProcessError(RuntimeError):
    """The fresh interpreter died before it could return a result or an exception."""


def call_in_fresh_process(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, computed in a new interpreter (``sys.executable``).

    ``function``, its arguments and its result must pickle; module-level functions pickle by
    reference, so the new interpreter imports them from the installed package. An exception
    raised by ``function`` is raised here again, with the child's traceback as a note. The child
    exits by itself within seconds when the process that started it dies.

    Raises
    ------
    FreshProcessError
        When the child exits without a result (killed, crashed, or ``os._exit``), with its exit
        code or signal and the end of its standard error.
    """
    with tempfile.TemporaryDirectory(prefix="grassroots-call-") as folder:
        call = Path(folder) / "call.pickle"
        answer = Path(folder) / "answer.pickle"
        call.write_bytes(pickle.dumps((function, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "grassroots._fresh_process",
                str(call),
                str(answer),
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if done.returncode != 0 or not answer.is_file():
            raise FreshProcessError(
                f"{_name(function)} died in a fresh process ({exit_reason(done.returncode)}) "
                f"without a result; the end of its standard error:\n"
                f"{done.stderr.decode(errors='replace')[-_STDERR_TAIL:]}"
            )
        outcome, value, child_traceback = pickle.loads(answer.read_bytes())
    if outcome == "error":
        value.add_note(f"raised in a fresh process:\n{child_traceback}")
        raise value
    return value


def _name(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def _exit_with_parent(parent: int, folder: Path, every_seconds: float = 2.0) -> None:
    # An orphan would go on fitting for minutes, on cores its campaign no longer owns; the
    # folder of the call is the dead parent's, which can no longer remove it.
    while True:
        time.sleep(every_seconds)
        if os.getppid() != parent:
            shutil.rmtree(folder, ignore_errors=True)
            os._exit(3)


def _child(call: Path, answer: Path, parent: int) -> int:
    # The parent's pid comes from the parent: one that dies while this interpreter starts has
    # already been replaced by the reaper when ``os.getppid()`` could first be asked.
    threading.Thread(target=_exit_with_parent, args=(parent, call.parent), daemon=True).start()
    function, args, kwargs = pickle.loads(call.read_bytes())
    try:
        outcome = ("ok", function(*args, **kwargs), "")
    except Exception as error:
        outcome = ("error", error, traceback.format_exc())
    try:
        payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        payload = pickle.dumps(
            ("error", TypeError(f"the result of {_name(function)} does not pickle: {error}"),
             traceback.format_exc()),
        )  # fmt: skip
    # The answer appears whole or not at all: the caller reads it only after a clean exit,
    # but a file renamed into place cannot be half-written either way.
    partial = answer.with_suffix(".partial")
    partial.write_bytes(payload)
    partial.replace(answer)
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
