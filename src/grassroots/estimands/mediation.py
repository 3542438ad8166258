"""Mediation of the contrasts through the strategies, from the joint structural model.

Notation: ``x`` the status-quo covariates, ``x^s`` the scenario's; ``M = (E, X, Q)`` the binary
mediators in causal order (extensive, expedient, short_sighted; ``Q`` depends on ``E`` and
``X``); ``Y`` an outcome quantity (S(t), P(fit >= 4), the expected rating, P(short_sighted)).
``E[Y(a, M(b))]`` is the average over the projects of the outcome when the outcome model sees
the covariates of ``a`` and the mediators follow their distribution under ``b``. Every
expectation is taken per posterior draw, exactly: the outcome is averaged over all 0/1 values of
its mediators, weighted by their predicted probabilities, which given the covariates and the
group effects are independent except through the arrows E -> Q and X -> Q::

    P(E = e, X = x, Q = q | .) = P(E = e | .) P(X = x | .) P(Q = q | ., e, x)

(the assumption of the structural model: the strategies depend on each other only through the
covariates and the correlated township effects, which are held at their fitted values or a
shared new draw).

**Estimands** (natural effects, Pearl 2001; VanderWeele 2015), for scenario ``s`` against the
status quo ``0``:

* total effect ``TE = E[Y(s, M(s))] - E[Y(0, M(0))]``: the contrast of :mod:`.contrasts`;
* natural direct effect ``NDE = E[Y(s, M(0))] - E[Y(0, M(0))]``: the scenario acting on the
  outcome with the strategies (and short-sightedness) kept at their status-quo distribution;
* natural indirect effect ``NIE = E[Y(s, M(s))] - E[Y(s, M(0))]``: the change the strategies
  carry when they, too, respond, the covariates of the outcome model held at the scenario;
* ``TE = NDE + NIE`` exactly (draw by draw).

**Per mediator** (path-specific, sequential): the mediators' models are switched from the
status quo to the scenario one at a time, in causal order (``order``, default extensive,
expedient, short_sighted), the outcome model always at the scenario::

    via E = E[Y(s; E^s, X^0, Q^0)] - E[Y(s; E^0, X^0, Q^0)]
    via X = E[Y(s; E^s, X^s, Q^0)] - E[Y(s; E^s, X^0, Q^0)]
    via Q = E[Y(s; E^s, X^s, Q^s)] - E[Y(s; E^s, X^s, Q^0)]

where ``E^s`` means ``E``'s model sees ``x^s``. ``Q`` always responds to the values ``E`` and ``X``
take, so "via E" includes the path E -> Q -> Y, and "via Q" is the part through short-sightedness
that does not run through the strategies (the scenario acting on Q's own covariates). The parts
add up to ``NIE`` exactly; because ``Y`` is not linear in the mediators' probabilities the split
depends on the order (the interaction of two mediators' changes goes to the later one): state
the order with the numbers (``order`` column). Only an outcome's own mediator ancestors appear
(demand fit has no short_sighted part, P(short_sighted) only E and X).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from grassroots.estimands._engine import (
    STATUS_QUO,
    EstimandError,
    FitModel,
    Grouping,
    Model,
    Regime,
    Request,
    concatenate,
    evaluate,
    regime,
    summarise,
)
from grassroots.estimands.contrasts import resolve_scenarios
from grassroots.estimands.scenarios import Scenario, ScenarioSet
from grassroots.estimands.settings import DEFAULT_PROB, EstimandSettings

if TYPE_CHECKING:
    from grassroots.inference.fit_result import Fit, StudyLike

__all__ = ["MediationResult", "mediation", "run_mediation"]

TABLE_COLUMNS = (
    "model",
    "scenario",
    "outcome",
    "quantity",
    "effect",
    "via",
    "mean",
    "median",
    "lower",
    "upper",
    "pr_positive",
    "group_effects",
    "order",
)


@dataclass
class MediationResult:
    """Total, natural direct and natural indirect effects, and the indirect effect per mediator.

    Attributes
    ----------
    table : DataFrame
        One row per scenario, outcome, quantity and component: ``effect`` is ``total``,
        ``direct`` or ``indirect``; ``via`` is ``""`` (total, direct), ``"all"`` (the whole
        indirect effect) or a mediator (its sequential part); summaries as in
        :class:`~grassroots.estimands.contrasts.ContrastResult`; ``order`` the order of the
        sequential split.
    draws : xarray.DataArray
        Dims ``(scenario, estimand, component, chain, draw)``; ``component`` is ``total``,
        ``direct``, ``indirect`` and ``via <mediator>`` (NaN for a mediator that is not upstream
        of the estimand's outcome).
    order : tuple of str
    prob : float
    """

    table: pd.DataFrame
    draws: xr.DataArray
    order: tuple[str, ...]
    prob: float = DEFAULT_PROB

    def summary(self, prob: float | None = None) -> pd.DataFrame:
        """The table with intervals of another mass, recomputed from the draws."""
        if prob is None or prob == self.prob:
            return self.table.copy()
        return _table(self.draws, prob)

    def __str__(self) -> str:
        lines = [f"Mediation ({self.prob:.0%} intervals; sequential order {', '.join(self.order)})"]
        for row in self.table.itertuples(index=False):
            via = f" via {row.via}" if row.via not in ("", "all") else ""
            lines.append(
                f"  {row.scenario:<26} {row.outcome}:{row.quantity:<8} {row.effect + via:<28} "
                f"{row.median:+.4f} [{row.lower:+.4f}, {row.upper:+.4f}]"
            )
        return "\n".join(lines)


def run_mediation(
    model: Model,
    frame: pd.DataFrame,
    scenarios: Sequence[Scenario],
    *,
    outcomes: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    settings: EstimandSettings | None = None,
) -> MediationResult:
    """Mediation for any engine model (a posterior fit, or the truth); of ``settings`` (default
    :class:`EstimandSettings`) ``prob``, ``max_cells`` and ``workers`` are used."""
    settings = settings or EstimandSettings()
    if not model.mediators:
        raise EstimandError(
            f"model {model.name!r} predicts no mediator (no binary outcome of it is a predictor "
            "of another); mediation needs the joint structural fit"
        )
    order = tuple(model.mediators if order is None else order)
    if sorted(order) != sorted(model.mediators):
        raise EstimandError(
            f"order {list(order)} must list each mediator of {model.name!r} once: "
            f"{list(model.mediators)}"
        )
    mediated = [name for name, info in model.outcomes.items() if info.ancestors]
    names = mediated if outcomes is None else list(outcomes)
    bad = [name for name in names if name not in mediated]
    if bad:
        raise EstimandError(
            f"outcome(s) {bad} of {model.name!r} have no mediator upstream; mediated outcomes: "
            f"{mediated}"
        )
    frame = frame.reset_index(drop=True)
    tables = {STATUS_QUO: frame}
    for scenario in scenarios:
        touched = set(scenario.variables) & set(model.mediator_columns.values())
        if touched:
            raise EstimandError(
                f"scenario {scenario.name!r} changes the mediator(s) {sorted(touched)}"
            )
        tables[scenario.name] = scenario.apply(frame, scaling=model.scaling)

    plans: dict[tuple[str, str], tuple[tuple[str, ...], list[Regime]]] = {}
    for name in names:
        steps = tuple(m for m in order if m in model.outcomes[name].ancestors)
        for scenario in scenarios:
            chain = [regime(model, STATUS_QUO)]
            switched: dict[str, str] = {}
            chain.append(regime(model, scenario.name, {m: STATUS_QUO for m in model.mediators}))
            for mediator in steps:
                switched[mediator] = scenario.name
                chain.append(
                    regime(
                        model,
                        scenario.name,
                        {m: switched.get(m, STATUS_QUO) for m in model.mediators},
                    )
                )
            plans[(scenario.name, name)] = (steps, chain)
    requests = [
        Request(
            name,
            tuple(dict.fromkeys(r for s in scenarios for r in plans[(s.name, name)][1])),
        )
        for name in names
    ]
    overall = [Grouping.overall(len(frame))]
    collected = concatenate(evaluate(model, tables, requests, overall, settings=settings))

    components = ["total", "direct", "indirect", *(f"via {m}" for m in order)]
    blocks = []
    estimands: list[tuple[str, str]] = []
    for name in names:
        labels = model.outcomes[name].quantities
        estimands += [(name, q) for q in labels]
    for scenario in scenarios:
        per_estimand = []
        for name in names:
            steps, chain = plans[(scenario.name, name)]
            level = {
                k: collected[(name, reg, "all")][:, :, 0, :] for k, reg in enumerate(chain)
            }  # each (chains, draws, Q)
            status_quo, direct_world, total_world = level[0], level[1], level[len(chain) - 1]
            values = {
                "total": total_world - status_quo,
                "direct": direct_world - status_quo,
                "indirect": total_world - direct_world,
            }
            for k, mediator in enumerate(steps):
                values[f"via {mediator}"] = level[k + 2] - level[k + 1]
            nan = np.full_like(status_quo, np.nan)
            # (component, chains, draws, Q) -> (Q, component, chains, draws)
            stacked = np.stack([values.get(c, nan) for c in components]).transpose(3, 0, 1, 2)
            per_estimand.append(stacked)
        blocks.append(np.concatenate(per_estimand, axis=0))
    array = np.stack(blocks)
    draws = xr.DataArray(
        array,
        dims=("scenario", "estimand", "component", "chain", "draw"),
        coords={
            "scenario": [s.name for s in scenarios],
            "estimand": [f"{o}:{q}" for o, q in estimands],
            "outcome": ("estimand", [o for o, _ in estimands]),
            "quantity": ("estimand", [q for _, q in estimands]),
            "component": components,
            "chain": np.arange(array.shape[3]),
            "draw": np.arange(array.shape[4]),
        },
        attrs={"model": model.name, "group_effects": model.group_effects, "order": list(order)},
    )
    return MediationResult(_table(draws, settings.prob), draws, order, settings.prob)


def _table(draws: xr.DataArray, prob: float) -> pd.DataFrame:
    samples = draws.stack(sample=("chain", "draw")).transpose(
        "scenario", "estimand", "component", ...
    )
    stats = summarise(samples.to_numpy(), prob)
    rows = []
    for i, scenario in enumerate(draws.coords["scenario"].values):
        for j, outcome in enumerate(draws.coords["outcome"].values):
            for k, component in enumerate(draws.coords["component"].values):
                if np.isnan(stats["mean"][i, j, k]):
                    continue
                if component.startswith("via "):
                    effect, via = "indirect", component.removeprefix("via ")
                else:
                    effect, via = component, "all" if component == "indirect" else ""
                rows.append(
                    {
                        "model": draws.attrs["model"],
                        "scenario": scenario,
                        "outcome": outcome,
                        "quantity": str(draws.coords["quantity"].values[j]),
                        "effect": effect,
                        "via": via,
                        **{key: float(value[i, j, k]) for key, value in stats.items()},
                        "group_effects": draws.attrs["group_effects"],
                        "order": " > ".join(draws.attrs["order"]),
                    }
                )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def mediation(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None = None,
    *,
    outcomes: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    group_effects: str = "fitted",
    settings: EstimandSettings | None = None,
) -> MediationResult:
    """Total, direct and indirect effects of scenarios, per mediator (see the module docstring).

    Parameters
    ----------
    fit : Fit
        A fit whose spec models the mediators (the ``structural`` spec).
    data : DataFrame or study
        The status quo.
    scenarios : optional
        Default: the built-in remedies.
    outcomes : sequence of str, optional
        Outcomes with mediators upstream (default: all of them: survival, demand fit,
        short_sighted).
    order : sequence of str, optional
        Order of the sequential per-mediator split (default: causal order, as in the spec).
    group_effects, settings
        As in :func:`grassroots.estimands.contrasts.contrasts`.

    Returns
    -------
    MediationResult
    """
    from grassroots.inference.fit_result import resolve_data

    frame, _ = resolve_data(data)
    model = FitModel(fit, group_effects=group_effects, mediators="modelled", settings=settings)
    return run_mediation(
        model,
        frame,
        resolve_scenarios(scenarios),
        outcomes=outcomes,
        order=order,
        settings=settings,
    )
