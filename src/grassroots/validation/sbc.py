"""Simulation-based calibration (SBC) of the package's model families, with simuk on Dask.

SBC (Talts et al., 2018) checks that the sampler and the model code agree: draw parameters from
the prior, data from the model given them, fit the model to the data, and rank the drawn value
of each quantity among the posterior draws. If inference is calibrated, every rank is uniform.
The SBC machinery (reference draws, their order, per-simulation seeds, the rank statistics) is
:class:`simuk.SBC`; this module supplies the package's models, data and sampler to it, splits
the simulations into chunks run by ``dask.distributed`` workers, merges the ranks and tests
them with ArviZ's ``pot_c`` uniformity test.

Families (:data:`FAMILY_DESIGNS`), each a spec built like ``models/*.toml`` on a small data set
(covariates drawn once by :func:`grassroots.data.simulate.simulate`, fixed across
simulations; every simulation redraws only the outcomes):

* ``survival_piecewise``, ``survival_weibull``: proportional hazards, county and township
  frailties, a late (time-varying) effect of ``short_sighted`` from month 12, censored at each
  project's follow-up (launch to survey date);
* ``ordinal``: cumulative logit of ``demand_fit`` (1-5, no missing ratings);
* ``logistic``: a strategy (``expedient``);
* ``structural``: the joint model of the five outcomes, correlated township effects (LKJ), the
  strategies and short-sightedness as mediators; one grouping level (the correlated township
  level), smaller data and a shorter chain, as a fit costs several times a single family's.

Intercepts, cut points and the piecewise baseline are tested as sampled, at the average profile
(``*_centred``): their reported values at the reference profile shift with the design's column
means, which in the joint model move with the simulated mediators.

How each piece deviates from simuk's defaults, and why:

* **Model per simulation.** The builder bakes the data into the PyMC graph as constants
  (survival exposure matrices, interval indices, centred design matrices), so simuk's swap of
  observed values (``pm.observe``) would leave them stale. :class:`GrassrootsSBC` overrides the
  fit step to rebuild the model with :func:`grassroots.models.build_model` from the covariates
  plus the simulated outcomes (scaling learnt once, on the fixed covariates), then samples.
* **Data.** The survival likelihood is a logp-only ``pm.CustomDist``: PyMC cannot draw from it
  (``sample_prior_predictive`` raises ``NotImplementedError``). Forward draws of ordered cut
  points ignore the ordered transform, so they are not draws of the prior that MCMC targets
  (sorting them is; :func:`grassroots.models.prior_predictive.order_cutpoints`). The joint model
  must draw the mediators before the outcomes that use them as predictors. So every family but
  ``logistic`` passes simuk a ``simulator`` (:class:`OutcomeSimulator`) that draws the outcomes
  from the parameters, inverting the cumulative hazard for event times (as
  :func:`grassroots.data.simulate.event_times` does) and censoring them at the follow-up;
  ``logistic`` uses PyMC's own prior predictive draws.
* **Sampler.** PyMC's NUTS on one core per fit, compiled with the C backend (``FAST_RUN``):
  PyTensor's default numba backend, and nutpie, compile each rebuilt model several times more
  slowly, and a fit's compile costs as much as its sampling here. PyTensor's stack-trace capture
  is switched off while a chunk runs (it took ~15% of every compile).
* **Thinning.** Each fit runs ``chains`` chains of ``draws`` draws and is thinned to its own
  ESS: it keeps ``L = clip(floor(min ESS), min_kept, max_kept)`` draws, equally spaced within
  each chain, where min ESS is the smallest bulk ESS over the tested parameters; so the kept
  draws are close to independent, as the uniformity of SBC ranks needs. A simulation's rank runs
  over 0..L for its own L (recorded per fit, with the ESS); L depends on the fit only, never on
  the reference draw, so each rank stays uniform given its L.
* **Test quantities.** Every element of every sampled parameter, except the latent standard
  normals of group effects and the packed LKJ factor, which are replaced by the interpretable
  group effects of the first group at each level and, for the correlated level, its SDs and
  correlations; plus the log-likelihood of the simulated data, ``log_lik`` (and per outcome in
  the joint model), computed with :func:`pymc.compute_log_likelihood` for the reference draw and
  for each kept posterior draw.
* **Uniformity test.** Ranks become randomised PIT values ``(rank + U) / (L + 1)``, exactly
  uniform under calibration whatever each simulation's L (mid-ranks would make the test
  slightly liberal), tested with ``pot_c`` (``arviz_stats`` ``uniformity_test``), then
  Holm-adjusted over the quantities of each family (valid under any dependence between
  quantities, and never less powerful than Bonferroni); a quantity fails when its adjusted
  p-value is below ``alpha`` (0.01).

Seeds: one master seed; ``SeedSequence(seed).spawn`` gives the covariate data, then one child
per family (by its position in :data:`ALL_FAMILIES`, so running a subset gives the same draws);
each family's child spawns one seed per chunk (simuk derives every simulation's seed from it)
and one for the PIT jitter. A run is reproducible from the seed, the number of simulations and
the chunk size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import simuk
import xarray as xr
from arviz_base import extract

from grassroots._dask import dask_client
from grassroots._fresh_process import call_in_fresh_process
from grassroots._io import atomic_path, write_text_atomic
from grassroots.data.simulate import DAYS_PER_MONTH, SimulationConfig, event_times, simulate
from grassroots.inference.diagnostics import RHAT_MAX
from grassroots.models import ModelSpec, build_model, prepare_inputs, spec_from_dict
from grassroots.models.builder import ModelInputs
from grassroots.models.design import design_matrix, late_design_matrix
from grassroots.models.prior_predictive import order_cutpoints
from grassroots.models.survival import interval_starts

__all__ = [
    "ALL_FAMILIES",
    "ALPHA",
    "DEFAULT_SEED",
    "FAMILY_DESIGNS",
    "ChunkResult",
    "ChunkTask",
    "DataSize",
    "FamilyDesign",
    "FamilyResult",
    "GrassrootsSBC",
    "OutcomeSimulator",
    "Quantity",
    "SBCResult",
    "chunk_path",
    "chunk_seeds",
    "covariate_frame",
    "data_seed",
    "family_summary",
    "holm",
    "kept_size",
    "load_chunk",
    "merge_chunks",
    "piecewise_event_times",
    "pit_values",
    "plan_chunks",
    "run_chunk",
    "run_sbc",
    "save_chunk",
    "test_quantities",
    "thin_draws",
    "uniformity_tests",
    "write_results",
]

ALL_FAMILIES: tuple[str, ...] = (
    "survival_piecewise",
    "survival_weibull",
    "ordinal",
    "logistic",
    "structural",
)
#: Level of each uniformity test, after the multiplicity correction within a family.
ALPHA = 0.01
DEFAULT_SEED = 20250325
# Families by their cost per fit, measured (cheapest first).
_COST_ORDER = ("logistic", "ordinal", "survival_piecewise", "survival_weibull", "structural")
LOG_LIK = "log_lik"
# Bounds of the draws kept per fit (its min bulk ESS in between): ranks run over 0..L.
MAX_KEPT = 100
MIN_KEPT = 20
# C backend: compiles a rebuilt model several times faster than numba (see the module notes).
COMPILE_MODE = "FAST_RUN"

_log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Designs: the spec, the data size and the sampler of every family


@dataclass(frozen=True)
class DataSize:
    """Size of the covariate data set (see :class:`grassroots.data.simulate.SimulationConfig`)."""

    n_counties: int = 4
    townships_per_county: float = 7.5
    projects_per_township: float = 6.0


@dataclass(frozen=True)
class FamilyDesign:
    """One family's SBC set-up.

    Attributes
    ----------
    name : str
    table : Mapping
        The spec as :func:`grassroots.models.spec_from_dict` takes it (the ``[sampler]`` table
        holds chains, draws, tune and target_accept of every fit).
    size : DataSize
    max_kept, min_kept : int
        Bounds of the posterior draws kept per fit (see :func:`kept_size`).
    simulated : bool
        Whether the data come from :class:`OutcomeSimulator` (else from PyMC's prior
        predictive draws).
    """

    name: str
    table: Mapping[str, Any]
    size: DataSize = DataSize()
    max_kept: int = MAX_KEPT
    min_kept: int = MIN_KEPT
    simulated: bool = True

    def spec(self) -> ModelSpec:
        return spec_from_dict(dict(self.table), source=f"sbc:{self.name}")


_GROUPS = ["county_id", "township_id"]
_SURVIVAL_OUTCOME = {"time": "months", "event": "discontinued"}
# Short cuts keep every interval populated in ~170 projects followed for up to ~9 years; 12 is
# a cut because the late effect starts there.
_CUTS = [6, 12, 24, 48]
# One chain: a second would double the tuning for little ESS; each fit is thinned to its ESS.
_SAMPLER = {"chains": 1, "draws": 500, "tune": 300, "target_accept": 0.9, "backend": "pymc"}

FAMILY_DESIGNS: dict[str, FamilyDesign] = {
    "survival_piecewise": FamilyDesign(
        "survival_piecewise",
        {
            "name": "sbc_survival_piecewise",
            "family": "survival",
            "groups": _GROUPS,
            "predictors": [
                "authority",
                "resources",
                "tech_capacity",
                "outsourced",
                "short_sighted",
            ],
            "time_varying": {"short_sighted": 12},
            "outcome": _SURVIVAL_OUTCOME,
            "baseline": {"kind": "piecewise", "cuts": _CUTS},
            "sampler": _SAMPLER,
        },
    ),
    "survival_weibull": FamilyDesign(
        "survival_weibull",
        {
            "name": "sbc_survival_weibull",
            "family": "survival",
            "groups": _GROUPS,
            "predictors": [
                "authority",
                "resources",
                "tech_capacity",
                "outsourced",
                "short_sighted",
            ],
            "interactions": ["tech_capacity:outsourced"],
            "time_varying": {"short_sighted": 12},
            "outcome": _SURVIVAL_OUTCOME,
            "baseline": {"kind": "weibull"},
            "sampler": _SAMPLER,
        },
    ),
    "ordinal": FamilyDesign(
        "ordinal",
        {
            "name": "sbc_ordinal",
            "family": "ordinal",
            "groups": _GROUPS,
            "predictors": ["tech_capacity", "proximity", "homogeneity", "outsourced", "extensive"],
            "outcome": {"column": "demand_fit", "levels": [1, 2, 3, 4, 5]},
            "sampler": _SAMPLER,
        },
    ),
    "logistic": FamilyDesign(
        "logistic",
        {
            "name": "sbc_logistic",
            "family": "logistic",
            "groups": _GROUPS,
            "predictors": ["authority", "resources", "flexibility", "outsourced"],
            "outcome": {"column": "expedient"},
            # As strategy_expedient.toml: a binary outcome's township SD mixes slowly near zero.
            "sampler": {**_SAMPLER, "target_accept": 0.95},
        },
        simulated=False,
    ),
    "structural": FamilyDesign(
        "structural",
        {
            "name": "sbc_structural",
            "family": "structural",
            # One level, the correlated one: county effects of five outcomes on three counties
            # are prior-only funnels that cost far more sampling than they test; the single
            # families test county effects.
            "groups": ["township_id"],
            "correlated": "township",
            "priors": {"lkj_eta": 2},
            "outcomes": {
                "survival": {
                    "family": "survival",
                    **_SURVIVAL_OUTCOME,
                    "predictors": ["authority", "resources", "extensive", "expedient"]
                    + ["short_sighted"],
                    "baseline": {"kind": "piecewise", "cuts": _CUTS},
                    "time_varying": {"short_sighted": 12},
                },
                "demand_fit": {
                    "family": "ordinal",
                    "column": "demand_fit",
                    "levels": [1, 2, 3, 4, 5],
                    "predictors": ["tech_capacity", "proximity", "extensive", "expedient"],
                },
                "extensive": {
                    "family": "logistic",
                    "column": "extensive",
                    "predictors": ["resources", "flexibility", "tech_capacity"],
                },
                "expedient": {
                    "family": "logistic",
                    "column": "expedient",
                    "predictors": ["authority", "outsourced"],
                },
                "short_sighted": {
                    "family": "logistic",
                    "column": "short_sighted",
                    "predictors": ["resources", "extensive", "expedient"],
                },
            },
            # The joint model costs ~5x a single family per fit (compile and gradient): a
            # shorter chain, still thinned to its ESS.
            "sampler": {**_SAMPLER, "draws": 400},
        },
        size=DataSize(n_counties=3, townships_per_county=7.0, projects_per_township=6.0),
    ),
}


# ---------------------------------------------------------------------------------------------
# Covariates and seeds


def covariate_frame(seed: int, size: DataSize = DataSize()) -> pd.DataFrame:
    """The fixed covariates: a small simulated study, flattened, with each project's follow-up.

    The study's own outcome columns stay in (the models need them to be built) but every SBC
    simulation replaces the outcomes it models. Missing ratings are filled, so that every row
    enters every outcome's likelihood.

    Parameters
    ----------
    seed : int
        Seed of :func:`grassroots.data.simulate.simulate`.
    size : DataSize
    """
    config = SimulationConfig(
        n_counties=size.n_counties,
        townships_per_county=size.townships_per_county,
        projects_per_township=size.projects_per_township,
    )
    frame = simulate(seed, config).flat()
    days = pd.to_datetime(frame["survey_date"]) - pd.to_datetime(frame["launch_date"])
    frame["follow_up"] = days.dt.days.to_numpy(dtype=float) / DAYS_PER_MONTH
    frame["demand_fit"] = frame["demand_fit"].fillna(3).astype("int64")
    return frame


def _seed_int(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _family_sequences(seed: int) -> tuple[np.random.SeedSequence, dict[str, Any]]:
    """The data's and each family's SeedSequence; always spawned in full, so stable by name."""
    data, *families = np.random.SeedSequence(seed).spawn(1 + len(ALL_FAMILIES))
    return data, dict(zip(ALL_FAMILIES, families, strict=True))


def data_seed(seed: int) -> int:
    """Seed of the covariate data set, derived from the master seed."""
    return _seed_int(_family_sequences(seed)[0])


def chunk_seeds(seed: int, family: str, n_chunks: int) -> tuple[list[int], int]:
    """Seeds of a family's chunks and of its PIT jitter, derived from the master seed.

    Chunk ``i``'s seed depends on ``(seed, family, i)`` only, not on ``n_chunks``.

    Returns
    -------
    chunk_seeds : list of int
    jitter_seed : int
    """
    if family not in ALL_FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {ALL_FAMILIES}")
    chunks_parent, jitter = _family_sequences(seed)[1][family].spawn(2)
    seeds = [_seed_int(child) for child in chunks_parent.spawn(n_chunks)]
    return seeds, _seed_int(jitter)


@dataclass(frozen=True)
class ChunkTask:
    """One Dask task: ``n_simulations`` SBC simulations of one family from one seed."""

    family: str
    chunk: int
    n_simulations: int
    seed: int
    data_seed: int
    design: FamilyDesign


def plan_chunks(
    family: str,
    n_simulations: int,
    seed: int,
    chunk_size: int,
    design: FamilyDesign | None = None,
) -> list[ChunkTask]:
    """Split a family's simulations into chunks of at most ``chunk_size``, each with its seed."""
    if n_simulations < 1 or chunk_size < 1:
        raise ValueError("n_simulations and chunk_size must be at least 1")
    design = design if design is not None else FAMILY_DESIGNS[family]
    n_chunks = math.ceil(n_simulations / chunk_size)
    sizes = [chunk_size] * (n_chunks - 1) + [n_simulations - chunk_size * (n_chunks - 1)]
    seeds, _ = chunk_seeds(seed, family, n_chunks)
    return [
        ChunkTask(family, i, size, chunk_seed, data_seed(seed), design)
        for i, (size, chunk_seed) in enumerate(zip(sizes, seeds, strict=True))
    ]


