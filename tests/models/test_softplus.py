"""The softplus whose gradient reuses its exp: the exact softplus to an ulp, sigmoid's slope, one
kernel for numba and for PyTensor's default backend."""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special

from grassroots.inference.sampling import exact_compile
from grassroots.models.softplus import softplus, softplus_and_slope

# Both sides of pt.softplus's branches (-37, 18, 33.3) and of 0, far beyond, and the infinities.
EDGES = np.array(
    [-np.inf, -800.0, -40.0, -37.0, -36.9, -20.0, -1e-300, 0.0, 1e-300, 17.9, 18.0, 18.1,
     33.2, 33.3, 33.4, 40.0, 800.0, np.inf]
)  # fmt: skip


def _inputs() -> np.ndarray:
    return np.concatenate([EDGES, np.random.default_rng(5).normal(0.0, 8.0, 3000)])


def _compiled(function, mode):
    x = pt.dvector("x")
    value = function(x)
    with exact_compile():
        return pytensor.function([x], [value, pytensor.grad(value.sum(), x)], mode=mode)


def _exact_softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + exp(x))`` in 60-digit decimal arithmetic, rounded once to float64."""
    with localcontext() as context:
        context.prec = 60
        return np.array([float((1 + Decimal(float(v)).exp()).ln()) for v in x])


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want))


@pytest.mark.parametrize("mode", ["NUMBA", None])
def test_values_are_the_exact_softplus_to_an_ulp_and_the_slope_is_the_sigmoid(mode):
    x = _inputs()
    finite = np.isfinite(x)
    value, slope = _compiled(softplus, mode)(x)
    assert _ulps(value[finite], _exact_softplus(x[finite])).max() <= 1
    assert value[x == -np.inf] == 0.0 and value[x == np.inf] == np.inf
    want_value, want_slope = _compiled(pt.softplus, mode)(x)
    assert _ulps(value[finite], want_value[finite]).max() <= 2
    np.testing.assert_allclose(slope, want_slope, rtol=4e-16, atol=0)
    np.testing.assert_allclose(slope, special.expit(x), rtol=4e-16, atol=0)


def test_numba_and_the_default_backend_agree_to_the_bit():
    x = _inputs()
    numba_value, numba_slope = _compiled(softplus, "NUMBA")(x)
    value, slope = _compiled(softplus, None)(x)
    np.testing.assert_array_equal(numba_value, value)
    np.testing.assert_array_equal(numba_slope, slope)


def test_not_a_number_stays_not_a_number():
    value, slope = _compiled(softplus, "NUMBA")(np.array([np.nan, 1.0]))
    assert np.isnan(value[0]) and np.isnan(slope[0]) and np.isfinite(value[1])


def test_gradient_of_the_slope_output_is_the_sigmoids_derivative():
    x = pt.dvector("x")
    _, slope = softplus_and_slope(x)
    both = softplus_and_slope(x)
    gradient = pytensor.function(
        [x], [pytensor.grad(slope.sum(), x), pytensor.grad((both[0] + both[1]).sum(), x)]
    )
    points = np.linspace(-12.0, 12.0, 97)
    of_slope, of_both = gradient(points)
    sigmoid = special.expit(points)
    derivative = sigmoid * special.expit(-points)
    np.testing.assert_allclose(of_slope, derivative, rtol=1e-14)
    np.testing.assert_allclose(of_both, sigmoid + derivative, rtol=1e-14)


def test_keeps_the_shape_of_a_matrix_and_casts_integers():
    matrix = np.arange(-6.0, 6.0).reshape(3, 4)
    value = softplus(pt.as_tensor(matrix)).eval()
    assert value.shape == (3, 4)
    np.testing.assert_allclose(value, np.logaddexp(0.0, matrix), rtol=1e-15)
    assert softplus(pt.as_tensor(np.array([0, 1]))).dtype == "float64"
