"""Run NUTS on a PyMC model: nutpie by default, PyMC's own sampler as the fallback.

nutpie compiles the model's log density with numba (the first compile of a model shape takes
tens of seconds; PyTensor's numba cache makes later compiles of the same graph much faster) and
reproduces its draws exactly for a given ``seed``. ``pm.sample(nuts_sampler="nutpie",
random_seed=...)`` was seen not to, so nutpie is called directly.

Both samplers' log densities are compiled by numba (PyTensor 3's default linker, PyMC's too)
without numba's fastmath, which PyTensor turns on by default (:func:`exact_compile`).

:func:`start_sampling` returns while nutpie's chains run on their own threads, so a caller can
compile the next model meanwhile; nutpie runs still sample one at a time (``_NutpieQueue``): a
run compiled while another samples starts when that one's chains end.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from grassroots._blas_kernel import warn_if_unpinned
from grassroots._warnings import warn_caller
from grassroots.models.spec import SamplerSettings


def exact_compile() -> contextlib.AbstractContextManager[None]:
    """PyTensor compiles in this block without numba's fastmath.

    With fastmath, LLVM may reassociate sums and fuse multiply-adds, and it did so differently
    in a kernel compiled afresh (inlined into its caller) and in the same kernel loaded from
    PyTensor's numba cache: one seed gave draws that differed in the last bits of the first
    draw and in the third decimal after some hundred draws, depending only on what the cache
    held (issue 13). Without fastmath every compile keeps IEEE order: same seed, same bytes,
    cold cache or warm. Cached kernels are stored per fastmath setting, so none compiled with
    it is reused here.
    """
    return pytensor.config.change_flags(numba__fastmath=False)


@dataclass(frozen=True)
class SamplingResult:
    """A trace (``posterior`` and ``sample_stats`` groups) and how it was obtained."""

    trace: xr.DataTree
    backend: str
    compile_seconds: float
    sample_seconds: float


class StartedSampling:
    """A sampler that :func:`start_sampling` set going: its chains run on their own threads
    while the caller goes on; :meth:`result` waits for them."""

    def __init__(self, wait: Callable[[], SamplingResult], cancel: Callable[[], None]) -> None:
        self._wait = wait
        self._cancel = cancel
        self._result: SamplingResult | None = None
        self._cancelled = False

    @classmethod
    def finished(cls, result: SamplingResult) -> StartedSampling:
        """One whose draws are already there (a sampler that does not run in the background)."""
        started = cls(lambda: result, lambda: None)
        started._result = result
        return started

    def result(self) -> SamplingResult:
        """The draws, once every chain has finished (at once on later calls).

        Raises
        ------
        KeyboardInterrupt
            After :meth:`cancel`: the draws made so far are no finished run.
        """
        if self._result is None:
            if self._cancelled:
                raise KeyboardInterrupt("sampling was cancelled")
            self._result = self._wait()
        return self._result

    def cancel(self) -> None:
        """Stop the chains (an interrupted run); :meth:`result` then raises."""
        if self._result is None:
            self._cancelled = True
            with contextlib.suppress(Exception):
                self._cancel()


def sample(
    model: pm.Model,
    settings: SamplerSettings,
    *,
    seed: int,
    progress: bool = True,
    cores: int | None = None,
    initial_points: Mapping[str, np.ndarray] | None = None,
) -> SamplingResult:
    """Draw from the posterior of ``model``.

    Parameters
    ----------
    model : pymc.Model
    settings : SamplerSettings
        Chains, draws, tune, target_accept, max_treedepth and backend (``nutpie`` or ``pymc``).
    seed : int
        The one seed of the run; the same seed gives the same draws.
    progress : bool
        Show the sampler's progress bar.
    cores : int, optional
        Chains run in parallel (default: ``min(chains, CPU count)``).
    initial_points : Mapping[str, ndarray], optional
        Starting values (constrained scale) for parameters whose default start is invalid,
        e.g. :attr:`grassroots.models.BuiltModel.initial_points`.

    Returns
    -------
    SamplingResult

    Notes
    -----
    If nutpie cannot be imported or fails to compile the model, PyMC's NUTS runs instead (with a
    warning): its draws are reproducible for a seed too, but differ from nutpie's.
    """
    return start_sampling(
        model, settings, seed=seed, progress=progress, cores=cores, initial_points=initial_points
    ).result()


def start_sampling(
    model: pm.Model,
    settings: SamplerSettings,
    *,
    seed: int,
    progress: bool = True,
    cores: int | None = None,
    initial_points: Mapping[str, np.ndarray] | None = None,
) -> StartedSampling:
    """:func:`sample`, returning once the model is compiled and nutpie's chains have started.

    The chains sample on nutpie's threads without Python's lock, so the caller can build and
    compile the next model, or save the last fit, meanwhile; the draws are the same as
    :func:`sample`'s. PyMC's sampler (the fallback) runs to the end before this returns.
    """
    warn_if_unpinned()
    cores = cores or min(settings.chains, os.cpu_count() or 1)
    initial = dict(initial_points or {})

    def with_pymc() -> StartedSampling:
        trace = _sample_pymc(
            model, settings, seed=seed, progress=progress, cores=cores, initial=initial
        )
        return StartedSampling.finished(_complete(trace, settings))

    def fall_back(reason: str) -> StartedSampling:
        warn_caller(f"{reason}; falling back to PyMC's NUTS sampler", UserWarning)
        return with_pymc()

    if settings.backend != "nutpie":
        return with_pymc()
    try:
        run = _start_nutpie(
            model, settings, seed=seed, progress=progress, cores=cores, initial=initial
        )
    except ImportError as error:
        return fall_back(f"nutpie is not available ({error})")
    except Exception as error:  # any compile failure falls back
        return fall_back(_nutpie_failure(error))

    def wait() -> SamplingResult:
        try:
            return _complete(run.wait(), settings)
        except Exception as error:  # a sampling failure falls back too
            return fall_back(_nutpie_failure(error)).result()

    return StartedSampling(wait, run.cancel)


def _nutpie_failure(error: Exception) -> str:
    """Why nutpie is given up for PyMC's sampler; a Ctrl-C inside nutpie stops the run instead
    (PyMC would start on it, and its other draws would be saved as the fit)."""
    if _interrupted(error):
        raise KeyboardInterrupt(str(error)) from error
    return f"nutpie failed: {type(error).__name__}: {error}"


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` stems from a KeyboardInterrupt: one raised inside a Python callback of
    nutpie's Rust code comes back as nutpie's own error, e.g. ``RuntimeError: Failed to
    generate a new initial position ... KeyboardInterrupt``, with the cause in its text only."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt) or "KeyboardInterrupt" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _complete(result: SamplingResult, settings: SamplerSettings) -> SamplingResult:
    """``result``, when it holds every chain and draw asked for.

    Raises
    ------
    KeyboardInterrupt
        When it holds fewer: PyMC answers Ctrl-C by returning the draws made so far as if
        sampling had ended, and a short trace must never pass for a finished one.
    """
    sizes = result.trace["posterior"].sizes
    got = (sizes.get("chain", 0), sizes.get("draw", 0))
    if got != (settings.chains, settings.draws):
        raise KeyboardInterrupt(
            f"sampling stopped after {got[0]} chains x {got[1]} draws of "
            f"{settings.chains} x {settings.draws}"
        )
    return result


class _NutpieQueue:
    """This process's nutpie runs, sampling one at a time.

    One run already keeps every core busy (a chain per core), so a second run beside it only
    slows both, holds a second trace in memory, and makes each run's measured sampling seconds
    count the other's share (Appendix A reported 333 s for a model that samples in 15 s beside
    the structural fit). A run started while another samples is compiled and waits; it starts
    the moment that one finishes (each run's watcher thread sees it end), or when its own draws
    are asked for first. When a run starts does not change its draws.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sampling: _NutpieRun | None = None
        self._waiting: list[_NutpieRun] = []

    def submit(self, run: _NutpieRun) -> None:
        with self._lock:
            now = self._sampling is None
            if now:
                self._sampling = run
            else:
                self._waiting.append(run)
        if now:
            run.start()

    def done(self, run: _NutpieRun, *, start_next: bool = True) -> None:
        """``run`` sampled (or was given up): the next waiting run, if any, starts."""
        with self._lock:
            if run in self._waiting:
                self._waiting.remove(run)
            if self._sampling is not run:
                return
            self._sampling = self._waiting.pop(0) if start_next and self._waiting else None
            following = self._sampling
        if following is not None:
            following.start()


_NUTPIE_QUEUE = _NutpieQueue()
#: How often a run's watcher asks nutpie whether the chains have finished.
_WATCH_SECONDS = 0.05


class _NutpieRun:
    """A compiled nutpie run: started by :class:`_NutpieQueue` in its turn; :meth:`wait`
    returns its trace. Its sampling seconds run from its start to the end of its chains."""

    def __init__(
        self,
        start_sampler: Callable[[], Any],
        compile_seconds: float,
        progress: bool,
        queue: _NutpieQueue = _NUTPIE_QUEUE,
    ) -> None:
        self._start_sampler = start_sampler
        self._compile_seconds = compile_seconds
        self._progress = progress
        self._queue = queue
        self._start_lock = threading.Lock()
        self._sampler: Any = None
        self._start_error: Exception | None = None
        self._cancelled = False
        self._started_at = self._finished_at = math.nan
        self._stop_watching = threading.Event()
        self._watcher: threading.Thread | None = None
        queue.submit(self)

    @property
    def started(self) -> bool:
        return self._sampler is not None or self._start_error is not None

    def start(self) -> None:
        """Set the chains going (once; not after :meth:`cancel`)."""
        with self._start_lock:
            if self.started or self._cancelled:
                return
            try:
                self._sampler = self._start_sampler()
            except Exception as error:  # raised by wait(), which falls back to PyMC
                self._start_error = error
            self._started_at = time.perf_counter()
            if self._start_error is None:
                # nutpie's sampler is asked whether it has finished from this thread only, and
                # never while wait() blocks on it.
                self._watcher = threading.Thread(
                    target=self._watch, name="grassroots-nutpie-watch", daemon=True
                )
                self._watcher.start()
        if self._start_error is not None:
            self._queue.done(self)

    def _watch(self) -> None:
        while not self._stop_watching.wait(_WATCH_SECONDS):
            try:
                finished = bool(self._sampler.is_finished)
            except TimeoutError:  # nutpie's answer while the chains still run
                finished = False
            except Exception:  # wait() will raise it; the next run need not wait for that
                finished = True
            if finished:
                self._finished_at = time.perf_counter()
                self._queue.done(self)
                return

    def _stop_watch(self) -> None:
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join()

    def wait(self) -> SamplingResult:
        self.start()  # asked for before its turn: it samples now, beside the run in turn
        if self._start_error is not None:
            raise self._start_error
        self._stop_watch()
        try:
            trace = self._sampler.wait()
        except BaseException:
            # The blocking call would answer Ctrl-C with the draws made so far, as if sampling
            # had ended: fit() would then save that short trace as the complete fit and reuse
            # it. An error of the cancel must not replace the interrupt (sample() would fall
            # back).
            self.cancel()
            raise
        ended = self._finished_at if not math.isnan(self._finished_at) else time.perf_counter()
        self._queue.done(self)
        seconds = ended - self._started_at
        if self._progress:
            print(
                f"compiled in {self._compile_seconds:.1f} s, sampled in {seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        return SamplingResult(_clean(trace), "nutpie", self._compile_seconds, seconds)

    def cancel(self) -> None:
        """Stop the chains, or keep them from starting; the next waiting run starts only when
        its own draws are asked for (an interrupted ``reproduce`` cancels every run)."""
        with self._start_lock:
            self._cancelled = True
        self._stop_watch()
        self._queue.done(self, start_next=False)
        if self._sampler is not None:
            with contextlib.suppress(Exception):
                self._sampler.cancel()


def _start_nutpie(
    model: pm.Model,
    settings: SamplerSettings,
    *,
    seed: int,
    progress: bool,
    cores: int,
    initial: dict[str, np.ndarray],
) -> _NutpieRun:
    import nutpie

    if progress:
        # The numba compile is silent and can take a minute on a first run; say what is going on.
        print("compiling the model for nutpie (numba)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with exact_compile():
        compiled = nutpie.compile_pymc_model(model, backend="numba", initial_points=initial or None)
    compile_seconds = time.perf_counter() - start

    def start_sampler() -> Any:
        return nutpie.sample(
            compiled,
            seed=seed,
            chains=settings.chains,
            draws=settings.draws,
            tune=settings.tune,
            cores=cores,
            target_accept=settings.target_accept,
            maxdepth=settings.max_treedepth,
            adaptation=settings.adaptation,
            save_warmup=False,
            progress_bar=progress,
            blocking=False,
        )

    return _NutpieRun(start_sampler, compile_seconds, progress)


def _sample_pymc(
    model: pm.Model,
    settings: SamplerSettings,
    *,
    seed: int,
    progress: bool,
    cores: int,
    initial: dict[str, np.ndarray],
) -> SamplingResult:
    start = time.perf_counter()
    # On Linux the chains' processes are forked with the function compiled here (PyMC pickles
    # it, and the child compiles anew with PyTensor's defaults, only under spawn/forkserver).
    with exact_compile():
        trace = pm.sample(
            initvals=initial or None,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=cores,
            random_seed=seed,
            # PyMC 6 picks nutpie by itself when it is installed; this path is the fallback.
            nuts_sampler="pymc",
            nuts={"target_accept": settings.target_accept, "max_treedepth": settings.max_treedepth},
            progressbar=progress,
            compute_convergence_checks=False,
            model=model,
        )
    # PyMC compiles inside pm.sample; its compile time is not separable here.
    return SamplingResult(_clean(trace), "pymc", 0.0, time.perf_counter() - start)


def _clean(trace: xr.DataTree) -> xr.DataTree:
    """Keep ``posterior`` and numeric ``sample_stats`` (object columns cannot be stored)."""
    groups = {"posterior": trace["posterior"].to_dataset()}
    if "sample_stats" in trace.children:
        stats = trace["sample_stats"].to_dataset()
        keep = [name for name, var in stats.data_vars.items() if var.dtype.kind in "biufc"]
        groups["sample_stats"] = stats[keep]
    return xr.DataTree.from_dict(groups)