# ---------------------------------------------------------------------------------------------
# Drawing outcomes from parameters


def piecewise_event_times(
    exponential: np.ndarray,
    eta: np.ndarray,
    late_eta: np.ndarray,
    log_hazard: np.ndarray,
    cuts: Sequence[float],
    onset: float | None,
) -> np.ndarray:
    """Event times of a piecewise-constant PH model with late effects, by exact inversion.

    Row ``i``'s hazard on interval ``j`` is ``exp(log_hazard[j] + eta[i] + late_eta[i] *
    1[start_j >= onset])``; the time at which its cumulative hazard reaches ``exponential[i]``
    (a unit exponential draw) is returned.
    """
    starts = interval_starts(cuts)
    widths = np.diff(np.append(starts, np.inf))
    after = starts >= (onset if onset is not None else np.inf)
    rate = np.exp(log_hazard[None, :] + eta[:, None] + late_eta[:, None] * after[None, :])
    # Cumulative hazard at the start of every interval; the last interval never ends.
    at_start = np.concatenate(
        [np.zeros((eta.size, 1)), np.cumsum(rate[:, :-1] * widths[None, :-1], axis=1)], axis=1
    )
    piece = (at_start <= exponential[:, None]).sum(axis=1) - 1
    rows = np.arange(eta.size)
    return starts[piece] + (exponential - at_start[rows, piece]) / rate[rows, piece]


