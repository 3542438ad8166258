"""Cumulative-logit (proportional odds) model for ordered ratings.

``P(Y <= level_k | x) = logistic(cutpoints[k] - eta)`` for ``k = 1 .. K-1``, with ordered cut
points; ``exp(beta)`` is the odds ratio of a higher rating per unit of the predictor. Rows whose
rating is missing leave only this likelihood (other outcomes of a joint model still use them).

Parameters (prefix ``<outcome>_``): ``cutpoints`` (dims ``<outcome>_cut``, labelled ``"1|2"``,
``"2|3"`` ...; at the reference profile, sampled as ``cutpoints_centred`` at the average
profile), ``beta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy.special import expit

from grassroots.models.base import Family, OutcomeData, Prediction
from grassroots.models.exceptions import ModelDataError
from grassroots.models.priors import cutpoint_prior, resolve_prior
from grassroots.models.softplus import softplus
from grassroots.models.spec import OutcomeSpec


def category_probabilities(cutpoints: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``P(Y = level_k)``: cut points (S, K-1) and eta (S, n) -> (S, n, K)."""
    cumulative = expit(cutpoints[:, None, :] - eta[:, :, None])
    shape = (*cumulative.shape[:-1], 1)
    padded = np.concatenate([np.zeros(shape), cumulative, np.ones(shape)], axis=-1)
    return np.diff(padded, axis=-1)


def cumulative_logit_logp(value: Any, eta: Any, cutpoints: Any) -> Any:
    """``log P(Y = value)`` per row under the cumulative logit, for category codes ``0 .. K-1``.

    With ``a = c_k - eta`` and ``b = c_{k-1} - eta`` (``c_{-1} = -inf``, ``c_{K-1} = inf``),
    ``F(a) - F(b) = F(a) F(-b) (1 - exp(b - a))`` for the logistic ``F``, so

        log P = -softplus(-a) - softplus(b) + log1mexp(c_{k-1} - c_k),

    the last term 0 at the two end categories. Unlike ``pm.OrderedLogistic``, which takes the
    log of a difference of two probabilities from a rows x categories matrix (and loses every
    digit once both round to 1), each term is computed from its own logit: two softplus per row
    (:func:`~grassroots.models.softplus.softplus`, whose gradient reuses its ``exp``),
    and a log1mexp per cut gap that is only looked up per row. The infinite bounds need no
    branch: ``softplus(-inf) = 0`` and its gradient, ``sigmoid(-inf)``, is 0 too. Codes outside
    ``0 .. K-1`` have log probability ``-inf``.
    """
    if cutpoints.ndim > 1 and all(size == 1 for size in cutpoints.type.shape[:-1]):
        # PyMC hands one shared set of cut points over as (1, K-1). Looked up in a vector, each
        # row's cut point and its gradient are plain indexing: the broadcast take_along_axis
        # costs ~2x as much, per lookup and per gradient.
        cutpoints = cutpoints.reshape((cutpoints.type.shape[-1],))
    n_cut = cutpoints.shape[-1]
    outside = pt.lt(value, 0) | pt.gt(value, n_cut)
    code = pt.clip(value, 0, n_cut)
    infinity = pt.full((*cutpoints.shape[:-1], 1), np.inf)
    bounds = pt.concatenate([-infinity, cutpoints, infinity], axis=-1)
    zero = pt.zeros_like(infinity)
    gap = pt.concatenate(
        [zero, pt.log1mexp(cutpoints[..., :-1] - cutpoints[..., 1:]), zero], axis=-1
    )

    def at(table, index):
        if cutpoints.ndim == 1:
            return table[index]
        return pt.take_along_axis(table, index[..., None], axis=-1)[..., 0]

    logp = -softplus(eta - at(bounds, code + 1)) - softplus(at(bounds, code) - eta) + at(gap, code)
    return pt.switch(outside, -np.inf, logp)


def _cumulative_logit_random(eta, cutpoints, rng=None, size=None):
    """Codes ``0 .. K-1`` drawn by inverting the cumulative logit with one uniform per row."""
    eta = np.asarray(eta, dtype=float)
    cutpoints = np.asarray(cutpoints, dtype=float)
    size = eta.shape if size is None else tuple(np.atleast_1d(size))
    cumulative = expit(cutpoints - np.broadcast_to(eta, size)[..., None])
    uniform = rng.uniform(size=size)
    return (uniform[..., None] > cumulative).sum(axis=-1).astype(np.int64)


def prob_at_least(probabilities: np.ndarray) -> np.ndarray:
    """``P(Y >= level_k)`` from category probabilities (..., K) -> (..., K)."""
    # Sum from the top category down: exact at the upper tail, where 1 - cumsum would cancel.
    return np.flip(np.cumsum(np.flip(probabilities, axis=-1), axis=-1), axis=-1)


