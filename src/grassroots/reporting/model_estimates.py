"""Numbers from a fit for the model tables: coefficient estimates (ratios per SD, late effects
included), variance components with their shares of the latent-scale variance, PSIS-LOO and the
sampler's diagnostics.

**Share of variance.** Each family has a latent-scale formulation with a fixed residual
variance, so the share of level ``l`` is, per posterior draw,

    share_l = sigma_l^2 / (sum_k sigma_k^2 + r)

with ``r = pi^2 / 3`` (the standard logistic error) for the logistic and cumulative-logit models
and ``r = pi^2 / 6`` for the proportional-hazards model. The latter is a convention made
explicit here: with ``S(t | x, u) = exp(-H0(t) exp(eta + u))``, ``H0(T) exp(eta + u)`` is a unit
exponential, so ``log H0(T) = -(eta + u) + log E`` where ``log E`` follows the standard
minimum-extreme-value (Gumbel) law, whose variance is ``pi^2 / 6``: the share is measured on the
log-hazard scale of the linear predictor. The table reports the posterior median and 95%
interval of the per-draw shares (:data:`RESIDUAL_VARIANCE`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.labels import text
from grassroots.reporting.model_terms import (
    interaction_given,
    late_change_term,
    late_term,
    outcome_family,
    outcome_of,
    term_panel,
)

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "RESIDUAL_VARIANCE",
    "coefficient_estimates",
    "diagnostics_overview",
    "loo_summary",
    "variance_components",
]

#: Residual variance of each family's latent scale (see the module docstring).
RESIDUAL_VARIANCE: Mapping[str, float] = {
    "logistic": math.pi**2 / 3,
    "ordinal": math.pi**2 / 3,
    "survival": math.pi**2 / 6,
}


# --- numbers from a fit --------------------------------------------------------------------------


def _bounds(prob: float) -> tuple[str, str]:
    """Column labels of ``Fit.summary(prob)``'s interval bounds ("2.5%", "97.5%")."""
    low, high = (1 - prob) / 2, (1 + prob) / 2
    return f"{100 * low:g}%", f"{100 * high:g}%"


def _quantiles(values: np.ndarray, q: list[float], weights: np.ndarray | None) -> np.ndarray:
    """Quantiles ``q`` of ``values`` over their last axis (the draws), weighted by importance
    weights (one per draw) when given: numpy's weighted quantiles, which are defined for the
    inverted empirical CDF only; with equal weights the interpolated ones of arviz's summaries."""
    if weights is None:
        return np.quantile(values, q, axis=-1)
    return np.quantile(values, q, axis=-1, weights=weights, method="inverted_cdf")


