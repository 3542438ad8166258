"""The truth of a simulated study as ``truth.json`` records it: models, conventions, summaries.

Floats are cut to fixed significant digits (:func:`stable_values`), so the file is the same wherever
the draws are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from grassroots.data.schema import DAYS_PER_MONTH
from grassroots.data.simulation_config import SimulationConfig
from grassroots.data.simulation_rules import CATEGORICAL_COLUMNS, categorical_levels

TRUTH_SCHEMA_VERSION = 1


# Significant digits of the other floats in truth.json: hides last-ulp differences of summations
# between platforms, so the file is stable wherever the draws are.
_TRUTH_SIGNIFICANT = 12


TRUTH_CONVENTIONS: dict[str, Any] = {
    "centring": "every term enters as coef * (x - mean(x)); an interaction a:b as "
    "coef * (a - mean(a)) * (b - mean(b)); means over the simulated projects",
    "sd": "population SD (ddof=0) over the simulated projects",
    "coef_per_sd": "coef * sd(x); for a:b, coef * sd(a) * sd(b) (the coefficient on the "
    "product of standardised components)",
    "exp_coef_per_sd": "odds ratio (logit, cumulative logit) or hazard ratio (survival) per SD",
    "values": "linear predictors use the values as written to the CSV files",
    "months": f"days / {DAYS_PER_MONTH}",
    "reference_levels": {c: categorical_levels(c)[0] for c in CATEGORICAL_COLUMNS},
}


def logit_truth(intercept: float, terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": "bernoulli",
        "link": "logit",
        "formula": "logit P(y = 1) = intercept + sum_j coef_j * term_j + u_county + u_township",
        "intercept": float(intercept),
        "terms": terms,
    }


def survival_truth(
    cfg: SimulationConfig, terms: dict[str, Any], short_sighted: np.ndarray
) -> dict[str, Any]:
    k, lam = cfg.weibull_shape, cfg.weibull_scale
    return {
        "family": "weibull_proportional_hazards",
        "time_unit": "months",
        "hazard": (
            "h(t) = shape / scale * (t / scale)**(shape - 1) * exp(eta + gamma * short_sighted "
            "* 1[t > onset]), eta = sum_j coef_j * term_j + u_county + u_township; "
            "S(t) = exp(-H(t))"
        ),
        "weibull_shape": float(k),
        "weibull_scale": float(lam),
        "log_baseline_rate": -k * math.log(lam),
        "log_baseline_rate_note": "h0(t) = shape * t**(shape - 1) * exp(log_baseline_rate)",
        "intercept": 0.0,
        "terms": terms,
        "time_varying": {
            "short_sighted": {
                "log_hr": float(cfg.short_sighted_log_hr),
                "hr": math.exp(cfg.short_sighted_log_hr),
                "onset_months": float(cfg.short_sighted_onset_months),
                "centred": False,
                "mean": float(short_sighted.mean()),
                "sd": float(short_sighted.std()),
                "coef_per_sd": float(cfg.short_sighted_log_hr * short_sighted.std()),
                "note": "gamma applies only for t > onset and is not centred (a centred "
                "time-varying term would kink the baseline hazard at the onset)",
            }
        },
        "frailty_sign": "a positive county or township survival effect raises the hazard",
        "censoring": "right-censored at survey_date; months = min(event, follow-up) rounded "
        f"to 0.01, follow-up = (survey_date - launch_date) days / {DAYS_PER_MONTH}",
    }


def demand_fit_truth(cfg: SimulationConfig, terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": "ordinal",
        "link": "cumulative_logit",
        "formula": "P(demand_fit <= k) = logistic(c_k - eta), eta = sum_j coef_j * term_j "
        "+ u_county + u_township (higher eta, higher rating)",
        "intercept": 0.0,
        "cutpoints": [float(c) for c in cfg.cutpoints],
        "terms": terms,
        "missing": {
            "mechanism": "missing at random given discontinued",
            "rate_running": float(cfg.missing_rate_running),
            "rate_discontinued": float(cfg.missing_rate_discontinued),
        },
    }


def study_summary(
    counties: pd.DataFrame,
    townships: pd.DataFrame,
    projects: pd.DataFrame,
    follow_up: np.ndarray,
    t_per_c: np.ndarray,
    p_per_t: np.ndarray,
) -> dict[str, Any]:
    def counts(series: pd.Series, levels: tuple[str, ...]) -> dict[str, int]:
        observed = series.value_counts()
        return {level: int(observed.get(level, 0)) for level in levels}

    fit = projects["demand_fit"]
    return {
        "n_counties": len(counties),
        "n_townships": len(townships),
        "n_projects": len(projects),
        "counties_by_region": counts(counties["region"], categorical_levels("region")),
        "townships_by_type": counts(
            townships["township_type"], categorical_levels("township_type")
        ),
        "projects_by_type": counts(projects["project_type"], categorical_levels("project_type")),
        "projects_by_funding_source": counts(
            projects["funding_source"], categorical_levels("funding_source")
        ),
        "townships_per_county": {
            "min": int(t_per_c.min()),
            "mean": float(t_per_c.mean()),
            "max": int(t_per_c.max()),
        },
        "projects_per_township": {
            "min": int(p_per_t.min()),
            "mean": float(p_per_t.mean()),
            "max": int(p_per_t.max()),
        },
        "share_counties_collaboration": float(counties["collaboration"].mean()),
        "share_outsourced": float(projects["outsourced"].mean()),
        "share_extensive": float(projects["extensive"].mean()),
        "share_expedient": float(projects["expedient"].mean()),
        "share_short_sighted": float(projects["short_sighted"].mean()),
        "share_discontinued": float(projects["discontinued"].mean()),
        "share_censored": float(1.0 - projects["discontinued"].mean()),
        "share_rating_missing": float(fit.isna().mean()),
        "demand_fit_counts": {str(k): int((fit == k).sum()) for k in range(1, 6)},
        "follow_up_months": {"min": float(follow_up.min()), "max": float(follow_up.max())},
        "months_median": float(projects["months"].median()),
    }


def stable_values(value: Any) -> Any:
    """Plain Python values with floats cut to fixed significant digits (deterministic JSON)."""
    if isinstance(value, Mapping):
        return {str(k): stable_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kinds = {type(v) for v in value}
        if kinds == {float} and all(math.isfinite(v) for v in value):
            # Long lists (group effects by id) are cut in one vectorised pass.
            return _significant(np.asarray(value, dtype=float)).tolist()
        if kinds <= {str, int, bool}:
            return list(value)
        return [stable_values(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            return None
        return float(f"{value:.{_TRUTH_SIGNIFICANT}g}")
    return value


def row_correlation(rows: np.ndarray) -> list[list[float | None]] | None:
    """Correlation matrix of the rows, ``None`` where undefined (constant or too few values)."""
    if rows.shape[1] < 3:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = rows.std(axis=1)
        centred = rows - rows.mean(axis=1, keepdims=True)
        corr = (centred @ centred.T) / rows.shape[1] / np.outer(sd, sd)
    return [[None if not math.isfinite(v) else round(float(v), 6) for v in row] for row in corr]


def _significant(arr: np.ndarray) -> np.ndarray:
    out = np.zeros_like(arr)
    nonzero = arr != 0
    digits = _TRUTH_SIGNIFICANT - 1 - np.floor(np.log10(np.abs(arr[nonzero]))).astype(int)
    scale = 10.0 ** digits.astype(float)
    out[nonzero] = np.rint(arr[nonzero] * scale) / scale
    return out + 0.0