def expected_value(probabilities: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``E[Y]`` from category probabilities (..., K) and the level values (K,)."""
    return probabilities @ np.asarray(levels, dtype=float)


def _shares_and_slopes(data: OutcomeData) -> tuple[np.ndarray, np.ndarray]:
    """Observed category shares P_k and the differences F(1 - F)(c_k) - F(1 - F)(c_{k-1}) of
    the logistic density at the cut points that reproduce them (with eta = 0)."""
    shares = np.bincount(data.values["codes"], minlength=len(data.values["levels"]))
    shares = shares / shares.sum()
    cumulative = np.concatenate([[0.0], np.cumsum(shares)])
    cumulative[-1] = 1.0
    return shares, np.diff(cumulative * (1.0 - cumulative))


class OrdinalFamily(Family):
    """Cumulative logit with ordered cut points."""

    name: ClassVar[str] = "ordinal"
    ratio: ClassVar[str] = "OR"

    def prepare(self, outcome: OutcomeSpec, frame: pd.DataFrame) -> OutcomeData:
        column = outcome.columns["column"]
        raw = frame[column]
        if not pd.api.types.is_numeric_dtype(raw):
            raise ModelDataError(f"ordinal outcome {column!r} must hold integer ratings")
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        observed = np.isfinite(values)
        if not observed.any():
            raise ModelDataError(f"ordinal outcome {column!r} has no observed rating")
        seen = values[observed]
        if outcome.levels is not None:
            levels = np.asarray(outcome.levels, dtype=float)
        else:
            levels = np.unique(seen)
            if levels.size < 2:
                raise ModelDataError(f"ordinal outcome {column!r} has a single observed level")
        unknown = sorted(set(seen.tolist()) - set(levels.tolist()))
        if unknown:
            raise ModelDataError(
                f"ordinal outcome {column!r} has value(s) {unknown[:5]} outside its levels "
                f"{[int(v) for v in levels]}"
            )
        codes = np.searchsorted(levels, seen).astype(np.int64)
        level_labels = [int(v) for v in levels]
        return OutcomeData(
            observed=observed,
            values={"codes": codes, "levels": levels},
            coords={
                f"{outcome.name}_cut": [
                    f"{a}|{b}" for a, b in zip(level_labels, level_labels[1:], strict=False)
                ],
                f"{outcome.name}_level": level_labels,
            },
        )

    def information_per_observation(self, data: OutcomeData) -> float:
        # Cumulative logit: P(Y = k) = F(c_k - eta) - F(c_{k-1} - eta), so dP_k/deta is minus
        # the difference of logistic densities F (1 - F) at the two cuts, and the information is
        # sum_k (dP_k/deta)^2 / P_k, here at the observed category shares.
        shares, slopes = _shares_and_slopes(data)
        seen = shares > 0
        return float(np.sum(slopes[seen] ** 2 / shares[seen]))

    def location_scores(self, data: OutcomeData) -> np.ndarray:
        # d log P_k / d eta = -(dF-density difference) / P_k at the row's observed category.
        shares, slopes = _shares_and_slopes(data)
        codes = data.values["codes"]
        return -slopes[codes] / shares[codes]

    def parameter_names(self, outcome: OutcomeSpec) -> tuple[str, ...]:
        return (f"{outcome.name}_cutpoints",)

    def initial_points(self, outcome: OutcomeSpec, data: OutcomeData) -> dict[str, np.ndarray]:
        """Cut points start at the logits of equal category shares, ``logit(k / K)``.

        The ordered transform needs strictly increasing starting values; the prior's own
        support point (all equal) is outside its domain. Passed to the sampler, not set as a model
        ``initval``, which would stop PyMC from transforming the model (e.g. for the pointwise
        log-likelihood).
        """
        k = len(data.values["levels"])
        share = np.arange(1, k) / k
        return {f"{outcome.name}_cutpoints_centred": np.log(share / (1 - share))}

    def add_likelihood(
        self,
        outcome: OutcomeSpec,
        data: OutcomeData,
        eta: Any,
        priors: tuple[Mapping, ...],
        shift: Any,
    ) -> None:
        name = outcome.name
        cutpoints = cutpoint_prior(
            resolve_prior("cutpoints", *priors),
            f"{name}_cutpoints_centred",
            dims=f"{name}_cut",
            n_cut=len(data.values["levels"]) - 1,
        )
        # c - eta_c = (c + shift) - eta: the reference-profile cut points are shifted up.
        pm.Deterministic(f"{name}_cutpoints", cutpoints + shift, dims=f"{name}_cut")
        # Same observed variable and pointwise log-likelihood as pm.OrderedLogistic, without
        # its rows x categories probability matrix (and the check of every row's sum to 1).
        pm.CustomDist(
            name,
            eta,
            cutpoints,
            logp=cumulative_logit_logp,
            random=_cumulative_logit_random,
            signature="(),(c)->()",
            dtype="int64",
            observed=data.values["codes"],
            dims=f"{name}_obs",
        )

    def predict(
        self,
        outcome: OutcomeSpec,
        params: Mapping[str, np.ndarray],
        eta: np.ndarray,
        *,
        coords: Mapping[str, list[Any]],
        **options: Any,
    ) -> Prediction:
        """``<outcome>_prob`` (P(Y = k)), ``<outcome>_prob_at_least`` (P(Y >= k)) and
        ``<outcome>_expected`` (E[Y])."""
        name = outcome.name
        levels = np.asarray(coords[f"{name}_level"], dtype=float)
        probabilities = category_probabilities(params[f"{name}_cutpoints"], eta)
        dims = ("sample", "row", f"{name}_level")
        return Prediction(
            arrays={
                f"{name}_prob": (dims, probabilities),
                f"{name}_prob_at_least": (dims, prob_at_least(probabilities)),
                f"{name}_expected": (("sample", "row"), expected_value(probabilities, levels)),
            },
            coords={f"{name}_level": list(coords[f"{name}_level"])},
        )
