"""Proportional-hazards survival with right censoring.

The hazard of row ``i`` at time ``t`` is ``h0(t) * exp(eta_i)``, with ``eta_i`` the linear
predictor (coefficients and group effects; a group effect is the log of a log-normal frailty).
Two baselines:

* **piecewise** constant: ``h0(t) = exp(log_hazard[j])`` on interval ``j`` of the cut points.
  The exact log-likelihood of row ``i`` is ``d_i (log_hazard[j_i] + eta_i) - exp(eta_i) *
  sum_j E_ij exp(log_hazard[j])``, where ``E_ij`` is the time row ``i`` spends in interval ``j``
  and ``j_i`` the interval in which it ends. ``E`` and ``j_i`` depend on the data only, so they
  are computed once (:func:`piecewise_exposure`) and the likelihood is one matrix-vector product.
* **weibull**: ``H0(t) = (t / scale) ** shape``, so ``h0(t) = shape / scale * (t / scale) **
  (shape - 1)``.

A spec's ``time_varying = { column = onset }`` adds late effects: ``<outcome>_beta_late`` (dims
``<outcome>_late_term``) multiplies the hazard by ``exp(beta_late * x)`` only after the onset,
as the paper's short-sighted projects do ("raise the hazard later in a project's life").

Parameters (prefix ``<outcome>_``): ``log_hazard`` (dims ``<outcome>_interval``) or ``shape`` and
``scale`` (months), at the reference profile; the coefficients ``beta`` are log hazard ratios.
The piecewise baseline is sampled as a random walk at the average profile:
``log_hazard_start_centred`` (first interval, prior role ``log_hazard``) and
``log_hazard_steps`` (changes between adjacent intervals, prior role ``log_hazard_step``); the
Weibull scale as ``scale_centred``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from grassroots.models.base import Family, OutcomeData, Prediction
from grassroots.models.design import Scaling, late_design_matrix
from grassroots.models.exceptions import ModelDataError
from grassroots.models.priors import coefficient_prior, resolve_prior
from grassroots.models.spec import OutcomeSpec

DEFAULT_TIMES: tuple[float, ...] = (12.0, 24.0, 36.0)


def interval_starts(cuts: Sequence[float]) -> np.ndarray:
    """Start of every baseline interval: ``[0, *cuts]``."""
    return np.concatenate([[0.0], np.asarray(cuts, dtype=float)])


def interval_labels(cuts: Sequence[float]) -> list[str]:
    """``["[0, 6)", "[6, 12)", ..., "[84, inf)"]`` for coordinates and tables."""
    starts = interval_starts(cuts)
    ends = [*map(float, cuts), np.inf]
    return [f"[{a:g}, {b:g})" for a, b in zip(starts, ends, strict=True)]


def piecewise_exposure(time: np.ndarray, cuts: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Time spent in every baseline interval, and the interval in which each time ends.

    Parameters
    ----------
    time : ndarray, shape (n,)
        Follow-up times (>= 0).
    cuts : sequence of float
        Interior interval boundaries.

    Returns
    -------
    exposure : ndarray, shape (n, intervals)
    interval : ndarray of int, shape (n,)
        Index ``j`` with ``start_j < t <= end_j`` (``t = 0`` falls in the first interval).
    """
    time = np.asarray(time, dtype=float)
    starts = interval_starts(cuts)
    widths = np.diff(np.append(starts, np.inf))
    exposure = np.clip(time[:, None] - starts[None, :], 0.0, widths[None, :])
    interval = np.searchsorted(np.asarray(cuts, dtype=float), time, side="left")
    return exposure, interval.astype(np.int64)


def survival_logp(value, eta, log_hazard_end, early, late, late_eta, late_end, event):
    """Per-row log-likelihood of the PH model with optional late (time-varying) effects.

    The hazard of row ``i`` at ``t`` is ``h0(t) exp(eta_i + late_eta_i 1[t > onset])``, so
    ``H_i(t) = exp(eta_i) (H0(min(t, onset)) + exp(late_eta_i) (H0(t) - H0(min(t, onset))))``.

    Parameters
    ----------
    value : tensor, shape (n,)
        The times; they enter through the baseline quantities below.
    eta : tensor, shape (n,)
    log_hazard_end : tensor, shape (n,)
        Baseline log hazard at each row's time (event rows use it).
    early, late : tensor, shape (n,)
        Baseline cumulative hazard before and after the onset (``late`` = 0 without one).
    late_eta : tensor, shape (n,)
        Linear predictor of the late effects (0 without any).
    late_end : tensor, shape (n,)
        1 where the time lies after the onset.
    event : tensor, shape (n,)
    """
    log_h = log_hazard_end + eta + late_eta * late_end
    return event * log_h - pt.exp(eta) * (early + pt.exp(late_eta) * late)


