"""The machinery shared by every family: inputs, the PyMC model, and predictions from draws.

One PyMC model is built for any spec, single-family or joint: for every outcome ``o`` the linear
predictor is ``X_o @ <o>_beta`` plus one group effect per grouping level, and the outcome's family
adds its own parameters and likelihood. Group effects are non-centred (the default) or centred,
per level, as the spec asks, or per level and outcome as :mod:`grassroots.models.parameterization`
chooses from the data (``parameterization = "auto"``; weakly informed groups: non-centred):

* an independent level ``L`` gives each outcome ``<o>_sd_<L>`` and ``<o>_effect_<L>`` (dims
  ``L``): non-centred, ``<o>_effect_<L> = <o>_sd_<L> * <o>_z_<L>`` (a deterministic) with
  standard normals ``<o>_z_<L>``; centred, ``<o>_effect_<L>`` itself is sampled, with SD
  ``<o>_sd_<L>``;
* the ``correlated`` level of a joint model has one LKJ-Cholesky covariance across outcomes:
  ``<L>_chol`` (packed), ``<L>_sd`` (dims ``outcome``), ``<L>_corr`` (dims ``outcome, outcome2``)
  and ``<L>_effect`` (dims ``L, outcome``): non-centred, ``<L>_effect = (chol @ <L>_z).T`` with
  standard normals ``<L>_z`` (dims ``outcome, L``); centred, ``<L>_effect`` itself is sampled,
  each group's row multivariate normal with covariance ``chol @ chol.T``.

Either way the effects sum to zero over the groups (``ZeroSumNormal``, or the same zero-sum
transform for the centred correlated level), so the in-sample effects are deviations from the
average group and cannot trade off against the baseline, intercept or cut points; ``<o>_sd_<L>``
is still the SD of the group distribution, from which new groups are drawn. The two forms are the
same model (the same posterior of every reported parameter); only the sampler's geometry
differs. A centred zero-sum effect has the density of ``G`` independent draws conditioned on
their sum being zero: ``G - 1`` degrees of freedom, hence ``(G - 1) log sd`` (``(G - 1) log
det chol``) in its normalising term rather than ``G``.

For survival outcomes a group effect is the log of a log-normal frailty.

Design columns are centred inside the model (the coefficients are unchanged); each family samples
its baseline, cut points or intercept at the average profile (``<name>_centred``) and stores them
at the reference profile (every design column 0) under their public names.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc.distributions.transforms import ZeroSumTransform

from grassroots._warnings import warn_caller
from grassroots.models.base import Family, OutcomeData
from grassroots.models.design import (
    GroupIndex,
    Scaling,
    build_group_index,
    check_columns,
    design_matrix,
    group_keys,
    late_design_matrix,
    spec_predictors,
)
from grassroots.models.exceptions import ModelDataError
from grassroots.models.logistic import LogisticFamily
from grassroots.models.ordinal import OrdinalFamily
from grassroots.models.parameterization import LevelParameterization, choose_parameterizations
from grassroots.models.priors import coefficient_prior, resolve_lkj_eta, resolve_prior
from grassroots.models.spec import ModelSpec, OutcomeSpec
from grassroots.models.survival import SurvivalFamily

FAMILIES: dict[str, Family] = {
    family.name: family for family in (SurvivalFamily(), OrdinalFamily(), LogisticFamily())
}
OUTCOME_DIM = "outcome"
SAMPLE_DIMS = ("chain", "draw")


@dataclass(frozen=True)
class ModelInputs:
    """Everything a model needs from the data, computed once.

    Attributes
    ----------
    spec : ModelSpec
    scaling : Scaling
    groups : GroupIndex
    n_rows : int
    designs : Mapping[str, tuple[tuple[str, ...], ndarray]]
        Per outcome: term names and the design matrix over all rows.
    outcomes : Mapping[str, OutcomeData]
    """

    spec: ModelSpec
    scaling: Scaling
    groups: GroupIndex
    n_rows: int
    designs: Mapping[str, tuple[tuple[str, ...], np.ndarray]]
    outcomes: Mapping[str, OutcomeData]

    def coords(self) -> dict[str, list[Any]]:
        """Every coordinate of the model (named dims everywhere)."""
        coords: dict[str, list[Any]] = dict(self.groups.coords)
        rows = np.arange(self.n_rows)
        for outcome in self.spec.outcomes:
            data = self.outcomes[outcome.name]
            coords[f"{outcome.name}_term"] = list(self.designs[outcome.name][0])
            coords[f"{outcome.name}_obs"] = rows[data.observed].tolist()
            coords |= dict(data.coords)
        if self.spec.correlated is not None:
            coords[OUTCOME_DIM] = list(self.spec.outcome_names)
            coords[f"{OUTCOME_DIM}2"] = list(self.spec.outcome_names)
            k = len(self.spec.outcomes)
            coords[f"{self.spec.correlated}_chol_packed"] = list(range(k * (k + 1) // 2))
        return coords

    def summary_counts(self) -> dict[str, int]:
        """Rows, observed rows per outcome and groups per level (the 'N' of a paper table)."""
        counts = {"rows": self.n_rows}
        counts |= {f"{name}_observed": int(d.observed.sum()) for name, d in self.outcomes.items()}
        counts |= {
            lvl.name: len(lab)
            for lvl, lab in zip(self.groups.levels, self.groups.labels, strict=True)
        }
        return counts


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model, the inputs it was built from, and starting values for the sampler.

    ``initial_points`` maps parameter names to values on the constrained scale; pass them to
    ``nutpie.compile_pymc_model(initial_points=...)`` or ``pm.sample(initvals=...)``.
    ``parameterizations`` says how each level's effects are sampled, and why
    (:func:`grassroots.models.parameterization.choose_parameterizations`).
    """

    model: pm.Model
    inputs: ModelInputs
    initial_points: Mapping[str, np.ndarray]
    parameterizations: Mapping[tuple[str, str | None], LevelParameterization] = field(
        default_factory=dict
    )


