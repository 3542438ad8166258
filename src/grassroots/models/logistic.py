"""Logistic regression for binary outcomes (the strategies and short-sightedness).

``P(Y = 1 | x) = logistic(intercept + eta)``; ``exp(beta)`` is an odds ratio. Parameters
(prefix ``<outcome>_``): ``intercept`` (at the reference profile; sampled as
``intercept_centred`` at the average profile), ``beta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
from scipy.special import expit

from grassroots.models.base import Family, OutcomeData, Prediction
from grassroots.models.exceptions import ModelDataError
from grassroots.models.priors import resolve_prior
from grassroots.models.softplus import softplus
from grassroots.models.spec import OutcomeSpec


def bernoulli_logit_logp(value: Any, logit: Any) -> Any:
    """``log P(Y = value)`` per row for a 0/1 ``value`` and ``logit = log(p / (1 - p))``.

    ``-softplus(-logit)`` for a 1 and ``-softplus(logit)`` for a 0, written as one softplus of
    the logit signed by the outcome (:func:`~grassroots.models.softplus.softplus`, whose
    gradient costs no second ``exp``). The values are ``pm.Bernoulli(logit_p=...)``'s to two
    units in the last place. PyMC computes both branches of a switch, and both of their
    gradients, for every row: with numba that was most of a strategy model's gradient
    (``benchmarks/gradient_cost.py``).
    """
    return -softplus((1 - 2 * value) * logit)


def _bernoulli_logit_random(logit, rng=None, size=None):
    """0/1 outcomes, one uniform per row."""
    logit = np.asarray(logit, dtype=float)
    size = logit.shape if size is None else tuple(np.atleast_1d(size))
    return (rng.uniform(size=size) < expit(np.broadcast_to(logit, size))).astype(np.int64)


class LogisticFamily(Family):
    """Bernoulli outcome with a logit link."""

    name: ClassVar[str] = "logistic"
    ratio: ClassVar[str] = "OR"

    def prepare(self, outcome: OutcomeSpec, frame: pd.DataFrame) -> OutcomeData:
        column = outcome.columns["column"]
        raw = frame[column]
        if not (pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw)):
            raise ModelDataError(f"binary outcome {column!r} must be 0/1, found dtype {raw.dtype}")
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        observed = np.isfinite(values)
        if not observed.any():
            raise ModelDataError(f"binary outcome {column!r} has no observed value")
        seen = values[observed]
        if not np.isin(seen, (0.0, 1.0)).all():
            raise ModelDataError(f"binary outcome {column!r} must be 0 or 1")
        return OutcomeData(observed=observed, values={"y": seen.astype(np.int64)})

    def information_per_observation(self, data: OutcomeData) -> float:
        # Bernoulli on the logit scale: p (1 - p) at the observed share.
        share = float(np.mean(data.values["y"]))
        return share * (1.0 - share)

    def location_scores(self, data: OutcomeData) -> np.ndarray:
        y = data.values["y"]
        return y - np.mean(y)

    def parameter_names(self, outcome: OutcomeSpec) -> tuple[str, ...]:
        return (f"{outcome.name}_intercept",)

    def add_likelihood(
        self,
        outcome: OutcomeSpec,
        data: OutcomeData,
        eta: Any,
        priors: tuple[Mapping, ...],
        shift: Any,
    ) -> None:
        name = outcome.name
        intercept = resolve_prior("intercept", *priors).create(f"{name}_intercept_centred")
        pm.Deterministic(f"{name}_intercept", intercept - shift)
        # Same observed variable as pm.Bernoulli(logit_p=...), its log-likelihood to 2 ulp.
        pm.CustomDist(
            name,
            intercept + eta,
            logp=bernoulli_logit_logp,
            random=_bernoulli_logit_random,
            signature="()->()",
            dtype="int64",
            observed=data.values["y"],
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
        """``<outcome>_prob``: P(Y = 1 | x, group), dims (sample, row)."""
        name = outcome.name
        probability = expit(params[f"{name}_intercept"][:, None] + eta)
        return Prediction(arrays={f"{name}_prob": (("sample", "row"), probability)})