def _outcome_columns(outcome) -> tuple[str, ...]:
    return tuple(outcome.columns.values())


def _causal_order(spec: ModelSpec) -> list:
    """Outcomes ordered so that an outcome used as another's predictor is drawn first."""
    produced = {column: o.name for o in spec.outcomes for column in _outcome_columns(o)}
    pending, ordered, done = list(spec.outcomes), [], set()
    while pending:
        for outcome in pending:
            needs = {produced[c] for c in outcome.predictors if c in produced} - {outcome.name}
            if needs <= done:
                ordered.append(outcome)
                done.add(outcome.name)
                pending.remove(outcome)
                break
        else:
            raise ValueError(f"{spec.name}: the outcomes predict each other in a cycle")
    return ordered


class OutcomeSimulator:
    """simuk's ``simulator``: the outcome columns of one data set drawn from one prior draw.

    The linear predictors mirror :func:`grassroots.models.build_model`: design columns centred
    at the data's means (recomputed after each mediator is drawn) times ``beta``, plus the
    group effects; the intercept, cut points and baseline are the sampled ``*_centred``
    parameters. Event times are censored at the column ``follow_up``.

    Parameters
    ----------
    spec : ModelSpec
    inputs : ModelInputs
        The inputs of the fixed covariate frame (scaling, group codes).
    frame : DataFrame
        The fixed covariates, with ``follow_up``.
    """

    def __init__(self, spec: ModelSpec, inputs: ModelInputs, frame: pd.DataFrame) -> None:
        self.spec = spec
        self.inputs = inputs
        self.frame = frame
        self.order = _causal_order(spec)

    def __call__(self, seed: int, **params: np.ndarray) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        frame = self.frame.copy()
        drawn: dict[str, np.ndarray] = {}
        for outcome in self.order:
            eta = self._eta(outcome, frame, params)
            name = outcome.name
            if outcome.family == "logistic":
                logit = params[f"{name}_intercept_centred"] + eta
                values = {outcome.columns["column"]: (rng.random(eta.size) < _sigmoid(logit))}
            elif outcome.family == "ordinal":
                levels = self.inputs.outcomes[name].values["levels"]
                latent = eta + rng.logistic(size=eta.size)
                code = (latent[:, None] > params[f"{name}_cutpoints_centred"][None, :]).sum(1)
                values = {outcome.columns["column"]: levels[code]}
            else:
                values = self._survival(outcome, frame, params, eta, rng)
            for column, value in values.items():
                array = np.asarray(value)
                array = array.astype(np.int64) if array.dtype == bool else array
                frame[column] = array
                drawn[column] = array
        return drawn

    def _eta(self, outcome, frame: pd.DataFrame, params: Mapping[str, np.ndarray]) -> np.ndarray:
        name = outcome.name
        _, matrix = design_matrix(frame, outcome, self.inputs.scaling)
        eta = np.zeros(len(frame))
        if matrix.shape[1]:
            eta = eta + (matrix - matrix.mean(axis=0)) @ params[f"{name}_beta"]
        position = self.spec.outcome_names.index(name)
        for level, codes in zip(self.spec.groups, self.inputs.groups.codes, strict=True):
            if level.name == self.spec.correlated:
                effect = params[f"{level.name}_effect"][:, position]
            else:
                effect = params[f"{name}_effect_{level.name}"]
            eta = eta + effect[codes]
        return eta

    def _survival(self, outcome, frame, params, eta, rng) -> dict[str, np.ndarray]:
        name = outcome.name
        late_eta = np.zeros(eta.size)
        if outcome.time_varying:
            _, late = late_design_matrix(frame, outcome, self.inputs.scaling)
            late_eta = late @ params[f"{name}_beta_late"]
        exponential = rng.standard_exponential(eta.size)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if outcome.baseline.kind == "piecewise":
                steps = params[f"{name}_log_hazard_steps"]
                log_hazard = params[f"{name}_log_hazard_start_centred"] + np.concatenate(
                    [[0.0], np.cumsum(steps)]
                )
                times = piecewise_event_times(
                    exponential, eta, late_eta, log_hazard, outcome.baseline.cuts, outcome.onset
                )
            else:
                # event_times takes one late column times one log HR; the late linear predictor
                # with a unit "log HR" is the same product.
                times = event_times(
                    exponential,
                    eta,
                    late_eta,
                    shape=float(params[f"{name}_shape"]),
                    scale=float(params[f"{name}_scale_centred"]),
                    log_hr_late=1.0,
                    onset=outcome.onset if outcome.onset is not None else np.inf,
                )
        follow_up = frame["follow_up"].to_numpy(dtype=float)
        return {
            outcome.columns["time"]: np.minimum(times, follow_up),
            outcome.columns["event"]: (times < follow_up).astype(np.int64),
        }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


