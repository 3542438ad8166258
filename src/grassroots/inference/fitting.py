"""``fit()``, ``start_fit()`` and when a saved fit is reused.

:func:`fit` builds a model from a spec and data, samples it (or fits a variational
approximation), and saves the result as a bundle; it reuses the saved bundle when spec, data,
seed and method are unchanged. The :class:`Fit` it returns is
:mod:`grassroots.inference.fit_result`'s; how a bundle is laid out, checked and read is
:mod:`grassroots.inference.bundle`. Their names are re-exported here for existing callers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots import _paths
from grassroots._paths import FITTED_DIR_VARIABLE, fitted_dir
from grassroots._warnings import warn_caller
from grassroots.data import identity
from grassroots.inference.approximate import approximate
from grassroots.inference.bundle import (
    BUNDLE_FORMAT,
    CHUNK_BYTES,
    DRAW_PACKAGES,
    LAZY_BYTES,
    LOO_FILE,
    LOO_POINTWISE_FILE,
    MANIFEST_FILE,
    BundleError,
    BundleWarning,
    DataMismatchError,
    bundle_name,
    file_sha256,
    package_versions,
    read_metadata,
    verify_bundle,
    write_manifest,
)
from grassroots.inference.diagnostics import (
    Diagnostics,
    approximate_diagnostics,
    compute_diagnostics,
)
from grassroots.inference.fit_result import Fit, StudyLike, resolve_data
from grassroots.inference.preflight import bundle_bytes, check_data, check_output_folder
from grassroots.inference.prior_dominance import warn_prior_dominance
from grassroots.inference.sampling import StartedSampling, exact_compile, start_sampling
from grassroots.models.builder import build_model, prepare_inputs
from grassroots.models.spec import ModelSpec, load_spec

__all__ = [
    # Bundle storage (grassroots.inference.bundle) and the fitted folder (grassroots._paths),
    # re-exported for existing callers.
    "BUNDLE_FORMAT",
    "CHUNK_BYTES",
    "FITTED_DIR_VARIABLE",
    "LAZY_BYTES",
    "LOO_FILE",
    "LOO_POINTWISE_FILE",
    "MANIFEST_FILE",
    "BundleError",
    "BundleWarning",
    "DataMismatchError",
    "bundle_name",
    "file_sha256",
    "fitted_dir",
    "package_versions",
    "verify_bundle",
    "write_manifest",
    # The fit result (grassroots.inference.fit_result), re-exported: fitting.Fit is a
    # documented path.
    "Fit",
    # Fitting.
    "PendingFit",
    "fit",
    "frame_hash",
    "model_inputs",
    "start_fit",
]


def frame_hash(frame: pd.DataFrame) -> str:
    """Deprecated: :func:`grassroots.data.identity.data_hash`, the one data hash."""
    warnings.warn(
        "grassroots.inference.frame_hash is deprecated and will be removed in the next "
        "release; use grassroots.data.identity.data_hash",
        DeprecationWarning,
        stacklevel=2,
    )
    return identity.data_hash(frame)


def fit(
    data: pd.DataFrame | StudyLike,
    spec: str | Path | ModelSpec,
    *,
    seed: int,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    target_accept: float | None = None,
    backend: str | None = None,
    method: str | None = None,
    progress: bool = True,
    save: bool = True,
    reuse: bool = True,
    fitted_dir: str | Path | None = None,
    log_likelihood: bool = False,
    directory: str | Path | None = None,
    lazy: bool | None = None,
) -> Fit:
    """Fit a model spec to data, or reuse the saved fit of the same spec, data and seed.

    Parameters
    ----------
    data : DataFrame or study
        A flat table (one row per unit, with the spec's columns), or an object with ``.flat()``
        and ``.data_hash()``.
    spec : str, Path or ModelSpec
        A spec file, the name of a shipped spec (``"survival_m2"``), or a spec.
    seed : int
        The run's seed; the same seed, spec and data give the same draws.
    chains, draws, tune, target_accept, backend : optional
        Override the spec's ``[sampler]`` settings (and so the bundle key).
    method : {"nuts", "advi", "fullrank_advi"}, optional
        How the posterior is obtained (default: the spec's ``[sampler] method``, ``"nuts"``).
        ``"advi"`` (mean-field) and ``"fullrank_advi"`` fit PyMC's variational approximation
        (``pm.fit``) for data too large for NUTS: at most ``[sampler] iterations`` steps
        (50,000), stopped once no variational parameter moves by more than ``[sampler]
        tolerance`` (0.05) in 1,000 steps; the fit then holds ``chains * draws`` draws of the
        approximation as one chain, drawn with ``seed`` (the same seed gives the same bytes), so
        summaries, predictions and estimands work unchanged. Its diagnostics record the
        iterations, final ELBO, whether the optimisation converged and the wall time; R-hat and
        ESS do not apply. It is never presented as NUTS: its summary and tables say
        "approximate (ADVI): not NUTS; validate before reporting". Mean-field ADVI tends to
        understate posterior SDs (group SDs most), so compare it with NUTS at a size NUTS can
        fit (``analysis/validation/approximate_vs_nuts.py``). The method is part of the bundle
        name and key.
    progress : bool
        Show the sampler's progress.
    save : bool
        Save the bundle (under ``fitted_dir``).
    reuse : bool
        Return the saved bundle when one with the same spec, data hash and seed exists, passes
        its checksums, and records the same spec hash, seed, method, sampler settings and
        package versions (grassroots, PyMC, nutpie, ...). A damaged bundle is moved aside to
        ``.refused-<name>-<time>`` and refitted, one recorded otherwise is refitted; either
        way with a :class:`BundleWarning` saying why.
    fitted_dir : str or Path, optional
        Folder of bundles (default: :func:`grassroots._paths.fitted_dir`,
        ``$GRASSROOTS_FITTED_DIR`` or ``models/fitted/`` of the current folder).
    log_likelihood : bool
        Also store the pointwise log-likelihood (for LOO); costs memory (draws x rows).
    directory : str or Path, optional
        Deprecated name of ``fitted_dir`` (a ``DeprecationWarning``; removed in the next
        release).
    lazy : bool, optional
        How a reused bundle is read (:meth:`Fit.load`): ``True`` leaves its draws on disk,
        read when used; ``None`` reads them into memory unless they exceed ``LAZY_BYTES``. A
        new fit holds its draws in memory either way.

    Returns
    -------
    Fit

    Raises
    ------
    SpecError
        For an unknown ``method`` (or another invalid sampler setting).
    UnfittableDataError
        Before sampling, when the data cannot identify the model (a spec column missing, an id
        as predictor, a survival outcome without events, a grouping level with one group):
        :func:`grassroots.inference.preflight.check_data`.
    OutputFolderError
        Before sampling, when ``fitted_dir`` is not a writable folder or its disk lacks room
        for the bundle (``save=True`` only).
    ApproximationError
        When the variational optimisation produced a NaN.

    Warns
    -----
    BundleWarning
        When a saved bundle of this fit exists but is not reused (damaged, or recorded with
        other settings or versions).
    ConvergenceWarning
        When R-hat > 1.01, ESS < 400, or a transition diverged.
    ApproximationWarning
        (a ``ConvergenceWarning``) Whenever the fit is approximate, fitted or reused.

    Examples
    --------
    >>> fitted = fit(frame, "survival_m1", seed=1)          # doctest: +SKIP
    >>> fitted.summary()[["mean", "2.5%", "97.5%", "ratio_median"]]  # doctest: +SKIP
    >>> rough = fit(frame, "structural", seed=1, method="advi")  # doctest: +SKIP
    >>> summary_notes(rough.summary())["convergence_note"]     # doctest: +SKIP
    '⚠ structural: approximate (ADVI): not NUTS; validate before reporting.'
    """
    if directory is not None:
        if fitted_dir is not None:
            raise TypeError("fit() takes fitted_dir= or its old name directory=, not both")
        warnings.warn(
            "fit(directory=...) is deprecated and will be removed in the next release; use "
            "fit(fitted_dir=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        fitted_dir = directory
    return start_fit(
        data,
        spec,
        seed=seed,
        chains=chains,
        draws=draws,
        tune=tune,
        target_accept=target_accept,
        backend=backend,
        method=method,
        progress=progress,
        save=save,
        reuse=reuse,
        fitted_dir=fitted_dir,
        log_likelihood=log_likelihood,
        lazy=lazy,
    ).result()


@dataclass
class PendingFit:
    """A fit started by :func:`start_fit`: reused, or sampling in the background.

    :meth:`result` waits for the draws, then computes the diagnostics (and the pointwise
    log-likelihood), saves the bundle and returns the :class:`Fit`; :meth:`cancel` stops the
    sampler of a fit that will not be finished (an interrupted run), saving nothing.
    """

    spec: ModelSpec
    data_hash: str
    seed: int
    target: Path
    save: bool
    log_likelihood: bool
    built: Any = None
    sampling: StartedSampling | None = None
    done: Fit | None = None

    def result(self) -> Fit:
        if self.done is None:
            self.done = self._finish()
            # The model and the sampler's copy of the draws are no longer needed.
            self.built = self.sampling = None
        return self.done

    def cancel(self) -> None:
        if self.done is None and self.sampling is not None:
            self.sampling.cancel()

    def _finish(self) -> Fit:
        sampled = self.sampling.result()
        timings = {
            "compile_seconds": sampled.compile_seconds,
            "sample_seconds": sampled.sample_seconds,
        }
        return self._completed(
            sampled.trace, compute_diagnostics(sampled.trace), timings, sampled.backend
        )

    def _completed(
        self, trace: xr.DataTree, diagnostics: Diagnostics, timings: dict, backend: str
    ) -> Fit:
        """The fit of ``trace`` (with its pointwise log-likelihood, if asked), warned about and
        saved."""
        if self.log_likelihood:
            with exact_compile():
                trace = _with_log_likelihood(trace, self.built.model)
        inputs = self.built.inputs
        fitted = Fit(
            spec=self.spec,
            trace=trace,
            scaling=inputs.scaling,
            composite=inputs.groups.composite,
            data_hash=self.data_hash,
            seed=self.seed,
            diagnostics=diagnostics,
            counts=inputs.summary_counts(),
            timings=timings,
            backend=backend,
            model_coords=_plain_coords(inputs.coords()),
        )
        diagnostics.warn(self.spec.name)
        warn_prior_dominance(fitted, self.spec.name)
        if self.save:
            fitted.save(self.target)
        return fitted


def start_fit(
    data: pd.DataFrame | StudyLike,
    spec: str | Path | ModelSpec,
    *,
    seed: int,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    target_accept: float | None = None,
    backend: str | None = None,
    method: str | None = None,
    progress: bool = True,
    save: bool = True,
    reuse: bool = True,
    fitted_dir: str | Path | None = None,
    log_likelihood: bool = False,
    lazy: bool | None = None,
) -> PendingFit:
    """:func:`fit`, returning once the sampler has started (a saved fit: once it is checked).

    nutpie's chains run on their own threads, so the caller can build and compile the next
    model while these sample, and save this fit while the next one samples: ``reproduce`` fits
    its models so, keeping both cores busy through the single-threaded compiles and saves. The
    draws, and so the bundle, are those of :func:`fit`. Arguments as :func:`fit`'s; errors
    before sampling are raised here, the rest by :meth:`PendingFit.result`.
    """
    spec, frame, data_hash, target = _fit_target(
        data, spec, seed, fitted_dir,
        chains=chains, draws=draws, tune=tune, target_accept=target_accept, backend=backend,
        method=method,
    )  # fmt: skip
    pending = PendingFit(spec, data_hash, seed, target, save, log_likelihood)
    reused = _reusable(target, spec, data_hash, seed, lazy=lazy) if reuse else None
    if reused is not None:
        if reused.diagnostics.approximate:
            reused.diagnostics.warn(spec.name)
        pending.done = reused
        return pending

    check_data(spec, frame)
    pending.built = built = build_model(spec, frame)
    if save:
        check_output_folder(
            target.parent,
            bundle_bytes(built.model, spec.sampler.draw_shape, log_likelihood=log_likelihood),
        )
    if spec.sampler.approximate:
        pending.done = _approximated(pending, progress)
        return pending
    pending.sampling = start_sampling(
        built.model,
        spec.sampler,
        seed=seed,
        progress=progress,
        initial_points=built.initial_points,
    )
    return pending


def bundle_path(
    data: pd.DataFrame | StudyLike,
    spec: str | Path | ModelSpec,
    *,
    seed: int,
    fitted_dir: str | Path | None = None,
    **sampler: Any,
) -> Path:
    """Where :func:`fit` saves (and looks for) the bundle of these arguments: whether it exists
    tells, without reading it, that the fit would be reused rather than sampled. ``sampler``:
    :func:`fit`'s ``chains``, ``draws``, ``tune``, ``target_accept``, ``backend``, ``method``."""
    return _fit_target(data, spec, seed, fitted_dir, **sampler)[3]


def _fit_target(
    data: pd.DataFrame | StudyLike,
    spec: str | Path | ModelSpec,
    seed: int,
    fitted_dir: str | Path | None,
    **sampler: Any,
) -> tuple[ModelSpec, pd.DataFrame, str, Path]:
    """The spec with ``sampler``'s overrides, the data, its hash and the bundle's path."""
    spec = load_spec(spec).with_sampler(**sampler)
    frame, data_hash = resolve_data(data)
    target = _paths.fitted_dir(fitted_dir) / bundle_name(spec, data_hash, seed)
    return spec, frame, data_hash, target


def _approximated(pending: PendingFit, progress: bool) -> Fit:
    """The variational fit of ``pending``'s model (see :func:`fit`, ``method``)."""
    built, spec = pending.built, pending.spec
    with exact_compile():
        approximation = approximate(
            built.model,
            spec.sampler,
            seed=pending.seed,
            progress=progress,
            initial_points=built.initial_points,
        )
    timings = {
        "fit_seconds": approximation.fit_seconds,
        "draw_seconds": approximation.draw_seconds,
        "sample_seconds": approximation.fit_seconds + approximation.draw_seconds,
    }
    diagnostics = approximate_diagnostics(approximation.trace, approximation.optimisation)
    return pending._completed(approximation.trace, diagnostics, timings, "pymc")


def _reusable(
    target: Path, spec: ModelSpec, data_hash: str, seed: int, *, lazy: bool | None = None
) -> Fit | None:
    """The bundle at ``target`` when it is intact and records this very fit, else ``None``.

    A damaged bundle (see :func:`verify_bundle`) or an interrupted one is refused with a
    warning and moved aside to a hidden ``.refused-<name>-<time>`` folder beside it (kept for
    inspection, never read again); one recorded with other settings or package versions is
    left for the refit to replace, with a one-line warning saying what differs.
    """
    if not target.exists():
        return None
    try:
        reused = _whole(Fit.load(target, data_hash=data_hash, lazy=lazy), spec)
    except BundleError as error:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        aside = target.parent / f".refused-{target.name}-{stamp}"
        try:
            target.rename(aside)
        except OSError as move_error:  # e.g. a read-only folder: the refit cannot save either
            where = f"could not be moved aside ({move_error})"
        else:
            where = f"moved to {aside.name}"
        warn_caller(
            f"ignoring unreadable bundle {target.name} ({error}); {where}; refitting", BundleWarning
        )
        return None
    reason = _reuse_mismatch(target, reused, spec, seed)
    if reason is not None:
        warn_caller(f"not reusing {target.name}: {reason}; refitting", BundleWarning)
        return None
    return reused


def _reuse_mismatch(target: Path, reused: Fit, spec: ModelSpec, seed: int) -> str | None:
    """What the verified bundle ``reused`` records differently from the fit asked for."""
    recorded = read_metadata(target)
    if recorded.get("spec_hash") != spec.hash():
        return f"its spec hash {str(recorded.get('spec_hash'))[:12]}… is not {spec.hash()[:12]}…"
    if reused.seed != seed:
        return f"it was fitted with seed {reused.seed}, not {seed}"
    if recorded.get("method") != spec.sampler.method:
        return f"its method is {recorded.get('method')!r}, not {spec.sampler.method!r}"
    wanted, got = spec.sampler.to_dict(), reused.spec.sampler.to_dict()
    if got != wanted:
        changed = sorted(k for k in wanted.keys() | got.keys() if wanted.get(k) != got.get(k))
        return (
            "its sampler settings differ ("
            + ", ".join(f"{k} {got.get(k)!r} vs {wanted.get(k)!r}" for k in changed)
            + ")"
        )
    current = package_versions()
    differing = [
        name for name in DRAW_PACKAGES if current.get(name) != reused.versions.get(name)
    ]  # fmt: skip
    if differing:
        return (
            "it was fitted with other package versions ("
            + ", ".join(
                f"{name} {reused.versions.get(name, 'unrecorded')} vs {current.get(name, 'absent')}"
                for name in differing
            )
            + ")"
        )
    return None


def _whole(fitted: Fit, spec: ModelSpec) -> Fit:
    """``fitted``, when it holds every chain and draw of ``spec``'s sampler settings.

    Ctrl-C while sampling used to save the draws made so far as a complete bundle (nutpie and
    PyMC return them as if sampling had ended); such a bundle is refused, and so refitted,
    not reused.
    """
    sizes = fitted.posterior.sizes
    got = (sizes.get("chain", 0), sizes.get("draw", 0))
    expected = spec.sampler.draw_shape
    if got != expected:
        raise BundleError(
            f"{fitted.path} holds {got[0]} chains x {got[1]} draws, not the "
            f"{expected[0]} x {expected[1]} of its spec (an interrupted fit)"
        )
    return fitted


def _plain_coords(coords: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """JSON-able coordinates without the per-row ones (the data hash already pins the rows)."""
    return {
        name: [v.item() if isinstance(v, np.generic) else v for v in values]
        for name, values in coords.items()
        if not name.endswith("_obs")
    }


def _with_log_likelihood(trace: xr.DataTree, model: Any) -> xr.DataTree:
    import pymc as pm

    log_lik = pm.compute_log_likelihood(
        trace, model=model, extend_inferencedata=False, progressbar=False
    )
    groups = {name: node.to_dataset() for name, node in trace.children.items()}
    groups["log_likelihood"] = log_lik if isinstance(log_lik, xr.Dataset) else log_lik.to_dataset()
    return xr.DataTree.from_dict(groups)


def model_inputs(data: pd.DataFrame | StudyLike, spec: str | Path | ModelSpec):
    """The encoded inputs of ``spec`` on ``data`` (design matrices, groups, scaling)."""
    frame, _ = resolve_data(data)
    return prepare_inputs(load_spec(spec), frame)
