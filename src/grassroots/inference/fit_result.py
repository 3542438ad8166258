"""The :class:`Fit`: a fitted model's draws and what reads them (summaries, PSIS-LOO,
predictions), saved as a bundle and loaded back.

:func:`grassroots.inference.fitting.fit` makes one; how a bundle is laid out, checked and read
is :mod:`grassroots.inference.bundle`.
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
from grassroots.data import identity
from grassroots.inference.bundle import (
    BUNDLE_FORMAT,
    LOO_POINTWISE_FILE,
    MANIFEST_FILE,
    BundleError,
    bundle_name,
    package_versions,
    read_bundle,
    store_loo,
    write_bundle,
)
from grassroots.inference.diagnostics import Diagnostics, flatten
from grassroots.inference.intervals import DEFAULT_PROB
from grassroots.inference.prior_dominance import prior_dominance
from grassroots.models.builder import FAMILIES, predict_draws
from grassroots.models.design import Scaling
from grassroots.models.spec import ModelSpec, spec_from_dict

__all__ = ["Fit", "StudyLike", "outcome_of", "resolve_data"]


@runtime_checkable
class StudyLike(Protocol):
    """Anything with a flat table and a data hash (e.g. ``grassroots.data.study.Study``)."""

    def flat(self) -> pd.DataFrame: ...

    def data_hash(self) -> str: ...


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


def outcome_of(fit: Fit, outcome: str | None = None) -> str:
    """The outcome of ``fit`` a result is about: ``outcome`` if given, else the only one."""
    names = fit.spec.outcome_names
    if outcome is not None:
        if outcome not in names:
            raise ValueError(f"fit {fit.spec.name!r} has no outcome {outcome!r}; it has {names}")
        return outcome
    if len(names) != 1:
        raise ValueError(
            f"fit {fit.spec.name!r} models several outcomes {names}; say which with outcome=..."
        )
    return names[0]


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
