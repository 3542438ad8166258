"""Interrupting ``python -m grassroots`` commands: at random moments, just before the k-th
change to the file system under the output folder, or while nutpie samples; and checking what
is left behind.

A plain module, shared by ``tests/robustness/test_interruption.py`` and the long run
``analysis/validation/interruption.py``.

Three ways to interrupt a run:

* :func:`run_killed_at_time` sends SIGKILL or SIGINT after a random delay (the real thing, but
  most delays fall in the start-up, before anything is written);
* :func:`run_killed_at_event` runs the command under an audit hook (:func:`sys.addaudithook`)
  that counts the changes the run makes under the output folder (opening a file for writing,
  ``mkstemp``, ``mkdtemp``, ``rename``/``replace``, ``remove``, ``rmtree``, ``copytree``,
  ``chmod``, ...) and sends the signal to itself at the k-th: every write window can be hit
  on purpose. SIGKILL stops the process before that change; SIGINT raises
  ``KeyboardInterrupt`` just after it;
* :func:`run_killed_in_sampling` (``fit`` and ``reproduce``) sends the signal from a timer
  started when the n-th sampling begins (nutpie's compile ends): sampling takes a second or
  less of a run that mostly compiles, so random delays alone would rarely land in it.

``fit`` and ``reproduce`` (:data:`SAMPLING_COMMANDS`) run on a tiny simulated study (written
by :func:`make_study`) and save their fit bundles under ``{out}/fitted``. A bundle holds its
creation time and timings, so bundles are compared by what they hold: every bundle left must
load with :meth:`grassroots.inference.Fit.load` and hold the clean run's draws (nutpie with a
seed is deterministic); every other file is compared byte for byte. These runs print where
they were when the signal came (compiling, sampling, writing a bundle, elsewhere), see
:func:`kill_phase`.
"""

from __future__ import annotations

import collections
import csv
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPORARY_PREFIX = ".tmp-"
USER_FILE = "my_notes.txt"  # a file of the user's in the output folder: it must survive
USER_TEXT = "kept across runs\n"
BUNDLES = "fitted"  # {out}/fitted: the --fitted-dir of fit and reproduce

# The commands, with {out} for the output folder. simulate is smaller than the bundled study
# to keep the runs short; the write path is the same.
COMMANDS: dict[str, list[str]] = {
    # describe writes its tables through the same atomic path as reproduce, in seconds.
    "describe": ["describe", "--out", "{out}"],
    "simulate": ["simulate", "--out", "{out}", "--seed", "7", "--counties", "12"],
}
# The commands that sample, with {data} and {spec} for a tiny simulated study and a small
# model (see make_study). fit resamples (--refit) so that every run can be killed while
# sampling, and so that a kill can also fall while a complete bundle is being replaced;
# reproduce reuses the bundles it finds, as a user's rerun after a kill does.
SAMPLING_COMMANDS: dict[str, list[str]] = {
    "fit": [
        "fit", "{spec}", "--data", "{data}", "--seed", "5", "--refit",
        "--fitted-dir", "{out}/" + BUNDLES,
    ],
    "reproduce": [
        "reproduce", "{data}", "--quick", "--seed", "5", "--out", "{out}/reports",
        "--fitted-dir", "{out}/" + BUNDLES,
    ],
}
ALL_COMMANDS = {**COMMANDS, **SAMPLING_COMMANDS}
# 6 counties, ~30 townships, ~120 projects: the study of tests/test_pipeline.py (with 4
# counties, Appendix C's Cox fit in reproduce meets a singular design).
STUDY_ARGS = [
    "--seed", "3", "--counties", "6", "--townships-per-county", "5",
    "--projects-per-township", "4",
]
# fit's model: a run compiles it in ~10 s on an idle machine (most of it numba's start-up,
# whatever the model; survival_m1 takes a third longer); 2 x 500 draws sample in a second.
SPEC_NAME = "interrupted_survival"
SPEC = f"""name = "{SPEC_NAME}"
family = "survival"
description = "Interruption tests: county frailty, two weaknesses, Weibull baseline"
groups = ["county_id"]
predictors = ["authority", "resources"]
interactions = []

[outcome]
time = "months"
event = "discontinued"

[baseline]
kind = "weibull"

[sampler]
chains = 2
draws = 500
tune = 500
target_accept = 0.9
"""
# Where the command writes its own files, relative to {out}; the user's file goes there too.
WRITES_INTO: dict[str, tuple[str, ...]] = {
    "describe": ("tables",),
    "simulate": (".",),
    "fit": (BUNDLES,),
    "reproduce": ("reports/tables", BUNDLES),
}

