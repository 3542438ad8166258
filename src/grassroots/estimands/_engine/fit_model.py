"""A posterior fit (:class:`grassroots.inference.Fit`) as an engine model."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots.estimands._engine.kernels import (
    inverse_one_plus,
    ordinal_kernel,
    survival_probability,
)
from grassroots.estimands._engine.model import (
    GROUP_EFFECTS,
    MEDIATOR_MODES,
    OutcomeInfo,
    check_choice,
    mediator_graph,
    quantity_labels,
)
from grassroots.estimands.errors import EstimandError
from grassroots.estimands.settings import EstimandSettings
from grassroots.models.builder import FAMILIES, group_effect_draws, group_rows, stack_draws
from grassroots.models.design import design_matrix, late_design_matrix
from grassroots.models.spec import ModelSpec, OutcomeSpec
from grassroots.models.survival import total_hazard

# Posterior variables read lazily from a bundle are read whole when at most this large (the
# coefficients, county effects ...), else a chunk of draws at a time (the township effects).
_EAGER_BYTES = 256 * 2**20


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
        check_choice("group_effects", group_effects, GROUP_EFFECTS)
        check_choice("mediators", mediators, MEDIATOR_MODES)
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
        self,
        chunk: _FitChunk,
        state: _FitState,
        outcome: str,
        values: Mapping[str, int],
        quantities: Sequence[int] | None = None,
    ) -> np.ndarray:
        spec = self._spec_outcomes[outcome]
        wanted = slice(None) if quantities is None else list(quantities)
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
            return inverse_one_plus(exponential, factor)[..., None][..., wanted]
        if spec.family == "ordinal":
            levels = np.asarray(self._levels(spec), dtype=float)
            cuts = params[f"{outcome}_cutpoints"]  # (S, K-1)
            # P(Y > level_j) = expit(eta + shift - c_j) = 1 / (1 + exp(-eta) exp(c_j - shift)).
            factors = np.exp(cuts if shift is None else cuts - shift[:, None])
            result = np.empty((exponential.shape[0], 2, exponential.shape[1]))
            ordinal_kernel(exponential, factors, levels, self._threshold_index(spec), result)
            return result.transpose(0, 2, 1)[..., wanted]
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
        # S(t) at the wanted times only: each time's exponentials are the costly part.
        return survival_probability(
            exponential, chunk.totals[key][..., wanted], None if shift is None else np.exp(shift)
        )
