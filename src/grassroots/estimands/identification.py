"""What each contrast of Table 5 assumes, checked where the graph and the data can check it.

A g-computed contrast of a scenario (a remedy) on an outcome is causal under four assumptions
(Hernán & Robins, *Causal Inference: What If*, 2020, ch. 3 and 7):

* **no unmeasured remedy-outcome confounding**: the set the g-computation conditions on blocks
  every back-door path from the remedy to the outcome. Checked by d-separation in the spec's
  graph (:mod:`grassroots.models.dag`): ``backdoor_valid``. What the graph cannot show, a cause
  of both that nobody measured, is what Table 5b's E-values bound;
* **no unmeasured mediator-outcome confounding**, for the split of the total effect through the
  strategies (Table 6), not for the total effect itself: ``mediator_valid`` (per mediator, all
  of them must hold);
* **positivity**: the scenario's values occur in the data. Evidence: for a ``set`` value, the
  share of units (counties for a county column) that already have it; for a shift or floor,
  the share of units whose new value lies within the observed range (the rest is
  extrapolation by the model): ``positivity_share``, the smallest over the scenario's columns;
* **consistency and no interference**: the remedy is well defined whatever way it is brought
  about, and one unit's remedy does not change another's outcome. Not testable; stated per the
  level at which the remedy is set (``levels``).

Examples
--------
>>> from grassroots.estimands import builtin_scenarios                          # doctest: +SKIP
>>> assumptions(spec_dag("structural"), builtin_scenarios().select(), frame)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd

from grassroots.estimands._engine import EstimandError
from grassroots.estimands.scenarios import ROW_LEVEL, Scenario, SetValue, variable_level
from grassroots.models.dag import (
    adjustment_set,
    is_valid_adjustment,
    mediator_adjustment_set,
)
from grassroots.models.design import Scaling

__all__ = ["TABLE_COLUMNS", "assumptions", "positivity"]

TABLE_COLUMNS = (
    "scenario",
    "outcome",
    "treatments",
    "levels",
    "adjustment",
    "group_effects",
    "backdoor_valid",
    "mediators",
    "mediator_valid",
    "positivity_share",
)


def _unit_values(frame: pd.DataFrame, column: str, level: str, groups) -> pd.Series:
    """One value per unit of ``level`` (each township once for a township column)."""
    if level == ROW_LEVEL:
        return frame[column]
    columns = [c for name, c in groups if c in frame.columns]
    depth = [name for name, c in groups if c in frame.columns].index(level) + 1
    return frame.groupby(columns[:depth], sort=True, observed=True)[column].first()


def positivity(
    frame: pd.DataFrame, scenario: Scenario, *, scaling: Scaling | None = None
) -> pd.DataFrame:
    """Evidence of positivity for each column ``scenario`` changes.

    Returns
    -------
    DataFrame
        One row per column: ``scenario``, ``variable``, ``level`` (the unit it is measured
        on), ``units``, ``kind`` (``set`` or ``range``), ``value`` (the set value, else empty),
        ``share``: of units already at the set value, or of units whose new value lies in the
        observed range (the rest is extrapolation).
    """
    frame = frame.reset_index(drop=True)
    changed = scenario.apply(frame, scaling=scaling)
    # The last step on a column decides what it becomes.
    last_step = {step.variable: step for step in scenario.steps}
    rows = []
    for column in scenario.variables:
        level = variable_level(frame, column, scenario.groups)
        before = _unit_values(frame, column, level, scenario.groups)
        after = _unit_values(changed, column, level, scenario.groups)
        if isinstance(last_step[column], SetValue):
            value = last_step[column].value
            share = float((before == value).mean())
            rows.append((scenario.name, column, level, len(before), "set", value, share))
            continue
        observed = before.to_numpy(dtype=float)
        new = after.to_numpy(dtype=float)
        inside = (new >= np.nanmin(observed)) & (new <= np.nanmax(observed))
        rows.append((scenario.name, column, level, len(before), "range", "", float(inside.mean())))
    return pd.DataFrame(
        rows, columns=["scenario", "variable", "level", "units", "kind", "value", "share"]
    )


def assumptions(
    dag: nx.DiGraph,
    scenarios: Sequence[Scenario],
    frame: pd.DataFrame,
    *,
    outcomes: Sequence[str] | None = None,
    scaling: Scaling | None = None,
    group_effects: str = "fitted",
) -> pd.DataFrame:
    """The assumptions of every scenario-outcome contrast and what checks them.

    Parameters
    ----------
    dag
        :func:`grassroots.models.dag.spec_dag` of the fitted spec.
    scenarios
        The scenarios of Table 5.
    frame
        The status-quo data (one row per project), for the positivity evidence.
    outcomes
        Outcomes (graph nodes) to report; default: every outcome and mediator of the graph.
    scaling
        The fit's predictor scaling (its SDs define "+1 SD", as in the contrasts).
    group_effects
        As in :func:`grassroots.estimands.contrasts`: ``fitted`` effects are conditioned on.

    Returns
    -------
    DataFrame
        One row per scenario and outcome, columns :data:`TABLE_COLUMNS`: ``treatments`` and
        ``levels`` (the scenario's columns and their levels, comma-separated), ``adjustment``
        (the conditioning set, comma-separated), ``backdoor_valid``, ``mediators`` (the
        mediators upstream of the outcome), ``mediator_valid`` (``None`` without mediators),
        ``positivity_share`` (the smallest share of :func:`positivity` over the scenario's
        columns; the evidence itself is :func:`positivity`'s).
    """
    if outcomes is None:
        outcomes = [
            n for n, data in dag.nodes(data=True) if data["role"] in ("outcome", "mediator")
        ]
    rows = []
    for scenario in scenarios:
        treatments = set(scenario.variables)
        if missing := sorted(treatments - set(dag)):
            raise EstimandError(
                f"scenario {scenario.name!r} changes {missing}, which the spec "
                f"{dag.graph.get('spec')!r} does not use: it has no effect to identify"
            )
        evidence = positivity(frame, scenario, scaling=scaling)
        for outcome in outcomes:
            adjustment = adjustment_set(dag, treatments, outcome, group_effects=group_effects)
            upstream = sorted(
                m for m in nx.ancestors(dag, outcome) if dag.nodes[m]["role"] == "mediator"
            )
            mediator_valid = None
            if upstream:
                mediator_valid = all(
                    is_valid_adjustment(
                        dag, {m}, outcome,
                        mediator_adjustment_set(dag, m, outcome, treatments,
                                                group_effects=group_effects),
                    )
                    for m in upstream
                )  # fmt: skip
            rows.append({
                "scenario": scenario.name,
                "outcome": outcome,
                "treatments": ", ".join(scenario.variables),
                "levels": ", ".join(evidence["level"]),
                "adjustment": ", ".join(sorted(adjustment)),
                "group_effects": group_effects,
                "backdoor_valid": is_valid_adjustment(dag, treatments, outcome, adjustment),
                "mediators": ", ".join(upstream),
                "mediator_valid": mediator_valid,
                "positivity_share": float(evidence["share"].min()),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
