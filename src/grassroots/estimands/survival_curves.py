"""Posterior predictive survival averaged over the projects of each group.

:func:`survival_by_group` is what a group's Kaplan-Meier curve estimates (when censoring is
independent of the outcome), computed from a survival fit's draws: for every draw, S(t) of every
project of the group, with its covariates and its county's and township's fitted effects,
averaged over the projects; the band is the posterior interval of that average. The paper's
Figures 4-5 draw it against the Kaplan-Meier curves; :func:`~grassroots.estimands.store.
result_reused` keeps it in the fitted folder, as it takes every draw of every project at 61 times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grassroots.data import schema
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.inference.fit_result import StudyLike, outcome_of, resolve_data

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "SurvivalByGroup",
    "observed_survival",
    "survival_by_group",
    "survival_columns",
    "survival_groups",
]

#: Points of the default time grid, from 0 to the longest follow-up.
DEFAULT_GRID_POINTS = 61


@dataclass(frozen=True)
class SurvivalByGroup:
    """Posterior predictive survival of each group of ``by``.

    Attributes
    ----------
    table
        ``group, time, median, lower, upper``: the posterior median and interval of the
        group's average S(t), up to the group's longest follow-up.
    by
        The grouping column.
    outcome
        The survival outcome of the fit.
    prob
        Mass of the interval.
    """

    table: pd.DataFrame
    by: str
    outcome: str
    prob: float


def survival_columns(fit: Fit, outcome: str) -> tuple[str, str]:
    """The follow-up time and event columns of ``outcome``; a ValueError when it is not a
    survival outcome of ``fit``."""
    spec = fit.spec.outcome(outcome)
    if spec.family != "survival":
        raise ValueError(f"outcome {outcome!r} of {fit.spec.name!r} is not a survival outcome")
    return spec.columns["time"], spec.columns["event"]


def observed_survival(frame: pd.DataFrame, time: str, event: str) -> pd.DataFrame:
    """The rows of ``frame`` with follow-up time and event both observed, renumbered."""
    keep = frame[time].notna() & frame[event].notna()
    return frame[keep].reset_index(drop=True)


def survival_groups(frame: pd.DataFrame, by: str) -> list[Any]:
    """Levels of ``by`` present in the data, in codebook order when the codebook has one."""
    present = list(pd.unique(frame[by].dropna()))
    try:
        allowed = schema.variable(by).allowed
    except KeyError:
        allowed = None
    if allowed:
        order = {str(level): k for k, level in enumerate(allowed)}
        return sorted(present, key=lambda v: (order.get(str(v), len(order)), str(v)))
    return sorted(present, key=str)


def survival_by_group(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    *,
    by: str,
    outcome: str | None = None,
    times: Sequence[float] | None = None,
    group_effects: str = "fitted",
    max_draws: int = 1000,
    prob: float = DEFAULT_PROB,
) -> SurvivalByGroup:
    """Posterior predictive survival averaged over each group's projects.

    Parameters
    ----------
    fit
        A survival fit (or a structural fit with ``outcome``).
    data
        The fitted data (flat table or study).
    by
        Column whose groups get a curve each.
    outcome
        For fits with several outcomes.
    times
        Time grid (default: 61 points from 0 to the longest follow-up); each group's curve stops
        at the group's longest follow-up.
    group_effects
        ``fitted`` (default), ``new`` or ``none``; see ``Fit.predict``.
    max_draws
        Posterior draws used at most (evenly thinned): a band needs far fewer than a fit holds.
    prob
        Mass of the interval.
    """
    from grassroots.models.builder import predict_draws

    name = outcome_of(fit, outcome)
    time, event = survival_columns(fit, name)
    frame = observed_survival(resolve_data(data)[0], time, event)
    horizon = float(frame[time].max())
    grid = (
        np.linspace(0.0, horizon, DEFAULT_GRID_POINTS)
        if times is None
        else np.asarray(times, dtype=float)
    )
    posterior = fit.posterior
    total = posterior.sizes["chain"] * posterior.sizes["draw"]
    posterior = posterior.isel(draw=slice(None, None, max(1, math.ceil(total / max_draws))))
    parts = []
    for group in survival_groups(frame, by):
        rows = frame[frame[by] == group]
        shown = grid[grid <= float(rows[time].max())]
        predicted = predict_draws(
            fit.spec, fit.scaling, posterior, rows, composite=fit.composite,
            group_effects=group_effects, seed=fit.seed, outcomes=[name],
            model_coords=fit.model_coords, average_rows=True, times=shown,
        )  # fmt: skip
        draws = predicted[f"{name}_S"]
        q = draws.quantile([0.5, (1 - prob) / 2, (1 + prob) / 2], dim=("chain", "draw"))
        parts.append(
            pd.DataFrame(
                {
                    "group": group,
                    "time": shown,
                    "median": q.isel(quantile=0).to_numpy(),
                    "lower": q.isel(quantile=1).to_numpy(),
                    "upper": q.isel(quantile=2).to_numpy(),
                }
            )
        )
    return SurvivalByGroup(pd.concat(parts, ignore_index=True), by, name, prob)
