"""Heterogeneity of the contrasts (by region, by baseline weakness) and a targeting list.

Baseline weakness and its terciles are defined in :mod:`.weakness` (re-exported here).
Contrasts within a group average the projects of that group, so the group contrasts, weighted by
their numbers of projects, add up to the overall contrast draw by draw.

The **targeting list** ranks, for each remedy, the units that decide it (:func:`decision_level`:
counties for collaboration, townships for resources and technical capacity) by their expected
gain: the posterior mean of the unit-average contrast (the average over its projects), with its
interval and Pr(gain > 0). Units the remedy would not change (counties that already have the
mechanism) are not ranked. How sure the ranking is comes from the ranks of every draw: the
interval of a unit's rank and the posterior probability that it is among the top 15.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots.estimands._engine import (
    EstimandError,
    FitModel,
    Grouping,
    Model,
    summarise,
)
from grassroots.estimands.contrasts import (
    ContrastResult,
    contrasts,
    resolve_scenarios,
    run_contrasts,
)
from grassroots.estimands.scenarios import (
    DEFAULT_GROUPS,
    Scenario,
    ScenarioSet,
    variable_level,
)
from grassroots.estimands.settings import DEFAULT_PROB, EstimandSettings
from grassroots.estimands.weakness import (
    TERCILE_LABELS,
    WEAKNESS,
    WEAKNESS_COLUMNS,
    baseline_weakness,
    level_units,
    weakness_tercile,
)

if TYPE_CHECKING:
    from grassroots.inference.fit_result import Fit, StudyLike
    from grassroots.models.design import Scaling

__all__ = [
    "TERCILE_LABELS",
    "WEAKNESS",
    "WEAKNESS_COLUMNS",
    "AllocationResult",
    "TargetingResult",
    "allocate",
    "baseline_weakness",
    "decision_level",
    "heterogeneity",
    "rank_summary",
    "remedy_costs",
    "run_targeting",
    "targeting",
    "weakness_tercile",
]


def heterogeneity(
    fits: Fit | Sequence[Fit],
    data: pd.DataFrame | StudyLike,
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None = None,
    *,
    by: Sequence[str | Grouping] = ("region", WEAKNESS),
    **options: Any,
) -> ContrastResult:
    """Contrasts overall and within groups (default: by region and by weakness tercile).

    A thin wrapper of :func:`grassroots.estimands.contrasts.contrasts` with ``by``; the other
    options are passed on. The result's table has one row per group (``group_by``, ``group``,
    ``n_rows``), the overall rows first.
    """
    return contrasts(fits, data, scenarios, by=by, **options)


@dataclass
class TargetingResult:
    """Units ranked by their expected gain under a scenario, where the remedy is decided.

    Attributes
    ----------
    table : DataFrame
        Per scenario, one row per unit it would change, in rank order: ``rank`` (1 = largest
        expected gain), the unit's ids (a county's row has no ``township_id``), ``n_rows``
        (projects), ``weakness`` and its tercile (townships), the region when the data have one,
        the contrast's ``mean``, ``median``, ``lower``, ``upper`` and ``pr_positive``, the
        posterior of the rank (:func:`rank_summary`): ``rank_median``, ``rank_lower``,
        ``rank_upper``, ``pr_top`` with its cut-off ``top_k``; ``unit`` (the label of the unit
        in ``draws``), ``level`` (the units ranked) and ``n_units`` (units of that level, ranked
        or not).
    draws : xarray.DataArray
        Per-draw unit-average contrasts, dims ``(scenario, unit, chain, draw)``; ``unit`` holds
        the units of every level ranked (``"C01"``, ``"C01/T0101"``), NaN where a scenario does
        not rank the unit.
    outcome, quantity : str
    group_effects : str
    prob : float
    """

    table: pd.DataFrame
    draws: xr.DataArray
    outcome: str
    quantity: str
    group_effects: str
    prob: float

    def top(self, n: int = 10, scenario: str | None = None) -> pd.DataFrame:
        """The ``n`` units that gain most (under ``scenario``, default the first)."""
        scenario = scenario if scenario is not None else self.table["scenario"].iloc[0]
        return self.table[self.table["scenario"] == scenario].head(n)


def rank_summary(
    samples: np.ndarray, *, prob: float = DEFAULT_PROB, top: int = 15, descending: bool = True
) -> dict[str, np.ndarray]:
    """Posterior of the units' ranks: per draw every unit is ranked (1 = largest gain when
    ``descending``; ties by unit order), then summarised.

    Parameters
    ----------
    samples : ndarray, shape (scenarios, units, samples)
    prob, top, descending
        Interval mass, the "top" whose posterior probability is reported, rank direction.

    Returns
    -------
    dict
        ``rank_median``, ``rank_lower``, ``rank_upper`` (equal-tailed interval of the rank,
        whole ranks) and ``pr_top`` (posterior probability of a rank <= ``top``), each of
        shape (scenarios, units).
    """
    values = -samples if descending else samples
    ranks = np.argsort(np.argsort(values, axis=1, kind="stable"), axis=1, kind="stable") + 1
    tail = (1.0 - prob) / 2.0
    lower, median, upper = np.quantile(
        ranks, [tail, 0.5, 1.0 - tail], axis=-1, method="inverted_cdf"
    )
    return {
        "rank_median": median,
        "rank_lower": lower,
        "rank_upper": upper,
        "pr_top": (ranks <= top).mean(axis=-1),
    }


def decision_level(
    scenario: Scenario, frame: pd.DataFrame, groups: Sequence[tuple[str, str]] = DEFAULT_GROUPS
) -> str:
    """The level at which a scenario's remedy is decided: the outermost level of the columns it
    changes (``county`` for collaboration, ``township`` for resources).

    A remedy that also changes a county column (all three remedies together) is the county's to
    decide: treating one township would change its county's other townships too. A project-level
    column is decided by the innermost grouping level.
    """
    present = [(name, column) for name, column in groups if column in frame.columns]
    names = [name for name, _ in present]
    if not names:
        raise EstimandError(f"the data have none of the grouping columns {[c for _, c in groups]}")
    # A column the data lack is left to Scenario.apply, whose error names the scenario's key.
    levels = [
        variable_level(frame, column, present)
        for column in scenario.variables
        if column in frame.columns
    ]
    depths = [names.index(level) if level in names else len(names) - 1 for level in levels]
    return names[min(depths, default=len(names) - 1)]


def run_targeting(
    model: Model,
    frame: pd.DataFrame,
    scenarios: Sequence[Scenario],
    *,
    outcome: str,
    quantity: str,
    level: str | None = None,
    groups: Sequence[tuple[str, str]] = DEFAULT_GROUPS,
    descending: bool = True,
    top: int = 15,
    settings: EstimandSettings | None = None,
) -> TargetingResult:
    """The targeting list for any engine model (see :func:`targeting`); of ``settings``
    (default :class:`EstimandSettings`) ``prob``, ``max_cells`` and ``workers`` are used."""
    settings = settings or EstimandSettings()
    frame = frame.reset_index(drop=True)
    levels = {s.name: level or decision_level(s, frame, groups) for s in scenarios}
    tables, arrays = [], []
    for unit_level in dict.fromkeys(levels.values()):
        chosen = [s for s in scenarios if levels[s.name] == unit_level]
        table, draws = _rank_units(
            model, frame, chosen, outcome, quantity, unit_level, groups, descending, top, settings
        )
        tables.append(table)
        arrays.append(draws)
    order = {s.name: position for position, s in enumerate(scenarios)}
    ranked = pd.concat(tables, ignore_index=True)
    ranked = ranked.sort_values("scenario", key=lambda c: c.map(order), kind="stable")
    ranked = ranked.reset_index(drop=True)
    draws = xr.concat(arrays, dim="scenario", join="outer").sel(scenario=list(order))
    return TargetingResult(ranked, draws, outcome, quantity, model.group_effects, settings.prob)


def _rank_units(
    model: Model,
    frame: pd.DataFrame,
    scenarios: Sequence[Scenario],
    outcome: str,
    quantity: str,
    level: str,
    groups: Sequence[tuple[str, str]],
    descending: bool,
    top: int,
    settings: EstimandSettings,
) -> tuple[pd.DataFrame, xr.DataArray]:
    """Rank the units of one level under each scenario; units a scenario leaves as they are
    (already treated) are not ranked and have no draws (NaN)."""
    codes, first = level_units(frame, groups, level)
    present = [(name, column) for name, column in groups if column in frame.columns]
    id_columns = [column for name, column in present][: [n for n, _ in present].index(level) + 1]
    labels = tuple("/".join(str(frame[c].iloc[row]) for c in id_columns) for row in first)
    grouping = Grouping(level, codes.astype(np.int64), labels)
    result = run_contrasts(
        model,
        frame,
        scenarios,
        groupings=[grouping],
        outcomes=[outcome],
        quantities={outcome: [quantity]},
        settings=settings,
    )
    draws = result.draws[model.name].isel(estimand=0, drop=True).rename(group="unit")
    draws = draws.assign_coords(unit=list(labels)).drop_vars(
        ["group_by", "group_value", "n_rows"], errors="ignore"
    )
    changed = np.stack([_changed_units(s, frame, codes, len(labels), model) for s in scenarios])
    draws = draws.where(xr.DataArray(changed, dims=("scenario", "unit")))
    samples = draws.stack(sample=("chain", "draw")).transpose("scenario", "unit", ...).to_numpy()
    context = pd.DataFrame({column: frame[column].to_numpy()[first] for column in id_columns})
    context["n_rows"] = np.bincount(codes, minlength=len(first))
    if all(c in frame.columns for c in WEAKNESS_COLUMNS) and level == "township":
        context[WEAKNESS] = baseline_weakness(frame, groups=groups).to_numpy()[first]
        context["weakness_tercile"] = weakness_tercile(frame, groups=groups).to_numpy()[first]
    if "region" in frame.columns:
        context["region"] = frame["region"].to_numpy()[first]
    context["unit"] = labels
    tables = []
    for i, scenario in enumerate(draws.coords["scenario"].values):
        kept = changed[i]
        table = context[kept].copy()
        table.insert(0, "scenario", scenario)
        stats = summarise(samples[i : i + 1, kept], settings.prob)
        rank_stats = rank_summary(
            samples[i : i + 1, kept], prob=settings.prob, top=top, descending=descending
        )
        for key, values in (stats | rank_stats).items():
            table[key] = values[0]
        table["top_k"] = top
        table["level"] = level
        table["n_units"] = len(labels)
        table = table.sort_values("mean", ascending=not descending, kind="stable")
        table.insert(1, "rank", np.arange(1, len(table) + 1))
        tables.append(table)
    ranked = pd.concat(tables, ignore_index=True)
    ranked["outcome"], ranked["quantity"] = outcome, quantity
    ranked["group_effects"] = model.group_effects
    return ranked, draws


def _changed_units(
    scenario: Scenario, frame: pd.DataFrame, codes: np.ndarray, n_units: int, model: Model
) -> np.ndarray:
    """Whether the scenario changes any row of each unit (a unit that already has the remedy
    cannot be targeted with it)."""
    after = scenario.apply(frame, scaling=model.scaling)
    columns = list(scenario.variables)
    row_changed = (after[columns] != frame[columns]).any(axis=1).to_numpy()
    return np.bincount(codes, weights=row_changed, minlength=n_units) > 0


def targeting(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None = None,
    *,
    outcome: str = "survival",
    quantity: str = "S(24)",
    level: str | None = None,
    group_effects: str = "fitted",
    mediators: str = "modelled",
    descending: bool = True,
    top: int = 15,
    settings: EstimandSettings | None = None,
) -> TargetingResult:
    """Rank the units that decide a remedy by its expected gain for one outcome quantity.

    Parameters
    ----------
    fit : Fit
    data : DataFrame or study
        The status quo.
    scenarios : optional
        Default: the built-in remedies; one ranking per scenario.
    outcome, quantity : str
        The gain to rank by (default ΔS(24) of ``survival``); ``quantity`` is a label of
        :attr:`ContrastResult.table` (``"S(24)"``, ``"P(>=4)"``, ``"E"``, ``"P"``).
    level : str, optional
        The units ranked; default: where each scenario's remedy is decided
        (:func:`decision_level`: counties for collaboration, townships for resources and
        technical capacity). Units a scenario leaves unchanged (counties that already have the
        mechanism) are not ranked.
    descending : bool
        Rank the largest gain first (``False`` for outcomes where lower is better).
    top : int
        The rank cut-off of ``pr_top``: the posterior probability that a unit is among the
        ``top`` that gain most (from the ranks of every draw, :func:`rank_summary`).
    group_effects, mediators, settings
        As in :func:`grassroots.estimands.contrasts.contrasts`. Memory: (scenarios + 1) x
        units x draws floats; ``EstimandSettings.thin`` reduces it.

    Returns
    -------
    TargetingResult
    """
    from grassroots.inference.fit_result import resolve_data

    frame, _ = resolve_data(data)
    model = FitModel(fit, group_effects=group_effects, mediators=mediators, settings=settings)
    return run_targeting(
        model,
        frame,
        resolve_scenarios(scenarios),
        outcome=outcome,
        quantity=quantity,
        level=level,
        descending=descending,
        top=top,
        settings=settings,
    )


# ---------------------------------------------------------------------------------------------
# A budget-constrained allocation

ALLOCATIONS: tuple[str, ...] = ("targeted", "random", "difference")


@dataclass
class AllocationResult:
    """A remedy given to the units a budget can fund, chosen by expected gain per cost, against
    a random choice of units with the same budget.

    Attributes
    ----------
    table : DataFrame
        One row per allocation (``targeted``, ``random``, ``difference`` = targeted - random):
        ``n_units`` (units funded; the average over the random orders for ``random``),
        ``spent`` (cost of the funded units), the posterior of the total gain (``mean``,
        ``median``, ``lower``, ``upper``, ``pr_positive``), and ``scenario``, ``level``,
        ``budget``, ``total_cost`` (of funding every candidate), ``n_candidates``,
        ``outcome``, ``quantity``, ``cost_unit``, ``random_orders``.
    units : DataFrame
        The candidate units in the greedy order: ``unit``, the ids, ``cost``, ``gain`` (the
        posterior mean total gain: projects x unit-average contrast), ``gain_per_cost``,
        ``funded`` and ``cumulative_cost``.
    draws : xarray.DataArray
        The total gain of every posterior draw, dims ``(allocation, chain, draw)``.
    prob : float
    """

    table: pd.DataFrame
    units: pd.DataFrame
    draws: xr.DataArray
    prob: float


def remedy_costs(
    frame: pd.DataFrame,
    scenario: Scenario,
    variable: str,
    *,
    level: str | None = None,
    per: str | None = None,
    factor: float = 1.0,
    groups: Sequence[tuple[str, str]] = DEFAULT_GROUPS,
    scaling: Scaling | None = None,
) -> pd.Series:
    """What a scenario costs in each unit: its change of ``variable`` in the natural unit, times
    the unit's ``per`` column, times ``factor``.

    For resources (log CNY per resident) raised by +1 SD, ``per="population"`` (thousand
    residents) and ``factor=1000`` give the CNY a township needs: ``(exp(x + SD) - exp(x))``
    CNY per resident x its residents.

    Returns
    -------
    Series
        Indexed by the unit labels of :attr:`TargetingResult.draws` (``"C01/T0101"``).
    """
    frame = frame.reset_index(drop=True)
    level = level or decision_level(scenario, frame, groups)
    codes, first = level_units(frame, groups, level)
    change = scenario.natural_change(frame, variable, scaling=scaling).to_numpy()
    cost = change * (frame[per].to_numpy(dtype=float) if per is not None else 1.0) * factor
    if not np.allclose(cost, cost[first][codes], equal_nan=True):
        raise EstimandError(
            f"the cost of {scenario.name!r} varies within {level}s: {variable!r}"
            + (f" and {per!r}" if per else "")
            + f" must be {level}-level columns"
        )
    present = [(name, column) for name, column in groups if column in frame.columns]
    id_columns = [column for _, column in present][: [n for n, _ in present].index(level) + 1]
    labels = ["/".join(str(frame[c].iloc[row]) for c in id_columns) for row in first]
    return pd.Series(cost[first], index=pd.Index(labels, name="unit"), name="cost")


def allocate(
    targeted: TargetingResult,
    scenario: str,
    budget: float,
    *,
    costs: pd.Series | None = None,
    cost_unit: str = "units",
    random_orders: int = 1000,
    seed: int = 0,
) -> AllocationResult:
    """Fund the remedy in the units a budget allows, by expected gain per cost; compare with a
    random allocation of the same budget.

    The gain of a unit is the total over its projects (projects x the unit-average contrast of
    :func:`targeting`): for ΔS(24), the expected number of additional projects still running at
    24 months. Units are taken greedily in decreasing order of posterior mean gain per cost,
    skipping any that no longer fits the budget and any without a positive expected gain; greedy
    is not guaranteed to be the best choice (a knapsack problem) but is close when every unit
    costs little against the budget. The random allocation takes the candidates in a random
    order under the same rule but without looking at the gains, ``random_orders`` times (seeded);
    its gain in a draw is the average over those orders.

    Parameters
    ----------
    targeted : TargetingResult
        The ranked units of ``scenario``.
    scenario : str
    budget : float
        In the unit of ``costs``; without ``costs``, the number of units funded.
    costs : Series, optional
        Each unit's cost, indexed by unit label (:func:`remedy_costs`); default 1 per unit.
    cost_unit : str
        What ``costs`` and ``budget`` are counted in (for tables).
    random_orders : int
    seed : int
        Seed of the random orders; the same seed gives the same result.

    Returns
    -------
    AllocationResult
    """
    ranked = targeted.table[targeted.table["scenario"] == scenario]
    if ranked.empty:
        known = list(dict.fromkeys(targeted.table["scenario"]))
        raise EstimandError(f"no ranked units of scenario {scenario!r}; the result has {known}")
    if not np.isfinite(budget) or budget <= 0:
        raise EstimandError(f"budget must be a positive number, not {budget!r}")
    if random_orders < 1:
        raise EstimandError(f"random_orders must be at least 1, not {random_orders!r}")
    labels = ranked["unit"].to_numpy()
    if costs is None:
        cost = np.ones(len(labels))
    else:
        missing = [label for label in labels if label not in costs.index]
        if missing:
            raise EstimandError(
                f"costs lack {len(missing)} unit(s) of {scenario!r}, e.g. {missing[:3]}; index "
                "them by the unit labels of the targeting result (remedy_costs does)"
            )
        cost = costs.reindex(labels).to_numpy(dtype=float)
        if not (np.isfinite(cost) & (cost > 0)).all():
            raise EstimandError(f"every unit's cost must be a positive number ({scenario!r})")
    contrast = targeted.draws.sel(scenario=scenario, unit=list(labels))
    gains = (contrast * xr.DataArray(ranked["n_rows"].to_numpy(float), dims="unit")).transpose(
        "unit", "chain", "draw"
    )
    expected = gains.mean(("chain", "draw")).to_numpy()
    order = np.lexsort((np.arange(len(labels)), -expected / cost))
    candidates = order[expected[order] > 0]
    funded = _fill(candidates, cost, budget)
    rng = np.random.default_rng(seed)
    chosen = np.zeros((random_orders, len(labels)))
    for row in range(random_orders):
        chosen[row, _fill(rng.permutation(len(labels)), cost, budget)] = 1.0
    values = gains.to_numpy()
    targeted_gain = values[funded].sum(axis=0)
    random_gain = np.tensordot(chosen.mean(axis=0), values, axes=1)
    draws = xr.DataArray(
        np.stack([targeted_gain, random_gain, targeted_gain - random_gain]),
        dims=("allocation", "chain", "draw"),
        coords={"allocation": list(ALLOCATIONS), "chain": gains["chain"], "draw": gains["draw"]},
    )
    stats = summarise(draws.stack(sample=("chain", "draw")).to_numpy(), targeted.prob)
    random_spent = (chosen @ cost).mean()
    table = pd.DataFrame(
        {
            "allocation": list(ALLOCATIONS),
            "n_units": [float(funded.size), chosen.sum(axis=1).mean(), np.nan],
            "spent": [float(cost[funded].sum()), float(random_spent), np.nan],
            **{key: value for key, value in stats.items()},
        }
    )
    table.insert(0, "scenario", scenario)
    table["level"] = ranked["level"].iloc[0]
    table["budget"] = float(budget)
    table["total_cost"] = float(cost.sum())
    table["n_candidates"] = len(labels)
    table["outcome"], table["quantity"] = targeted.outcome, targeted.quantity
    table["cost_unit"] = cost_unit
    table["random_orders"] = random_orders
    table["group_effects"] = targeted.group_effects
    ids = [
        c for c in ("county_id", "township_id") if c in ranked.columns and ranked[c].notna().any()
    ]
    units = ranked.iloc[order][["unit", *ids]].reset_index(drop=True)
    units["cost"] = cost[order]
    units["gain"] = expected[order]
    units["gain_per_cost"] = expected[order] / cost[order]
    units["funded"] = np.isin(order, funded)
    units["cumulative_cost"] = np.cumsum(np.where(units["funded"], units["cost"], 0.0))
    return AllocationResult(table, units, draws, targeted.prob)


def _fill(order: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """The units taken in ``order`` while the budget lasts, skipping any that no longer fits."""
    taken, spent = [], 0.0
    for unit in order:
        if spent + cost[unit] <= budget:
            taken.append(unit)
            spent += cost[unit]
    return np.asarray(taken, dtype=np.int64)