def prepare_inputs(
    spec: ModelSpec, frame: pd.DataFrame, scaling: Scaling | None = None
) -> ModelInputs:
    """Check ``frame`` against ``spec`` and encode it.

    Parameters
    ----------
    spec : ModelSpec
    frame : DataFrame
        One row per unit (project, patient ...), with the spec's columns.
    scaling : Scaling, optional
        A stored scaling to reuse; learnt from ``frame`` when ``None``.
    """
    check_columns(frame, spec)
    frame = frame.reset_index(drop=True)
    if scaling is None:
        scaling = Scaling.learn(frame, spec_predictors(spec), spec.categorical)
    groups = build_group_index(frame, spec.groups)
    designs = {o.name: design_matrix(frame, o, scaling) for o in spec.outcomes}
    outcomes = {o.name: FAMILIES[o.family].prepare(o, frame) for o in spec.outcomes}
    for outcome in spec.outcomes:
        if outcome.time_varying:
            data = outcomes[outcome.name]
            terms, late = late_design_matrix(frame, outcome, scaling)
            outcomes[outcome.name] = replace(
                data,
                values={
                    **data.values,
                    "late_design": late[data.observed],
                    "late_term_sds": np.array([scaling.term_sd(term) for term in terms]),
                },
                coords={**data.coords, f"{outcome.name}_late_term": list(terms)},
            )
    return ModelInputs(spec, scaling, groups, len(frame), designs, outcomes)


def design_centres(inputs: ModelInputs) -> dict[str, np.ndarray]:
    """Per outcome, the mean of each design column over the outcome's observed rows.

    The model centres its design on these (see :func:`build_model`): the intercepts, cut points
    and baseline it samples sit at this average profile.
    """
    return {
        outcome.name: inputs.designs[outcome.name][1][inputs.outcomes[outcome.name].observed]
        .mean(axis=0)
        for outcome in inputs.spec.outcomes
    }