def piecewise_cumulative_hazard(
    log_hazard: np.ndarray, cuts: Sequence[float], times: Sequence[float]
) -> np.ndarray:
    """Baseline cumulative hazard ``H0(t)`` for draws of ``log_hazard`` (S, J) -> (S, T)."""
    exposure, _ = piecewise_exposure(np.asarray(times, dtype=float), cuts)
    return np.exp(log_hazard) @ exposure.T


def weibull_cumulative_hazard(
    shape: np.ndarray, scale: np.ndarray, times: Sequence[float]
) -> np.ndarray:
    """Baseline cumulative hazard ``(t / scale) ** shape`` for draws (S,) -> (S, T)."""
    times = np.asarray(times, dtype=float)
    return (times[None, :] / scale[:, None]) ** shape[:, None]


def survival_function(
    cumulative_hazard: np.ndarray,
    eta: np.ndarray,
    *,
    early: np.ndarray | None = None,
    late_eta: np.ndarray | None = None,
) -> np.ndarray:
    """``S(t | x) = exp(-H(t | x))`` for draws: (S, T) and (S, n) -> (S, n, T).

    Parameters
    ----------
    cumulative_hazard : ndarray, shape (S, T)
        Baseline ``H0(t)``.
    eta : ndarray, shape (S, n)
    early : ndarray, shape (S, T), optional
        ``H0(min(t, onset))`` when the model has late effects.
    late_eta : ndarray, shape (S, n), optional
        Linear predictor of the late effects.

    Returns
    -------
    ndarray, shape (S, n, T)
        A view of an (S, T, n) array: every operation then runs along the rows, thousands of
        contiguous elements, where an (S, n, T) layout runs along a few dozen times at a
        stride (~3x slower for a posterior survival curve of 61 times). The values are those
        of ``survival_from_total(eta, total_hazard(...))``, operation for operation.
    """
    scale = -np.exp(eta)[:, None, :]
    if late_eta is None or early is None:
        out = cumulative_hazard[:, :, None] * scale
    else:
        out = np.exp(late_eta)[:, None, :] * (cumulative_hazard - early)[:, :, None]
        out += early[:, :, None]
        out *= scale
    return np.exp(out, out=out).transpose(0, 2, 1)


def total_hazard(
    cumulative_hazard: np.ndarray,
    early: np.ndarray | None = None,
    late_eta: np.ndarray | None = None,
) -> np.ndarray:
    """``H(t | x) / exp(eta)``: the baseline, with the late effects after the onset.

    Shape (S, 1, T) without late effects, else (S, n, T); see :func:`survival_function`. A
    caller that predicts several linear predictors with the same late effects (g-computation
    over mediators) computes this once.
    """
    if late_eta is None or early is None:
        return cumulative_hazard[:, None, :]
    late = cumulative_hazard - early
    factor = np.exp(late_eta)
    out = np.empty((*factor.shape, late.shape[-1]), dtype=np.result_type(factor, late, early))
    # One time at a time: broadcasting over a last axis of 3 runs numpy's inner loops 3
    # elements at a time (~15x slower); the products and sums are the same.
    for k in range(late.shape[-1]):
        np.multiply(factor, late[:, k, None], out=out[:, :, k])
        np.add(early[:, k, None], out[:, :, k], out=out[:, :, k])
    return out


