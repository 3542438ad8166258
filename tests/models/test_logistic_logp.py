"""The binary outcomes' likelihood, one softplus per row, against pm.Bernoulli(logit_p=...).

PSIS-LOO and every table built on the pointwise log-likelihood stay as they were only if both
give the same values (to the last two units in the last place); the gradient is what NUTS
follows.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from scipy import special

from grassroots.models.logistic import _bernoulli_logit_random, bernoulli_logit_logp

# Both sides of softplus's branches (-37, 18, 33.3) and far beyond.
EXTREME_LOGITS = np.array([-800.0, -40.0, -37.5, -36.0, -20.0, 0.0, 17.5, 18.5, 34.0, 800.0])


def _logp_and_gradient(logp_of):
    value = pt.lvector("value")
    logit = pt.dvector("logit")
    logp = logp_of(value, logit)
    return pytensor.function([value, logit], [logp, pt.grad(logp.sum(), logit)])


OURS = _logp_and_gradient(bernoulli_logit_logp)
PYMC = _logp_and_gradient(lambda value, logit: pm.logp(pm.Bernoulli.dist(logit_p=logit), value))


def _inputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logit = np.concatenate([rng.normal(0.0, 3.0, 2000), EXTREME_LOGITS, EXTREME_LOGITS])
    value = np.concatenate([rng.integers(0, 2, 2000), np.zeros(10, int), np.ones(10, int)])
    return value, logit


def test_equals_pymc_bernoulli_to_two_ulp_and_its_gradient_to_rounding():
    value, logit = _inputs(1)
    ours, pymc = OURS(value, logit), PYMC(value, logit)
    assert np.all(np.abs(ours[0] - pymc[0]) <= 2 * np.spacing(np.abs(pymc[0])))
    # PyMC's gradient of a 1 at a large logit is 1 - p, which cancels to a multiple of 2^-52;
    # ours is p(-logit) there (the next test), so they differ by that rounding only.
    np.testing.assert_allclose(ours[1], pymc[1], rtol=1e-14, atol=4 * np.finfo(float).eps)


def test_equals_the_log_probability_and_its_derivative():
    value, logit = _inputs(2)
    logp, gradient = OURS(value, logit)
    want = np.where(value == 1, special.log_expit(logit), special.log_expit(-logit))
    np.testing.assert_allclose(logp, want, rtol=1e-13)
    # d/dlogit log p = 1 - p = p(-logit) for a 1, and -p for a 0, both without cancellation.
    slope = np.where(value == 1, special.expit(-logit), -special.expit(logit))
    np.testing.assert_allclose(gradient, slope, rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(logp)) and np.all(np.isfinite(gradient))


def test_forward_draws_follow_the_probability():
    rng = np.random.default_rng(11)
    draws = _bernoulli_logit_random(np.full(200_000, 0.7), rng=rng)
    assert draws.dtype == np.int64 and set(np.unique(draws)) == {0, 1}
    # Four binomial SEs at n = 200,000 are below 0.0045.
    assert abs(draws.mean() - special.expit(0.7)) < 0.0045