# ---------------------------------------------------------------------------------------------
# Test quantities, thinning, log-likelihood


@dataclass(frozen=True)
class Quantity:
    """One scalar test quantity: element ``index`` of model variable ``variable``."""

    label: str
    variable: str
    index: tuple[int, ...] = ()


def _elements(model: pm.Model, name: str, only_first: bool = False) -> list[Quantity]:
    dims = model.named_vars_to_dims.get(name, ())
    if not dims:
        return [Quantity(name, name)]
    labels = [list(model.coords[dim]) for dim in dims]
    indices = [tuple(0 for _ in dims)] if only_first else np.ndindex(*map(len, labels))
    return [
        Quantity(
            f"{name}[{', '.join(str(labels[k][i]) for k, i in enumerate(index))}]", name, index
        )
        for index in indices
    ]


def test_quantities(spec: ModelSpec, model: pm.Model) -> list[Quantity]:
    """The parameters whose ranks are tested (see the module notes); ``log_lik`` not included."""
    latent: set[str] = set()
    derived: list[Quantity] = []
    for level in spec.groups:
        name = level.name
        if name == spec.correlated:
            latent |= {f"{name}_z", f"{name}_chol"}
            derived += _elements(model, f"{name}_sd")
            corr = _elements(model, f"{name}_corr")
            derived += [q for q in corr if q.index[0] < q.index[1]]
            derived += [
                q for q in _elements(model, f"{name}_effect") if q.index[0] == 0
            ]  # the first group, every outcome
        else:
            for outcome in spec.outcomes:
                latent.add(f"{outcome.name}_z_{name}")
                derived += _elements(model, f"{outcome.name}_effect_{name}", only_first=True)
    sampled = [
        q for rv in model.free_RVs if rv.name not in latent for q in _elements(model, rv.name)
    ]
    return sampled + derived


def log_lik_quantities(spec: ModelSpec) -> list[Quantity]:
    """``log_lik`` (all outcomes) and, for a joint model, one per outcome."""
    quantities = [Quantity(LOG_LIK, LOG_LIK)]
    if len(spec.outcomes) > 1:
        quantities += [Quantity(f"{LOG_LIK}[{o}]", f"{LOG_LIK}__{o}") for o in spec.outcome_names]
    return quantities


def kept_size(min_ess: float, chains: int, draws: int, low: int, high: int) -> int:
    """Draws to keep from a fit: its min bulk ESS, within ``[low, high]`` and the draws there
    are, rounded down to a multiple of the chains (at least one draw per chain)."""
    ess = math.floor(min_ess) if math.isfinite(min_ess) else low
    kept = min(max(ess, low), high, chains * draws)
    return max(chains, kept - kept % chains)


def thin_draws(posterior: xr.Dataset, kept: int) -> xr.Dataset:
    """Keep ``kept`` draws in all, equally spaced within each chain (the last draw kept).

    Parameters
    ----------
    posterior : Dataset
        Dims ``chain`` and ``draw``.
    kept : int
        Must be a multiple of the number of chains, at most all draws.
    """
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if kept < chains or kept % chains:
        raise ValueError(
            f"kept draws ({kept}) must be a positive multiple of the chains ({chains})"
        )
    per_chain = kept // chains
    if per_chain > draws:
        raise ValueError(f"cannot keep {per_chain} of {draws} draws per chain")
    step = draws // per_chain
    return posterior.isel(draw=np.arange(per_chain) * step + (draws - 1 - (per_chain - 1) * step))


def _fit_diagnostics(trace: xr.DataTree, quantities: Sequence[Quantity]) -> dict[str, Any]:
    """Smallest bulk ESS over the test quantities (and which), R-hat, divergences, tree size."""
    from arviz_stats import ess, rhat

    posterior = trace["posterior"].to_dataset()[sorted({q.variable for q in quantities})]
    ess_bulk = ess(posterior, method="bulk")
    per_quantity = pd.Series(
        {q.label: float(ess_bulk[q.variable].to_numpy()[q.index]) for q in quantities}
    ).dropna()  # a correlation's constant diagonal has none
    stats = trace["sample_stats"].to_dataset()
    result: dict[str, Any] = {
        "min_ess_bulk": float(per_quantity.min()) if len(per_quantity) else math.nan,
        "min_ess_quantity": str(per_quantity.idxmin()) if len(per_quantity) else "",
        "divergences": int(stats["diverging"].sum()),
        "mean_tree_size": float(stats["n_steps"].mean()) if "n_steps" in stats else math.nan,
    }
    if posterior.sizes["chain"] > 1:
        r_hat = rhat(posterior)
        result["max_rhat"] = float(
            np.nanmax(np.concatenate([v.to_numpy().ravel() for v in r_hat.values()]))
        )
    return result


def _point_log_lik(model: pm.Model, draws: xr.Dataset) -> dict[str, np.ndarray]:
    """Log-likelihood of the model's data at every draw (dim ``sample``), total and per outcome."""
    tree = xr.DataTree.from_dict({"posterior": draws})
    result = pm.compute_log_likelihood(
        tree, model=model, sample_dims=("sample",), extend_inferencedata=False, progressbar=False
    )
    pointwise = result["log_likelihood"] if "log_likelihood" in result else result
    totals = {
        name: var.sum(dim=[d for d in var.dims if d != "sample"]).to_numpy()
        for name, var in pointwise.data_vars.items()
    }
    totals[LOG_LIK] = np.sum(list(totals.values()), axis=0)
    return totals


