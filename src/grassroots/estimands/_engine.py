"""The g-computation engine shared by contrasts, mediation, heterogeneity and the truth.

A *model* (a posterior fit, or the simulator's true parameters) predicts, for every draw and
every row of a covariate table, each outcome's quantities (S(t); P(Y >= k) and E[Y]; P(Y = 1))
with the outcome's *mediator parents* set to given 0/1 values. The engine turns these into
averages over rows (overall or within groups) under a *regime*: which covariate table
(status quo or a scenario) each outcome model and each mediator model sees.

Mediators are the binary outcomes of the same model that other outcomes use as predictors
(extensive, expedient, short_sighted in the structural spec). Given covariates and group
effects they are conditionally independent except through their own arrows (short_sighted
depends on the two strategies), so for an outcome ``Y`` with mediator ancestors ``A`` (in causal
order) and mediator parents ``pa(Y)``::

    E[Y | regime] = sum_{m in {0,1}^A} prod_{j in A} P(M_j = m_j | x_{r(j)}, m_pa(j)) *
                    E[Y | x_{r(Y)}, m_pa(Y)]

exactly: no Monte-Carlo draw of a mediator. ``r(j)`` is the table the regime gives mediator
``j``'s model, ``r(Y)`` the table of the outcome's own model. Everything is vectorised over
draws and rows; draws are processed in chunks of whole draws (all chains) so that memory stays
bounded by ``EstimandSettings.max_cells`` (draws x rows per chunk), on
``EstimandSettings.workers`` threads, chunk results joined in draw order. A fit loaded lazily
(a national-size bundle) is read chunk by chunk.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numba
import numpy as np
import pandas as pd
import xarray as xr
from threadpoolctl import threadpool_limits

from grassroots.estimands.errors import EstimandError
from grassroots.estimands.settings import EstimandSettings
from grassroots.models.builder import FAMILIES, group_effect_draws, group_rows, stack_draws
from grassroots.models.design import Scaling, design_matrix, late_design_matrix
from grassroots.models.spec import ModelSpec, OutcomeSpec
from grassroots.models.survival import total_hazard

GROUP_EFFECTS = ("fitted", "new", "none")
MEDIATOR_MODES = ("modelled", "observed")
STATUS_QUO = "status_quo"
# Posterior variables read lazily from a bundle are read whole when at most this large (the
# coefficients, county effects ...), else a chunk of draws at a time (the township effects).
_EAGER_BYTES = 256 * 2**20
# Groupings with at most this many groups average by a batched matrix product (draws x groups x
# rows weights); larger ones (townships) by sorted sums.
_MATMUL_GROUPS = 16


# ---------------------------------------------------------------------------------------------
# What a model tells the engine


@dataclass(frozen=True)
class OutcomeInfo:
    """One outcome as the engine sees it.

    Attributes
    ----------
    name : str
    family : {"survival", "ordinal", "logistic"}
    quantities : tuple of str
        Labels of the predicted quantities, e.g. ``("S(12)", "S(24)", "S(36)")``,
        ``("P(>=4)", "E")`` or ``("P",)``.
    parents : tuple of str
        Modelled mediators that are predictors of this outcome (causal order).
    ancestors : tuple of str
        Modelled mediators upstream of this outcome (causal order; contains ``parents``).
    predictors : tuple of str
        The covariate columns the outcome's model reads (sorted).
    """

    name: str
    family: str
    quantities: tuple[str, ...]
    parents: tuple[str, ...] = ()
    ancestors: tuple[str, ...] = ()
    predictors: tuple[str, ...] = ()


class Chunk(Protocol):
    """Draws of one chunk: ``n_chains * n_draws`` samples, chain-major."""

    n_chains: int
    n_draws: int


class Model(Protocol):
    """What the engine needs from a model (see :class:`FitModel` and the truth model)."""

    name: str
    group_effects: str
    scaling: Scaling | None
    mediators: tuple[str, ...]
    mediator_columns: Mapping[str, str]
    outcomes: Mapping[str, OutcomeInfo]

    def predictors(self) -> set[str]:
        """Every covariate column the model reads."""

    def prepare(self, frame: pd.DataFrame) -> Any:
        """Per-table state reused across chunks (design matrices ...)."""

    def chunks(self, frame: pd.DataFrame, max_cells: int) -> Iterator[Chunk]:
        """Chunks of draws, with the group effects of ``frame``'s rows drawn once per chunk."""

    def predict(
        self, chunk: Chunk, state: Any, outcome: str, values: Mapping[str, int]
    ) -> np.ndarray:
        """Quantities (S, rows, Q) of ``outcome`` with its mediator parents set to ``values``."""


def quantity_labels(family: str, times: Sequence[float], threshold: int | float) -> tuple[str, ...]:
    """Labels of the quantities the engine reports for a family."""
    if family == "survival":
        return tuple(f"S({t:g})" for t in times)
    if family == "ordinal":
        return (f"P(>={threshold:g})", "E")
    return ("P",)