def build_model(
    spec: ModelSpec,
    data: pd.DataFrame | ModelInputs,
    *,
    centres: Mapping[str, np.ndarray] | None = None,
) -> BuiltModel:
    """Build the PyMC model of ``spec`` on ``data``.

    Parameters
    ----------
    spec : ModelSpec
    data : DataFrame or ModelInputs
    centres : Mapping[str, ndarray], optional
        Per outcome, the design columns' centres (default: :func:`design_centres` of ``data``).
        Fits of parts of one data set pass the whole data set's, so that every part's
        intercepts and cut points mean the same thing.

    Returns
    -------
    BuiltModel
    """
    inputs = data if isinstance(data, ModelInputs) else prepare_inputs(spec, data)
    centres = design_centres(inputs) if centres is None else centres
    parameterizations = choose_parameterizations(
        spec,
        inputs.groups,
        observed={name: data.observed for name, data in inputs.outcomes.items()},
        information={
            o.name: FAMILIES[o.family].information_per_observation(inputs.outcomes[o.name])
            for o in spec.outcomes
        },
        scores={
            o.name: FAMILIES[o.family].location_scores(inputs.outcomes[o.name])
            for o in spec.outcomes
        },
    )
    with pm.Model(coords=inputs.coords()) as model:
        effects = _add_group_effects(spec, parameterizations)
        for outcome in spec.outcomes:
            outcome_data = inputs.outcomes[outcome.name]
            observed = outcome_data.observed
            _, matrix = inputs.designs[outcome.name]
            priors = (spec.priors, outcome.priors)
            eta = pt.zeros(int(observed.sum()))
            shift = pt.constant(0.0)
            if matrix.shape[1]:
                terms = inputs.designs[outcome.name][0]
                beta = coefficient_prior(
                    resolve_prior("beta", *priors),
                    f"{outcome.name}_beta",
                    dims=f"{outcome.name}_term",
                    term_sds=np.array([inputs.scaling.term_sd(term) for term in terms]),
                )
                # Centre every design column (dummies and 0/1 columns too): the baseline then
                # sits at the average profile and stops trading off against the coefficients.
                means = np.asarray(centres[outcome.name], dtype=float)
                eta = eta + pt.dot(matrix[observed] - means, beta)
                shift = pt.dot(means, beta)
            for codes, effect in zip(inputs.groups.codes, effects[outcome.name], strict=True):
                eta = eta + effect[codes[observed]]
            FAMILIES[outcome.family].add_likelihood(outcome, outcome_data, eta, priors, shift)
    initial_points: dict[str, np.ndarray] = {}
    for outcome in spec.outcomes:
        family = FAMILIES[outcome.family]
        initial_points |= family.initial_points(outcome, inputs.outcomes[outcome.name])
    return BuiltModel(model, inputs, initial_points, parameterizations)


def _add_group_effects(
    spec: ModelSpec, parameterizations: Mapping[tuple[str, str | None], LevelParameterization]
) -> dict[str, list[Any]]:
    """Add group effects; return, per outcome, one effect vector per level (outer first)."""
    effects: dict[str, list[Any]] = {o.name: [] for o in spec.outcomes}
    for level in spec.groups:
        name = level.name
        if name == spec.correlated:
            k = len(spec.outcomes)
            sd_dist = resolve_prior("sd", spec.priors, level=name).unnamed(shape=k)
            chol, corr, sds = pm.LKJCholeskyCov(
                f"{name}_chol",
                n=k,
                eta=resolve_lkj_eta(spec.priors),
                sd_dist=sd_dist,
                compute_corr=True,
                store_in_trace=False,
                dims=f"{name}_chol_packed",
            )
            pm.Deterministic(f"{name}_sd", sds, dims=OUTCOME_DIM)
            pm.Deterministic(f"{name}_corr", corr, dims=(OUTCOME_DIM, f"{OUTCOME_DIM}2"))
            if parameterizations[(name, None)].centred:
                joint = _correlated_centred(f"{name}_effect", chol, dims=(name, OUTCOME_DIM))
            else:
                # Zero-sum over groups (the last axis), for the reason given below.
                z = pm.ZeroSumNormal(f"{name}_z", sigma=1.0, dims=(OUTCOME_DIM, name))
                joint = pm.Deterministic(
                    f"{name}_effect", pt.dot(chol, z).T, dims=(name, OUTCOME_DIM)
                )
            for position, outcome in enumerate(spec.outcomes):
                effects[outcome.name].append(joint[:, position])
            continue
        for outcome in spec.outcomes:
            prior = resolve_prior("sd", spec.priors, outcome.priors, level=name)
            sd = prior.create(f"{outcome.name}_sd_{name}")
            # Zero-sum: the effects' mean cannot trade off against the baseline, intercept or
            # cut points (a ridge that stalled NUTS in group-effects-only models).
            if parameterizations[(name, outcome.name)].centred:
                effect = pm.ZeroSumNormal(f"{outcome.name}_effect_{name}", sigma=sd, dims=name)
            else:
                z = pm.ZeroSumNormal(f"{outcome.name}_z_{name}", sigma=1.0, dims=name)
                effect = pm.Deterministic(f"{outcome.name}_effect_{name}", sd * z, dims=name)
            effects[outcome.name].append(effect)
    return effects


