"""The hand-written cumulative-logit log-likelihood against pm.OrderedLogistic and exact values.

The ordinal outcome's likelihood is :func:`cumulative_logit_logp` (one pair of softplus per row)
instead of ``pm.OrderedLogistic`` (a rows x categories probability matrix). PSIS-LOO and every
table built on the pointwise log-likelihood stay as they were only if both give the same values.
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from _model_helpers import make_spec

from grassroots.models import build_model
from grassroots.models.ordinal import _cumulative_logit_random, cumulative_logit_logp

# 1 - F(x) at x = 700 is ~1e-304: more digits than that, or the reference itself cancels.
getcontext().prec = 400


def _compiled_logp():
    value = pt.lvector("value")
    eta = pt.dvector("eta")
    cutpoints = pt.dvector("cutpoints")
    logp = cumulative_logit_logp(value, eta, cutpoints)
    gradient = pt.grad(logp.sum(), [eta, cutpoints])
    return pytensor.function([value, eta, cutpoints], [logp, *gradient])


LOGP = _compiled_logp()


def _exact_logp(code: int, eta: float, cutpoints: np.ndarray) -> float:
    """``log(F(c_k - eta) - F(c_{k-1} - eta))`` in 400-digit decimal arithmetic."""

    def cdf(x):
        return 1 / (1 + (-x).exp())

    bounds = [None, *(Decimal(float(c)) for c in cutpoints), None]
    eta_ = Decimal(float(eta))
    upper = Decimal(1) if bounds[code + 1] is None else cdf(bounds[code + 1] - eta_)
    lower = Decimal(0) if bounds[code] is None else cdf(bounds[code] - eta_)
    return float((upper - lower).ln())


@pytest.mark.parametrize("n_categories", [2, 3, 5, 7])
def test_equals_ordered_logistic_on_random_inputs(n_categories):
    rng = np.random.default_rng(n_categories)
    for _ in range(20):
        cutpoints = np.sort(rng.normal(0.0, 2.0, n_categories - 1))
        eta = rng.normal(0.0, 2.0, 500)
        codes = rng.integers(0, n_categories, 500)
        want = pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=cutpoints), codes).eval()
        got = LOGP(codes, eta, cutpoints)[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_exact_at_extreme_etas_where_ordered_logistic_loses_digits():
    cutpoints = np.array([-3.0, -0.2, 0.0001, 2.5])
    etas = np.array([-700.0, -80.0, -36.0, -20.0, -4.0, 0.0, 4.0, 20.0, 36.0, 80.0, 700.0])
    codes = np.arange(5)
    eta = np.repeat(etas, codes.size)
    code = np.tile(codes, etas.size)
    got = LOGP(code, eta, cutpoints)[0]
    want = np.array([_exact_logp(k, e, cutpoints) for k, e in zip(code, eta, strict=True)])
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Where the probability matrix is still exact (at |eta| = 20 it is off by 1e-7), they agree.
    moderate = np.abs(eta) <= 4
    ordered = pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=cutpoints), code).eval()
    np.testing.assert_allclose(got[moderate], ordered[moderate], rtol=0, atol=1e-10)


def test_gradient_is_finite_and_matches_finite_differences():
    rng = np.random.default_rng(3)
    cutpoints = np.array([-1.5, -0.3, 0.4, 1.9])
    eta = np.concatenate([rng.normal(0.0, 1.5, 40), [-60.0, 60.0]])
    codes = np.concatenate([rng.integers(0, 5, 40), [4, 0]])
    _, d_eta, d_cut = LOGP(codes, eta, cutpoints)
    assert np.all(np.isfinite(d_eta)) and np.all(np.isfinite(d_cut))
    step = 1e-6
    for i in range(cutpoints.size):
        up, down = cutpoints.copy(), cutpoints.copy()
        up[i] += step
        down[i] -= step
        numeric = (LOGP(codes, eta, up)[0].sum() - LOGP(codes, eta, down)[0].sum()) / (2 * step)
        np.testing.assert_allclose(d_cut[i], numeric, rtol=1e-6)


def test_shared_cut_points_as_one_row_equal_the_vector_and_per_row_tables():
    """PyMC hands a CustomDist its shared cut points as shape (1, K-1); per-row cut points
    (n, K-1) take the general lookup. All three give the same log density and gradients."""
    rng = np.random.default_rng(11)
    cutpoints = np.array([-1.2, -0.1, 0.7, 2.2])
    eta = rng.normal(0.0, 1.5, 300)
    codes = rng.integers(0, 5, 300)
    want = LOGP(codes, eta, cutpoints)

    value, eta_ = pt.lvector("value"), pt.dvector("eta")
    for table, static in [(cutpoints[None, :], (1, 4)), (np.tile(cutpoints, (300, 1)), (None, 4))]:
        cut = pt.tensor("cutpoints", dtype="float64", shape=static)
        logp = cumulative_logit_logp(value, eta_, cut)
        d_eta, d_cut = pt.grad(logp.sum(), [eta_, cut])
        got = pytensor.function([value, eta_, cut], [logp, d_eta, d_cut])(codes, eta, table)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[2].sum(axis=0), want[2], rtol=1e-12)


def test_codes_outside_the_levels_have_zero_probability():
    got = LOGP(np.array([-1, 0, 4, 5]), np.zeros(4), np.array([-1.0, 0.0, 1.0, 2.0]))[0]
    assert got[0] == -np.inf and got[3] == -np.inf
    assert np.all(np.isfinite(got[1:3]))


def test_forward_draws_follow_the_category_probabilities():
    rng = np.random.default_rng(11)
    cutpoints = np.array([-1.0, 0.2, 1.4])
    eta = np.full(200_000, 0.3)
    draws = _cumulative_logit_random(eta, cutpoints, rng=rng)
    shares = np.bincount(draws, minlength=4) / draws.size
    want = np.exp(LOGP(np.arange(4), np.full(4, 0.3), cutpoints)[0])
    # Four binomial SEs at n = 200,000 are below 0.0045.
    np.testing.assert_allclose(shares, want, atol=0.0045)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "x1": rng.normal(3, 2, n),
            "x2": rng.integers(0, 2, n),
            "rating": rng.integers(1, 6, n).astype(float),
        }
    )
    frame.loc[[3, 8], "rating"] = np.nan
    return frame


def test_model_keeps_the_observed_variable_and_predicts(data):
    spec = make_spec(
        rating={
            "family": "ordinal",
            "column": "rating",
            "predictors": ["x1", "x2"],
            "levels": [1, 2, 3, 4, 5],
        }
    )
    built = build_model(spec, data)
    model = built.model
    assert [rv.name for rv in model.observed_RVs] == ["rating"]
    assert not any("probs" in name for name in model.named_vars)
    with model:
        prior = pm.sample_prior_predictive(draws=20, random_seed=5)
    simulated = prior["prior_predictive"]["rating"].to_numpy()
    observed = data["rating"].notna().sum()
    assert simulated.shape == (1, 20, observed)
    assert set(np.unique(simulated)) <= {0, 1, 2, 3, 4}
    assert len(np.unique(simulated)) > 1