def coefficient_estimates(
    fits: Mapping[str, Fit],
    *,
    outcome: str | None = None,
    prob: float = DEFAULT_PROB,
    weights: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Hazard or odds ratios of every coefficient of every fit, one row each.

    Parameters
    ----------
    fits
        Model name -> fit.
    outcome
        The outcome to report when a fit models several (a structural fit).
    prob
        Mass of the equal-tailed credible interval.
    weights
        Model name -> importance weights of its fit's draws (flattened chain by chain; e.g.
        :attr:`grassroots.inference.prior_reweighting.PriorReweighting.weights`): the medians
        and intervals of that model are then weighted quantiles, estimates under the prior the
        weights target. R-hat and ESS stay those of the draws.

    Returns
    -------
    DataFrame
        Columns ``model, outcome, term, panel, ratio`` (``HR``/``OR``), ``per``, ``estimate``,
        ``lower``, ``upper`` (the ratio's posterior median and interval, i.e. ``exp`` of the
        coefficient's), ``log_median``, ``log_lower``, ``log_upper``, ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``given`` (:func:`interaction_given`: the condition a main effect holds at
        when its column enters an interaction, else ""). A late effect has two rows: the
        ratio after the onset, ``exp(beta + beta_late)`` per draw (:func:`late_term`), and the
        change at the onset, ``exp(beta_late)`` (:func:`late_change_term`). The first columns
        are those :func:`~grassroots.reporting.tables.estimates_by_model` and
        :func:`~grassroots.reporting.figures.forest_plot` read.
    """
    low, high = _bounds(prob)
    parts = []
    for model, fit in fits.items():
        name = outcome_of(fit, outcome)
        summary = fit.summary(prob)
        rows = summary[(summary["outcome"] == name) & (summary["parameter"] == "beta")]
        if rows.empty and f"{name}_beta_late" not in fit.posterior:
            continue
        given = interaction_given(fit, name)
        frame = pd.DataFrame(
            {
                "term": rows["term"].to_numpy(),
                "ratio": rows["ratio"].to_numpy(),
                "per": rows["per"].to_numpy(),
                "estimate": rows["ratio_median"].to_numpy(dtype=float),
                "lower": rows[f"ratio_{low}"].to_numpy(dtype=float),
                "upper": rows[f"ratio_{high}"].to_numpy(dtype=float),
                "log_median": np.log(rows["ratio_median"].to_numpy(dtype=float)),
                "log_lower": rows[low].to_numpy(dtype=float),
                "log_upper": rows[high].to_numpy(dtype=float),
                "r_hat": rows["r_hat"].to_numpy(dtype=float),
                "ess_bulk": rows["ess_bulk"].to_numpy(dtype=float),
                "ess_tail": rows["ess_tail"].to_numpy(dtype=float),
            }
        )
        draw_weights = (weights or {}).get(model)
        if draw_weights is not None and not rows.empty:
            frame = _weighted_coefficients(fit, name, frame, prob, draw_weights)
        per = dict(zip(frame["term"], frame["per"], strict=True))
        frame = pd.concat(
            [frame, _late_rows(fit, name, prob, per, draw_weights)], ignore_index=True
        )
        frame.insert(0, "outcome", name)
        frame.insert(0, "model", model)
        frame.insert(3, "panel", [term_panel(term) for term in frame["term"]])
        frame["given"] = [given.get(term, "") for term in frame["term"]]
        parts.append(frame)
    columns = [
        "model", "outcome", "term", "panel", "ratio", "per", "estimate", "lower", "upper",
        "log_median", "log_lower", "log_upper", "r_hat", "ess_bulk", "ess_tail", "given",
    ]  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _weighted_coefficients(
    fit: Fit, outcome: str, frame: pd.DataFrame, prob: float, weights: np.ndarray
) -> pd.DataFrame:
    """``frame`` (one row per term of ``outcome``'s coefficients) with its medians and
    intervals replaced by weighted quantiles of the draws."""
    beta = fit.posterior[f"{outcome}_beta"]
    term_dim = f"{outcome}_term"
    draws = beta.sel({term_dim: frame["term"].to_numpy()}).transpose(term_dim, "chain", "draw")
    flat = draws.to_numpy().reshape(len(frame), -1)
    log_median, log_lower, log_upper = _quantiles(flat, [0.5, (1 - prob) / 2, (1 + prob) / 2],
                                                  weights)  # fmt: skip
    return frame.assign(
        estimate=np.exp(log_median), lower=np.exp(log_lower), upper=np.exp(log_upper),
        log_median=log_median, log_lower=log_lower, log_upper=log_upper,
    )  # fmt: skip


def _late_rows(
    fit: Fit,
    outcome: str,
    prob: float,
    per: Mapping[str, str],
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per late (time-varying) term two rows: the ratio after the onset, ``exp(beta +
    beta_late)`` computed per draw (:func:`late_term`), and the late coefficient alone, the
    ratio of the ratios after and before the onset (:func:`late_change_term`)."""
    import arviz_stats as azs

    posterior = fit.posterior
    late_name = f"{outcome}_beta_late"
    onset = fit.spec.outcome(outcome).onset
    if late_name not in posterior or onset is None:
        return pd.DataFrame()
    ratio = "HR"
    late = posterior[late_name]
    late_dim = f"{outcome}_late_term"
    main = posterior[f"{outcome}_beta"]
    rows = []
    for term in late[late_dim].to_numpy():
        increment = late.sel({late_dim: term})
        after = main.sel({f"{outcome}_term": term}) + increment
        for key, values in ((late_term(str(term), onset), after),
                            (late_change_term(str(term), onset), increment)):  # fmt: skip
            values = values.transpose("chain", "draw")
            flat = values.to_numpy().reshape(-1)
            log_lower, log_median, log_upper = _quantiles(
                flat, [(1 - prob) / 2, 0.5, (1 + prob) / 2], weights
            )
            rows.append({
                "term": key, "ratio": ratio,
                "per": f"{per.get(str(term), '')}, after month {onset:g}",
                "estimate": math.exp(log_median), "lower": math.exp(log_lower),
                "upper": math.exp(log_upper), "log_median": log_median,
                "log_lower": log_lower, "log_upper": log_upper,
                "r_hat": float(azs.rhat(values)),
                "ess_bulk": float(azs.ess(values, method="bulk")),
                "ess_tail": float(azs.ess(values, method="tail")),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _sd_draws(fit: Fit, outcome: str, level: str) -> np.ndarray:
    """Posterior draws (flattened) of the SD of ``level``'s effects on ``outcome``."""
    posterior = fit.posterior
    name = f"{outcome}_sd_{level}"
    if name in posterior:
        values = posterior[name]
    elif f"{level}_sd" in posterior:
        # The correlated level of a structural model: one SD per outcome.
        values = posterior[f"{level}_sd"].sel(outcome=outcome)
    else:
        raise KeyError(f"fit {fit.spec.name!r} has no SD of {level} effects for {outcome!r}")
    return values.transpose("chain", "draw").to_numpy().reshape(-1)


def variance_components(
    fit: Fit,
    *,
    outcome: str | None = None,
    prob: float = DEFAULT_PROB,
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """SD of the group effects and share of variance per grouping level.

    Parameters
    ----------
    fit
        A fit with grouping levels (none: an empty frame).
    outcome
        For a fit with several outcomes.
    prob
        Mass of the equal-tailed credible intervals.
    weights
        Importance weights of the fit's draws (see :func:`coefficient_estimates`): weighted
        quantiles.

    Returns
    -------
    DataFrame
        One row per level (outer first): ``level``, ``sd_median``, ``sd_lower``, ``sd_upper``
        (on the log-hazard or logit scale), ``share_median``, ``share_lower``, ``share_upper``
        (fractions; per draw ``sigma_l^2 / (sum_k sigma_k^2 + r)``), ``residual_variance`` (``r``,
        :data:`RESIDUAL_VARIANCE`) and ``scale``.
    """
    name = outcome_of(fit, outcome)
    family = outcome_family(fit, name)
    residual = RESIDUAL_VARIANCE[family]
    levels = fit.spec.levels
    columns = [
        "level", "sd_median", "sd_lower", "sd_upper", "share_median", "share_lower",
        "share_upper", "residual_variance", "scale",
    ]  # fmt: skip
    if not levels:
        return pd.DataFrame(columns=columns)
    sds = np.stack([_sd_draws(fit, name, level) for level in levels])  # (levels, draws)
    shares = sds**2 / ((sds**2).sum(axis=0) + residual)
    q = [0.5, (1 - prob) / 2, (1 + prob) / 2]
    sd_q, share_q = _quantiles(sds, q, weights), _quantiles(shares, q, weights)
    return pd.DataFrame(
        {
            "level": list(levels),
            "sd_median": sd_q[0],
            "sd_lower": sd_q[1],
            "sd_upper": sd_q[2],
            "share_median": share_q[0],
            "share_lower": share_q[1],
            "share_upper": share_q[2],
            "residual_variance": residual,
            "scale": text(f"scale_{family}", "en"),
        }
    )[columns]


def loo_summary(fit: Fit, *, outcome: str | None = None) -> dict[str, float] | None:
    """PSIS-LOO of one outcome (default: the fit's only one) from the fit's stored pointwise
    log-likelihood: :meth:`grassroots.inference.Fit.loo_estimates`.

    Returns
    -------
    dict or None
        ``elpd``, ``se``, ``p_loo``, ``n_high_k`` and ``good_k``; ``None`` when the fit stored no
        log-likelihood (fit with ``log_likelihood=True``) or none for this outcome.
    """
    return fit.loo_estimates(outcome_of(fit, outcome))


def diagnostics_overview(fits: Mapping[str, Fit]) -> dict[str, dict[str, float]]:
    """``Diagnostics.overview()`` per model: what the convergence helpers read."""
    return {model: dict(fit.diagnostics.overview()) for model, fit in fits.items()}