class _ZeroSumOverGroups(ZeroSumTransform):
    """PyMC's zero-sum transform over the groups (axis 0) of a (groups, outcomes) block whose
    log density is one number: the Jacobian term (zero, the map being linear and of unit
    determinant on the subspace) must then be a scalar too, not one per outcome."""

    def __init__(self) -> None:
        super().__init__([0])

    def log_jac_det(self, value, *rv_inputs):
        return pt.zeros(())


def _correlated_centred(name: str, chol: Any, *, dims: tuple[str, str]) -> Any:
    """A centred zero-sum block of group effects (groups, outcomes): every group's row is
    MvNormal(0, chol @ chol.T), conditioned on the rows summing to zero.

    Its log density is ``-1/2 sum_g e_g' Sigma^-1 e_g - (G - 1) (log det chol + K/2 log 2 pi)``:
    the normal density restricted to the zero-sum subspace, where ``G - 1`` groups are free (as
    ``ZeroSumNormal``'s). Forward draws (prior predictive) are ``(chol @ z).T`` with zero-sum
    standard normals ``z``, the non-centred form's effects.
    """

    def logp(value: Any, chol: Any) -> Any:
        scaled = pt.linalg.solve_triangular(chol, value.T, lower=True)
        free_groups = value.shape[0] - 1
        k = value.shape[1]
        log_det = pt.sum(pt.log(pt.diag(chol)))
        return -0.5 * pt.sum(scaled**2) - free_groups * (log_det + 0.5 * k * np.log(2 * np.pi))

    n_groups = len(pm.modelcontext(None).coords[dims[0]])

    def dist(chol: Any, size: Any) -> Any:
        z = pm.ZeroSumNormal.dist(sigma=1.0, shape=(chol.shape[0], n_groups))
        return pt.dot(chol, z).T

    return pm.CustomDist(
        name,
        chol,
        dist=dist,
        logp=logp,
        signature="(k,k)->(g,k)",
        transform=_ZeroSumOverGroups(),
        dims=dims,
    )


# ---------------------------------------------------------------------------------------------
# Predictions from posterior draws (numpy, vectorised over draws and rows)


def stack_draws(posterior: xr.Dataset, name: str) -> np.ndarray:
    """Draws of ``name`` with chain and draw flattened into one leading sample axis."""
    values = posterior[name].transpose(*SAMPLE_DIMS, ...).to_numpy()
    return values.reshape(-1, *values.shape[2:])


def standard_normal_per_sample(
    seed: int, stream: str, posterior: xr.Dataset, shape: tuple[int, ...]
) -> np.ndarray:
    """Standard normals (S, *shape), one independent stream per posterior sample.

    Each sample's stream is keyed by ``seed``, the name ``stream`` and the sample's ``(chain,
    draw)`` coordinates, so a sample gets the same numbers whichever chunk or thinned subset of
    the posterior it is drawn in.
    """
    stream_key = zlib.crc32(stream.encode())
    chains = posterior.coords["chain"].values
    draws = posterior.coords["draw"].values
    out = np.empty((chains.size * draws.size, *shape))
    for i, (chain, draw) in enumerate(itertools.product(chains, draws)):
        generator = np.random.default_rng([int(seed), stream_key, int(chain), int(draw)])
        out[i] = generator.standard_normal(shape)
    return out