# Phases a killed run can be in, as the hook reports them.
PHASES = {
    "compiling": "inside the compile",
    "sampling": "inside sampling",
    "saving": "inside the bundle write",
}
ELSEWHERE = "elsewhere (start-up, data, estimands, tables)"

_HOOK = r"""
import os, runpy, signal, sys, threading, time

# "<k>": the k-th change of the run (0: none); "<k>@<phase>#<n>": the k-th change after the
# run entered <phase> for the n-th time (e.g. inside the 3rd bundle write: "40@saving#3").
_AT, _, _AFTER = os.environ["GRASSROOTS_KILL_AT"].partition("@")
_AT = int(_AT)
_AFTER_PHASE, _, _AFTER_ENTRY = _AFTER.partition("#")
_base = None if _AFTER else 0  # the change count from which _AT counts, once armed
_entries = {}
_SIGNAL = int(os.environ["GRASSROOTS_KILL_SIGNAL"])
_ROOT = os.path.realpath(os.environ["GRASSROOTS_KILL_ROOT"])
_PHASES = os.environ.get("GRASSROOTS_PHASES") == "1"
_SAMPLING = os.environ.get("GRASSROOTS_KILL_SAMPLING", "")  # "<n-th call>:<delay in s>"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_CHANGES = {"open", "os.chmod", "os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.utime",
            "shutil.copyfile", "shutil.copytree", "shutil.rmtree", "tempfile.mkstemp",
            "tempfile.mkdtemp"}
_count = 0
_phase = "start"


def _say(line):
    # Written at once: a SIGKILL right after must not lose it.
    sys.stderr.write(f"\n{line}\n")
    sys.stderr.flush()


def _kill():
    _say(f"GRASSROOTS_KILLED_IN={_phase}")
    os.kill(os.getpid(), _SIGNAL)


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
    if _base is not None and _count - _base == _AT:
        _kill()


def _mark(phase):
    global _phase, _base
    _phase = phase
    _entries[phase] = _entries.get(phase, 0) + 1
    if phase == _AFTER_PHASE and _entries[phase] == int(_AFTER_ENTRY):
        _base = _count
    _say(f"GRASSROOTS_PHASE={phase} {time.monotonic():.3f} {_count}")


def _wrap(owner, name, before, after, then=None):
    real = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if before:
            _mark(before)
        result = real(*args, **kwargs)
        _mark(after)
        if then is not None:
            then(calls[0])
        return result

    setattr(owner, name, wrapper)


def _timer(call):
    number, delay = _SAMPLING.split(":")
    if call == int(number):
        # A daemon: a run that ends first is neither held open nor killed on its way out.
        timer = threading.Timer(float(delay), _kill)
        timer.daemon = True
        timer.start()


def _on_sigint(signum, frame):
    _say(f"GRASSROOTS_KILLED_IN={_phase}")
    raise KeyboardInterrupt


if _PHASES or _SAMPLING:
    import nutpie
    import grassroots.inference.fit_result as fit_result
    import grassroots.inference.sampling as sampling

    # Sampling runs from the end of nutpie's compile to the end of the wait for its chains.
    _wrap(nutpie, "compile_pymc_model", "compiling", "sampling", _timer if _SAMPLING else None)
    _wrap(sampling._NutpieRun, "wait", None, "sampled")
    _wrap(fit_result.Fit, "save", "saving", "saved")
    signal.signal(signal.SIGINT, _on_sigint)

    # Functions numba compiles and caches (PyTensor's cache misses); see compiled_anew().
    import numba.core.caching as caching

    _compiled = [0]
    _save_overload = caching.Cache.save_overload

    def _counted_save(self, sig, data):
        _compiled[0] += bool(self._enabled)
        return _save_overload(self, sig, data)

    caching.Cache.save_overload = _counted_save

sys.addaudithook(_hook)
if _AT == 0 and not _AFTER:
    import atexit
    atexit.register(lambda: sys.stderr.write(f"\nGRASSROOTS_EVENTS={_count}\n"))
    if _PHASES or _SAMPLING:
        atexit.register(
            lambda: sys.stderr.write(f"\nGRASSROOTS_NUMBA_COMPILED={_compiled[0]}\n"))
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


@dataclass
class Reference:
    """What a clean run leaves in its output folder: every file outside the fit bundles
    (relative path -> bytes), and each bundle's groups of draws (bundle name -> group ->
    ``xarray.Dataset``)."""

    files: dict[str, bytes]
    bundles: dict[str, dict[str, Any]] = field(default_factory=dict)


def _as_reference(reference: Reference | Mapping[str, bytes]) -> Reference:
    return reference if isinstance(reference, Reference) else Reference(dict(reference))


def make_study(folder: Path) -> Path:
    """Write the inputs of the sampling commands into ``folder``: a tiny simulated study
    (``grassroots simulate``) in ``data/`` and fit's model spec; returns ``folder``, the
    ``study`` argument of the run functions."""
    if not (folder / "data" / "projects.csv").exists():
        subprocess.run(
            [sys.executable, "-m", "grassroots", "simulate", "--out", str(folder / "data"),
             *STUDY_ARGS],
            capture_output=True,
            check=True,
            env=_environment(),
        )
    (folder / f"{SPEC_NAME}.toml").write_text(SPEC)
    return folder


def _argv(command: str, out: Path, study: Path | None = None) -> list[str]:
    parts = ALL_COMMANDS[command]
    if command in SAMPLING_COMMANDS and study is None:
        raise ValueError(f"grassroots {command} needs the inputs of make_study")
    places = {"{out}": out}
    if study is not None:
        places.update({"{data}": study / "data", "{spec}": study / f"{SPEC_NAME}.toml"})
    argv = []
    for part in parts:
        for key, value in places.items():
            part = part.replace(key, str(value))
        argv.append(part)
    return argv


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_clean(command: str, out: Path, timeout: float = 1800, study: Path | None = None) -> Run:
    """Run the command to the end (it must succeed)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grassroots", *_argv(command, out, study)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(),
        check=False,
    )
    run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    assert run.returncode == 0, f"grassroots {command} failed: {run.stderr[-3000:]}"
    return run