def survival_from_total(eta: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``S(t | x) = exp(-exp(eta) * total)``: (S, n) and :func:`total_hazard` -> (S, n, T)."""
    scale = -np.exp(eta)
    out = np.empty((*scale.shape, total.shape[-1]), dtype=np.result_type(scale, total))
    # One time at a time, as in total_hazard.
    for k in range(total.shape[-1]):
        np.multiply(scale, total[:, :, k], out=out[:, :, k])
    return np.exp(out, out=out)


class SurvivalFamily(Family):
    """Proportional hazards, right-censored, piecewise-constant or Weibull baseline."""

    name: ClassVar[str] = "survival"
    ratio: ClassVar[str] = "HR"

    def prepare(self, outcome: OutcomeSpec, frame: pd.DataFrame) -> OutcomeData:
        time_col, event_col = outcome.columns["time"], outcome.columns["event"]
        time = _numeric(frame[time_col], time_col)
        event = _numeric(frame[event_col], event_col)
        observed = np.isfinite(time) & np.isfinite(event)
        time, event = time[observed], event[observed]
        if (time < 0).any():
            raise ModelDataError(
                f"survival time column {time_col!r} has {int((time < 0).sum())} negative value(s)"
            )
        if not np.isin(event, (0.0, 1.0)).all():
            raise ModelDataError(f"event column {event_col!r} must be 0 (censored) or 1 (event)")
        if not observed.any():
            raise ModelDataError(f"no row has both {time_col!r} and {event_col!r}")
        baseline = outcome.baseline
        onset = outcome.onset
        values: dict[str, np.ndarray] = {
            "time": time,
            "event": event,
            "late_end": (time > onset).astype(float) if onset is not None else np.zeros_like(time),
        }
        coords: dict[str, list[Any]] = {}
        if baseline.kind == "piecewise":
            exposure, interval = piecewise_exposure(time, baseline.cuts)
            # Intervals that start at or after the onset carry the late effects.
            after = interval_starts(baseline.cuts) >= (onset if onset is not None else np.inf)
            values |= {
                "exposure_early": exposure * ~after,
                "exposure_late": exposure * after,
                "interval": interval,
            }
            labels = interval_labels(baseline.cuts)
            coords[f"{outcome.name}_interval"] = labels
            coords[f"{outcome.name}_step"] = [
                f"{a} -> {b}" for a, b in zip(labels, labels[1:], strict=False)
            ]
        else:
            bad = (time <= 0) & (event == 1)
            if bad.any():
                raise ModelDataError(
                    f"{int(bad.sum())} row(s) have an event at {time_col!r} <= 0; the Weibull "
                    "baseline needs positive event times (record them as e.g. 0.5 months, or use "
                    "the piecewise baseline)"
                )
        return OutcomeData(observed=observed, values=values, coords=coords)

    def information_per_observation(self, data: OutcomeData) -> float:
        # Proportional hazards: the information about a shift of the log hazard is the expected
        # number of events (the Poisson form of the likelihood), the observed events at the
        # maximum likelihood of a common rate; per row, the share of rows with an event.
        return float(np.mean(data.values["event"]))

    def location_scores(self, data: OutcomeData) -> np.ndarray:
        # event - cumulative hazard, with one constant hazard (events / exposure) standing in
        # for the baseline: enough to estimate how far groups' hazards spread.
        time, event = data.values["time"], data.values["event"]
        return event - time * event.sum() / max(float(time.sum()), np.finfo(float).tiny)

    def parameter_names(self, outcome: OutcomeSpec) -> tuple[str, ...]:
        late = (f"{outcome.name}_beta_late",) if outcome.time_varying else ()
        if outcome.baseline.kind == "piecewise":
            return (f"{outcome.name}_log_hazard", *late)
        return (f"{outcome.name}_shape", f"{outcome.name}_scale", *late)

    def add_likelihood(
        self,
        outcome: OutcomeSpec,
        data: OutcomeData,
        eta: Any,
        priors: tuple[Mapping, ...],
        shift: Any,
    ) -> None:
        name = outcome.name
        values = data.values
        late_eta = pt.zeros(len(values["time"]))
        if outcome.time_varying:
            # Not centred: a centred late term would put a step into the baseline at the onset.
            beta_late = coefficient_prior(
                resolve_prior("beta", *priors),
                f"{name}_beta_late",
                dims=f"{name}_late_term",
                term_sds=values["late_term_sds"],
            )
            late_eta = pt.dot(values["late_design"], beta_late)
        if outcome.baseline.kind == "piecewise":
            # A random walk over intervals: the first interval's log hazard carries the level
            # (whose prior uncertainty must not average out over intervals), and adjacent
            # intervals are a priori similar.
            start = resolve_prior("log_hazard", *priors).create(f"{name}_log_hazard_start_centred")
            steps = resolve_prior("log_hazard_step", *priors).create(
                f"{name}_log_hazard_steps", dims=f"{name}_step"
            )
            log_hazard = start + pt.concatenate([pt.zeros(1), pt.cumsum(steps)])
            pm.Deterministic(f"{name}_log_hazard", log_hazard - shift, dims=f"{name}_interval")
            rate = pt.exp(log_hazard)
            log_hazard_end = log_hazard[values["interval"]]
            # The interval sums are matrix-vector products with data-only exposure matrices.
            early = pt.dot(values["exposure_early"], rate)
            late = pt.dot(values["exposure_late"], rate)
        else:
            shape = resolve_prior("weibull_shape", *priors).create(f"{name}_shape")
            scale = resolve_prior("weibull_scale", *priors).create(f"{name}_scale_centred")
            # (t / s)^k exp(eta_c) = (t / s')^k exp(eta) with s' = s exp(shift / k).
            pm.Deterministic(f"{name}_scale", scale * pt.exp(shift / shape))
            time = values["time"]
            positive = time > 0
            # A zero time (censored) has H0 = 0; its log is never taken, so gradients stay finite.
            log_t = np.log(np.where(positive, time, 1.0))
            log_hazard_end = pt.log(shape) - pt.log(scale) + (shape - 1.0) * (log_t - pt.log(scale))
            onset = outcome.onset if outcome.onset is not None else np.inf
            log_t_early = np.log(np.where(positive, np.minimum(time, onset), 1.0))
            early = positive * pt.exp(shape * (log_t_early - pt.log(scale)))
            total = positive * pt.exp(shape * (log_t - pt.log(scale)))
            late = total - early
        # Row-wise inputs keep the likelihood elementwise, so PyMC stores a pointwise
        # log-likelihood (for LOO).
        pm.CustomDist(
            name,
            eta,
            log_hazard_end,
            early,
            late,
            late_eta,
            values["late_end"],
            values["event"],
            logp=survival_logp,
            observed=values["time"],
            dims=f"{name}_obs",
        )

    def baseline_hazards(
        self, outcome: OutcomeSpec, params: Mapping[str, np.ndarray], times: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Baseline ``H0(t)`` (S, T) and, with late effects, ``H0(min(t, onset))`` (else None)."""
        name = outcome.name
        times = [float(t) for t in times]
        onset = outcome.onset
        early_times = [min(t, onset) for t in times] if onset is not None else None
        if outcome.baseline.kind == "piecewise":
            log_hazard = params[f"{name}_log_hazard"]
            cumulative = piecewise_cumulative_hazard(log_hazard, outcome.baseline.cuts, times)
            early = (
                piecewise_cumulative_hazard(log_hazard, outcome.baseline.cuts, early_times)
                if early_times is not None
                else None
            )
        else:
            shape, scale = params[f"{name}_shape"], params[f"{name}_scale"]
            cumulative = weibull_cumulative_hazard(shape, scale, times)
            early = (
                weibull_cumulative_hazard(shape, scale, early_times)
                if early_times is not None
                else None
            )
        return cumulative, early

    def predict(
        self,
        outcome: OutcomeSpec,
        params: Mapping[str, np.ndarray],
        eta: np.ndarray,
        *,
        coords: Mapping[str, list[Any]],
        times: Sequence[float] = DEFAULT_TIMES,
        frame: pd.DataFrame | None = None,
        scaling: Scaling | None = None,
        **options: Any,
    ) -> Prediction:
        """``<outcome>_S``: S(t | x, group) with dims (sample, row, ``<outcome>_time``)."""
        name = outcome.name
        times = [float(t) for t in times]
        cumulative, early = self.baseline_hazards(outcome, params, times)
        late_eta = None
        if outcome.time_varying:
            _, late_matrix = late_design_matrix(frame, outcome, scaling)
            late_eta = params[f"{name}_beta_late"] @ late_matrix.T
        return Prediction(
            arrays={
                f"{name}_S": (
                    ("sample", "row", f"{name}_time"),
                    survival_function(cumulative, eta, early=early, late_eta=late_eta),
                )
            },
            coords={f"{name}_time": times},
        )


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise ModelDataError(f"outcome column {column!r} must be numeric, found {values.dtype}")
    numeric = values.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(numeric).any():
        raise ModelDataError(f"outcome column {column!r} has infinite values")
    return numeric
