"""Intervention contrasts by g-computation over the posterior.

For a scenario ``s`` (a modified copy of the observed covariates, :mod:`.scenarios`) and every
posterior draw ``d``, every observed project ``i`` is predicted under the scenario and under the
status quo, and the predictions are averaged over projects::

    Delta_d = (1/n) sum_i E[Y | x_i^s, u_i, theta_d] - (1/n) sum_i E[Y | x_i, u_i, theta_d]

for ``Y`` in S(12), S(24), S(36) (survival), P(fit >= 4) and the expected rating (demand fit),
P(extensive), P(expedient) and P(short_sighted) (logistic). The posterior of ``Delta`` is
summarised by its median, an equal-tailed interval (95% by default) and Pr(Delta > 0).

* **Group effects** ``u``: ``fitted`` uses each draw's effects of the observed counties and
  townships (the contrast for *these* projects); ``new`` draws every county and township anew
  from the fitted group distribution, once per draw, shared by both arms (the contrast for
  comparable new places); ``none`` sets them to zero. The table says which.
* **Binary remedies.** For a scenario that sets a 0/1 column (``collaboration = 1``), the table
  also holds the effect among the units not yet treated (an ATU): the same contrast averaged over
  the projects of the counties that lack the mechanism, with ``group_by`` =
  ``"untreated:collaboration"`` and ``group`` = ``"untreated"``. The already treated projects do
  not change, so the overall contrast is this one times their share.
* **Mediators.** With a fit that models the strategies (the structural spec), the strategies and
  short-sightedness respond to the scenario: each outcome is averaged exactly over its mediators'
  0/1 values weighted by their predicted probabilities under the scenario (a *total* effect;
  :mod:`.mediation` splits it). The ``mediators`` column lists the responding mediators; every
  other predictor (the strategies too, in a single-outcome fit such as ``survival_m3``) is held
  at its observed value.

Examples
--------
>>> from grassroots.estimands import contrasts
>>> result = contrasts(fitted, study)                       # doctest: +SKIP
>>> result.table.query("quantity == 'S(24)'")               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots._warnings import warn_caller
from grassroots.estimands._engine import (
    STATUS_QUO,
    EstimandError,
    FitModel,
    Grouping,
    Model,
    Request,
    concatenate,
    evaluate,
    regime,
    summarise,
)
from grassroots.estimands.scenarios import Scenario, ScenarioSet, SetValue, builtin_scenarios
from grassroots.estimands.settings import DEFAULT_PROB, EstimandSettings
from grassroots.estimands.weakness import WEAKNESS, weakness_tercile

if TYPE_CHECKING:
    from grassroots.inference.fit_result import Fit, StudyLike

__all__ = [
    "UNTREATED",
    "ContrastResult",
    "binary_remedy",
    "contrasts",
    "make_groupings",
    "resolve_scenarios",
    "run_contrasts",
    "untreated_groupings",
]

#: Group of the projects a binary remedy would change (``group_by`` = ``"untreated:<column>"``).
UNTREATED = "untreated"

TABLE_COLUMNS = (
    "model",
    "scenario",
    "outcome",
    "quantity",
    "group_by",
    "group",
    "n_rows",
    "status_quo",
    "counterfactual",
    "mean",
    "median",
    "lower",
    "upper",
    "pr_positive",
    "group_effects",
    "mediators",
)


@dataclass
class ContrastResult:
    """Contrasts against the status quo: a tidy table and the per-draw values.

    Attributes
    ----------
    table : DataFrame
        One row per model, scenario, outcome, quantity and group: ``n_rows`` (projects
        averaged), ``status_quo`` and ``counterfactual`` (posterior medians of the averages),
        ``mean``, ``median``, ``lower``, ``upper`` (equal-tailed ``prob`` interval) and
        ``pr_positive`` (Pr(Delta > 0)) of the contrast, ``group_effects`` (fitted, new or none)
        and ``mediators`` (the modelled mediators that respond to the scenario).
    draws : dict of str to xarray.DataArray
        Per model: the contrast of every draw, dims ``(scenario, estimand, group, chain,
        draw)``; ``estimand`` carries the coords ``outcome``, ``quantity``, ``mediators`` (the
        responding mediators) and ``predictors`` (of the outcome's model), ``scenario`` the
        coord ``variables`` (the columns it changes), ``group`` the coords ``group_by``,
        ``group_value`` and ``n_rows`` (the overall group is ``"all"``).
    levels : dict of str to xarray.DataArray
        Per model: the averages themselves, dims ``(table, estimand, group, chain, draw)`` with
        ``table`` = ``status_quo`` and the scenarios.
    prob : float
        Mass of the intervals in ``table``.
    """

    table: pd.DataFrame
    draws: dict[str, xr.DataArray] = field(default_factory=dict)
    levels: dict[str, xr.DataArray] = field(default_factory=dict)
    prob: float = DEFAULT_PROB

    def summary(self, prob: float | None = None) -> pd.DataFrame:
        """The table with intervals of another mass (e.g. 0.9), recomputed from the draws."""
        if prob is None or prob == self.prob:
            return self.table.copy()
        return pd.concat(
            [_table(name, self.draws[name], self.levels[name], prob) for name in self.draws],
            ignore_index=True,
        )

    def values(
        self,
        scenario: str,
        outcome: str,
        quantity: str,
        *,
        model: str | None = None,
        group: str = "all",
    ) -> np.ndarray:
        """The contrast's draws (chains flattened) for one scenario, estimand and group."""
        name = model if model is not None else next(iter(self.draws))
        array = self.draws[name].sel(
            scenario=scenario, estimand=f"{outcome}:{quantity}", group=group
        )
        return array.to_numpy().reshape(-1)

    def draws_frame(self, group: str = "all") -> pd.DataFrame:
        """Long table of the draws of one group (for density figures)."""
        frames = []
        for name, array in self.draws.items():
            selected = array.sel(group=group)
            frame = selected.to_dataframe(name="value").reset_index()
            frame.insert(0, "model", name)
            frames.append(
                frame[["model", "scenario", "outcome", "quantity", "chain", "draw", "value"]]
            )
        return pd.concat(frames, ignore_index=True)

    @classmethod
    def concat(cls, results: Sequence[ContrastResult]) -> ContrastResult:
        """One result from several (e.g. one per fit); model names must differ."""
        draws: dict[str, xr.DataArray] = {}
        levels: dict[str, xr.DataArray] = {}
        for result in results:
            clash = set(draws) & set(result.draws)
            if clash:
                raise EstimandError(f"results of the same model(s) {sorted(clash)} given twice")
            draws |= result.draws
            levels |= result.levels
        probs = {r.prob for r in results}
        if len(probs) > 1:
            raise EstimandError(f"results with different interval masses {sorted(probs)}")
        table = pd.concat([r.table for r in results], ignore_index=True)
        return cls(table, draws, levels, probs.pop() if probs else DEFAULT_PROB)

    def __str__(self) -> str:
        shown = self.table[self.table["group_by"] == "all"]
        lines = [f"Contrasts against the status quo ({self.prob:.0%} intervals)"]
        for row in shown.itertuples(index=False):
            lines.append(
                f"  {row.model:<16} {row.scenario:<26} {row.outcome}:{row.quantity:<8} "
                f"{row.median:+.4f} [{row.lower:+.4f}, {row.upper:+.4f}]  "
                f"Pr(>0)={row.pr_positive:.3f}  ({row.group_effects} group effects)"
            )
        return "\n".join(lines)


def resolve_scenarios(
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None,
) -> list[Scenario]:
    """Scenario objects from a scenario, a set, names of built-in scenarios, or ``None``."""
    if scenarios is None:
        return builtin_scenarios().select()
    if isinstance(scenarios, Scenario):
        return [scenarios]
    if isinstance(scenarios, ScenarioSet):
        return list(scenarios)
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    builtin: ScenarioSet | None = None
    result = []
    for item in scenarios:
        if isinstance(item, str):
            builtin = builtin if builtin is not None else builtin_scenarios()
            item = builtin[item]
        if not isinstance(item, Scenario):
            raise EstimandError(f"not a scenario: {item!r}")
        result.append(item)
    names = [s.name for s in result]
    if len(set(names)) != len(names) or STATUS_QUO in names:
        raise EstimandError(f"scenario names {names} must be distinct and not {STATUS_QUO!r}")
    return result


def make_groupings(frame: pd.DataFrame, by: Sequence[str | Grouping] = ()) -> list[Grouping]:
    """The overall grouping followed by one per entry of ``by``.

    Parameters
    ----------
    frame : DataFrame
        The status-quo table.
    by : sequence of str or Grouping
        Column names of ``frame`` (e.g. ``"region"``), ``"weakness"`` (terciles of baseline
        weakness, :func:`grassroots.estimands.weakness.weakness_tercile`), or groupings.
    """
    groupings = [Grouping.overall(len(frame))]
    for item in by:
        if isinstance(item, Grouping):
            grouping = item
        elif item == WEAKNESS and WEAKNESS not in frame.columns:
            grouping = Grouping.from_values(WEAKNESS, weakness_tercile(frame))
        elif item in frame.columns:
            grouping = Grouping.from_values(item, frame[item])
        else:
            raise EstimandError(
                f"cannot group by {item!r}: not a column of the data, nor {WEAKNESS!r}"
            )
        if grouping.codes.shape != (len(frame),):
            raise EstimandError(f"grouping {grouping.name!r} does not have one code per row")
        if grouping.name in {g.name for g in groupings}:
            raise EstimandError(f"grouping {grouping.name!r} given twice")
        groupings.append(grouping)
    return groupings


def binary_remedy(scenario: Scenario, frame: pd.DataFrame) -> SetValue | None:
    """The step of a scenario that only sets a 0/1 column to one value (a binary remedy such as
    ``collaboration = 1``), else ``None``."""
    if len(scenario.steps) != 1 or not isinstance(scenario.steps[0], SetValue):
        return None
    step = scenario.steps[0]
    if step.variable not in frame.columns or isinstance(step.value, str):
        return None
    column = frame[step.variable]
    if not pd.api.types.is_numeric_dtype(column) or not set(column.dropna().unique()) <= {0, 1}:
        return None
    return step


def untreated_groupings(frame: pd.DataFrame, scenarios: Sequence[Scenario]) -> list[Grouping]:
    """For every binary remedy among ``scenarios``, the projects it would change (``untreated``)
    and those already at its value (``treated``), as a grouping ``"untreated:<column>"``.

    A remedy that every unit already has gets no grouping (there is no one left to treat).
    """
    groupings: dict[str, Grouping] = {}
    for scenario in scenarios:
        step = binary_remedy(scenario, frame)
        if step is None:
            continue
        untreated = frame[step.variable].to_numpy(dtype=float) != float(step.value)
        name = f"{UNTREATED}:{step.variable}"
        if untreated.any() and name not in groupings:
            labels = np.where(untreated, UNTREATED, "treated")
            groupings[name] = Grouping.from_values(name, labels)
    return list(groupings.values())


def _untreated_row(scenario_variables: str, group_by: str, group: str) -> bool:
    """Whether a table row is kept: rows of an ``untreated:<column>`` grouping only for the
    scenario that sets that column, and only its untreated group (the others are 0 or are
    subgroup effects of another scenario)."""
    if not group_by.startswith(f"{UNTREATED}:"):
        return True
    return group == UNTREATED and scenario_variables == group_by.split(":", 1)[1]


def run_contrasts(
    model: Model,
    frame: pd.DataFrame,
    scenarios: Sequence[Scenario],
    *,
    groupings: Sequence[Grouping] | None = None,
    outcomes: Sequence[str] | None = None,
    quantities: dict[str, Sequence[str]] | None = None,
    settings: EstimandSettings | None = None,
) -> ContrastResult:
    """Contrasts of ``scenarios`` against the status quo for any engine model.

    :func:`contrasts` calls this with a posterior fit, :func:`grassroots.estimands.truth.
    true_contrasts` with the simulator's true parameters: the same g-computation. Of
    ``settings`` (default :class:`EstimandSettings`) ``prob``, ``max_cells`` and ``workers``
    are used; the model already holds the rest.
    """
    settings = settings or EstimandSettings()
    frame = frame.reset_index(drop=True)
    groupings = list(groupings) if groupings is not None else [Grouping.overall(len(frame))]
    if not scenarios:
        raise EstimandError("no scenario given")
    tables = {STATUS_QUO: frame}
    mediator_columns = set(model.mediator_columns.values())
    predictors = model.predictors()
    for scenario in scenarios:
        touched = set(scenario.variables) & mediator_columns
        if touched:
            raise EstimandError(
                f"scenario {scenario.name!r} changes {sorted(touched)}, which model "
                f"{model.name!r} predicts as mediators; use mediators='observed' to hold the "
                "mediators at set values"
            )
        if not set(scenario.variables) & predictors:
            warn_caller(
                f"scenario {scenario.name!r} changes {list(scenario.variables)}, none of which "
                f"model {model.name!r} uses: its contrasts are 0",
                UserWarning,
            )
        tables[scenario.name] = scenario.apply(frame, scaling=model.scaling)
    selected = _select(model, outcomes, quantities)
    regimes = tuple(regime(model, key) for key in tables)
    requests = [Request(name, regimes, index) for name, (index, _) in selected.items()]
    collected = concatenate(evaluate(model, tables, requests, groupings, settings=settings))
    levels = _levels_array(model, tables, selected, regimes, groupings, collected)
    status_quo = levels.sel(table=STATUS_QUO, drop=True)
    draws = (levels.sel(table=[s.name for s in scenarios]) - status_quo).rename(table="scenario")
    draws = draws.assign_coords(variables=("scenario", [", ".join(s.variables) for s in scenarios]))
    draws.attrs = dict(levels.attrs)
    return ContrastResult(
        _table(model.name, draws, levels, settings.prob),
        {model.name: draws},
        {model.name: levels},
        settings.prob,
    )


def _select(
    model: Model,
    outcomes: Sequence[str] | None,
    quantities: dict[str, Sequence[str]] | None,
) -> dict[str, tuple[tuple[int, ...] | None, tuple[str, ...]]]:
    """Outcome -> (indices of the kept quantities or None for all, their labels)."""
    names = list(model.outcomes) if outcomes is None else list(outcomes)
    unknown = [name for name in names if name not in model.outcomes]
    if unknown:
        raise EstimandError(
            f"model {model.name!r} has no outcome(s) {unknown}; it has {list(model.outcomes)}"
        )
    selected: dict[str, tuple[tuple[int, ...] | None, tuple[str, ...]]] = {}
    for name in names:
        labels = model.outcomes[name].quantities
        wanted = (quantities or {}).get(name)
        if wanted is None:
            selected[name] = (None, labels)
            continue
        missing = [q for q in wanted if q not in labels]
        if missing:
            raise EstimandError(
                f"outcome {name!r} of model {model.name!r} has no quantity {missing}; it has "
                f"{list(labels)}"
            )
        selected[name] = (tuple(labels.index(q) for q in wanted), tuple(wanted))
    return selected


def _levels_array(
    model: Model,
    tables: dict[str, pd.DataFrame],
    selected: dict[str, tuple[tuple[int, ...] | None, tuple[str, ...]]],
    regimes: tuple[Any, ...],
    groupings: Sequence[Grouping],
    collected: dict[Any, np.ndarray],
) -> xr.DataArray:
    """Stack the engine's output into (table, estimand, group, chain, draw)."""
    per_table = []
    for reg in regimes:
        per_estimand = []
        for name in selected:
            per_group = [collected[(name, reg, g.name)] for g in groupings]
            # (chains, draws, groups, Q) -> (Q, groups, chains, draws)
            joined = np.concatenate(per_group, axis=2).transpose(3, 2, 0, 1)
            per_estimand.append(joined)
        per_table.append(np.concatenate(per_estimand, axis=0))
    values = np.stack(per_table)
    outcome_of = [name for name, (_, labels) in selected.items() for _ in labels]
    quantity_of = [q for _, (_, labels) in selected.items() for q in labels]
    group_by = [g.name for g in groupings for _ in g.labels]
    group_value = [label for g in groupings for label in g.labels]
    n_rows = [int(c) for g in groupings for c in g.counts]
    return xr.DataArray(
        values,
        dims=("table", "estimand", "group", "chain", "draw"),
        coords={
            "table": list(tables),
            "estimand": [f"{o}:{q}" for o, q in zip(outcome_of, quantity_of, strict=True)],
            "outcome": ("estimand", outcome_of),
            "quantity": ("estimand", quantity_of),
            # The modelled mediators upstream of each estimand's outcome (they respond).
            "mediators": (
                "estimand",
                [", ".join(model.outcomes[name].ancestors) for name in outcome_of],
            ),
            "predictors": (
                "estimand",
                [", ".join(model.outcomes[name].predictors) for name in outcome_of],
            ),
            "group": [
                "all" if by == "all" else f"{by}={value}"
                for by, value in zip(group_by, group_value, strict=True)
            ],
            "group_by": ("group", group_by),
            "group_value": ("group", group_value),
            "n_rows": ("group", n_rows),
            "chain": np.arange(values.shape[3]),
            "draw": np.arange(values.shape[4]),
        },
        attrs={"model": model.name, "group_effects": model.group_effects},
    )


def _table(name: str, draws: xr.DataArray, levels: xr.DataArray, prob: float) -> pd.DataFrame:
    """The tidy summary of one model's contrast draws."""
    samples = draws.stack(sample=("chain", "draw")).transpose("scenario", "estimand", "group", ...)
    stats = summarise(samples.to_numpy(), prob)
    level_medians = np.median(
        levels.stack(sample=("chain", "draw"))
        .transpose("table", "estimand", "group", ...)
        .to_numpy(),
        axis=-1,
    )
    status_quo = level_medians[list(levels.coords["table"].values).index(STATUS_QUO)]
    scenarios = list(draws.coords["scenario"].values)
    table_position = [list(levels.coords["table"].values).index(s) for s in scenarios]
    variables = [str(v) for v in draws.coords["variables"].values]
    rows = []
    for i, scenario in enumerate(scenarios):
        for j, outcome in enumerate(draws.coords["outcome"].values):
            for k, group in enumerate(draws.coords["group"].values):
                group_by = str(draws.coords["group_by"].values[k])
                if not _untreated_row(
                    variables[i], group_by, str(draws.coords["group_value"].values[k])
                ):
                    continue
                rows.append(
                    {
                        "model": name,
                        "scenario": scenario,
                        "outcome": outcome,
                        "quantity": str(draws.coords["quantity"].values[j]),
                        "group_by": group_by,
                        "group": "all"
                        if group == "all"
                        else str(draws.coords["group_value"].values[k]),
                        "n_rows": int(draws.coords["n_rows"].values[k]),
                        "status_quo": float(status_quo[j, k]),
                        "counterfactual": float(level_medians[table_position[i], j, k]),
                        **{key: float(value[i, j, k]) for key, value in stats.items()},
                        "group_effects": draws.attrs["group_effects"],
                        "mediators": str(draws.coords["mediators"].values[j]),
                    }
                )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def contrasts(
    fits: Fit | Sequence[Fit],
    data: pd.DataFrame | StudyLike,
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None = None,
    *,
    group_effects: str = "fitted",
    mediators: str = "modelled",
    by: Sequence[str | Grouping] = (),
    untreated: bool = True,
    outcomes: Sequence[str] | None = None,
    settings: EstimandSettings | None = None,
) -> ContrastResult:
    """g-computation contrasts of scenarios against the status quo, from one or more fits.

    Parameters
    ----------
    fits : Fit or sequence of Fit
        The joint structural fit (all its outcomes) and/or single-outcome fits (their outcome).
        Model names (spec names) must differ.
    data : DataFrame or study
        The status quo: the fitted data (one row per project) or data with the same columns.
    scenarios : Scenario, ScenarioSet, sequence of Scenario or names, optional
        Default: the built-in remedies (``models/scenarios.toml``, its ``default`` list).
    group_effects : {"fitted", "new", "none"}
        See the module docstring; stated in the table's ``group_effects`` column.
    mediators : {"modelled", "observed"}
        ``modelled``: mediators the fit predicts respond to the scenario (total effects);
        ``observed``: every predictor other than the scenario's is held at its observed value.
    by : sequence of str or Grouping
        Also contrasts within groups: columns (``"region"``) or ``"weakness"`` (terciles of
        baseline weakness); see :mod:`.heterogeneity`.
    untreated : bool
        Also the effect of every binary remedy among the units not yet treated (see the module
        docstring).
    outcomes : sequence of str, optional
        Outcomes to report (default: all of each fit; mediators are still modelled).
    settings : EstimandSettings, optional
        Interval mass, survival times, ordinal threshold, seed of new group effects (default:
        each fit's seed; the same seed gives the same result), thinning, chunk size and
        threads; default :class:`EstimandSettings`.

    Returns
    -------
    ContrastResult
    """
    from grassroots.inference.fit_result import resolve_data

    frame, _ = resolve_data(data)
    fit_list = list(fits) if isinstance(fits, list | tuple) else [fits]
    scenario_list = resolve_scenarios(scenarios)
    groupings = make_groupings(frame.reset_index(drop=True), by)
    if untreated:
        groupings += untreated_groupings(frame.reset_index(drop=True), scenario_list)
    results = []
    for fitted in fit_list:
        model = FitModel(
            fitted, group_effects=group_effects, mediators=mediators, settings=settings
        )
        wanted = None if outcomes is None else [o for o in outcomes if o in model.outcomes]
        if wanted is not None and not wanted:
            continue
        results.append(
            run_contrasts(
                model,
                frame,
                scenario_list,
                groupings=groupings,
                outcomes=wanted,
                settings=settings,
            )
        )
    if not results:
        raise EstimandError(f"no fit has the outcome(s) {list(outcomes or [])}")
    return ContrastResult.concat(results)