def count_events(command: str, out: Path, study: Path | None = None) -> int:
    """How many file-system changes under ``out``'s folder a full run makes (it runs once)."""
    run = run_killed_at_event(command, out, at=0, signum=signal.SIGKILL, study=study)
    assert run.returncode == 0, run.stderr[-3000:]
    return events_of(run)


def events_of(run: Run) -> int:
    """The change count an uninterrupted run under the hook printed."""
    line = [x for x in run.stderr.splitlines() if x.startswith("GRASSROOTS_EVENTS=")][-1]
    return int(line.split("=")[1])


def _run_hooked(
    command: str,
    out: Path,
    *,
    at: int | str,
    signum: int,
    study: Path | None,
    timeout: float,
    sampling: str = "",
    delay: float | None = None,
) -> Run:
    env = _environment()
    env.update(
        GRASSROOTS_KILL_AT=str(at),
        GRASSROOTS_KILL_SIGNAL=str(int(signum)),
        GRASSROOTS_KILL_ROOT=str(out.parent),
        GRASSROOTS_PHASES="1" if command in SAMPLING_COMMANDS else "0",
        GRASSROOTS_KILL_SAMPLING=sampling,
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", _HOOK, *_argv(command, out, study)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout if delay is None else delay)
    except subprocess.TimeoutExpired:
        if delay is None:
            process.kill()
            process.communicate()
            raise
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=timeout)  # reaps it: no zombie keeps its pid
    return Run(process.returncode, stdout, stderr, time.monotonic() - started)


def run_killed_at_event(
    command: str,
    out: Path,
    at: int | str,
    signum: int,
    timeout: float = 1800,
    study: Path | None = None,
) -> Run:
    """Run the command and send ``signum`` to it just before its ``at``-th file-system change
    under ``out.parent`` (``at=0``: never; the count is printed to stderr). ``at`` may also be
    ``"<k>@<phase>#<n>"``: the k-th change after the run entered ``phase`` (``saving``: a
    bundle write) for the n-th time (sampling commands)."""
    return _run_hooked(command, out, at=at, signum=signum, study=study, timeout=timeout)


def run_killed_at_time(
    command: str, out: Path, delay: float, signum: int, study: Path | None = None
) -> Run:
    """Start the command and send ``signum`` after ``delay`` seconds (if it still runs).

    The sampling commands run under the hook (with no kill of its own) so that they report the
    phase the signal found them in."""
    if command in SAMPLING_COMMANDS:
        return _run_hooked(
            command, out, at=0, signum=signum, study=study, timeout=1800, delay=delay
        )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "grassroots", *_argv(command, out, study)],
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