def mediator_graph(
    uses: Mapping[str, set[str]], binary_columns: Mapping[str, str]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Mediators in causal order, each outcome's mediator parents and ancestors.

    Parameters
    ----------
    uses : Mapping[str, set of str]
        Outcome -> the columns its model reads.
    binary_columns : Mapping[str, str]
        Binary outcomes -> their column.

    Returns
    -------
    mediators, parents, ancestors
    """
    mediators = {
        name
        for name, column in binary_columns.items()
        if any(column in columns for other, columns in uses.items() if other != name)
    }
    parents = {
        name: {m for m in mediators if m != name and binary_columns[m] in columns}
        for name, columns in uses.items()
    }
    order: list[str] = []
    pending = set(mediators)
    while pending:
        ready = sorted(m for m in pending if parents[m] <= set(order))
        if not ready:
            raise EstimandError(
                f"the mediators {sorted(pending)} predict each other in a cycle; g-computation "
                "needs a causal order"
            )
        # Sorted by the outcomes' order within a stage, so the order is reproducible.
        stage = [m for m in uses if m in ready]
        order += stage
        pending -= set(stage)
    position = {m: k for k, m in enumerate(order)}

    def ancestors_of(name: str) -> set[str]:
        found: set[str] = set()
        stack = list(parents[name])
        while stack:
            m = stack.pop()
            if m not in found:
                found.add(m)
                stack += parents[m]
        return found

    def by_order(names: set[str]) -> tuple[str, ...]:
        return tuple(sorted(names, key=position.__getitem__))

    return (
        tuple(order),
        {name: by_order(p) for name, p in parents.items()},
        {name: by_order(ancestors_of(name)) for name in uses},
    )


# ---------------------------------------------------------------------------------------------
# A posterior fit as a model


@dataclass
class _FitChunk:
    n_chains: int
    n_draws: int
    beta: dict[str, np.ndarray | None]
    params: dict[str, dict[str, np.ndarray]]
    effects: dict[str, np.ndarray]
    # X_ref @ beta + group effects, per outcome: the linear predictor of the reference design.
    eta: dict[str, np.ndarray]
    # Survival outcomes: baseline hazards per outcome, and total hazards (late effects
    # included) per (table, outcome, late-effect values), shared by the mediator values that
    # leave the late effects alone.
    baselines: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    totals: dict[tuple[int, str, tuple[int, ...]], np.ndarray] = field(default_factory=dict)
    # exp(+-linear predictor) per (table, outcome, base key): the one exponential per row that
    # all mediator values share when they move the linear predictor by a per-draw constant
    # (see _Design); a logistic or ordinal probability is then a product, a sum and a division.
    exponentials: dict[tuple[int, str, tuple[int, ...]], np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class _Design:
    """How a table with some mediator parents set differs from the reference design.

    The linear predictor is ``eta_ref + beta[:, columns] @ difference.T`` (row by row) plus
    ``beta[:, shift_columns] @ shift`` (the same for every row). When no mediator parent enters
    an interaction, the mediators' design columns are the same in every row, so the row-varying
    part is the table's design with the parents at 0 (``base_key == ()``, shared by every
    mediator value) and the mediator values only shift it; otherwise the row-varying part is
    the design of these mediator values (``base_key`` = the values) and ``shift`` is empty.
    """

    base_key: tuple[int, ...]
    columns: np.ndarray
    difference: np.ndarray
    shift_columns: np.ndarray
    shift: np.ndarray
    # Survival outcomes with late effects: the late design matrix (one row when it is the same
    # for every row), and the values of the mediator parents it depends on (its cache key).
    late_key: tuple[int, ...] = ()
    late_matrix: np.ndarray | None = None


@dataclass
class _FitState:
    # Only the columns the model reads: the designs set mediator columns on copies of it.
    frame: pd.DataFrame
    designs: dict[tuple[str, tuple[int, ...]], _Design] = field(default_factory=dict)
    # (outcome, base key) -> (columns, difference) of the row-varying part of _Design.
    bases: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )
    # (outcome, late key) -> the late design matrix.
    late: dict[tuple[str, tuple[int, ...]], np.ndarray] = field(default_factory=dict)


class FitModel:
    """A :class:`grassroots.inference.Fit` as an engine model.

    Parameters
    ----------
    fit : Fit
    group_effects : {"fitted", "new", "none"}
        ``fitted``: the posterior effects of the fitted counties and townships; ``new``: drawn
        anew from the fitted group distribution for every draw (one draw per group, shared by
        its rows and by every regime, so contrasts compare like with like); ``none``: zero.
    mediators : {"modelled", "observed"}
        ``modelled``: binary outcomes of the fit that predict other outcomes respond to the
        scenario (exact averaging over their values); ``observed``: every predictor, strategies
        included, is held at its value in the table.
    settings : EstimandSettings, optional
        Its ``seed`` (new group effects; default: the fit's seed), ``thin``, ``times`` and
        ``threshold`` are used.
    """

    def __init__(
        self,
        fit: Any,
        *,
        group_effects: str = "fitted",
        mediators: str = "modelled",
        settings: EstimandSettings | None = None,
    ) -> None:
        _check_choice("group_effects", group_effects, GROUP_EFFECTS)
        _check_choice("mediators", mediators, MEDIATOR_MODES)
        settings = settings or EstimandSettings()
        self.fit = fit
        self.spec: ModelSpec = fit.spec
        self.name = fit.spec.name
        self.scaling = fit.scaling
        self.group_effects = group_effects
        self.times = settings.times
        self.threshold = settings.threshold
        self.thin = settings.thin
        self.posterior = fit.posterior.isel(draw=slice(None, None, settings.thin))
        self.seed = fit.seed if settings.seed is None else settings.seed
        self.coords: dict[str, list[Any]] = {
            k: list(v) for k, v in (getattr(fit, "model_coords", None) or {}).items()
        }
        self.coords |= {k: list(v.values) for k, v in self.posterior.coords.items()}
        uses = {o.name: {*o.predictors, *o.time_varying} for o in self.spec.outcomes}
        binary = {o.name: o.columns["column"] for o in self.spec.outcomes if o.family == "logistic"}
        if mediators == "modelled":
            order, parents, ancestors = mediator_graph(uses, binary)
        else:
            order, parents, ancestors = (), {n: () for n in uses}, {n: () for n in uses}
        self.mediators = order
        self.mediator_columns = {m: binary[m] for m in order}
        self._spec_outcomes = {o.name: o for o in self.spec.outcomes}
        self.outcomes = {
            o.name: OutcomeInfo(
                o.name,
                o.family,
                quantity_labels(o.family, self.times, self.threshold),
                parents[o.name],
                ancestors[o.name],
                tuple(sorted(uses[o.name])),
            )
            for o in self.spec.outcomes
        }
        for o in self.spec.outcomes:
            if o.family == "ordinal":
                self._threshold_index(o)

    def predictors(self) -> set[str]:
        return {c for o in self.spec.outcomes for c in (*o.predictors, *o.time_varying)}

    def _levels(self, outcome: OutcomeSpec) -> list[Any]:
        """The ordinal outcome's levels (from the fit's coordinates, else from the spec)."""
        levels = list(self.coords.get(f"{outcome.name}_level", outcome.levels or ()))
        if not levels:
            raise EstimandError(
                f"the fit does not record the levels of the ordinal outcome {outcome.name!r} "
                f"(coordinate '{outcome.name}_level'); give them in the spec"
            )
        return levels

    def _threshold_index(self, outcome: OutcomeSpec) -> int:
        levels = self._levels(outcome)
        matches = [k for k, level in enumerate(levels) if float(level) == float(self.threshold)]
        if not matches:
            raise EstimandError(
                f"threshold {self.threshold!r} is not a level of the ordinal outcome "
                f"{outcome.name!r} (levels: {levels})"
            )
        return matches[0]

    def prepare(self, frame: pd.DataFrame) -> _FitState:
        wanted = self.predictors()
        columns = [c for c in frame.columns if c in wanted]
        frame = frame.reset_index(drop=True)[columns]
        # Text columns as pandas categoricals: every design (one per table and mediator value)
        # then encodes a few categories instead of hashing every row's text.
        text = {
            column: frame[column].astype("category")
            for column in columns
            if isinstance(frame[column].dtype, np.dtypes.ObjectDType | pd.StringDtype)
            and not frame[column].isna().any()
        }
        return _FitState(frame.assign(**text) if text else frame)

    def _draw_variables(self) -> list[str]:
        """The posterior variables the predictions read (a bundle holds more: ``z`` ...)."""
        names: list[str] = []
        for outcome in self.spec.outcomes:
            names.append(f"{outcome.name}_beta")
            names += FAMILIES[outcome.family].parameter_names(outcome)
        if self.group_effects != "none":
            for level in self.spec.groups:
                if level.name == self.spec.correlated:
                    names += [f"{level.name}_{part}" for part in ("effect", "sd", "corr")]
                else:
                    names += [
                        f"{o.name}_{part}_{level.name}"
                        for o in self.spec.outcomes
                        for part in ("effect", "sd")
                    ]
        return [name for name in dict.fromkeys(names) if name in self.posterior]

    def _chunk_source(self, per_chunk: int, most: int) -> tuple[xr.Dataset, list[str], int]:
        """The posterior to slice chunks from, its lazily read variables, and draws per chunk.

        A posterior read lazily from a bundle (:meth:`Fit.load`) stays on disk: variables up to
        ``_EAGER_BYTES`` are read once here, larger ones (the township effects: draws x
        townships x outcomes) a chunk of draws at a time, in whole storage chunks when that
        keeps a chunk within ``most`` draws, so that a chunk decompresses only what it uses and
        memory stays bounded.
        """
        selected = self.posterior[self._draw_variables()]
        lazy = [
            name
            for name, variable in selected.data_vars.items()
            if not getattr(variable.variable, "_in_memory", True) and variable.nbytes > _EAGER_BYTES
        ]
        eager = [name for name in selected.data_vars if name not in lazy]
        selected = selected.assign({name: selected[name].compute() for name in eager})
        step = 1
        for name in lazy:
            stored = selected[name].encoding.get("preferred_chunks", {}).get("draw")
            if stored and self.thin == 1:
                step = int(np.lcm(step, int(stored)))
        if 1 < step <= most:
            per_chunk = max(step, per_chunk // step * step)
        return selected, lazy, per_chunk

    def chunks(self, frame: pd.DataFrame, max_cells: int) -> Iterator[_FitChunk]:
        frame = frame.reset_index(drop=True)
        # The reference design (``frame`` with every mediator parent at 0): one full product
        # with the coefficients per chunk; every other table and mediator value adds only the
        # few design columns in which it differs (scenario and mediator columns, interactions).
        reference = self.prepare(frame)
        self._reference_frame = reference.frame
        self._reference = {
            o.name: self._matrix(
                self._with_parents(
                    reference.frame, o, dict.fromkeys(self.outcomes[o.name].parents, 0)
                ),
                o,
            )
            for o in self.spec.outcomes
        }
        # (outcome, mediator values) -> the design shift of the values (see _Design): the same
        # in every table.
        self._shifts: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        chains, draws = self.posterior.sizes["chain"], self.posterior.sizes["draw"]
        per_chunk = max(1, max_cells // max(1, len(frame) * chains))
        # Storage chunks may stretch a chunk up to 4x max_cells (a chunk is one draw per chain
        # at national size, as is a stored chunk of the township effects).
        most = max(1, 4 * max_cells // max(1, len(frame) * chains))
        source, lazy, per_chunk = self._chunk_source(per_chunk, most)
        # Each row's groups, once: the string keys of every row cost more than a chunk's gather.
        rows = group_rows(
            self.spec,
            source,
            frame,
            composite=self.fit.composite,
            group_effects=self.group_effects,
        )
        for start in range(0, draws, per_chunk):
            posterior = source.isel(draw=slice(start, start + per_chunk))
            if lazy:
                posterior = posterior.compute()
            effects = group_effect_draws(
                self.spec,
                posterior,
                None,
                composite=self.fit.composite,
                group_effects=self.group_effects,
                seed=self.seed,
                rows=rows,
            )
            beta: dict[str, np.ndarray | None] = {}
            params: dict[str, dict[str, np.ndarray]] = {}
            eta: dict[str, np.ndarray] = {}
            for outcome in self.spec.outcomes:
                name = f"{outcome.name}_beta"
                beta[outcome.name] = stack_draws(posterior, name) if name in posterior else None
                family = FAMILIES[outcome.family]
                params[outcome.name] = {
                    p: stack_draws(posterior, p) for p in family.parameter_names(outcome)
                }
                matrix = self._reference[outcome.name]
                eta[outcome.name] = effects[outcome.name]
                if beta[outcome.name] is not None and matrix.shape[1]:
                    eta[outcome.name] = eta[outcome.name] + beta[outcome.name] @ matrix.T
            yield _FitChunk(chains, posterior.sizes["draw"], beta, params, effects, eta)

    def _matrix(self, frame: pd.DataFrame, outcome: OutcomeSpec) -> np.ndarray:
        """The outcome's design matrix of ``frame``, columns in the posterior's term order."""
        terms, matrix = design_matrix(frame, outcome, self.scaling)
        coords = list(self.coords.get(f"{outcome.name}_term", terms))
        if terms and list(terms) != coords:
            # Align the design with the order of the posterior's coefficients.
            matrix = matrix[:, [list(terms).index(term) for term in coords]]
        return matrix

    def _with_parents(
        self, frame: pd.DataFrame, outcome: OutcomeSpec, values: Mapping[str, int]
    ) -> pd.DataFrame:
        parents = self.outcomes[outcome.name].parents
        if not parents:
            return frame
        return frame.assign(**{self.mediator_columns[m]: int(values[m]) for m in parents})

    def _shifts_only(self, outcome: OutcomeSpec) -> bool:
        """Whether the mediator parents move the outcome's design by the same amount in every
        row: a column's own design columns depend on its value only; interactions multiply
        them by other columns."""
        columns = {self.mediator_columns[m] for m in self.outcomes[outcome.name].parents}
        return not any(columns & set(parts) for parts in outcome.interactions)

    def _design(self, state: _FitState, outcome: OutcomeSpec, values: Mapping[str, int]) -> _Design:
        parents = self.outcomes[outcome.name].parents
        given = tuple(int(values[m]) for m in parents)
        key = (outcome.name, given)
        if key in state.designs:
            return state.designs[key]
        zeros = dict.fromkeys(parents, 0)
        first_row = state.frame.iloc[:1]
        if parents and len(first_row) and self._shifts_only(outcome):
            base_key: tuple[int, ...] = ()
            base_values: Mapping[str, int] = zeros
            if key not in self._shifts:
                self._shifts[key] = (
                    self._matrix(self._with_parents(first_row, outcome, values), outcome)
                    - self._matrix(self._with_parents(first_row, outcome, zeros), outcome)
                )[0]
            shift = self._shifts[key]
        else:
            base_key, base_values = given, values
            shift = np.zeros(self._reference[outcome.name].shape[1])
        if (outcome.name, base_key) not in state.bases:
            state.bases[(outcome.name, base_key)] = self._difference(
                state.frame, outcome, base_values
            )
        columns, difference = state.bases[(outcome.name, base_key)]
        shift_columns = np.flatnonzero(shift != 0)
        late_key: tuple[int, ...] = ()
        late_matrix = None
        if outcome.family == "survival" and outcome.time_varying:
            late_key = tuple(
                int(values[m]) for m in parents if self.mediator_columns[m] in outcome.time_varying
            )
            if (outcome.name, late_key) not in state.late:
                mediator_columns = {self.mediator_columns[m] for m in parents}
                # Late effects of mediators only are the same in every row: one row suffices.
                rows = (
                    first_row
                    if len(first_row) and set(outcome.time_varying) <= mediator_columns
                    else state.frame
                )
                state.late[(outcome.name, late_key)] = late_design_matrix(
                    self._with_parents(rows, outcome, values), outcome, self.scaling
                )[1]
            late_matrix = state.late[(outcome.name, late_key)]
        state.designs[key] = _Design(
            base_key,
            columns,
            difference,
            shift_columns,
            shift[shift_columns],
            late_key,
            late_matrix,
        )
        return state.designs[key]

    def _difference(
        self, frame: pd.DataFrame, outcome: OutcomeSpec, values: Mapping[str, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The design columns in which ``frame`` with the mediator parents set to ``values``
        differs from the reference design (parents at 0), and the difference (rows x columns).

        Only the predictors whose values differ, and the interactions that use them, are
        encoded (a design is one block per predictor, an interaction the product of its parts'
        blocks): a scenario changes a column or two, and encoding every column of every table
        took most of a national-size set-up.
        """
        reference = self._reference_frame
        parents = self.outcomes[outcome.name].parents
        given = {self.mediator_columns[m]: int(values[m]) for m in parents}
        changed = {
            c
            for c in outcome.predictors
            if (given[c] != 0 if c in given else not frame[c].equals(reference[c]))
        }
        n = len(frame)
        if not changed:
            return np.zeros(0, dtype=np.int64), np.zeros((n, 0))
        order = self.coords.get(f"{outcome.name}_term")
        if order is None:
            difference = (
                self._matrix(self._with_parents(frame, outcome, values), outcome)
                - self._reference[outcome.name]
            )
            columns = np.flatnonzero(np.any(difference != 0, axis=0))
            return columns, difference[:, columns]
        interactions = tuple(parts for parts in outcome.interactions if changed & set(parts))
        used = changed.union(*map(set, interactions))
        reduced = dataclasses.replace(
            outcome,
            predictors=tuple(c for c in outcome.predictors if c in used),
            interactions=interactions,
        )
        columns = list(reduced.predictors)
        terms, matrix = design_matrix(
            frame[columns].assign(**{c: v for c, v in given.items() if c in used}),
            reduced,
            self.scaling,
        )
        _, before = design_matrix(
            reference[columns].assign(**{c: 0 for c in given if c in used}),
            reduced,
            self.scaling,
        )
        difference = matrix - before
        positions = np.array([list(order).index(term) for term in terms], dtype=np.int64)
        kept = np.flatnonzero(np.any(difference != 0, axis=0))
        # In the order of the posterior's terms, as the whole design would give them.
        kept = kept[np.argsort(positions[kept], kind="stable")]
        return positions[kept], difference[:, kept]

    def _exponential(
        self, chunk: _FitChunk, state: _FitState, spec: OutcomeSpec, design: _Design
    ) -> np.ndarray:
        """``exp(eta)`` (survival) or ``exp(-eta)`` (ordinal; logistic with its intercept) of
        the row-varying part of the linear predictor, once per chunk, table and base."""
        outcome = spec.name
        key = (id(state), outcome, design.base_key)
        if key not in chunk.exponentials:
            eta = chunk.eta[outcome]
            linear = None
            if design.columns.size:
                linear = eta + chunk.beta[outcome][:, design.columns] @ design.difference.T
            if spec.family == "logistic":
                intercept = chunk.params[outcome][f"{outcome}_intercept"][:, None]
                linear = (
                    eta + intercept if linear is None else np.add(linear, intercept, out=linear)
                )
            sign = 1.0 if spec.family == "survival" else -1.0
            # A fresh array either way: chunk.eta is shared by every table.
            linear = (
                np.multiply(eta, sign) if linear is None else np.multiply(linear, sign, out=linear)
            )
            chunk.exponentials[key] = np.exp(linear, out=linear)
        return chunk.exponentials[key]

    def predict(
        self, chunk: _FitChunk, state: _FitState, outcome: str, values: Mapping[str, int]
    ) -> np.ndarray:
        spec = self._spec_outcomes[outcome]
        design = self._design(state, spec, values)
        exponential = self._exponential(chunk, state, spec, design)
        shift = None
        if design.shift_columns.size:
            shift = chunk.beta[outcome][:, design.shift_columns] @ design.shift
        params = chunk.params[outcome]
        # Binary and ordinal outcomes in closed form (the maths of LogisticFamily.predict and
        # OrdinalFamily.predict, which a test holds them to): these are most of the predictions,
        # and the families' predict also builds every category's probability.
        if spec.family == "logistic":
            # expit(a + eta + shift) = 1 / (1 + exp(-(a + eta)) exp(-shift)).
            factor = None if shift is None else np.exp(-shift)
            return _inverse_one_plus(exponential, factor)[..., None]
        if spec.family == "ordinal":
            levels = np.asarray(self._levels(spec), dtype=float)
            cuts = params[f"{outcome}_cutpoints"]  # (S, K-1)
            # P(Y > level_j) = expit(eta + shift - c_j) = 1 / (1 + exp(-eta) exp(c_j - shift)).
            factors = np.exp(cuts if shift is None else cuts - shift[:, None])
            result = np.empty((exponential.shape[0], 2, exponential.shape[1]))
            _ordinal_kernel(exponential, factors, levels, self._threshold_index(spec), result)
            return result.transpose(0, 2, 1)
        # Survival: SurvivalFamily.predict's maths, with the baseline computed once per chunk
        # and the total hazard once per table and late-effect values (not per mediator value).
        family = FAMILIES["survival"]
        if outcome not in chunk.baselines:
            chunk.baselines[outcome] = family.baseline_hazards(spec, params, self.times)
        cumulative, early = chunk.baselines[outcome]
        key = (id(state), outcome, design.late_key)
        if key not in chunk.totals:
            late_eta = None
            if design.late_matrix is not None:
                late_eta = params[f"{outcome}_beta_late"] @ design.late_matrix.T
            chunk.totals[key] = total_hazard(cumulative, early, late_eta)
        return _survival(exponential, chunk.totals[key], None if shift is None else np.exp(shift))


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _ordinal_kernel(exponential, factors, levels, threshold, out):  # pragma: no cover - compiled
    """P(Y >= levels[threshold]) and E[Y] from ``exp(-eta)`` (S, n) and ``exp(c_j - shift)``
    (S, K-1) into ``out`` (S, 2, n), with P(Y > level_j) = 1 / (1 + exp(-eta) exp(c_j - shift))
    and E[Y] = level_1 + sum_j (level_{j+1} - level_j) P(Y > level_j).

    Two array passes per cut-point instead of numpy's five, and no transcendental function
    (the exponentials come from numpy's vector exp). The loops run over one draw's rows at a
    time, and numpy's error model (no zero-division check): both keep them vectorised.
    """
    for s in range(exponential.shape[0]):
        row = exponential[s]
        at_least = out[s, 0]
        expected = out[s, 1]
        for i in range(row.shape[0]):
            at_least[i] = 1.0
            expected[i] = levels[0]
        for j in range(factors.shape[1]):
            factor = factors[s, j]
            step = levels[j + 1] - levels[j]
            if j == threshold - 1:
                for i in range(row.shape[0]):
                    above = 1.0 / (1.0 + row[i] * factor)
                    at_least[i] = above
                    expected[i] += step * above
            else:
                for i in range(row.shape[0]):
                    expected[i] += step * (1.0 / (1.0 + row[i] * factor))


