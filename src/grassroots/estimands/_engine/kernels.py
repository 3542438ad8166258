"""Compiled kernels of a fit's predictions: ordinal levels and survival."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, error_model="numpy")
def ordinal_kernel(exponential, factors, levels, threshold, out):  # pragma: no cover - compiled
    """P(Y >= levels[threshold]) and E[Y] from ``exp(-eta)`` (S, n) and ``exp(c_j - shift)``
    (S, K-1) into ``out`` (S, 2, n), with P(Y > level_j) = 1 / (1 + exp(-eta) exp(c_j - shift))
    and E[Y] = level_1 + sum_j (level_{j+1} - level_j) P(Y > level_j).

    Two array passes per cut-point instead of numpy's five, and no transcendental function
    (the exponentials come from numpy's vector exp). The loops run over one draw's rows at a
    time, and numpy's error model (no zero-division check): both keep them vectorised.
    """
    for s in range(exponential.shape[0]):
        row = exponential[s]
        at_least = out[s, 0]
        expected = out[s, 1]
        for i in range(row.shape[0]):
            at_least[i] = 1.0
            expected[i] = levels[0]
        for j in range(factors.shape[1]):
            factor = factors[s, j]
            step = levels[j + 1] - levels[j]
            if j == threshold - 1:
                for i in range(row.shape[0]):
                    above = 1.0 / (1.0 + row[i] * factor)
                    at_least[i] = above
                    expected[i] += step * above
            else:
                for i in range(row.shape[0]):
                    expected[i] += step * (1.0 / (1.0 + row[i] * factor))


def inverse_one_plus(exponential: np.ndarray, factor: np.ndarray | None) -> np.ndarray:
    """``1 / (1 + exponential * factor)`` (S, n), ``factor`` per draw (S,): expit with the
    exponential of the rows shared by every mediator value."""
    out = np.empty_like(exponential)
    if factor is None:
        np.add(exponential, 1.0, out=out)
        return np.divide(1.0, out, out=out)
    _inverse_one_plus_kernel(exponential, factor, out)
    return out


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _inverse_one_plus_kernel(exponential, factor, out):  # pragma: no cover - compiled
    """``out = 1 / (1 + exponential * factor[:, None])`` in one pass (numpy takes three)."""
    for s in range(exponential.shape[0]):
        row = exponential[s]
        result = out[s]
        for i in range(row.shape[0]):
            result[i] = 1.0 / (1.0 + row[i] * factor[s])


def survival_probability(
    risk: np.ndarray, total: np.ndarray, factor: np.ndarray | None
) -> np.ndarray:
    """``S(t) = exp(-risk * factor * total)``: ``risk = exp(eta)`` (S, n), ``factor`` per draw
    (S,) or None, ``total`` from :func:`total_hazard` (S, 1 or n, T) -> (S, n, T).

    Computed time by time in a contiguous (S, T, n) buffer (numpy's vector loops need unit
    strides) and returned as an (S, n, T) view of it.
    """
    out = np.empty((risk.shape[0], total.shape[-1], risk.shape[1]))
    if total.shape[1] == 1:
        # The same total hazard in every row: one product per row and time.
        rate = -total[:, 0, :] if factor is None else total[:, 0, :] * -factor[:, None]
        for k in range(rate.shape[-1]):
            np.multiply(risk, rate[:, k, None], out=out[:, k])
    else:
        scale = -risk if factor is None else risk * -factor[:, None]
        for k in range(total.shape[-1]):
            np.multiply(scale, total[:, :, k], out=out[:, k])
    return np.exp(out, out=out).transpose(0, 2, 1)