def run_killed_in_sampling(
    command: str,
    out: Path,
    call: int,
    delay: float,
    signum: int,
    study: Path,
    timeout: float = 1800,
) -> Run:
    """Run a sampling command and send ``signum`` ``delay`` seconds after its ``call``-th
    sampling began (the end of nutpie's compile; if the run samples that many times and still
    runs then)."""
    return _run_hooked(
        command, out, at=0, signum=signum, study=study, timeout=timeout,
        sampling=f"{call}:{delay}",
    )


def compiled_anew(run: Run) -> int:
    """How many numba functions a run under the hook compiled and added to PyTensor's cache
    (``<base_compiledir>/numba``), as it printed at its end.

    A model's first compile on a machine (cache misses) gives a log density that differs from
    the cached one in the last bits (fastmath code optimised otherwise), and nutpie's draws
    from the same seed then differ entirely; once it is cached, every compile loads the same
    code and the draws repeat. A run that compiled anew is no reference for later runs.
    """
    lines = [x for x in run.stderr.splitlines() if x.startswith("GRASSROOTS_NUMBA_COMPILED=")]
    return int(lines[-1].split("=")[1])


def clean_reference(
    command: str, study: Path, folder: Path, max_runs: int = 3
) -> tuple[Reference, Run, Run | None]:
    """A clean run of a sampling command into ``folder/out`` under the hook (no kill), run
    again until a run compiled nothing anew (see :func:`compiled_anew`; at most ``max_runs``
    runs): its reference, the last run from an empty folder (change count, phases), and for
    ``fit`` a run over the saved bundle (``--refit``: a replacement's changes).

    ``reproduce`` reruns from an empty folder (it would reuse the bundles); ``fit`` always
    runs at least twice.
    """
    out = folder / "out"
    fresh = replacing = None
    runs = max(max_runs, 2 if command == "fit" else 1)
    for _ in range(runs):
        if command == "reproduce" and fresh is not None:
            shutil.rmtree(out)
        run = run_killed_at_event(command, out, 0, signal.SIGKILL, study=study)
        assert run.returncode == 0, f"grassroots {command} failed: {run.stderr[-3000:]}"
        if fresh is None or command == "reproduce":
            fresh = run
        else:
            replacing = run
        if compiled_anew(run) == 0 and (command != "fit" or replacing is not None):
            break
    else:
        print(f"grassroots {command}: run {runs} still compiled {compiled_anew(run)} "
              "functions anew; its draws are the reference all the same", file=sys.stderr)
    return reference_of(out), fresh, replacing


def kill_phase(run: Run) -> str:
    """Where a killed run was when the signal arrived: a value of :data:`PHASES`, or
    :data:`ELSEWHERE` (from the lines the hook printed; only the sampling commands print
    them)."""
    killed = [x for x in run.stderr.splitlines() if x.startswith("GRASSROOTS_KILLED_IN=")]
    if killed:
        phase = killed[-1].split("=", 1)[1]
    else:  # SIGKILL from outside: the last phase the run announced
        marks = [x for x in run.stderr.splitlines() if x.startswith("GRASSROOTS_PHASE=")]
        phase = marks[-1].split("=", 1)[1].split()[0] if marks else "start"
    return PHASES.get(phase, ELSEWHERE)


def phase_marks(run: Run) -> list[tuple[str, float, int]]:
    """The phases a run under the hook went through: (phase, monotonic time, changes so far)."""
    marks = []
    for line in run.stderr.splitlines():
        if line.startswith("GRASSROOTS_PHASE="):
            phase, moment, changes = line.split("=", 1)[1].split()
            marks.append((phase, float(moment), int(changes)))
    return marks


def sampling_seconds(run: Run) -> list[float]:
    """How long each sampling of a run under the hook took (after the compile)."""
    marks = phase_marks(run)
    starts = [moment for phase, moment, _ in marks if phase == "sampling"]
    ends = [moment for phase, moment, _ in marks if phase == "sampled"]
    return [end - start for start, end in zip(starts, ends, strict=False)]


