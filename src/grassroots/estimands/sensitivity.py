"""How strong an unmeasured confounder would have to be to explain a contrast away: E-values.

The E-value (VanderWeele & Ding 2017, "Sensitivity analysis in observational research:
introducing the E-value", *Annals of Internal Medicine* 167: 268-274) of a risk ratio ``RR``
is the minimum strength of association, on the risk-ratio scale, that an unmeasured
confounder ``U`` would need to have with both the remedy and the outcome, over and above the
measured covariates, to move the true ratio to 1 (no effect)::

    E = RR + sqrt(RR (RR - 1))            for RR >= 1;  for RR < 1, with 1 / RR in its place.

It rests on the bounding factor of Ding & VanderWeele (2016, *Epidemiology* 27: 368-377): a
confounder with associations ``RR_AU`` (remedy-confounder) and ``RR_UY`` (confounder-outcome)
can shift a risk ratio by at most ``RR_AU RR_UY / (RR_AU + RR_UY - 1)``;
:func:`confounder_frontier` gives the pairs on which that bound equals ``RR``.

Here every contrast of Table 5 is turned into a risk ratio **per posterior draw**, from the
g-computed averages under the scenario and under the status quo, so the E-values carry the
posterior's uncertainty:

* probabilities (S(t), P(fit >= k), P(strategy)): ``RR = counterfactual / status quo``, the
  ratio of the probability as tabulated (for S(t), of still running at month t);
* the expected rating: the standardised mean difference ``d = Delta / SD(rating)`` converted by
  ``RR ~ exp(0.91 d)`` (VanderWeele & Ding 2017, after Hasselblad & Hedges 1995), with the SD of
  the observed ratings.

For each contrast the table gives the E-value of the posterior median ratio and of the interval
limit closer to 1 (1 when the interval already includes no effect). The remedies are +1 SD
shifts or a county-level switch, so ``RR_AU`` is the ratio of the confounder's prevalence
between exposure levels that far apart.

Examples
--------
>>> from grassroots.estimands.sensitivity import e_value
>>> round(float(e_value(3.9)), 2)
7.26
>>> round(float(e_value(0.8)), 2)
1.81
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from grassroots.estimands._engine import STATUS_QUO, EstimandError
from grassroots.estimands.settings import DEFAULT_PROB

if TYPE_CHECKING:
    from grassroots.estimands.contrasts import ContrastResult

__all__ = [
    "SMD_TO_LOG_RR",
    "SensitivityResult",
    "bounding_factor",
    "confounder_frontier",
    "e_value",
    "sensitivity",
]

# ln(RR) ~ 0.91 x standardised mean difference (VanderWeele & Ding 2017, eAppendix).
SMD_TO_LOG_RR = 0.91

TABLE_COLUMNS = (
    "model",
    "scenario",
    "outcome",
    "quantity",
    "median",
    "lower",
    "upper",
    "rr_scale",
    "rr",
    "rr_lower",
    "rr_upper",
    "e_value",
    "e_value_limit",
    "limit",
)


def e_value(rr: float | np.ndarray) -> np.ndarray:
    """E-value of a risk ratio (VanderWeele & Ding 2017); ratios below 1 are inverted first.

    Raises
    ------
    ValueError
        For a ratio that is not positive and finite.
    """
    rr = np.asarray(rr, dtype=float)
    if not np.all(np.isfinite(rr) & (rr > 0)):
        raise ValueError(f"risk ratios must be positive and finite, got {rr[~(rr > 0)][:5]}")
    away = np.where(rr >= 1, rr, 1 / rr)
    return away + np.sqrt(away * (away - 1))


def bounding_factor(rr_exposure: np.ndarray | float, rr_outcome: np.ndarray | float) -> np.ndarray:
    """The most a confounder with these two associations can shift a risk ratio (Ding &
    VanderWeele 2016): ``RR_AU RR_UY / (RR_AU + RR_UY - 1)``."""
    a, b = np.asarray(rr_exposure, dtype=float), np.asarray(rr_outcome, dtype=float)
    return a * b / (a + b - 1)


def confounder_frontier(rr: float, rr_exposure: np.ndarray) -> np.ndarray:
    """The confounder-outcome ratio that, with ``rr_exposure``, just explains ``rr`` away.

    Points on the curve have :func:`bounding_factor` equal to ``max(rr, 1/rr)``; it passes
    through the E-value on the diagonal. ``NaN`` where ``rr_exposure`` is too weak for any
    confounder-outcome association to suffice (at or below the ratio itself).
    """
    target = max(rr, 1 / rr)
    a = np.asarray(rr_exposure, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > target, target * (a - 1) / (a - target), np.nan)


@dataclass
class SensitivityResult:
    """E-values of every contrast: one row per model, scenario, outcome and quantity.

    Attributes
    ----------
    table : DataFrame
        ``median``, ``lower``, ``upper``: the contrast (as in Table 5); ``rr_scale``:
        ``ratio`` or ``smd`` (the expected rating); ``rr``, ``rr_lower``, ``rr_upper``: the
        posterior median and equal-tailed interval of the per-draw risk ratio; ``e_value``: of
        the median ratio; ``e_value_limit``: of the interval limit closer to 1 (1 when the
        interval includes 1); ``limit``: ``lower`` or ``upper``, that limit.
    prob : float
        Mass of the intervals.
    """

    table: pd.DataFrame
    prob: float = DEFAULT_PROB


def _ratio_draws(
    outcome: str, quantity: str, status_quo: np.ndarray, scenario: np.ndarray,
    outcome_sd: Mapping[str, float],
) -> tuple[np.ndarray, str]:  # fmt: skip
    if quantity.startswith(("S(", "P")):
        if np.any(status_quo <= 0) or np.any(scenario <= 0):
            raise EstimandError(
                f"{outcome} {quantity}: a probability of 0 in some draw; the risk ratio (and its "
                "E-value) is undefined"
            )
        return scenario / status_quo, "ratio"
    sd = outcome_sd.get(outcome)
    if sd is None or not np.isfinite(sd) or sd <= 0:
        raise EstimandError(
            f"{outcome} {quantity} is not a probability: its E-value needs the outcome's SD; "
            f"pass outcome_sd={{{outcome!r}: <SD of the observed {outcome}>}} (got {sd!r})"
        )
    return np.exp(SMD_TO_LOG_RR * (scenario - status_quo) / sd), "smd"


def sensitivity(
    result: ContrastResult,
    *,
    outcome_sd: Mapping[str, float] | None = None,
    prob: float | None = None,
) -> SensitivityResult:
    """E-values of every overall contrast of ``result`` (the rows of Table 5).

    Parameters
    ----------
    result
        From :func:`grassroots.estimands.contrasts` (or :func:`~grassroots.estimands.
        heterogeneity`; only its overall group is used).
    outcome_sd
        SD of each outcome that is not a probability (the ordinal ratings: ``{"demand_fit":
        ...}``), from the observed data; needed for the expected rating's E-value.
    prob
        Mass of the intervals (default: the result's).

    Returns
    -------
    SensitivityResult
    """
    prob = result.prob if prob is None else prob
    if not 0 < prob < 1:
        raise EstimandError(f"prob must lie strictly between 0 and 1, not {prob!r}")
    tail = (1 - prob) / 2
    outcome_sd = dict(outcome_sd or {})
    rows = []
    for model, draws in result.draws.items():
        levels = result.levels[model].sel(group="all")
        delta = draws.sel(group="all")
        for scenario in delta.coords["scenario"].values:
            for estimand in delta.coords["estimand"].values:
                outcome = str(levels.coords["outcome"].sel(estimand=estimand).item())
                quantity = str(levels.coords["quantity"].sel(estimand=estimand).item())
                status_quo = levels.sel(table=STATUS_QUO, estimand=estimand).to_numpy().ravel()
                under = levels.sel(table=scenario, estimand=estimand).to_numpy().ravel()
                ratio, scale = _ratio_draws(outcome, quantity, status_quo, under, outcome_sd)
                difference = delta.sel(scenario=scenario, estimand=estimand).to_numpy().ravel()
                low, median, high = np.quantile(ratio, [tail, 0.5, 1 - tail])
                limit = "lower" if median >= 1 else "upper"
                bound = low if limit == "lower" else high
                crosses = (bound <= 1) if limit == "lower" else (bound >= 1)
                rows.append({
                    "model": model, "scenario": str(scenario), "outcome": outcome,
                    "quantity": quantity,
                    "median": float(np.median(difference)),
                    "lower": float(np.quantile(difference, tail)),
                    "upper": float(np.quantile(difference, 1 - tail)),
                    "rr_scale": scale, "rr": float(median), "rr_lower": float(low),
                    "rr_upper": float(high),
                    "e_value": float(e_value(median)),
                    "e_value_limit": 1.0 if crosses else float(e_value(bound)),
                    "limit": limit,
                })  # fmt: skip
    return SensitivityResult(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)), prob)
