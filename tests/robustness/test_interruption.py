"""Interruption safety of ``grassroots describe``, ``simulate``, ``fit`` and ``reproduce``.

The commands run as ``python -m grassroots`` subprocesses and are killed (SIGKILL) or
interrupted (SIGINT) at seeded random moments: after a random delay, just before a random one
of their changes to the file system, or (``fit`` and ``reproduce``) a moment into nutpie's
sampling (see ``_interrupt.py``). After each kill, every file in the output folder is complete
and byte-identical to a clean run's (temporaries aside), every fit bundle left loads and holds
the clean run's draws, and the user's own file in that folder is untouched; the next full run
leaves exactly the clean run's files and draws and no temporary. The unit tests below pin the
mechanism (``grassroots._io``, and the sampler's answer to Ctrl-C) in process.

The CI version kills describe and simulate a few times each and fit twice while it samples
(fit's test: four runs, under a minute of CPU, most of it numba compiling the model);
``-m slow`` kills describe and simulate 50 times each, fit 12 times and reproduce --quick 6
times (half an hour on a busy 2-core machine), and ``analysis/validation/interruption.py``
runs the long campaign.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import _interrupt
import numpy as np
import pytest
import xarray as xr

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


def test_a_short_trace_is_an_interrupt_not_a_fit() -> None:
    """PyMC (and nutpie's blocking call) answer Ctrl-C by returning the draws made so far;
    sample() must not pass them on as a finished run."""
    from grassroots.inference.sampling import SamplingResult, _complete
    from grassroots.models.spec import SamplerSettings

    def result(chains: int, draws: int) -> SamplingResult:
        posterior = xr.Dataset({"mu": (("chain", "draw"), np.zeros((chains, draws)))})
        return SamplingResult(xr.DataTree.from_dict({"posterior": posterior}), "x", 0.0, 0.0)

    settings = SamplerSettings(chains=2, draws=50, tune=50)
    assert _complete(result(2, 50), settings).trace["posterior"].sizes["draw"] == 50
    for chains, draws in ((2, 17), (1, 50), (2, 0)):
        with pytest.raises(KeyboardInterrupt):
            _complete(result(chains, draws), settings)


def test_ctrl_c_inside_nutpie_stops_instead_of_falling_back_to_pymc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KeyboardInterrupt raised in one of nutpie's Python callbacks (its initial point)
    comes back as nutpie's RuntimeError, and an error while handling one (cancelling the
    sampler) hides it as its context; sample() must stop, not sample again with PyMC."""
    import grassroots.inference.sampling as sampling
    from grassroots.models.spec import SamplerSettings

    def in_a_callback(*args, **kwargs):
        raise RuntimeError(
            "Failed to generate a new initial position\n\nCaused by:\n    0: Failed to "
            "initialize point\n    1: KeyboardInterrupt: "
        )

    def while_handling(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("a sampler thread failed") from None

    def pymc(*args, **kwargs):
        raise AssertionError("fell back to PyMC after Ctrl-C")

    monkeypatch.setattr(sampling, "_sample_pymc", pymc)
    for failure in (in_a_callback, while_handling):
        monkeypatch.setattr(sampling, "_start_nutpie", failure)
        with pytest.raises(KeyboardInterrupt):
            sampling.sample(None, SamplerSettings(chains=2, draws=10, tune=10), seed=1)
    # Other nutpie failures still fall back (with a warning).
    monkeypatch.setattr(sampling, "_start_nutpie", lambda *a, **k: 1 / 0)
    with pytest.warns(UserWarning, match="falling back"), pytest.raises(AssertionError):
        sampling.sample(None, SamplerSettings(chains=2, draws=10, tune=10), seed=1)


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
def test_a_saved_short_bundle_is_refitted_not_reused(tmp_path: Path, fake_sampler) -> None:
    """A bundle saved from an interrupted sampling (before the fix) holds fewer draws than its
    key's settings: fit() refits it instead of reusing it."""
    from grassroots.data import Study
    from grassroots.data.simulate import SimulationConfig, simulate
    from grassroots.inference import Fit, fit

    sim = simulate(seed=3, config=SimulationConfig(n_counties=6, townships_per_county=5,
                                                   projects_per_township=4))
    study = Study.from_frames(sim.projects, sim.townships, sim.counties)
    spec = tmp_path / "spec.toml"
    spec.write_text(_interrupt.SPEC)
    fitted = fit(study, spec, seed=1, draws=40, tune=0, fitted_dir=tmp_path / "fitted",
                 progress=False)
    short = Fit.load(fitted.path)
    groups = short.trace.children.items()
    short.trace = xr.DataTree.from_dict(
        {name: node.to_dataset().isel(draw=slice(0, 7)) for name, node in groups}
    )
    short.save(fitted.path)
    with pytest.warns(UserWarning, match="ignoring unreadable bundle.*2 chains x 7 draws"):
        again = fit(study, spec, seed=1, draws=40, tune=0, fitted_dir=tmp_path / "fitted",
                    progress=False)
    assert len(fake_sampler) == 2 and again.posterior.sizes["draw"] == 40
    assert Fit.load(fitted.path).posterior.sizes["draw"] == 40


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
    assert (tally.kills + tally.finished_first, tally.recoveries) == (3, 1)
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
    assert tally.kills + tally.finished_first == 50


# ----------------------------------------------------------------------------------------------
# fit and reproduce: killed while nutpie samples and while a bundle is written
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sampling_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny simulated study and fit's model spec (``_interrupt.make_study``)."""
    return _interrupt.make_study(tmp_path_factory.mktemp("inputs"))


def test_fit_killed_while_sampling_leaves_no_bundle_and_recovers(
    sampling_inputs: Path, tmp_path: Path
) -> None:
    """Ctrl-C, then SIGKILL, a moment into nutpie's sampling (into one fitted dir): no bundle
    and no file but the user's, exit 130 on Ctrl-C (the sampler used to hand back its draws so
    far, saved as the fit); then a full run saves a clean run's draws.

    The clean run comes last: the first compile of a model on a machine gives other draws
    than the cached compiles after it (see ``_interrupt.compiled_anew``), and the kills'
    compiles have filled the cache by then."""
    out = tmp_path / "work" / "out"
    _interrupt.add_user_file("fit", out)
    nothing = _interrupt.Reference(files={})
    for signum, delay in ((signal.SIGINT, 0.05), (signal.SIGKILL, 0.15)):
        run = _interrupt.run_killed_in_sampling("fit", out, 1, delay, signum, sampling_inputs)
        assert run.returncode == (130 if signum == signal.SIGINT else -signum), run.stderr[-3000:]
        assert _interrupt.kill_phase(run) == _interrupt.PHASES["sampling"], run.stderr[-3000:]
        _interrupt.check_interrupted("fit", out, nothing)  # no bundle at all
    _interrupt.run_clean("fit", out, study=sampling_inputs)
    clean = tmp_path / "clean" / "out"
    _interrupt.run_clean("fit", clean, study=sampling_inputs)
    reference = _interrupt.reference_of(clean)
    assert len(reference.bundles) == 1
    _interrupt.check_recovered("fit", out, reference)


@pytest.mark.slow
def test_fit_twelve_kills(sampling_inputs: Path, tmp_path: Path) -> None:
    """fit killed 12 times: a moment into sampling, at a change inside the bundle write (zarr,
    fit.json, the moves), at any change, after a random delay; a full run every 3 kills, and
    the bundle deleted after every other one (kills fall in a first write and in a
    replacement)."""
    reference, fresh, replacing = _interrupt.clean_reference(
        "fit", sampling_inputs, tmp_path / "clean"
    )
    rng = random.Random("slow-fit")
    recoveries = []

    def forget_every_other_time(out: Path) -> None:
        recoveries.append(out)
        if len(recoveries) % 2:
            _interrupt.forget_bundles(out, rng, keep=0.0)

    tally = _interrupt.interrupt_series(
        "fit",
        tmp_path / "work",
        reference,
        planner=_interrupt.fit_planner(rng, fresh, replacing),
        n_planned=12,
        recover_every=3,
        study=sampling_inputs,
        after_recovery=forget_every_other_time,
    )
    assert tally.kills + tally.finished_first == 12
    assert tally.phases[_interrupt.PHASES["sampling"]] >= 2, tally.phases
    assert tally.phases[_interrupt.PHASES["saving"]] >= 2, tally.phases


@pytest.mark.slow
def test_reproduce_quick_six_kills(sampling_inputs: Path, tmp_path: Path) -> None:
    """reproduce --quick (18 fits, then the estimands, every table and figure) killed 6 times
    into one reports folder and fitted dir: a moment into a sampling, at a change inside a
    bundle write, at any change, after a random delay; a full run every 2 kills, then about a
    third of the bundles deleted (the next kills fall in their sampling and writes)."""
    reference, clean, _ = _interrupt.clean_reference(
        "reproduce", sampling_inputs, tmp_path / "clean"
    )
    assert len(reference.bundles) == 18
    rng = random.Random("slow-reproduce")
    tally = _interrupt.interrupt_series(
        "reproduce",
        tmp_path / "work",
        reference,
        planner=_interrupt.reproduce_planner(rng, clean),
        n_planned=6,
        recover_every=2,
        study=sampling_inputs,
        after_recovery=lambda out: _interrupt.forget_bundles(out, rng, keep=2 / 3),
    )
    assert tally.kills + tally.finished_first == 6