def bundle_write_changes(run: Run) -> list[tuple[int, int]]:
    """The changes (first, last number) each bundle write of a run under the hook made."""
    marks = phase_marks(run)
    starts = [changes + 1 for phase, _, changes in marks if phase == "saving"]
    ends = [changes for phase, _, changes in marks if phase == "saved"]
    return list(zip(starts, ends, strict=False))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (dotfiles too), by path relative to it."""
    if not folder.exists():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# Appendix Table A reports each fit's sampling (and, in its CSV, compile) seconds: a refit
# writes other times, so these tables are compared with those cells blanked.
_TIMED = re.compile(r"(^|/)appendix_a_diagnostics(_[a-z]+)?\.(csv|md|tex|html|docx)$")
_TIMED_COLUMNS = ("sample_seconds", "compile_seconds")


def _last_cell_blank(text: str, suffix: str) -> str:
    """The table rows of a Markdown, LaTeX or HTML table with their last cell blanked (the
    sampling time)."""
    if suffix == "md":
        return "\n".join(
            re.sub(r"\|[^|]*\|\s*$", "| |", line) if line.startswith("|") else line
            for line in text.split("\n")
        )
    if suffix == "tex":
        return "\n".join(
            re.sub(r"&[^&]*\\\\\s*$", "& \\\\", line) if "&" in line else line
            for line in text.split("\n")
        )
    return re.sub(r"<td([^>]*)>[^<]*</td></tr>", r"<td\1></td></tr>", text)


def comparable(name: str, data: bytes) -> bytes:
    """``data`` as compared with a clean run's: the bytes, but for Appendix Table A with its
    timing cells blanked (a file that does not parse is returned as is, so differs)."""
    match = _TIMED.search(name)
    if match is None:
        return data
    suffix = match.group(3)
    try:
        if suffix == "csv":
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
            timed = [k for k, column in enumerate(rows[0]) if column in _TIMED_COLUMNS]
            for row in rows[1:]:
                for k in timed:
                    row[k] = ""
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            return buffer.getvalue().encode()
        if suffix == "docx":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = []
                for member in archive.namelist():
                    content = archive.read(member)
                    if member == "word/document.xml":
                        # The last cell's text of every table row.
                        content = re.sub(
                            rb"(<w:tc>(?:(?!<w:tc>).)*?<w:t[^>]*>)[^<]*(</w:t>(?:(?!<w:tc>).)*"
                            rb"</w:tc></w:tr>)",
                            rb"\1\2",
                            content,
                            flags=re.DOTALL,
                        )
                    members.append(member.encode() + b"\0" + content)
                return b"\0\0".join(members)
        return _last_cell_blank(data.decode("utf-8"), suffix).encode()
    except (UnicodeDecodeError, IndexError, zipfile.BadZipFile, csv.Error):
        return data


def _in_bundle(name: str) -> bool:
    """A file inside a bundle folder (``fitted/<bundle>/...``), temporaries aside."""
    parts = Path(name).parts
    return len(parts) > 2 and parts[0] == BUNDLES


def bundles(out: Path) -> dict[str, dict[str, Any]]:
    """Every bundle folder under ``out/fitted`` (temporaries aside): its draws, group by group.

    Each is read with :meth:`grassroots.inference.Fit.load`, which fails on a partial bundle.
    """
    from grassroots.inference import Fit

    folder = out / BUNDLES
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if not path.is_dir() or path.name.startswith(TEMPORARY_PREFIX):
            continue
        try:
            fitted = Fit.load(path)
        except Exception as error:  # any failure to read it is a partial bundle
            raise AssertionError(f"{path.name} is not a complete bundle: {error!r}") from error
        found[path.name] = {name: node.to_dataset() for name, node in fitted.trace.children.items()}
    return found


def reference_of(out: Path) -> Reference:
    """The reference of a clean run's output folder."""
    files = {name: data for name, data in snapshot(out).items() if not _in_bundle(name)}
    return Reference(files, bundles(out))


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
    for place in WRITES_INTO[command]:
        folder = out / place
        folder.mkdir(parents=True, exist_ok=True)
        (folder / USER_FILE).write_text(USER_TEXT)


def expected_files(command: str, reference: Reference | Mapping[str, bytes]) -> dict[str, bytes]:
    """The clean run's files (outside the bundles) plus the user's files."""
    users = {(Path(place) / USER_FILE).as_posix(): USER_TEXT.encode()
             for place in WRITES_INTO[command]}
    return {**_as_reference(reference).files, **users}


