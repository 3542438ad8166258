"""The package's joint structural model in numpyro, term by term as ``structural.stan``.

Same priors, same data (:func:`common.export_design`) and the same unconstrained coordinates as
the PyMC model (see :mod:`common`): site names are the Stan program's parameter names, so one
post-processing (:func:`common.derived_draws`) serves both. ``sd_county`` has positive support
(numpyro samples its log, as PyMC does) and ``cut_d`` an ordered one (numpyro's
``OrderedTransform`` is PyMC's and Stan's ``ordered``); every other site is unconstrained and the
model applies PyMC's transforms to it itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from common import LOGISTIC
from numpyro.distributions import constraints


def zerosum_extend(y):
    """PyMC's ``ZeroSumTransform.backward`` over the last axis (an isometry)."""
    n = y.shape[-1] + 1
    total = y.sum(axis=-1, keepdims=True)
    norm = total / (jnp.sqrt(n) + n)
    return jnp.concatenate([y, norm - total / jnp.sqrt(n)], axis=-1) - norm


def packed_cholesky(packed, k: int):
    """PyMC's packed covariance Cholesky factor (row-major lower triangle, log diagonal)."""
    rows, cols = jnp.tril_indices(k)
    values = jnp.where(rows == cols, jnp.exp(packed), packed)
    return jnp.zeros((k, k)).at[rows, cols].set(values)


def lkj_cholesky_cov_logp(packed, k: int, eta: float, sd_sigma: float):
    """PyMC's ``LKJCholeskyCov`` log density of the packed factor (HalfNormal SDs), with the
    log-diagonal transform's Jacobian; the LKJ normalising constant is left out (a constant)."""
    chol = packed_cholesky(packed, k)
    sds = jnp.sqrt((chol**2).sum(axis=-1))
    log_diag = jnp.log(jnp.diagonal(chol))
    log_corr_diag = log_diag - jnp.log(sds)
    index = jnp.arange(k)
    logp = dist.HalfNormal(sd_sigma).log_prob(sds).sum()
    logp += ((2 * eta - 3 + k - index) * log_corr_diag).sum()
    logp += (log_corr_diag - index * jnp.log(sds)).sum()
    return logp + log_diag.sum(), chol


def model(d: Mapping[str, Any]) -> None:
    """The joint model; ``d`` is the exported design (arrays as jax arrays, 1-based indices)."""
    k, c, t = d["K"], d["C"], d["T"]
    intercept_prior = dist.Normal(d["intercept_mu"], d["intercept_sigma"])

    def coefficients(tag: str):
        # The coefficients' prior is autoscaled per design column (common.export_design).
        prior = dist.Normal(d[f"beta_{tag}_mu"], d[f"beta_{tag}_sigma"]).to_event(1)
        return numpyro.sample(f"beta_{tag}", prior)

    sd_county = numpyro.sample(
        "sd_county", dist.HalfNormal(d["sd_county_sigma"]).expand([k]).to_event(1)
    )
    z_county_unc = numpyro.sample(
        "z_county_unc", dist.Normal(0.0, 1.0).expand([k, c - 1]).to_event(2)
    )
    county_effect = (sd_county[:, None] * zerosum_extend(z_county_unc)).T  # (C, K)

    packed = numpyro.sample(
        "township_chol_unc",
        dist.ImproperUniform(constraints.real_vector, (), (k * (k + 1) // 2,)),
    )
    chol_logp, chol = lkj_cholesky_cov_logp(packed, k, d["lkj_eta"], d["sd_township_sigma"])
    numpyro.factor("township_chol_prior", chol_logp)
    township_z_unc = numpyro.sample(
        "township_z_unc", dist.Normal(0.0, 1.0).expand([k, t - 1]).to_event(2)
    )
    township_effect = (chol @ zerosum_extend(township_z_unc)).T  # (T, K)

    def group_effects(tag: str, position: int):
        return (
            county_effect[d[f"county_{tag}"] - 1, position]
            + township_effect[d[f"township_{tag}"] - 1, position]
        )

    # Survival: piecewise-constant baseline as a random walk, late effect after the onset.
    beta_s = coefficients("s")
    beta_late = coefficients("late")
    lh_start = numpyro.sample("lh_start", dist.Normal(d["lh_mu"], d["lh_sigma"]))
    lh_steps = numpyro.sample(
        "lh_steps", dist.Normal(d["step_mu"], d["step_sigma"]).expand([d["J"] - 1]).to_event(1)
    )
    log_hazard = lh_start + jnp.concatenate([jnp.zeros(1), jnp.cumsum(lh_steps)])
    rate = jnp.exp(log_hazard)
    eta = d["X_s"] @ beta_s + group_effects("s", 0)
    late_eta = d["late_design"] @ beta_late
    log_h = log_hazard[d["interval_s"] - 1] + eta + late_eta * d["late_end"]
    cumulative = jnp.exp(eta) * (
        d["exposure_early"] @ rate + jnp.exp(late_eta) * (d["exposure_late"] @ rate)
    )
    numpyro.factor("survival", (d["event_s"] * log_h - cumulative).sum())

    # Demand fit: cumulative logit, ordered cut points with the spec's prior (common.py).
    beta_d = coefficients("d")
    cut_d = numpyro.sample(
        "cut_d", dist.ImproperUniform(constraints.ordered_vector, (), (d["Kd"] - 1,))
    )
    numpyro.factor("cut_d_prior", _cutpoint_logp(cut_d, d))
    eta_d = d["X_d"] @ beta_d + group_effects("d", 1)
    numpyro.sample("demand_fit", dist.OrderedLogistic(eta_d, cut_d), obs=d["y_d"] - 1)

    # The three logistic outcomes.
    for position, (name, tag) in enumerate(LOGISTIC.items(), start=2):
        beta = coefficients(tag)
        intercept = numpyro.sample(f"int_{tag}", intercept_prior)
        logits = intercept + d[f"X_{tag}"] @ beta + group_effects(tag, position)
        numpyro.sample(name, dist.Bernoulli(logits=logits), obs=d[f"y_{tag}"])


def as_jax(design: Mapping[str, Any]) -> dict[str, Any]:
    """Arrays to jax arrays; sizes stay Python ints (they fix shapes)."""
    return {
        key: (jnp.asarray(value) if hasattr(value, "shape") else value)
        for key, value in design.items()
    }


def _cutpoint_logp(cut_d, d: Mapping[str, Any]):
    """The cut points' prior: ``common.induced_dirichlet_logp`` or a Normal on each."""
    if d["cut_dirichlet"]:
        q = jax.nn.sigmoid(cut_d)
        p = jnp.concatenate([q[:1], jnp.diff(q), 1 - q[-1:]])
        jacobian = (jax.nn.log_sigmoid(cut_d) + jax.nn.log_sigmoid(-cut_d)).sum()
        return dist.Dirichlet(jnp.full(d["Kd"], d["cut_alpha"])).log_prob(p) + jacobian
    return dist.Normal(d["cut_mu"], d["cut_sigma"]).log_prob(cut_d).sum()
