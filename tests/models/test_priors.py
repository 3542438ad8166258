"""Autoscaled coefficient priors and the induced-Dirichlet cut-point prior (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from _model_helpers import make_spec
from scipy import stats
from scipy.special import expit, logit

from grassroots.models import build_model
from grassroots.models.priors import Prior, cutpoint_prior, per_term, prior_sd


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    return pd.DataFrame(
        {
            "x": rng.normal(5.0, 2.0, n),
            "rare": (rng.random(n) < 0.1).astype(int),
            "kind": rng.choice(["p", "q", "r"], n, p=[0.6, 0.3, 0.1]),
            "y": rng.integers(0, 2, n),
            "rating": rng.integers(1, 6, n),
        }
    )


def _beta_logp(model, name: str, values: np.ndarray) -> np.ndarray:
    return pm.logp(model[name], values).eval()


def test_coefficient_prior_is_per_sd_of_each_term(frame):
    """Standardised columns keep Normal(0, 1); a 0/1 or dummy column x gets Normal(0, 1/sd(x))
    per unit, an interaction the product of its parts' SDs (rstanarm's autoscaling)."""
    spec = make_spec(
        y={
            "family": "logistic",
            "column": "y",
            "predictors": ["x", "rare", "kind"],
            "interactions": ["x:rare"],
        }
    )
    built = build_model(spec, frame)
    terms = built.inputs.designs["y"][0]
    assert terms == ("x", "rare", "kind[q]", "kind[r]", "x:rare")
    rare_sd = frame["rare"].std(ddof=1)
    expected_scale = np.array(
        [
            1.0,
            1 / rare_sd,
            1 / (frame["kind"] == "q").astype(float).std(ddof=1),
            1 / (frame["kind"] == "r").astype(float).std(ddof=1),
            1 / rare_sd,
        ]
    )
    values = np.array([0.3, -1.2, 0.8, 2.0, -0.4])
    np.testing.assert_allclose(
        _beta_logp(built.model, "y_beta", values),
        stats.norm.logpdf(values, 0.0, expected_scale),
        rtol=1e-6,
    )
    assert expected_scale[1] > 3  # a rare 0/1 term is not held to Normal(0, 1)


def test_declared_beta_prior_is_rescaled_too(frame):
    spec = make_spec(
        y={"family": "logistic", "column": "y", "predictors": ["rare"]},
        priors={"beta": {"dist": "StudentT", "nu": 4, "mu": 0.5, "sigma": 2}},
    )
    built = build_model(spec, frame)
    sd = frame["rare"].std(ddof=1)
    value = np.array([1.7])
    np.testing.assert_allclose(
        _beta_logp(built.model, "y_beta", value),
        stats.t.logpdf(value, 4, loc=0.5 / sd, scale=2 / sd),
        rtol=1e-6,
    )


def test_per_term_and_prior_sd():
    normal = Prior("Normal", {"mu": 0.0, "sigma": 1.0})
    assert per_term(normal, 0.25) == {"mu": 0.0, "sigma": 4.0}
    assert per_term(Prior("Normal", {"mu": 0.0, "tau": 4.0}), 0.5) == {"mu": 0.0, "tau": 1.0}
    assert prior_sd(normal) == 1.0
    assert prior_sd(Prior("Laplace", {"mu": 0.0, "b": 1.0})) == pytest.approx(np.sqrt(2))
    assert prior_sd(Prior("StudentT", {"nu": 4.0, "mu": 0.0, "sigma": 1.0})) == pytest.approx(
        np.sqrt(2)
    )
    assert prior_sd(Prior("Cauchy", {"alpha": 0.0, "beta": 1.0})) == np.inf


def _cutpoint_model(n_cut: int, alpha: float = 1.0):
    with pm.Model(coords={"cut": list(range(n_cut))}) as model:
        cutpoint_prior(Prior("InducedDirichlet", {"alpha": alpha}), "c", dims="cut", n_cut=n_cut)
    return model


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_induced_dirichlet_density(alpha):
    """The cut points' density is the Dirichlet density of the category probabilities at the
    average profile times the Jacobian of cut points -> probabilities (Betancourt 2019)."""
    model = _cutpoint_model(3, alpha)
    cut = np.array([-1.2, 0.1, 0.9])
    q = expit(cut)
    probabilities = np.diff(np.r_[0.0, q, 1.0])
    expected = stats.dirichlet.logpdf(probabilities, np.full(4, alpha)) + np.log(q * (1 - q)).sum()
    assert float(pm.logp(model["c"], cut).eval()) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("levels", [3, 7])
def test_induced_dirichlet_scales_with_the_number_of_levels(levels):
    """Prior draws give every level the same expected share at the average profile, 1/K, so
    the outer cut points move out as levels are added (a fixed Normal(0, 2.5) does not)."""
    model = _cutpoint_model(levels - 1)
    draws = pm.draw(model["c"], draws=4000, random_seed=1)
    assert (np.diff(draws, axis=1) > 0).all()
    shares = np.diff(np.c_[np.zeros(len(draws)), expit(draws), np.ones(len(draws))], axis=1)
    np.testing.assert_allclose(shares.mean(axis=0), 1 / levels, atol=0.015)
    np.testing.assert_allclose(np.median(draws[:, 0]), logit(1 - 0.5 ** (1 / (levels - 1))),
                               atol=0.1)  # fmt: skip


def test_ordinal_model_uses_the_induced_dirichlet_by_default(frame):
    spec = make_spec(d={"family": "ordinal", "column": "rating", "predictors": ["x"]})
    built = build_model(spec, frame)
    cut = np.array([-1.0, 0.0, 0.5, 2.0])
    q = expit(cut)
    expected = stats.dirichlet.logpdf(np.diff(np.r_[0.0, q, 1.0]), np.ones(5))
    expected += np.log(q * (1 - q)).sum()
    logp = pm.logp(built.model["d_cutpoints_centred"], cut).eval()
    assert float(logp) == pytest.approx(expected)