def _same_draws(name: str, found: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sorted(found) == sorted(expected), f"{name}: groups {sorted(found)}"
    for group, data in expected.items():
        assert found[group].equals(data), f"{name}: its {group} draws differ from a clean run's"


def check_interrupted(
    command: str, out: Path, reference: Reference | Mapping[str, bytes]
) -> None:
    """After an interrupted run: every file in ``out`` (temporaries aside) is complete and
    byte-identical to the clean run's (or is the user's file, unchanged), and every bundle
    folder left loads and holds the clean run's draws."""
    reference = _as_reference(reference)
    expected = expected_files(command, reference)
    for name, data in snapshot(out).items():
        if any(part.startswith(TEMPORARY_PREFIX) for part in Path(name).parts):
            continue
        if _in_bundle(name):
            continue  # compared by content below
        assert name in expected, f"{command}: unexpected file {name} after an interruption"
        assert comparable(name, data) == comparable(name, expected[name]), (
            f"{command}: {name} is truncated or different after an interruption "
            f"({len(data)} bytes, a complete one has {len(expected[name])})"
        )
    for name, groups in bundles(out).items():
        assert name in reference.bundles, f"{command}: unexpected bundle {name}"
        _same_draws(f"{command}: bundle {name}", groups, reference.bundles[name])


def check_recovered(command: str, out: Path, reference: Reference | Mapping[str, bytes]) -> None:
    """After a full run that followed interruptions: exactly the clean run's files, bundles
    and the user's files, and no temporary left beside or inside ``out``."""
    reference = _as_reference(reference)
    files = {name: data for name, data in snapshot(out).items() if not _in_bundle(name)}
    expected = expected_files(command, reference)
    differing = sorted(
        name for name in set(files) | set(expected)
        if name not in files or name not in expected
        or comparable(name, files[name]) != comparable(name, expected[name])
    )
    assert not differing, f"{command}: not recovered, files missing or different: {differing}"
    found = bundles(out)
    assert sorted(found) == sorted(reference.bundles), f"{command}: not recovered (bundles)"
    for name, groups in found.items():
        _same_draws(f"{command}: bundle {name}", groups, reference.bundles[name])
    leftovers = temporaries(out.parent)
    assert not leftovers, f"{command}: temporaries left after a full run: {leftovers}"


@dataclass
class Tally:
    """Kills survived, by command, signal and way of interrupting."""

    kills: int = 0
    during_writes: int = 0  # kills that left something in the folder to check
    recoveries: int = 0
    # Runs that ended before their signal came (a delay or change number past the run's end).
    finished_first: int = 0
    # Sampling commands: where each kill landed (see kill_phase), and by which way.
    phases: collections.Counter[str] = field(default_factory=collections.Counter)
    ways: collections.Counter[str] = field(default_factory=collections.Counter)
    signals: collections.Counter[str] = field(default_factory=collections.Counter)

    def as_dict(self) -> dict[str, Any]:
        """The counts, for a JSON report."""
        return {
            "kills survived": self.kills,
            "kills inside the write window": self.during_writes,
            "recoveries": self.recoveries,
            "runs that ended before their signal (not counted as kills)": self.finished_first,
            **({"kills by phase": dict(sorted(self.phases.items()))} if self.phases else {}),
            **({"kills by way": dict(sorted(self.ways.items()))} if self.ways else {}),
            **({"kills by signal": dict(sorted(self.signals.items()))} if self.signals else {}),
        }


# A planned kill: ("event", k, signal) kills at the k-th change (k: a number or
# "<k>@saving#<n>", the k-th change of the n-th bundle write), ("time", delay, signal) after a
# delay, ("sampling", (n, delay), signal) ``delay`` seconds into the n-th sampling.
Kill = tuple[str, Any, int]


def forget_bundles(out: Path, rng: random.Random, keep: float) -> list[str]:
    """Delete bundles at random (each kept with probability ``keep``), so that the next runs
    fit those again and kills can fall in their sampling; returns the names deleted."""
    folder = out / BUNDLES
    gone = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_dir() and not path.name.startswith(TEMPORARY_PREFIX) and rng.random() >= keep:
            shutil.rmtree(path)
            gone.append(path.name)
    return gone


def _interleave(
    event_kills: list[tuple[int, int]],
    time_kills: list[tuple[float, int]],
    sampling_kills: list[tuple[tuple[int, float], int]],
) -> list[Kill]:
    plan: list[Kill] = []
    for i in range(max(len(event_kills), len(time_kills), len(sampling_kills))):
        if i < len(event_kills):
            plan.append(("event", *event_kills[i]))
        if i < len(time_kills):
            plan.append(("time", *time_kills[i]))
        if i < len(sampling_kills):
            plan.append(("sampling", *sampling_kills[i]))
    return plan


def kill_once(command: str, out: Path, kill: Kill, study: Path | None = None) -> Run:
    """Run ``command`` into ``out`` and interrupt it as ``kill`` says."""
    how, when, signum = kill
    if how == "event":
        return run_killed_at_event(command, out, when, signum, study=study)
    if how == "time":
        return run_killed_at_time(command, out, float(when), signum, study=study)
    call, delay = when
    return run_killed_in_sampling(command, out, int(call), float(delay), signum, study=study)


def interrupt_series(
    command: str,
    work: Path,
    reference: Reference | Mapping[str, bytes],
    *,
    event_kills: list[tuple[int, int]] = (),
    time_kills: list[tuple[float, int]] = (),
    sampling_kills: list[tuple[tuple[int, float], int]] = (),
    planner: Callable[[Path], Kill] | None = None,
    n_planned: int = 0,
    recover_every: int = 1,
    tally: Tally | None = None,
    study: Path | None = None,
    after_recovery: Callable[[Path], object] | None = None,
    deadline: float | None = None,
    log: Callable[[str], object] | None = None,
) -> Tally:
    """Interrupt ``command`` again and again into one output folder under ``work``, checking
    after each kill, and run it to the end every ``recover_every`` kills (and at the end),
    checking that it recovered.

    The kills are ``event_kills`` ``(k, signal)`` (kill at the k-th change), ``time_kills``
    ``(delay, signal)`` and ``sampling_kills`` ``((n, delay), signal)`` (``delay`` into the
    n-th sampling), alternating; or, with ``planner``, ``n_planned`` kills that
    ``planner(out)`` draws one at a time (from what the folder holds then).
    ``after_recovery(out)`` runs after each recovery but the last (e.g.
    :func:`forget_bundles`). Past ``deadline`` (``time.monotonic()``), the series stops after
    its next recovery. ``log`` gets a line per run.
    """
    tally = tally or Tally()
    out = work / "out"
    add_user_file(command, out)
    plan = _interleave(list(event_kills), list(time_kills), list(sampling_kills))
    total = n_planned if planner is not None else len(plan)
    since_recovery = 0
    for number in range(1, total + 1):
        kill = planner(out) if planner is not None else plan[number - 1]
        signum = kill[2]
        run = kill_once(command, out, kill, study=study)
        assert "Traceback" not in run.stderr or signum == signal.SIGINT, run.stderr[-3000:]
        # Killed, interrupted (exit 130, or -2 before the CLI's handler runs), or done first.
        assert run.returncode in (0, -signum, 130 if signum == signal.SIGINT else 0), (
            f"grassroots {command} failed on {signal.Signals(signum).name}: "
            f"{run.stderr[-3000:]}"
        )
        if log is not None:
            where = kill_phase(run) if command in SAMPLING_COMMANDS else ""
            log(f"  kill {number}: {kill[0]} {kill[1]} {signal.Signals(signum).name} -> exit "
                f"{run.returncode} after {run.seconds:.0f} s {where}")
        assert "falling back to PyMC" not in run.stderr, (
            f"grassroots {command} fell back to PyMC after {kill}: {run.stderr[-4000:]}"
        )
        if run.returncode == 0:
            tally.finished_first += 1
        else:
            tally.kills += 1
            tally.signals[signal.Signals(signum).name] += 1
            if command in SAMPLING_COMMANDS:
                tally.phases[kill_phase(run)] += 1
                tally.ways[kill[0]] += 1
        since_recovery += 1
        files = {name: comparable(name, data) for name, data in snapshot(out).items()
                 if not _in_bundle(name)}
        expected = {name: comparable(name, data)
                    for name, data in expected_files(command, reference).items()}
        if files != expected or temporaries(work):
            tally.during_writes += 1
        try:
            check_interrupted(command, out, reference)
        except AssertionError as error:
            raise AssertionError(
                f"{error}\n--- after kill {number} {kill}, exit {run.returncode}; its stderr "
                f"ends:\n{run.stderr[-4000:]}"
            ) from error
        last = number == total or (deadline is not None and time.monotonic() > deadline)
        if since_recovery == recover_every or last:
            recovery = run_clean(command, out, study=study)
            try:
                check_recovered(command, out, reference)
            except AssertionError as error:
                raise AssertionError(
                    f"{error}\n--- the recovery's stderr ends:\n{recovery.stderr[-4000:]}"
                ) from error
            tally.recoveries += 1
            since_recovery = 0
            if log is not None:
                log(f"  recovered in {recovery.seconds:.0f} s")
            if after_recovery is not None and not last:
                after_recovery(out)
        if last:
            break
    return tally


def saved_bundles(out: Path) -> list[str]:
    """The bundle folders under ``out/fitted`` (temporaries aside), by name."""
    folder = out / BUNDLES
    return sorted(
        p.name for p in (folder.iterdir() if folder.is_dir() else [])
        if p.is_dir() and not p.name.startswith(TEMPORARY_PREFIX)
    )


def _write_size(run: Run) -> float:
    """Changes per bundle write of a run under the hook, on average."""
    writes = bundle_write_changes(run)
    return sum(last - first + 1 for first, last in writes) / len(writes)


def fit_planner(rng: random.Random, fresh: Run, replacing: Run) -> Callable[[Path], Kill]:
    """Kills of ``fit --refit``, in turn: a moment into sampling, at a change inside the
    bundle write, at any change, after a random delay; SIGKILL and SIGINT alternate from one
    round to the next. ``fresh`` and ``replacing`` are full runs under the hook into an empty
    fitted dir and over a saved bundle (its write copies the old bundle first)."""
    sampled = max(sampling_seconds(fresh))
    sizes = {False: _write_size(fresh), True: _write_size(replacing)}
    changes = {False: events_of(fresh), True: events_of(replacing)}
    ways = ("sampling", "bundle", "event", "time")
    counter = iter(range(10**9))

    def planner(out: Path) -> Kill:
        number = next(counter)
        how = ways[number % len(ways)]
        signum = (signal.SIGKILL, signal.SIGINT)[(number // len(ways) + number) % 2]
        saved = bool(saved_bundles(out))
        if how == "sampling":
            return how, (1, rng.uniform(0, sampled)), signum
        if how == "bundle":
            return "event", f"{rng.randint(1, int(sizes[saved]))}@saving#1", signum
        if how == "event":
            return how, rng.randint(1, changes[saved]), signum
        return how, rng.uniform(0.3, 1.1) * fresh.seconds, signum

    return planner


def reproduce_planner(rng: random.Random, clean: Run) -> Callable[[Path], Kill]:
    """Kills of ``reproduce`` drawn from what its folder holds: a run refits only the missing
    bundles, so its length, its changes and its samplings depend on how many are missing.
    ``clean`` is a full run from an empty folder under the hook. In turn: a moment into one of
    the samplings, at a change inside one of the bundle writes, at any change, after a random
    delay; SIGKILL and SIGINT alternate from one round to the next."""
    marks = phase_marks(clean)
    n_bundles = len(bundle_write_changes(clean))
    per_write = _write_size(clean)
    other_changes = events_of(clean) - per_write * n_bundles
    compiles = [moment for phase, moment, _ in marks if phase == "compiling"]
    saved = [moment for phase, moment, _ in marks if phase == "saved"]
    per_fit = (saved[-1] - compiles[0]) / n_bundles
    other_seconds = clean.seconds - (saved[-1] - compiles[0])
    sampled = sampling_seconds(clean)
    ways = ("sampling", "bundle", "event", "time")
    counter = iter(range(10**9))

    def planner(out: Path) -> Kill:
        number = next(counter)
        missing = max(0, n_bundles - len(saved_bundles(out)))
        how = ways[number % len(ways)]
        if missing == 0 and how in ("sampling", "bundle"):
            how = "event"  # nothing to fit: the estimands and tables
        signum = (signal.SIGKILL, signal.SIGINT)[(number // len(ways) + number) % 2]
        if how == "sampling":
            # One of the clean run's sampling times: most are a fraction of a second, the
            # structural model's a few seconds.
            return how, (rng.randint(1, missing), rng.uniform(0, rng.choice(sampled))), signum
        if how == "bundle":
            k = rng.randint(1, int(per_write))
            return "event", f"{k}@saving#{rng.randint(1, missing)}", signum
        if how == "event":
            return how, rng.randint(1, int(other_changes + missing * per_write)), signum
        return how, rng.uniform(0.05, 1.0) * (other_seconds + missing * per_fit), signum

    return planner


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