@dataclass(frozen=True)
class GroupRows:
    """Which fitted group every row of a table belongs to, per grouping level.

    Computed once per table by :func:`group_rows` (string keys of every row: the costly part at
    national size) and reused for every chunk of draws by :func:`group_effect_draws`.

    Attributes
    ----------
    group_effects : {"fitted", "new", "none"}
    n_rows : int
    levels : tuple of (level name, position, new, row codes)
        ``position``: each unique group's index among the fitted labels (-1 if unseen);
        ``new``: whether its effect is drawn anew; ``row_codes``: each row's unique group.
    """

    group_effects: str
    n_rows: int
    levels: tuple[tuple[str, np.ndarray, np.ndarray, np.ndarray], ...] = ()


def group_rows(
    spec: ModelSpec,
    posterior: xr.Dataset,
    frame: pd.DataFrame,
    *,
    composite: Sequence[bool],
    group_effects: str = "fitted",
) -> GroupRows:
    """The groups of ``frame``'s rows among the fitted groups (see :func:`group_effect_draws`).

    Warns once when ``group_effects="fitted"`` and some groups of ``frame`` were not fitted.
    """
    if group_effects not in ("fitted", "new", "none"):
        raise ValueError(f"group_effects must be 'fitted', 'new' or 'none', not {group_effects!r}")
    if group_effects == "none" or not spec.groups:
        return GroupRows(group_effects, len(frame))
    keys_per_level, _ = group_keys(frame, spec.groups, composite)
    levels = []
    for level, keys in zip(spec.groups, keys_per_level, strict=True):
        fitted_labels = pd.Index([str(v) for v in posterior.coords[level.name].values])
        unique_keys, row_codes = np.unique(keys.astype(str), return_inverse=True)
        position = fitted_labels.get_indexer(unique_keys)
        new = position < 0 if group_effects == "fitted" else np.ones(unique_keys.size, bool)
        if group_effects == "fitted" and new.any():
            warn_caller(
                f"{int(new.sum())} {level.name} group(s) of the new data were not in the fit "
                f"(e.g. {unique_keys[new][:3].tolist()}); their effects are drawn as for a new "
                "group",
                UserWarning,
            )
        levels.append((level.name, position, new, row_codes))
    return GroupRows(group_effects, len(frame), tuple(levels))


def group_effect_draws(
    spec: ModelSpec,
    posterior: xr.Dataset,
    frame: pd.DataFrame | None,
    *,
    composite: Sequence[bool],
    group_effects: str = "fitted",
    seed: int | None = None,
    rows: GroupRows | None = None,
) -> dict[str, np.ndarray]:
    """Sum of group effects of every row of ``frame`` for every outcome: outcome -> (S, rows).

    Parameters
    ----------
    group_effects : {"fitted", "new", "none"}
        ``fitted``: the posterior effects of the groups seen in the fit (a group the fit never saw
        gets a new draw, with a warning); ``new``: every group is treated as a new group, its
        effect drawn from the fitted group distribution for every posterior draw (one draw per
        group, shared by its rows); ``none``: effects set to 0 (the typical group).
    seed : int, optional
        Seed of new group effects. A new effect is a function of the seed, the level, the
        posterior sample's (chain, draw) coordinates and the group's rank among the sorted
        labels of ``frame``: the same seed gives the same effects however the draws are chunked
        or thinned, and two calls on tables with the same groups (a status quo and a scenario)
        share them. ``None``: fresh entropy.
    rows : GroupRows, optional
        :func:`group_rows` of ``frame`` (with the same ``group_effects``), computed once by a
        caller that draws the effects of the same table chunk after chunk; ``frame`` may then
        be ``None``.
    """
    if rows is None:
        if frame is None:
            raise ValueError("group_effect_draws needs the frame or its group rows")
        rows = group_rows(spec, posterior, frame, composite=composite, group_effects=group_effects)
    elif rows.group_effects != group_effects:
        raise ValueError(
            f"group rows computed for group_effects={rows.group_effects!r}, not {group_effects!r}"
        )
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    totals = {o.name: np.zeros((n_samples, rows.n_rows)) for o in spec.outcomes}
    for level, position, new, row_codes in rows.levels:
        effects = _level_effects(spec, posterior, level, position, new, seed)
        for name, per_group in effects.items():
            totals[name] += per_group[:, row_codes]
    return totals


