"""``fit()`` and the :class:`Fit` it returns.

:func:`fit` builds a model from a spec and data, samples it (or fits a variational
approximation), and saves the result as a bundle; it reuses the saved bundle when spec, data,
seed and method are unchanged. How a bundle is laid out, checked and read is
:mod:`grassroots.inference.bundle`; its names are re-exported here for existing callers.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import arviz_stats as azs
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
    read_bundle,
    read_metadata,
    store_loo,
    verify_bundle,
    write_bundle,
    write_manifest,
)
from grassroots.inference.diagnostics import (
    Diagnostics,
    approximate_diagnostics,
    compute_diagnostics,
    flatten,
)
from grassroots.inference.intervals import DEFAULT_PROB
from grassroots.inference.preflight import bundle_bytes, check_data, check_output_folder
from grassroots.inference.prior_dominance import prior_dominance, warn_prior_dominance
from grassroots.inference.sampling import StartedSampling, exact_compile, start_sampling
from grassroots.models.builder import FAMILIES, build_model, predict_draws, prepare_inputs
from grassroots.models.design import Scaling
from grassroots.models.spec import ModelSpec, load_spec, spec_from_dict

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
    # Fitting.
    "Fit",
    "PendingFit",
    "StudyLike",
    "fit",
    "frame_hash",
    "model_inputs",
    "resolve_data",
    "start_fit",
]


@runtime_checkable
class StudyLike(Protocol):
    """Anything with a flat table and a data hash (e.g. ``grassroots.data.study.Study``)."""

    def flat(self) -> pd.DataFrame: ...

    def data_hash(self) -> str: ...


def frame_hash(frame: pd.DataFrame) -> str:
    """Deprecated: :func:`grassroots.data.identity.data_hash`, the one data hash."""
    warnings.warn(
        "grassroots.inference.frame_hash is deprecated and will be removed in the next "
        "release; use grassroots.data.identity.data_hash",
        DeprecationWarning,
        stacklevel=2,
    )
    return identity.data_hash(frame)


def resolve_data(data: pd.DataFrame | StudyLike) -> tuple[pd.DataFrame, str]:
    """The flat table and the data hash of a DataFrame or a study object."""
    if isinstance(data, pd.DataFrame):
        return data, identity.data_hash(data)
    if hasattr(data, "flat") and hasattr(data, "data_hash"):
        return data.flat(), str(data.data_hash())
    raise TypeError(
        f"data must be a pandas DataFrame or an object with .flat() and .data_hash(), not "
        f"{type(data).__name__}"
    )


@dataclass
class Fit:
    """A fitted model: posterior draws and everything needed to read and reuse them.

    Attributes
    ----------
    spec : ModelSpec
    trace : xarray.DataTree
        Groups ``posterior``, ``sample_stats`` and, when computed, ``log_likelihood``.
    scaling : Scaling
        Predictor scaling learnt from the fitted data.
    composite : tuple of bool
        Group-labelling rule per level (see :func:`grassroots.models.design.group_keys`).
    data_hash : str
    seed : int
    diagnostics : Diagnostics
    counts : dict
        Rows, observed rows per outcome and groups per level.
    timings : dict
        NUTS: ``compile_seconds`` and ``sample_seconds``. Approximate fits: ``fit_seconds``
        (compiling and optimising), ``draw_seconds`` and ``sample_seconds`` (their sum).
    versions : dict
        Package versions at fit time.
    backend : str
        ``nutpie`` or ``pymc`` (approximate fits: ``pymc``, its variational module).
    model_coords : dict
        Model coordinates other than rows (terms, intervals, ordinal levels, groups).
    path : Path, optional
        Where the bundle is saved.
    """

    spec: ModelSpec
    trace: xr.DataTree
    scaling: Scaling
    composite: tuple[bool, ...]
    data_hash: str
    seed: int
    diagnostics: Diagnostics
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=package_versions)
    backend: str = "nutpie"
    path: Path | None = None
    model_coords: dict[str, list[Any]] = field(default_factory=dict)
    _loo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _loo_stored: dict[str, dict[str, float] | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _loo_pointwise_stored: dict[str, dict[str, Any] | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _lazy: bool = field(default=False, init=False, repr=False, compare=False)
    _summaries: dict[tuple[float, bool], pd.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws (dims ``chain, draw, ...``); one chain for an approximate fit."""
        return self.trace["posterior"].to_dataset()

    @property
    def draws_on_disk(self) -> bool:
        """Whether the draws stay in the saved bundle and are read when used (``Fit.load(...,
        lazy=True)``, or a bundle larger than ``LAZY_BYTES``)."""
        return self._lazy

    @property
    def method(self) -> str:
        """``nuts``, ``advi`` or ``fullrank_advi``."""
        return self.spec.sampler.method

    def __repr__(self) -> str:
        overview = self.diagnostics.overview()
        if self.diagnostics.approximate:
            return (
                f"Fit(spec={self.spec.name!r}, family={self.spec.family!r}, seed={self.seed}, "
                f"draws={overview['n_samples']}, method={self.method!r}, "
                f"optimisation_converged={self.diagnostics.optimisation_converged})"
            )
        return (
            f"Fit(spec={self.spec.name!r}, family={self.spec.family!r}, seed={self.seed}, "
            f"draws={overview['n_samples']}, max_rhat={overview['max_rhat']:.3f}, "
            f"divergences={overview['n_divergent']})"
        )

    # ----- reading -----------------------------------------------------------------------------

    def loo(self, outcome: str) -> Any | None:
        """PSIS-LOO (``arviz_stats.loo``, pointwise) of ``outcome`` from the stored pointwise
        log-likelihood; ``None`` when the fit stored none for it (fit with
        ``log_likelihood=True``).

        Computed once per bundle: a saved fit writes the pointwise values (elpd and Pareto k of
        every observation) to ``loo_pointwise.json`` in its bundle, and later loads rebuild the
        result from there without reading the log-likelihood. The result holds no smoothed
        log weights (draws x observations): nothing here needs them, and ten fits' worth of
        them held ~1 GB in ``reproduce``.
        """
        if outcome not in self._loo:
            stored = self._loo_pointwise_stored or {}
            if outcome in stored:
                self._loo[outcome] = _elpd_from_stored(stored[outcome])
            else:
                self._loo[outcome] = result = self._compute_loo(outcome)
                if self.path is not None and (self.path / MANIFEST_FILE).is_file():
                    stored = {
                        **stored,
                        outcome: None if result is None else _elpd_to_stored(result),
                    }
                    # A read-only bundle still answers; it just computes again next time.
                    with contextlib.suppress(OSError, BundleError):
                        store_loo(self.path, stored, file=LOO_POINTWISE_FILE)
                    self._loo_pointwise_stored = stored
        return self._loo[outcome]

    def _compute_loo(self, outcome: str) -> Any | None:
        import arviz_stats as azs

        stored = "log_likelihood" in self.trace.children and (
            outcome in self.trace["log_likelihood"].to_dataset().data_vars
        )
        if not stored:
            return None
        with warnings.catch_warnings():
            # Callers report high Pareto k values themselves.
            warnings.simplefilter("ignore")
            result = azs.loo(self.trace, var_name=outcome, pointwise=True)
        return dataclasses.replace(result, log_weights=None)

    def loo_estimates(self, outcome: str) -> dict[str, float] | None:
        """The PSIS-LOO estimates a table reports for ``outcome``, kept in the bundle.

        Returns
        -------
        dict or None
            ``elpd``, ``se``, ``p_loo``, ``n_high_k`` (observations whose Pareto k exceeds the
            sample-size dependent threshold ``good_k``, where the estimate is unreliable) and
            ``good_k``; ``None`` when the fit stored no pointwise log-likelihood for
            ``outcome``.

        Notes
        -----
        PSIS smooths every observation's weights in turn (arviz_stats loops over them in
        Python), which made LOO the largest cost of a run on saved fits; a saved fit therefore
        writes its estimates to ``loo.json`` in its bundle the first time they are computed,
        and later loads read them from there.
        """
        cached = self._stored_loo()
        if outcome not in cached:
            result = self.loo(outcome)
            cached[outcome] = None if result is None else _loo_estimates(result)
            if self.path is not None and (self.path / MANIFEST_FILE).is_file():
                # A read-only bundle still answers; it just computes again next time.
                with contextlib.suppress(OSError, BundleError):
                    self._store_loo(cached)
        return cached[outcome]

    def _store_loo(self, estimates: dict[str, dict[str, float] | None]) -> None:
        assert self.path is not None
        store_loo(self.path, estimates)

    def _stored_loo(self) -> dict[str, dict[str, float] | None]:
        if self._loo_stored is None:
            self._loo_stored = {}
        return self._loo_stored

    def summary(self, prob: float = DEFAULT_PROB, *, group_effects: bool = False) -> pd.DataFrame:
        """Posterior summary of the parameters: ``arviz_stats.summary`` (mean, SD, equal-tailed
        interval) joined to the stored diagnostics, with ratios and prior dominance.

        Parameters
        ----------
        prob : float
            Mass of the equal-tailed credible interval (default 95%).
        group_effects : bool
            Include every group's effect (``*_effect_*``); by default only their SDs.

        Returns
        -------
        DataFrame
            Index ``name[coord]``; columns ``outcome``, ``parameter``, ``term``, ``mean``, ``sd``,
            the interval bounds (``2.5%``, ``97.5%``), ``r_hat``, ``ess_bulk``, ``ess_tail``
            (NaN for an approximate fit), and for coefficients ``ratio`` (HR or OR), ``per``
            (``SD``, ``1 vs 0``, ``vs <reference>`` or ``product``) with ``ratio_median`` and
            the ratio's interval. Coefficients also have ``prior_sd`` (their autoscaled
            prior's SD per unit of the term) and ``prior_sd_ratio`` (posterior SD / prior SD).

            ``attrs`` hold what the table's notes are made of, as data: ``model`` (the spec's
            name), ``diagnostics`` (:meth:`Diagnostics.overview`, with the ``converged``
            verdict), ``prior_dominated`` (the labels of the coefficients above
            :data:`~grassroots.inference.prior_dominance.PRIOR_DOMINANCE_THRESHOLD`) and
            ``prior_dominated_terms`` (their terms). The note text is reporting's:
            :func:`grassroots.reporting.convergence.summary_notes`.

        Notes
        -----
        Computed once per fit, ``prob`` and ``group_effects`` (the draws do not change), and
        returned as a copy: the tables of both languages, the forest plots and the appendices
        ask for the same summaries, each of which reads every draw (from disk for a lazy fit).
        """
        key = (float(prob), bool(group_effects))
        if key not in self._summaries:
            self._summaries[key] = self._summary(prob, group_effects=group_effects)
        cached = self._summaries[key]
        table = cached.copy()
        table.attrs = copy.deepcopy(cached.attrs)
        return table

    def _summary(self, prob: float, *, group_effects: bool) -> pd.DataFrame:
        posterior = self.posterior
        names = [
            name
            for name in posterior.data_vars
            if not _is_latent(name) and (group_effects or "_effect" not in name)
        ]
        if not group_effects:
            names = [n for n in names if not n.endswith("_effect")]
        selected = posterior[names]
        low, high = (1 - prob) / 2, (1 + prob) / 2
        low_label, high_label = f"{100 * low:g}%", f"{100 * high:g}%"
        stats = azs.summary(selected, kind="stats", ci_kind="eti", ci_prob=prob, round_to="none")
        stats.columns = ["mean", "sd", low_label, high_label]
        table = pd.DataFrame(stats.astype(float))
        table = table.join(self.diagnostics.table, how="left")
        # Correlation matrices are symmetric with a unit diagonal: keep the lower triangle only.
        order = self.spec.outcome_names
        table = table[[not _redundant_correlation(label, order) for label in table.index]]
        table.insert(0, "term", [_term_of(label) for label in table.index])
        table.insert(0, "parameter", [_parameter_of(label, self.spec) for label in table.index])
        table.insert(0, "outcome", [_outcome_of(label, self.spec) for label in table.index])
        # Rows picked by position are flagged by pandas as a copy of the frame they came from,
        # and the columns added below would warn whenever that frame is still referenced (as
        # under a profiler): this table owns its data from here on.
        table = table.iloc[self._row_order(table)].copy()
        ratios = {o.name: FAMILIES[o.family].ratio for o in self.spec.outcomes}
        is_beta = table["parameter"].isin(["beta", "beta_late"])
        table["ratio"] = np.where(is_beta, table["outcome"].map(ratios), None)
        table["per"] = [
            self._per(term, outcome, parameter) if beta else None
            for term, outcome, parameter, beta in zip(
                table["term"], table["outcome"], table["parameter"], is_beta, strict=True
            )
        ]
        median = flatten(selected.median(("chain", "draw")))
        table["ratio_median"] = np.where(is_beta, np.exp(median.reindex(table.index)), np.nan)
        table[f"ratio_{low_label}"] = np.where(is_beta, np.exp(table[low_label]), np.nan)
        table[f"ratio_{high_label}"] = np.where(is_beta, np.exp(table[high_label]), np.nan)
        table.attrs["model"] = self.spec.name
        table.attrs["diagnostics"] = self.diagnostics.overview()
        dominance = prior_dominance(self)
        table["prior_sd"] = dominance["prior_sd"].reindex(table.index)
        table["prior_sd_ratio"] = dominance["ratio"].reindex(table.index)
        dominated = dominance.index[dominance["dominated"]].tolist()
        table.attrs["prior_dominated"] = dominated
        table.attrs["prior_dominated_terms"] = [_term_of(label) or label for label in dominated]
        return table

    def _row_order(self, table: pd.DataFrame) -> np.ndarray:
        """Outcomes in spec order (shared parameters last), then coefficients, family
        parameters, group SDs, correlations; elements keep their coordinate order."""
        outcomes = {name: k for k, name in enumerate(self.spec.outcome_names)}
        ranks = ("beta", "intercept", "cutpoints", "log_hazard", "shape", "scale", "sd", "corr")

        def rank(parameter: str) -> int:
            for k, prefix in enumerate(ranks):
                if parameter == prefix or parameter.startswith(f"{prefix}_"):
                    return k
            for k, suffix in enumerate(ranks):
                if parameter.endswith(f"_{suffix}"):
                    return k
            return len(ranks)

        keys = pd.DataFrame(
            {
                "outcome": [outcomes.get(o, len(outcomes)) for o in table["outcome"]],
                "rank": [rank(p) for p in table["parameter"]],
                "parameter": table["parameter"].to_numpy(),
                "position": np.arange(len(table)),
            }
        )
        return keys.sort_values(["outcome", "rank", "parameter", "position"]).index.to_numpy()

    def _per(self, term: str, outcome: str | None = None, parameter: str = "beta") -> str:
        """What one unit of a coefficient compares (a late effect says from when)."""
        if parameter == "beta_late" and outcome is not None:
            onset = self.spec.outcome(outcome).onset
            return f"{self._per(term)}, after month {onset:g}"
        if ":" in term:
            return "product"
        column = term.split("[", 1)[0]
        scaling = self.scaling.predictors.get(column)
        if scaling is None:
            return ""
        if scaling.kind == "continuous":
            return "SD"
        if scaling.kind == "binary":
            return "1 vs 0"
        return f"vs {scaling.reference}"

    def predict(
        self,
        new_data: pd.DataFrame | StudyLike,
        *,
        group_effects: str = "fitted",
        times: Sequence[float] = (12.0, 24.0, 36.0),
        outcomes: Sequence[str] | None = None,
        seed: int | None = None,
        thin: int = 1,
        average: bool = False,
    ) -> xr.Dataset:
        """Posterior predictions for every row of ``new_data``.

        Parameters
        ----------
        new_data : DataFrame or study
            Rows with the predictor and grouping columns (outcome columns are not needed). The
            fitted scaling is applied, so a counterfactual copy of the fitted data (e.g.
            ``collaboration = 1``) is predicted on the fitted scale.
        group_effects : {"fitted", "new", "none"}
            ``fitted``: the posterior effects of the fitted groups; ``new``: effects drawn anew
            from the fitted group distribution (a new county/township); ``none``: all zero.
        times : sequence of float
            Times (months) at which survival outcomes give S(t).
        outcomes : sequence of str, optional
            Outcomes to predict (default: all).
        seed : int, optional
            Seed for new group effects (default: the fit's seed).
        thin : int
            Keep every ``thin``-th draw (memory: draws x rows x times floats).
        average : bool
            Average over rows for every draw (g-computation), computed in chunks of draws so
            that memory stays small; the result has no ``row`` dim.

        Returns
        -------
        xarray.Dataset
            ``<o>_S`` = S(t) (chain, draw, row, ``<o>_time``) for survival; ``<o>_prob``,
            ``<o>_prob_at_least`` (…, ``<o>_level``) and ``<o>_expected`` for ordinal;
            ``<o>_prob`` for logistic.
        """
        frame, _ = resolve_data(new_data)
        posterior = self.posterior.isel(draw=slice(None, None, thin))
        return predict_draws(
            self.spec,
            self.scaling,
            posterior,
            frame,
            composite=self.composite,
            group_effects=group_effects,
            seed=self.seed if seed is None else seed,
            outcomes=outcomes,
            model_coords=self.model_coords,
            average_rows=average,
            times=times,
        )

    # ----- saving ------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "spec": self.spec.to_dict(),
            "spec_hash": self.spec.hash(),
            "method": self.method,
            "spec_source": self.spec.source,
            "data_hash": self.data_hash,
            "seed": self.seed,
            "scaling": self.scaling.to_dict(),
            "composite": list(self.composite),
            "diagnostics": self.diagnostics.to_dict(),
            "counts": self.counts,
            "timings": self.timings,
            "versions": self.versions,
            "backend": self.backend,
            "model_coords": self.model_coords,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write the bundle atomically; default ``models/fitted/<spec>-seed<seed>-<key>/``."""
        target = (
            Path(path)
            if path is not None
            else _paths.fitted_dir() / bundle_name(self.spec, self.data_hash, self.seed)
        )
        write_bundle(target, self.trace, self.metadata())
        self.path = target
        self._loo_stored = None
        self._loo_pointwise_stored = None
        return target

    @classmethod
    def load(
        cls,
        path: str | Path,
        data: pd.DataFrame | StudyLike | None = None,
        *,
        data_hash: str | None = None,
        lazy: bool | None = None,
    ) -> Fit:
        """Read a bundle.

        Parameters
        ----------
        path : str or Path
            The bundle folder.
        data : DataFrame or study, optional
            The data the caller means to use with the fit; refused when its hash differs from
            the fitted data's.
        data_hash : str, optional
            The same check with a known hash.
        lazy : bool, optional
            Leave the draws on disk, read when used (a slice of draws reads only its storage
            chunks); ``None``: lazily when the stored draws exceed ``LAZY_BYTES`` (1 GiB), else
            into memory. A lazy fit reads the bundle again whenever a computation needs all
            the draws of a variable, and the bundle must stay in place while it is used.

        Raises
        ------
        BundleError
            When the folder is not a complete bundle, or fails :func:`verify_bundle` (a file
            changed, missing or unlisted; ``fit.json`` or the manifest unreadable).
        DataMismatchError
            When ``data`` or ``data_hash`` is not the fitted data.
        """
        path = Path(path)
        expected = data_hash if data is None else resolve_data(data)[1]
        stored = read_bundle(path, data_hash=expected, lazy=lazy)
        meta = stored.metadata
        loaded = cls(
            spec=spec_from_dict(meta["spec"], source=meta.get("spec_source")),
            trace=stored.trace,
            scaling=Scaling.from_dict(meta["scaling"]),
            composite=tuple(meta["composite"]),
            data_hash=meta["data_hash"],
            seed=int(meta["seed"]),
            diagnostics=Diagnostics.from_dict(meta["diagnostics"]),
            counts=meta.get("counts", {}),
            timings=meta.get("timings", {}),
            versions=meta.get("versions", {}),
            backend=meta.get("backend", "nutpie"),
            path=path,
            model_coords=meta.get("model_coords", {}),
        )
        loaded._loo_stored = stored.loo_estimates
        loaded._loo_pointwise_stored = _checked_pointwise(stored.loo_pointwise, path)
        loaded._lazy = stored.lazy
        return loaded


def _elpd_to_stored(result: Any) -> dict[str, Any]:
    """The pointwise PSIS-LOO result as JSON (floats round-trip exactly through ``repr``)."""
    (dim,) = result.elpd_i.dims
    return {
        "elpd": float(result.elpd),
        "se": float(result.se),
        "p": float(result.p),
        "n_samples": int(result.n_samples),
        "n_data_points": int(result.n_data_points),
        "scale": str(result.scale),
        "warning": bool(result.warning),
        "good_k": float(result.good_k),
        "approx_posterior": bool(result.approx_posterior),
        "dim": dim,
        "coords": result.elpd_i[dim].to_numpy().tolist(),
        "elpd_i": result.elpd_i.to_numpy().tolist(),
        "pareto_k": result.pareto_k.to_numpy().tolist(),
    }


def _elpd_from_stored(stored: dict[str, Any] | None) -> Any | None:
    """:func:`_elpd_to_stored` read back as the ``arviz_stats`` result it was made from."""
    if stored is None:
        return None
    from arviz_stats.utils import ELPDDataLOO

    def pointwise(values: list[float]) -> xr.DataArray:
        return xr.DataArray(
            np.asarray(values, dtype=float),
            dims=stored["dim"],
            coords={stored["dim"]: stored["coords"]},
        )

    return ELPDDataLOO(
        elpd=stored["elpd"],
        se=stored["se"],
        p=stored["p"],
        n_samples=stored["n_samples"],
        n_data_points=stored["n_data_points"],
        scale=stored["scale"],
        warning=stored["warning"],
        good_k=stored["good_k"],
        elpd_i=pointwise(stored["elpd_i"]),
        pareto_k=pointwise(stored["pareto_k"]),
        approx_posterior=stored["approx_posterior"],
    )


def _checked_pointwise(
    stored: dict[str, dict[str, Any] | None] | None, path: Path
) -> dict[str, dict[str, Any] | None] | None:
    """``stored`` (``loo_pointwise.json`` of the bundle ``path``) when every outcome's values
    read back as a result: a malformed entry refuses the bundle at load, where a reused fit is
    refitted, rather than failing a table later."""
    for outcome, entry in (stored or {}).items():
        try:
            _elpd_from_stored(entry)
        except (KeyError, TypeError, ValueError) as error:
            raise BundleError(
                f"{path / LOO_POINTWISE_FILE}: the PSIS-LOO values of {outcome!r} do not read "
                f"back ({type(error).__name__}: {error}); delete {path} and refit the model"
            ) from error
    return stored


def _loo_estimates(result: Any) -> dict[str, float]:
    high = int((result.pareto_k > result.good_k).sum()) if result.pareto_k is not None else 0
    return {
        "elpd": float(result.elpd),
        "se": float(result.se),
        "p_loo": float(result.p),
        "n_high_k": high,
        "good_k": float(result.good_k),
    }


def _is_latent(name: str) -> bool:
    """Not reported: non-centred standard normals, packed Cholesky factors, and the
    average-profile copies of baselines/intercepts (reported at the reference profile)."""
    return name.endswith(("_z", "_chol", "_centred", "_steps")) or "_z_" in name


def _redundant_correlation(label: str, order: Sequence[str]) -> bool:
    """Upper triangle and diagonal of a correlation matrix (symmetric, unit diagonal)."""
    if "_corr[" not in label:
        return False
    first, second = label.split("[", 1)[1].rstrip("]").split(", ")
    position = {name: k for k, name in enumerate(order)}
    return position.get(first, 0) <= position.get(second, 0)


def _base_name(label: str) -> str:
    return label.split("[", 1)[0]


def _term_of(label: str) -> str | None:
    if "[" not in label:
        return None
    return label.split("[", 1)[1][:-1]


def _outcome_of(label: str, spec: ModelSpec) -> str | None:
    name = _base_name(label)
    for outcome in sorted(spec.outcome_names, key=len, reverse=True):
        if name.startswith(f"{outcome}_"):
            return outcome
    return None


def _parameter_of(label: str, spec: ModelSpec) -> str:
    name = _base_name(label)
    outcome = _outcome_of(label, spec)
    return name[len(outcome) + 1 :] if outcome else name


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
