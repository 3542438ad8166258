"""Atomic file output: a reader never sees a half-written file, and an interrupted run leaves
only complete files or none.

Every output is first written to a temporary beside its target, named
``.tmp-<target name>.<pid>.<random>`` (with ``.old`` at the end: a folder being replaced), and
then moved over the target with :func:`os.replace`, which is atomic within a folder. A run stopped
by Ctrl-C removes its temporaries on the way out. A run killed outright (SIGKILL, a power cut
of the process) cannot, so each write first sweeps its folder with :func:`clean_stale`: the
temporaries of processes that no longer exist are removed, and a folder that such a process
had moved aside but not yet replaced is put back. Temporaries start with a dot, so the data
readers (:func:`grassroots.data.load_study`) never take them for data.

Files get the permissions of the process's umask (``0644`` usually), as :func:`open` would
give them, not the ``0600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# .tmp-<name>.<pid>.<random from tempfile, no dots>, and ".old" after it for a folder that is
# being replaced.
_TEMPORARY = re.compile(r"^\.tmp-(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+(?P<old>\.old)?$")


def _prefix(target: Path) -> str:
    return f".tmp-{target.name}.{os.getpid()}."


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on systems other than POSIX: assume it does)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def clean_stale(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries in ``folder`` left by processes that no longer run.

    A folder moved aside (``.tmp-<name>...old``) by a process killed before it moved the new
    one in is put back as ``<name>`` when ``<name>`` is missing. Temporaries of live processes
    (another run writing into the same folder right now) are left alone.

    Parameters
    ----------
    folder
        The folder to sweep; nothing happens when it does not exist.

    Returns
    -------
    list of Path
        The temporaries removed or restored.
    """
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    handled = []
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or _process_alive(int(match["pid"])):
            continue
        target = folder / match["name"]
        with contextlib.suppress(FileNotFoundError):  # another run may sweep at the same time
            if match["old"] and entry.is_dir() and not os.path.lexists(target):
                os.replace(entry, target)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
            handled.append(entry)
    return handled


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it over ``target`` only on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic. Its
    data are flushed to disk before the move.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=_prefix(target), dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        yield tmp
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def filesystem_clock(folder: str | os.PathLike[str]) -> tuple[int, int, int]:
    """The clock of the file system of ``folder`` now, as it stamps files there.

    A temporary file is created in ``folder`` and deleted; its ``st_mtime_ns``, ``st_ctime_ns``
    and ``st_dev`` are returned. A file of that file system written later gets times at least
    these (in its own granularity, whatever the other clocks of the machine or of a file
    server say). Raises :class:`OSError` when ``folder`` cannot be written to.
    """
    folder = Path(folder)
    fd, name = tempfile.mkstemp(prefix=_prefix(folder / "clock"), dir=folder)
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
        os.unlink(name)
    return info.st_mtime_ns, info.st_ctime_ns, info.st_dev


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` whole.

    Files already in ``target`` that the block did not write are kept (copied over first), so a
    run that writes some of a folder's files never deletes the others. The old folder is moved
    aside, the new one moved in, then the old one deleted; if the run is interrupted between
    the two moves, the old folder is put back (at once on Ctrl-C, by :func:`clean_stale` on the
    next write after a kill).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(target), dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        if target.is_dir():
            shutil.copytree(target, tmp, dirs_exist_ok=True)
        yield tmp
        if target.is_dir():
            old = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".old", dir=target.parent))
            old.rmdir()
            try:
                os.replace(target, old)
                os.replace(tmp, target)
            except BaseException:
                if old.is_dir() and not os.path.lexists(target):
                    os.replace(old, target)  # interrupted between the two moves
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