def _level_effects(
    spec: ModelSpec,
    posterior: xr.Dataset,
    level: str,
    position: np.ndarray,
    new: np.ndarray,
    seed: int,
) -> dict[str, np.ndarray]:
    """Effects (S, unique groups) per outcome at one level: fitted where known, else drawn."""
    n_groups = position.size
    safe = np.where(new, 0, position)
    result: dict[str, np.ndarray] = {}
    if level == spec.correlated:
        fitted = stack_draws(posterior, f"{level}_effect")[:, safe, :]  # (S, G, K)
        if not new.any():
            # Every group fitted: no draw is needed (at national size the normals, Cholesky
            # factors and products of every sample would cost more than the rest of a chunk).
            return {o.name: fitted[:, :, k] for k, o in enumerate(spec.outcomes)}
        sds = stack_draws(posterior, f"{level}_sd")  # (S, K)
        corr = stack_draws(posterior, f"{level}_corr")  # (S, K, K)
        cov = sds[:, :, None] * corr * sds[:, None, :]
        # A jitter keeps the Cholesky factor defined when a draw's correlation is near-singular.
        chol = np.linalg.cholesky(cov + 1e-12 * np.eye(cov.shape[-1]))
        z = standard_normal_per_sample(seed, level, posterior, (n_groups, cov.shape[-1]))
        drawn = np.einsum("sgk,sjk->sgj", z, chol)
        joint = np.where(new[None, :, None], drawn, fitted)
        for k, outcome in enumerate(spec.outcomes):
            result[outcome.name] = joint[:, :, k]
        return result
    for outcome in spec.outcomes:
        fitted = stack_draws(posterior, f"{outcome.name}_effect_{level}")[:, safe]
        if not new.any():
            result[outcome.name] = fitted
            continue
        sd = stack_draws(posterior, f"{outcome.name}_sd_{level}")
        z = standard_normal_per_sample(seed, f"{level}/{outcome.name}", posterior, (n_groups,))
        drawn = sd[:, None] * z
        result[outcome.name] = np.where(new[None, :], drawn, fitted)
    return result