def _inverse_one_plus(exponential: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """``1 / (1 + exponential * factor)`` (S, n), ``factor`` per draw (S,): expit with the
    exponential of the rows shared by every mediator value."""
    out = np.empty_like(exponential)
    if factor is None:
        np.add(exponential, 1.0, out=out)
        return np.divide(1.0, out, out=out)
    _inverse_one_plus_kernel(exponential, factor, out)
    return out


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _inverse_one_plus_kernel(exponential, factor, out):  # pragma: no cover - compiled
    """``out = 1 / (1 + exponential * factor[:, None])`` in one pass (numpy takes three)."""
    for s in range(exponential.shape[0]):
        row = exponential[s]
        result = out[s]
        for i in range(row.shape[0]):
            result[i] = 1.0 / (1.0 + row[i] * factor[s])


def _survival(risk: np.ndarray, total: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """``S(t) = exp(-risk * factor * total)``: ``risk = exp(eta)`` (S, n), ``factor`` per draw
    (S,) or None, ``total`` from :func:`total_hazard` (S, 1 or n, T) -> (S, n, T).

    Computed time by time in a contiguous (S, T, n) buffer (numpy's vector loops need unit
    strides) and returned as an (S, n, T) view of it.
    """
    out = np.empty((risk.shape[0], total.shape[-1], risk.shape[1]))
    if total.shape[1] == 1:
        # The same total hazard in every row: one product per row and time.
        rate = -total[:, 0, :] if factor is None else total[:, 0, :] * -factor[:, None]
        for k in range(rate.shape[-1]):
            np.multiply(risk, rate[:, k, None], out=out[:, k])
    else:
        scale = -risk if factor is None else risk * -factor[:, None]
        for k in range(total.shape[-1]):
            np.multiply(scale, total[:, :, k], out=out[:, k])
    return np.exp(out, out=out).transpose(0, 2, 1)


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise EstimandError(f"{name} must be one of {list(allowed)}, not {value!r}")


# ---------------------------------------------------------------------------------------------
# Regimes, groupings and the evaluation loop


@dataclass(frozen=True)
class Regime:
    """Which table each model part sees: the outcome's own model, and each mediator's.

    ``mediators`` lists (mediator, table key) for every modelled mediator; build regimes with
    :func:`regime` so that equal regimes compare equal.
    """

    outcome: str
    mediators: tuple[tuple[str, str], ...] = ()

    def table_of(self, mediator: str) -> str:
        return dict(self.mediators)[mediator]


def regime(
    model: Model, outcome_table: str, mediator_tables: Mapping[str, str] | None = None
) -> Regime:
    """A regime in canonical form: mediators not named see ``outcome_table``."""
    given = dict(mediator_tables or {})
    return Regime(outcome_table, tuple((m, given.get(m, outcome_table)) for m in model.mediators))


@dataclass(frozen=True)
class Grouping:
    """Rows split into groups for averaging (all rows: one group, ``"all"``).

    Attributes
    ----------
    name : str
        What the groups are (``"all"``, a column, ``"weakness"``, ``"township"``).
    codes : ndarray of int, shape (rows,)
        Each row's group, ``0 .. len(labels) - 1``.
    labels : tuple of str
    """

    name: str
    codes: np.ndarray
    labels: tuple[str, ...]

    @classmethod
    def overall(cls, n_rows: int) -> Grouping:
        return cls("all", np.zeros(n_rows, dtype=np.int64), ("all",))

    @classmethod
    def from_values(cls, name: str, values: pd.Series | np.ndarray) -> Grouping:
        """Groups from a column's values (categories in their order, else sorted)."""
        series = pd.Series(values).reset_index(drop=True)
        if series.isna().any():
            raise EstimandError(
                f"grouping {name!r} has {int(series.isna().sum())} missing value(s)"
            )
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = [c for c in series.cat.categories if (series == c).any()]
            codes = pd.Categorical(series, categories=present).codes.astype(np.int64)
            return cls(name, codes, tuple(str(c) for c in present))
        codes, uniques = pd.factorize(series, sort=True)
        return cls(name, codes.astype(np.int64), tuple(str(u) for u in uniques))

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=len(self.labels))

    def averaging_matrix(self) -> np.ndarray:
        """(groups, rows): ``1 / n_g`` where row ``i`` is in group ``g``, else 0."""
        members = self.codes[None, :] == np.arange(len(self.labels))[:, None]
        return members / self.counts[:, None]

    def average(self, array: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Row averages of ``weight * array`` within groups: (S, rows, Q) -> (S, groups, Q).

        Parameters
        ----------
        array : ndarray, shape (S, rows, Q)
        weight : ndarray, shape (S, rows), optional
            Per-draw row weights (the probability of the mediator values ``array`` assumes).
        """
        return _Averager([self])(array, weight)[self.name]


class _Averager:
    """Averages within every grouping at once.

    Groupings with few groups share one stacked averaging matrix, so that weighting and
    averaging are a single batched matrix product with no (S, rows, Q) temporary; groupings with
    many groups (townships) use sorted sums instead of a (draws, groups, rows) weight array.
    """

    def __init__(self, groupings: Sequence[Grouping]) -> None:
        # One group of every row: a weighted sum, with no (draws, 1, rows) weight array.
        self.whole = [(g.name, g.codes.size) for g in groupings if len(g.labels) == 1]
        small = [g for g in groupings if 1 < len(g.labels) <= _MATMUL_GROUPS]
        self.large = [g for g in groupings if len(g.labels) > _MATMUL_GROUPS]
        self.matrix = (
            np.concatenate([g.averaging_matrix() for g in small]) if small else np.zeros((0, 0))
        )
        bounds = np.cumsum([0, *(len(g.labels) for g in small)])
        self.small = [
            (g.name, slice(a, b)) for g, a, b in zip(small, bounds, bounds[1:], strict=False)
        ]
        self.sorted = []
        for g in self.large:
            order = np.argsort(g.codes, kind="stable")
            identity = np.array_equal(order, np.arange(order.size))
            starts = np.concatenate([[0], np.cumsum(g.counts)[:-1]])
            self.sorted.append((g.name, None if identity else order, starts, g.counts))

    def __call__(self, array: np.ndarray, weight: np.ndarray | None) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = {}
        if self.whole:
            total = (
                array.sum(axis=1, keepdims=True)
                if weight is None
                else np.matmul(weight[:, None, :], array)
            )
            result |= {name: total / max(size, 1) for name, size in self.whole}
        if self.small:
            left = self.matrix if weight is None else weight[:, None, :] * self.matrix[None]
            stacked = np.matmul(left, array)
            result |= {name: stacked[:, part] for name, part in self.small}
        if self.sorted:
            term = array if weight is None else array * weight[:, :, None]
            for name, order, starts, counts in self.sorted:
                ordered = term if order is None else term[:, order]
                result[name] = np.add.reduceat(ordered, starts, axis=1) / counts[None, :, None]
        return result


@dataclass(frozen=True)
class Request:
    """An outcome to average under some regimes, keeping some of its quantities."""

    outcome: str
    regimes: tuple[Regime, ...]
    quantities: tuple[int, ...] | None = None


def evaluate(
    model: Model,
    tables: Mapping[str, pd.DataFrame],
    requests: Sequence[Request],
    groupings: Sequence[Grouping],
    *,
    settings: EstimandSettings | None = None,
) -> Iterator[dict[tuple[str, Regime, str], np.ndarray]]:
    """Per chunk of draws: ``(outcome, regime, grouping) -> (chains, draws, groups, Q)``.

    Parameters
    ----------
    model : Model
    tables : Mapping[str, DataFrame]
        Covariate tables by key (the status quo and the scenarios), same rows in the same order.
    requests : sequence of Request
    groupings : sequence of Grouping
    settings : EstimandSettings, optional
        Its ``max_cells`` (draws x rows per chunk) and ``workers`` (threads evaluating chunks
        at once; the model's ``predict`` must then be safe to call from several threads: its
        per-table caches are filled by the first chunk, evaluated alone) are used.
    """
    keys = list(tables)
    first = tables[keys[0]].reset_index(drop=True)
    states = {key: model.prepare(table) for key, table in tables.items()}
    averager = _Averager(groupings)
    settings = settings or EstimandSettings()

    def run(chunk: Chunk) -> dict[tuple[str, Regime, str], np.ndarray]:
        out: dict[tuple[str, Regime, str], np.ndarray] = {}
        cache: dict[tuple[str, str, tuple[int, ...]], np.ndarray] = {}
        joints: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[int, ...], Any]] = {}
        for request in requests:
            _evaluate_outcome(model, chunk, states, request, averager, out, cache, joints)
        return {
            key: value.reshape(chunk.n_chains, chunk.n_draws, *value.shape[1:])
            for key, value in out.items()
        }

    # One BLAS thread: the products are thin (a few coefficients by many rows) and chunks
    # already run on every core; OpenBLAS's own threads make them several times slower on a
    # busy machine, and the last bits of the results would depend on the thread count.
    with threadpool_limits(limits=1, user_api="blas"):
        yield from _evaluate_chunks(model, first, settings.max_cells, settings.workers, run)


def _evaluate_chunks(
    model: Model,
    first: pd.DataFrame,
    max_cells: int,
    workers: int,
    run: Any,
) -> Iterator[dict[tuple[str, Regime, str], np.ndarray]]:
    chunks = iter(model.chunks(first, max_cells))
    # The first chunk alone: it fills the per-table caches (designs) that later chunks read.
    for chunk in itertools.islice(chunks, 1):
        yield run(chunk)
    if workers == 1:
        for chunk in chunks:
            yield run(chunk)
        return
    # Chunks are independent and their work is numpy and scipy ufuncs, which release the
    # GIL: threads use every core, and results come back in chunk order (bit-identical to
    # one worker). The next chunk's draws are read while the workers compute.
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[dict[tuple[str, Regime, str], np.ndarray]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(run, chunk))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _evaluate_outcome(
    model: Model,
    chunk: Chunk,
    states: Mapping[str, Any],
    request: Request,
    averager: _Averager,
    out: dict[tuple[str, Regime, str], np.ndarray],
    cache: dict[tuple[str, str, tuple[int, ...]], np.ndarray],
    joints: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[int, ...], Any]],
) -> None:
    info = model.outcomes[request.outcome]

    def predict(table: str, outcome: str, parent_values: tuple[int, ...]) -> np.ndarray:
        values = dict(zip(model.outcomes[outcome].parents, parent_values, strict=True))
        if model.outcomes[outcome].family != "logistic":
            return model.predict(chunk, states[table], outcome, values)
        # Binary outcomes are mediator probabilities of several outcomes: computed once per
        # chunk (small arrays, draws x rows).
        key = (table, outcome, parent_values)
        if key not in cache:
            cache[key] = model.predict(chunk, states[table], outcome, values)
        return cache[key]

    def probability(table: str, mediator: str, parent_values: tuple[int, ...]) -> np.ndarray:
        return predict(table, mediator, parent_values)[..., 0]

    # Weights of the parents' values, one set per assignment of tables to the ancestors.
    weights: dict[tuple[str, ...], dict[tuple[int, ...], np.ndarray | None]] = {}
    for reg in request.regimes:
        signature = tuple(reg.table_of(m) for m in info.ancestors)
        if signature not in weights:
            weights[signature] = _parent_weights(model, info, signature, probability, joints)
    for parent_values in itertools.product((0, 1), repeat=len(info.parents)):
        for table in dict.fromkeys(reg.outcome for reg in request.regimes):
            prediction = predict(table, request.outcome, parent_values)
            if request.quantities is not None:
                prediction = prediction[..., list(request.quantities)]
            for reg in request.regimes:
                if reg.outcome != table:
                    continue
                signature = tuple(reg.table_of(m) for m in info.ancestors)
                weight = weights[signature][parent_values]
                for name, averaged in averager(prediction, weight).items():
                    key = (request.outcome, reg, name)
                    out[key] = averaged if key not in out else out[key] + averaged


def _parent_weights(
    model: Model,
    info: OutcomeInfo,
    signature: tuple[str, ...],
    probability: Any,
    joints: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[int, ...], Any]],
) -> dict[tuple[int, ...], np.ndarray | None]:
    """P(parents of Y = m) for every m: the joint over the ancestors, summed over the others.

    Ancestors are visited in causal order, so each mediator's own parents already have values
    when its probability is needed. ``joints`` keeps the joints of leading ancestors (and the
    tables they see) for the other outcomes of the chunk: outcomes share upstream mediators.
    """
    ancestors = info.ancestors
    if not ancestors:
        return {(): None}
    joint: dict[tuple[int, ...], np.ndarray | None] = {(): None}
    for position, mediator in enumerate(ancestors):
        prefix = (ancestors[: position + 1], signature[: position + 1])
        if prefix in joints:
            joint = joints[prefix]
            continue
        own_parents = model.outcomes[mediator].parents
        extended: dict[tuple[int, ...], np.ndarray | None] = {}
        for combo, weight in joint.items():
            assigned = dict(zip(ancestors[:position], combo, strict=True))
            p = probability(signature[position], mediator, tuple(assigned[m] for m in own_parents))
            if weight is None:
                extended[(*combo, 1)], extended[(*combo, 0)] = p, 1.0 - p
            else:
                extended[(*combo, 1)] = with_mediator = weight * p
                extended[(*combo, 0)] = weight - with_mediator
        joint = extended
        if position < len(ancestors) - 1:
            # Leading ancestors only: the whole joint of an outcome's ancestors is its own.
            joints[prefix] = extended
    index = [ancestors.index(m) for m in info.parents]
    marginal: dict[tuple[int, ...], np.ndarray | None] = {}
    for combo, weight in joint.items():
        key = tuple(combo[k] for k in index)
        marginal[key] = weight if key not in marginal else marginal[key] + weight
    return marginal


def concatenate(
    chunks: Iterable[dict[Any, np.ndarray]],
) -> dict[Any, np.ndarray]:
    """Join per-chunk arrays (chains, draws, ...) along the draw axis."""
    pieces: dict[Any, list[np.ndarray]] = {}
    for chunk in chunks:
        for key, value in chunk.items():
            pieces.setdefault(key, []).append(value)
    return {key: np.concatenate(values, axis=1) for key, values in pieces.items()}


def summarise(values: np.ndarray, prob: float) -> dict[str, np.ndarray]:
    """Mean, median, equal-tailed interval and Pr(> 0) over the last axis (the samples)."""
    if not 0 < prob < 1:
        raise EstimandError(f"prob must lie in (0, 1), not {prob!r}")
    tail = (1.0 - prob) / 2.0
    lower, median, upper = np.quantile(values, [tail, 0.5, 1.0 - tail], axis=-1)
    return {
        "mean": values.mean(axis=-1),
        "median": median,
        "lower": lower,
        "upper": upper,
        "pr_positive": (values > 0).mean(axis=-1),
    }