def _as_samples(dataset: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """The variables ``names`` with one plain ``sample`` dim first (no chain/draw coords)."""
    plain = {}
    for name in names:
        var = dataset[name]
        extra = [d for d in var.dims if d not in ("chain", "draw", "sample")]
        values = var.transpose(..., *extra).to_numpy().reshape(-1, *[var.sizes[d] for d in extra])
        plain[name] = (("sample", *extra), values)
    return xr.Dataset(plain)


# ---------------------------------------------------------------------------------------------
# simuk with the package's models


class GrassrootsSBC(simuk.SBC):
    """:class:`simuk.SBC` (prior SBC) on a package model, rebuilt from each simulated data set.

    Parameters
    ----------
    spec : ModelSpec
        Its ``sampler`` settings set chains, draws, tune and target_accept of every fit.
    frame : DataFrame
        Fixed covariates (:func:`covariate_frame`).
    num_simulations : int
    seed : int
        simuk's seed: the reference draws, their order and every fit's seed follow from it.
    max_kept, min_kept : int
        Bounds of the draws kept per fit (see :func:`kept_size`).
    simulated : bool
        Draw the data with :class:`OutcomeSimulator` (else with PyMC's prior predictive).
    """

    def __init__(
        self,
        spec: ModelSpec,
        frame: pd.DataFrame,
        *,
        num_simulations: int,
        seed: int,
        max_kept: int = MAX_KEPT,
        min_kept: int = MIN_KEPT,
        simulated: bool = True,
    ) -> None:
        self.spec = spec
        self.frame = frame.reset_index(drop=True)
        self.inputs = prepare_inputs(spec, self.frame)
        built = build_model(spec, self.inputs)
        self.quantities = test_quantities(spec, built.model)
        self.log_lik_quantities = log_lik_quantities(spec)
        self.max_kept, self.min_kept = max_kept, min_kept
        self.fits: list[dict[str, Any]] = []
        self.failure: str | None = None
        settings = spec.sampler
        sample_kwargs = {
            "draws": settings.draws,
            "tune": settings.tune,
            "chains": settings.chains,
            "cores": 1,  # Dask runs the chunks in parallel; a worker process has one core
            "nuts_sampler": "pymc",  # PyMC 6 would pick nutpie, whose numba compile dominates
            "target_accept": settings.target_accept,
            "max_treedepth": settings.max_treedepth,
            "compile_kwargs": {"mode": COMPILE_MODE},
        }
        simulator = OutcomeSimulator(spec, self.inputs, self.frame) if simulated else None
        # simuk warns (root logger) that the simulator replaces the model's observed variables,
        # which is the intent here.
        logging.disable(logging.WARNING)
        try:
            super().__init__(
                built.model,
                num_simulations=num_simulations,
                sample_kwargs=sample_kwargs,
                seed=seed,
                simulator=simulator,
                progress_bar=False,
            )
        finally:
            logging.disable(logging.NOTSET)

    def _get_prior_predictive_samples(self):
        if self.simulator is None:
            return super()._get_prior_predictive_samples()
        # The survival likelihood cannot be drawn by PyMC: draw the parameters only and leave
        # the data to the simulator. Forward draws of ordered cut points are unordered; sorted,
        # they are draws of the ordered prior that MCMC targets.
        names = [v.name for v in (*self.model.free_RVs, *self.model.deterministics)]
        with self.model:
            idata = pm.sample_prior_predictive(
                draws=self.num_simulations, var_names=names, random_seed=self._seeds[0]
            )
        prior = order_cutpoints(extract(idata, group="prior", keep_dataset=True), self.spec)
        return prior, self._get_simulator_data(prior)

    def _frame_with(self, replicated: Mapping[str, np.ndarray]) -> pd.DataFrame:
        frame = self.frame.copy()
        if self.simulator is not None:  # the simulator returns data columns
            for column, values in replicated.items():
                frame[column] = np.asarray(values)
            return frame
        # PyMC's draws are each outcome's observed variable, in the model's encoding.
        for outcome in self.spec.outcomes:
            values = np.asarray(replicated[outcome.name])
            if outcome.family == "ordinal":
                values = self.inputs.outcomes[outcome.name].values["levels"][values]
            frame[outcome.columns["column"]] = values
        return frame

    def _get_posterior_samples(self, replicated_data):
        idx = self._simulations_complete
        seed = int(self._seeds[idx])
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            frame = self._frame_with(replicated_data)
            built = build_model(self.spec, prepare_inputs(self.spec, frame, self.inputs.scaling))
            with built.model:
                trace = pm.sample(
                    **self.sample_kwargs,
                    random_seed=seed,
                    initvals=dict(built.initial_points) or None,
                )
            fit = {"simulation": idx, "seed": seed}
            fit |= _fit_diagnostics(trace, self.quantities)
            posterior = trace["posterior"].to_dataset()
            fit["kept_draws"] = kept_size(
                fit["min_ess_bulk"],
                posterior.sizes["chain"],
                posterior.sizes["draw"],
                self.min_kept,
                self.max_kept,
            )
            kept = thin_draws(posterior, fit["kept_draws"])
            free = [rv.name for rv in built.model.free_RVs]
            reference = self.ref_params.isel(sample=[idx])
            # The reference draw goes last, so one compiled function serves all draws.
            points = xr.concat([_as_samples(kept, free), _as_samples(reference, free)], "sample")
            log_lik = _point_log_lik(built.model, points)
        except Exception:
            self.failure = f"simulation {idx} (seed {seed}):\n{traceback.format_exc()}"
            raise
        if idx == 0:
            self._rank_test_quantities_only()
        for q in self._ll:
            # In place: simuk ranks against ref_params after its loop.
            self.ref_params[q.variable].values[idx] = log_lik[self._outcome_of(q)][-1]
        kept = kept.assign(
            {
                q.variable: (
                    ("chain", "draw"),
                    log_lik[self._outcome_of(q)][:-1].reshape(
                        kept.sizes["chain"], kept.sizes["draw"]
                    ),
                )
                for q in self._ll
            }
        )
        fit["seconds"] = time.perf_counter() - started
        # CPU time too: on a shared machine the wall time says more about the neighbours.
        fit["cpu_seconds"] = time.process_time() - cpu_started
        self.fits.append(fit)
        return extract(kept[self.var_names], keep_dataset=True)

    def _rank_test_quantities_only(self) -> None:
        """Make simuk rank the test quantities, log-likelihood included, and nothing else.

        With a simulator, simuk ranks every variable of the prior draws (deterministics too),
        and its pure-Python ranking then costs seconds per simulation; the reference
        log-likelihoods are filled in as the fits come.
        """
        n = self.ref_params.sizes["sample"]
        self.ref_params = self.ref_params.assign(
            {q.variable: ("sample", np.full(n, np.nan)) for q in self._ll}
        )
        self.var_names = sorted({q.variable for q in (*self.quantities, *self._ll)})

    @property
    def _ll(self) -> list[Quantity]:
        return self.log_lik_quantities

    @staticmethod
    def _outcome_of(quantity: Quantity) -> str:
        return quantity.variable.split("__", 1)[1] if "__" in quantity.variable else LOG_LIK

    def quantity_ranks(self) -> pd.DataFrame:
        """Ranks (0..L of each fit) of every test quantity: one row per completed simulation."""
        quantities = [*self.quantities, *self._ll]
        ranks = self.simulations["prior_sbc"]  # computed by simuk at the end of its loop
        return pd.DataFrame(
            {q.label: ranks[q.variable].to_numpy()[0][(slice(None), *q.index)] for q in quantities}
        ).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# One chunk (runs on a Dask worker)


@dataclass
class ChunkResult:
    """What a chunk sends back: the ranks, one row of fit diagnostics per simulation, timing."""

    family: str
    chunk: int
    seed: int
    ranks: pd.DataFrame
    fits: pd.DataFrame
    started: float
    seconds: float
    error: str | None = None


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Run one chunk of simulations; an error comes back in ``error`` (no partial ranks)."""
    started_wall, started = time.time(), time.perf_counter()
    spec = task.design.spec()
    frame = covariate_frame(task.data_seed, task.design.size)
    sbc = None
    try:
        with warnings.catch_warnings(), pytensor.config.change_flags(traceback__limit=0):
            # Divergence and ESS warnings of individual fits are recorded per fit instead.
            warnings.simplefilter("ignore")
            sbc = GrassrootsSBC(
                spec,
                frame,
                num_simulations=task.n_simulations,
                seed=task.seed,
                max_kept=task.design.max_kept,
                min_kept=task.design.min_kept,
                simulated=task.design.simulated,
            )
            sbc.run_simulations()
        if sbc._simulations_complete < task.n_simulations:
            raise RuntimeError(sbc.failure or "simuk stopped early without a recorded error")
        ranks = sbc.quantity_ranks()
    except Exception as error:
        message = sbc.failure if sbc is not None and sbc.failure else traceback.format_exc()
        return ChunkResult(
            task.family,
            task.chunk,
            task.seed,
            pd.DataFrame(),
            pd.DataFrame(sbc.fits if sbc is not None else []),
            started_wall,
            time.perf_counter() - started,
            error=f"{type(error).__name__}: {message}",
        )
    fits = pd.DataFrame(sbc.fits)
    fits.insert(0, "chunk", task.chunk)
    ranks.insert(0, "simulation", fits["simulation"].to_numpy())
    ranks.insert(0, "chunk", task.chunk)
    return ChunkResult(
        task.family,
        task.chunk,
        task.seed,
        ranks,
        fits,
        started_wall,
        time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------------------
# Merging and testing


def merge_chunks(results: Sequence[ChunkResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranks and fit diagnostics of a family's successful chunks, in chunk order."""
    done = sorted((r for r in results if r.error is None), key=lambda r: r.chunk)
    if not done:
        return pd.DataFrame(), pd.DataFrame()
    ranks = pd.concat([r.ranks for r in done], ignore_index=True)
    fits = pd.concat([r.fits for r in done], ignore_index=True)
    return ranks, fits


def pit_values(
    ranks: np.ndarray, kept_draws: int | np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Randomised PIT ``(rank + U) / (L + 1)``: exactly uniform when ranks are uniform on 0..L.

    Parameters
    ----------
    ranks : ndarray, shape (simulations, quantities)
    kept_draws : int or ndarray, shape (simulations,)
        L of every simulation (the draws its fit kept).
    rng : numpy.random.Generator
    """
    ranks = np.asarray(ranks)
    kept = np.broadcast_to(
        np.asarray(kept_draws).reshape(-1, *([1] * (ranks.ndim - 1))), ranks.shape
    )
    if ranks.size and ((ranks < 0).any() or (ranks > kept).any()):
        raise ValueError("ranks must lie in 0..L of their simulation")
    return (ranks + rng.random(ranks.shape)) / (kept + 1)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return adjusted
    order = finite[np.argsort(p[finite], kind="stable")]
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def uniformity_tests(pit: pd.DataFrame, family: str, alpha: float = ALPHA) -> pd.DataFrame:
    """pot_c p-value of every column of ``pit`` and Holm-adjusted p-values across the columns."""
    from arviz_stats.base import array_stats

    values = pit.to_numpy(dtype=float).T
    p_values = np.asarray(array_stats.uniformity_test(values, axis=-1, method="pot_c")[0])
    p_values = np.atleast_1d(p_values).astype(float)
    adjusted = holm(p_values)
    return pd.DataFrame(
        {
            "family": family,
            "quantity": list(pit.columns),
            "n_sims": len(pit),
            "p_value": p_values,
            "p_adjusted": adjusted,
            "passed": adjusted >= alpha,
        }
    )


# ---------------------------------------------------------------------------------------------
# A whole run


@dataclass
class FamilyResult:
    """One family's merged ranks, PIT values, fit diagnostics, tests and timing."""

    family: str
    ranks: pd.DataFrame
    pit: pd.DataFrame
    fits: pd.DataFrame
    tests: pd.DataFrame
    n_chunks: int
    worker_seconds: float
    span_seconds: float
    failures: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class SBCResult:
    """Every family's result and the run's settings."""

    families: dict[str, FamilyResult]
    seed: int
    settings: dict[str, Any]
    wall_seconds: float

    @property
    def table(self) -> pd.DataFrame:
        frames = [r.tests for r in self.families.values() if not r.tests.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def family_result(
    family: str, results: Sequence[ChunkResult], seed: int, alpha: float = ALPHA
) -> FamilyResult:
    """Merge a family's chunks, make the PIT values and test them."""
    ranks, fits = merge_chunks(results)
    _, jitter_seed = chunk_seeds(seed, family, 0)
    quantities = [c for c in ranks.columns if c not in ("chunk", "simulation")]
    kept = fits["kept_draws"].to_numpy() if len(fits) else np.zeros(0, dtype=np.int64)
    pit = pd.DataFrame(
        pit_values(ranks[quantities].to_numpy(), kept, np.random.default_rng(jitter_seed)),
        columns=quantities,
    )
    tests = uniformity_tests(pit, family, alpha) if len(pit) else pd.DataFrame()
    return FamilyResult(
        family=family,
        ranks=ranks,
        pit=pit,
        fits=fits,
        tests=tests,
        n_chunks=len(results),
        worker_seconds=float(sum(r.seconds for r in results)),
        span_seconds=_span(results),
        failures=[f"chunk {r.chunk}: {r.error}" for r in results if r.error],
    )


def run_sbc(
    families: Sequence[str] = ALL_FAMILIES,
    n_simulations: int | Mapping[str, int] = 200,
    *,
    seed: int = DEFAULT_SEED,
    chunk_size: int = 10,
    workers: int = 2,
    scheduler: str | None = None,
    designs: Mapping[str, FamilyDesign] | None = None,
    alpha: float = ALPHA,
    checkpoints: str | Path | None = None,
    run_pending: bool = True,
    progress: Callable[[str], None] | None = print,
) -> SBCResult:
    """Run SBC for ``families`` on Dask and test the ranks.

    Parameters
    ----------
    families : sequence of str
        Names from :data:`ALL_FAMILIES`.
    n_simulations : int or Mapping[str, int]
        Simulations per family.
    seed : int
        Master seed (see the module notes).
    chunk_size : int
        Simulations per Dask task.
    workers : int
        Worker processes of the LocalCluster (one thread each); ignored with ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); its workers need this
        package installed.
    designs : Mapping[str, FamilyDesign], optional
        Replace some families' designs (tests use smaller fits).
    alpha : float
        Level of each test after the Holm correction.
    checkpoints : path, optional
        Folder where every finished chunk is saved at once (:func:`save_chunk`); chunks found
        there with the same family, index, seeds, size and design are loaded instead of run,
        so a stopped run resumes where it stopped.
    run_pending : bool
        ``False``: run nothing, only test the chunks found in ``checkpoints`` (an interim
        report of a run still going, or of one that was stopped).
    progress : callable, optional
        Receives one line per finished chunk.
    """
    from dask.distributed import as_completed

    unknown = [f for f in families if f not in ALL_FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {list(ALL_FAMILIES)}")
    designs = {**FAMILY_DESIGNS, **(designs or {})}
    counts = (
        n_simulations
        if isinstance(n_simulations, Mapping)
        else dict.fromkeys(families, n_simulations)
    )
    tasks = [
        task
        for family in families
        for task in plan_chunks(family, counts[family], seed, chunk_size, designs[family])
    ]
    # The cheapest families first, so that a run stopped early (and resumable, see
    # ``checkpoints``) has whole families done; the joint model's chunks come last.
    cheapest_first = sorted(tasks, key=lambda t: (_COST_ORDER.index(t.family), t.chunk))
    started = time.perf_counter()
    by_family: dict[str, list[ChunkResult]] = {f: [] for f in families}
    pending = []
    for task in cheapest_first:
        saved = load_chunk(checkpoints, task) if checkpoints is not None else None
        if saved is None:
            pending.append(task)
        else:
            by_family[task.family].append(saved)
    if progress is not None and len(pending) < len(tasks):
        progress(f"resuming: {len(tasks) - len(pending)} of {len(tasks)} chunks already done")
    if pending and run_pending:
        with dask_client(workers, scheduler) as client:
            # Dask does not keep submission order by itself: explicit priorities do.
            # Each chunk in a new interpreter: a long-lived worker piles up what every fit
            # leaves behind (see grassroots._fresh_process). A child that died is tried again.
            task_of = {
                client.submit(
                    call_in_fresh_process,
                    run_chunk,
                    task,
                    pure=False,
                    key=f"sbc-{task.family}-{task.chunk}",
                    priority=len(pending) - position,
                    retries=1,
                ): task
                for position, task in enumerate(pending)
            }
            for done, future in enumerate(as_completed(list(task_of)), start=1):
                try:
                    result = future.result()
                except Exception as error:  # a crashed child, twice: a failed chunk
                    task = task_of[future]
                    result = ChunkResult(
                        task.family, task.chunk, task.seed, pd.DataFrame(), pd.DataFrame(),
                        time.time(), 0.0, error=f"{type(error).__name__}: {error}",
                    )  # fmt: skip
                by_family[result.family].append(result)
                if checkpoints is not None and result.error is None:
                    save_chunk(checkpoints, task_of[future], result)
                if progress is not None:
                    status = "FAILED" if result.error else "ok"
                    progress(
                        f"[{time.perf_counter() - started:7.0f} s] {done}/{len(task_of)} "
                        f"{result.family} chunk {result.chunk}: {status} in "
                        f"{result.seconds:.0f} s"
                    )
    wall = time.perf_counter() - started
    results = {}
    for family in families:
        if not by_family[family]:
            continue  # a report of saved chunks only, none of this family's yet
        result = family_result(family, by_family[family], seed, alpha)
        design = designs[family]
        result.settings = {
            "spec": dict(design.table),
            "data_size": vars(design.size),
            "kept_draws_bounds": [design.min_kept, design.max_kept],
            "data_from": "OutcomeSimulator" if design.simulated else "PyMC prior predictive",
            "n_simulations_requested": counts[family],
        }
        results[family] = result
    settings = {
        "families": list(families),
        "n_simulations": counts,
        "chunk_size": chunk_size,
        "workers": workers if scheduler is None else None,
        "scheduler": scheduler,
        "alpha": alpha,
        "correction": "Holm over the quantities of each family",
        "test": "arviz_stats uniformity_test, method pot_c, on randomised PIT (rank + U) / (L + 1)",
        "data_seed": data_seed(seed),
        "chunks_resumed": len(tasks) - len(pending),
        # From the first chunk's start to the last one's end, over resumed invocations too.
        "chunks_span_seconds": _span([r for rs in by_family.values() for r in rs]),
        "chunks_not_run": 0 if run_pending else len(pending),
    }
    return SBCResult(results, seed, settings, wall)


def _time_line(result: SBCResult) -> str:
    # The campaign's cost, not this invocation's: a report of resumed chunks takes seconds.
    worker_hours = sum(r.worker_seconds for r in result.families.values()) / 3600
    span_hours = result.settings.get("chunks_span_seconds", result.wall_seconds) / 3600
    return (
        f"Seed {result.seed}; the chunks ran over {span_hours:.1f} h, from the first one's start "
        f"to the last one's end (resumed runs included), {worker_hours:.1f} worker-hours in all."
    )


def _span(results: Sequence[ChunkResult]) -> float:
    if not results:
        return 0.0
    return float(max(r.started + r.seconds for r in results) - min(r.started for r in results))


def _chunk_identity(task: ChunkTask) -> dict[str, Any]:
    design = json.dumps(dataclasses.asdict(task.design), sort_keys=True, default=str)
    return {
        "family": task.family,
        "chunk": task.chunk,
        "n_simulations": task.n_simulations,
        "seed": task.seed,
        "data_seed": task.data_seed,
        "design": hashlib.sha256(design.encode()).hexdigest(),
    }


def chunk_path(folder: str | Path, task: ChunkTask) -> Path:
    return Path(folder) / f"{task.family}-{task.chunk:03d}.json"


def save_chunk(folder: str | Path, task: ChunkTask, result: ChunkResult) -> Path:
    """Save a finished chunk (atomically), with what identifies it, as JSON."""
    payload = {
        **_chunk_identity(task),
        "started": result.started,
        "seconds": result.seconds,
        "ranks": result.ranks.to_dict(orient="split"),
        "fits": result.fits.to_dict(orient="split"),
    }
    target = chunk_path(folder, task)
    write_text_atomic(target, json.dumps(payload, default=_json_scalar) + "\n")
    return target


def load_chunk(folder: str | Path, task: ChunkTask) -> ChunkResult | None:
    """A chunk saved by :func:`save_chunk` for this very task, or ``None``."""
    path = chunk_path(folder, task)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if any(payload.get(k) != v for k, v in _chunk_identity(task).items()):
        return None
    return ChunkResult(
        task.family,
        task.chunk,
        task.seed,
        pd.DataFrame(**payload["ranks"]),
        pd.DataFrame(**payload["fits"]),
        float(payload["started"]),
        float(payload["seconds"]),
    )


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# ---------------------------------------------------------------------------------------------
# Output


def _markdown(table: pd.DataFrame) -> str:
    header = "| family | quantity | n_sims | p-value | adjusted p-value | result |"
    lines = [header, "| --- | --- | ---: | ---: | ---: | --- |"]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.family} | `{row.quantity}` | {row.n_sims} | {row.p_value:.4f} | "
            f"{row.p_adjusted:.4f} | {'pass' if row.passed else '**FAIL**'} |"
        )
    return "\n".join(lines)


def family_summary(result: FamilyResult) -> dict[str, Any]:
    """Counts and diagnostics of one family, for the Markdown report and the JSON record."""
    fits = result.fits
    summary: dict[str, Any] = {
        "n_sims": len(result.ranks),
        "n_quantities": len(result.pit.columns),
        "n_failed_quantities": int((~result.tests["passed"]).sum()) if len(result.tests) else 0,
        "chunks": result.n_chunks,
        "failed_chunks": len(result.failures),
        "worker_seconds": round(result.worker_seconds, 1),
        "span_seconds": round(result.span_seconds, 1),
    }
    if "max_rhat" in fits:
        summary |= {
            "max_rhat_max": round(float(fits["max_rhat"].max()), 3),
            f"share_fits_rhat_above_{RHAT_MAX:g}": round(
                float((fits["max_rhat"] > RHAT_MAX).mean()), 3
            ),
        }
    if len(fits):
        summary |= {
            "seconds_per_fit_median": round(float(fits["seconds"].median()), 2),
            "cpu_seconds_per_fit_median": round(float(fits["cpu_seconds"].median()), 2),
            "most_often_lowest_ess": fits["min_ess_quantity"].value_counts().head(3).to_dict(),
            "kept_draws_median": float(fits["kept_draws"].median()),
            "kept_draws_min": int(fits["kept_draws"].min()),
            "min_ess_bulk_median": round(float(fits["min_ess_bulk"].median()), 1),
            # Fits whose ESS fell below the fewest draws kept: their ranks are less independent.
            "share_fits_ess_below_kept": round(
                float((fits["min_ess_bulk"] < fits["kept_draws"]).mean()), 3
            ),
            "fits_with_divergences": int((fits["divergences"] > 0).sum()),
            "divergences_total": int(fits["divergences"].sum()),
        }
    return summary


def plot_family(result: FamilyResult, target: str | Path, alpha: float = ALPHA) -> None:
    """Δ-ECDF of the PIT values of every quantity (arviz_plots ``plot_ecdf_pit``), as PNG."""
    import matplotlib.pyplot as plt
    from arviz_base import from_dict, rc_context
    from arviz_plots import plot_ecdf_pit

    tree = from_dict({"prior_sbc": {c: result.pit[c].to_numpy()[None, :] for c in result.pit}})
    n = len(result.pit.columns)
    cols = min(5, n)
    rows = math.ceil(n / cols)
    # The joint model has more quantities than arviz_plots' default cap of 40 panels.
    with rc_context({"plot.max_subplots": max(40, n)}):
        plot = _plot_ecdf_pit(plot_ecdf_pit, tree, cols, rows, alpha)
    figure = plot.viz["figure"].item()
    figure.suptitle(
        f"SBC {result.family}: Δ-ECDF of randomised PIT ({len(result.pit)} simulations); "
        "p: pot_c, unadjusted",
        fontsize=11,
    )
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)


def _plot_ecdf_pit(plot_ecdf_pit, tree, cols: int, rows: int, alpha: float):
    return plot_ecdf_pit(
        tree,
        group="prior_sbc",
        method="pot_c",
        envelope_prob=1 - alpha,
        backend="matplotlib",
        col_wrap=cols,
        # Labels like township_corr[demand_fit, short_sighted] need small type to fit.
        visuals={"title": {"size": 8}, "xlabel": {"size": 8}, "p_value_text": {"size": 8}},
        figure_kwargs={"figsize": (3.4 * cols, 2.3 * rows + 0.6)},
    )


def write_results(result: SBCResult, out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write the tables, ranks, fit diagnostics and plots of a run into ``out`` (atomically).

    Files: ``sbc_results.csv`` and ``sbc_results.md`` (all families), and per family
    ``sbc_<family>_ranks.csv``, ``sbc_<family>_fits.csv`` and ``sbc_<family>_ecdf.png``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    written: list[Path] = []

    def text(name: str, content: str) -> None:
        write_text_atomic(out / name, content)
        written.append(out / name)

    table = result.table
    columns = ["family", "quantity", "n_sims", "p_value", "p_adjusted", "passed"]
    text(
        "sbc_results.csv",
        (table if len(table) else pd.DataFrame(columns=columns)).to_csv(
            index=False, float_format="%.6g"
        ),
    )
    lines = [
        "# Simulation-based calibration",
        "",
        "Written by `analysis/validation/sbc.py` (see `grassroots.validation.sbc`). Prior SBC "
        "with simuk; ranks of thinned posterior draws; randomised PIT tested with ArviZ's "
        f"`pot_c`; Holm correction over the quantities of each family; alpha = "
        f"{result.settings.get('alpha', ALPHA)}.",
        "",
        _time_line(result),
        "",
    ]
    if result.settings.get("chunks_not_run"):
        lines += [
            f"**Interim report**: {result.settings['chunks_not_run']} chunk(s) not run yet; a "
            "family's tests cover the simulations of its finished chunks only.",
            "",
        ]
    lines += [
        "| family | sims | quantities | failed | median kept draws (L) | median min ESS "
        "| fits ESS < L | fits with divergences | s per fit | worker min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for family, family_res in result.families.items():
        s = family_summary(family_res)
        lines.append(
            f"| {family} | {s['n_sims']} | {s['n_quantities']} | {s['n_failed_quantities']} | "
            f"{s.get('kept_draws_median', '')} | {s.get('min_ess_bulk_median', '')} | "
            f"{s.get('share_fits_ess_below_kept', '')} | {s.get('fits_with_divergences', '')} | "
            f"{s.get('seconds_per_fit_median', '')} | {s['worker_seconds'] / 60:.1f} |"
        )
    for family, family_res in result.families.items():
        for failure in family_res.failures:
            lines += ["", f"{family}: {failure.splitlines()[0]}"]
    lines += ["", _markdown(table) if len(table) else "(no results)", ""]
    text("sbc_results.md", "\n".join(lines))
    for family, family_res in result.families.items():
        text(f"sbc_{family}_ranks.csv", family_res.ranks.to_csv(index=False))
        text(f"sbc_{family}_fits.csv", family_res.fits.to_csv(index=False, float_format="%.6g"))
        if plots and len(family_res.pit):
            target = out / f"sbc_{family}_ecdf.png"
            plot_family(family_res, target, result.settings.get("alpha", ALPHA))
            written.append(target)
    return written