def predict_draws(
    spec: ModelSpec,
    scaling: Scaling,
    posterior: xr.Dataset,
    frame: pd.DataFrame,
    *,
    composite: Sequence[bool] | None = None,
    group_effects: str = "fitted",
    seed: int | None = None,
    outcomes: Sequence[str] | None = None,
    model_coords: Mapping[str, Sequence[Any]] | None = None,
    average_rows: bool = False,
    max_cells: int = 20_000_000,
    **options: Any,
) -> xr.Dataset:
    """Posterior predictions for every row of ``frame`` and every posterior draw.

    Parameters
    ----------
    spec, scaling : ModelSpec, Scaling
        The fitted spec and the scaling learnt at fit time.
    posterior : xarray.Dataset
        Draws with dims ``chain, draw``.
    frame : DataFrame
        Rows to predict; needs the predictor and grouping columns (not the outcomes).
    composite : sequence of bool, optional
        The fit's group-labelling rule per level (see :func:`group_keys`); inferred when ``None``.
    group_effects : {"fitted", "new", "none"}
        See :func:`group_effect_draws`.
    seed : int, optional
        Seed of new group effects (see :func:`group_effect_draws`).
    outcomes : sequence of str, optional
        Outcomes to predict (default: all).
    model_coords : Mapping, optional
        The fitted model's coordinates that no posterior variable carries (e.g. the levels of an
        ordinal outcome); see :meth:`ModelInputs.coords`.
    average_rows : bool
        Return the average over rows for every draw (what g-computation needs) instead of every
        row; draws are then processed in chunks, so memory stays small.
    max_cells : int
        Draws x rows x survival times per chunk when ``average_rows`` (bounds the working
        memory: S(t) holds that many floats before the average).
    **options
        Passed to the families, e.g. ``times=[12, 24, 36]`` for survival.

    Returns
    -------
    xarray.Dataset
        Per outcome: ``<o>_S`` = S(t) (chain, draw, row, ``<o>_time``); ``<o>_prob``,
        ``<o>_prob_at_least`` (…, ``<o>_level``) and ``<o>_expected`` for ordinal;
        ``<o>_prob`` for logistic. Without the ``row`` dim when ``average_rows``.
    """
    frame = frame.reset_index(drop=True)
    missing = [
        c
        for c in [*spec_predictors(spec), *(lvl.column for lvl in spec.groups)]
        if c not in frame.columns
    ]
    if missing:
        raise ModelDataError(f"cannot predict: the data lack column(s) {missing}")
    if composite is None:
        composite = group_keys(frame, spec.groups)[1]
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    arguments = dict(
        composite=composite,
        group_effects=group_effects,
        seed=seed,
        outcomes=outcomes,
        model_coords=model_coords,
        average_rows=average_rows,
        **options,
    )
    if not average_rows:
        return _predict_chunk(spec, scaling, posterior, frame, **arguments)
    # Chunks of whole draws (vectorised within a chunk): the row average of each is kept.
    width = max(1, len(options.get("times", ())))
    per_chunk = max(1, max_cells // max(1, len(frame) * posterior.sizes["chain"] * width))
    pieces = [
        _predict_chunk(
            spec, scaling, posterior.isel(draw=slice(start, start + per_chunk)), frame, **arguments
        )
        for start in range(0, posterior.sizes["draw"], per_chunk)
    ]
    return xr.concat(pieces, dim="draw") if len(pieces) > 1 else pieces[0]


def _predict_chunk(
    spec: ModelSpec,
    scaling: Scaling,
    posterior: xr.Dataset,
    frame: pd.DataFrame,
    *,
    composite: Sequence[bool],
    group_effects: str,
    seed: int,
    outcomes: Sequence[str] | None,
    model_coords: Mapping[str, Sequence[Any]] | None,
    average_rows: bool,
    **options: Any,
) -> xr.Dataset:
    effects = group_effect_draws(
        spec, posterior, frame, composite=composite, group_effects=group_effects, seed=seed
    )
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    coords: dict[str, Any] = {
        "chain": posterior.coords["chain"].values,
        "draw": posterior.coords["draw"].values,
    }
    if not average_rows:
        coords["row"] = np.arange(len(frame))
    data_vars: dict[str, Any] = {}
    selected = spec.outcome_names if outcomes is None else tuple(outcomes)
    known = {k: list(v) for k, v in (model_coords or {}).items()}
    known |= {k: list(v.values) for k, v in posterior.coords.items()}
    for outcome in spec.outcomes:
        if outcome.name not in selected:
            continue
        eta = _linear_predictor(outcome, scaling, posterior, frame) + effects[outcome.name]
        family = FAMILIES[outcome.family]
        params = {name: stack_draws(posterior, name) for name in family.parameter_names(outcome)}
        prediction = family.predict(
            outcome, params, eta, coords=known, frame=frame, scaling=scaling, **options
        )
        coords |= dict(prediction.coords)
        for name, (dims, array) in prediction.arrays.items():
            if average_rows:
                array, dims = array.mean(axis=1), (dims[0], *dims[2:])
            reshaped = array.reshape(chains, draws, *array.shape[1:])
            data_vars[name] = (("chain", "draw", *dims[1:]), reshaped)
    return xr.Dataset(data_vars, coords=coords)


def _linear_predictor(
    outcome: OutcomeSpec, scaling: Scaling, posterior: xr.Dataset, frame: pd.DataFrame
) -> np.ndarray:
    """``X @ beta`` for every draw: (S, rows)."""
    terms, matrix = design_matrix(frame, outcome, scaling)
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    if not terms:
        return np.zeros((n_samples, len(frame)))
    beta = posterior[f"{outcome.name}_beta"].sel({f"{outcome.name}_term": list(terms)})
    beta = beta.transpose(*SAMPLE_DIMS, ...).to_numpy().reshape(n_samples, -1)
    return beta @ matrix.T
