"""``softplus(x) = log(1 + exp(x))`` whose gradient reuses the forward pass's ``exp``.

The logistic and ordinal likelihoods are sums of softplus terms, one or two per row, and NUTS
evaluates each with its gradient, ``sigmoid(x)``. PyTensor's ``pt.softplus`` computes the
sigmoid with an ``exp`` of its own, so every row costs an ``exp`` and a ``log1p`` forward and
another ``exp`` backward. numba evaluates them one scalar call at a time, and they were most of a
small model's gradient (``benchmarks/gradient_cost.py``). :class:`SoftplusAndSlope` returns the
softplus and the sigmoid from one ``exp`` per element, and its gradient reads the stored
sigmoid.

The kernel has no branch on ``x``: ``max(x, 0) + log1p(exp(-|x|))``, so ``log1p`` only ever
sees an argument in ``[0, 1]``. ``pt.softplus``'s ``log1p(exp(x))`` hands ``log1p`` arguments up
to ``exp(18)``, whose internal branches the processor mispredicts when every call brings new
values, as in a sampler: 52 us for 2,306 values, 64 arrays of them in turn, against 36 us for
one array called again and again; this kernel takes 39-40 us either way
(``benchmarks/gradient_cost.py``). It is within one unit in the last place of the
exact softplus, as ``pt.softplus`` is, and within two of ``pt.softplus``'s values. Both NUTS
(numba) and the pointwise log-likelihood (PyTensor's default backend, through
:meth:`SoftplusAndSlope.perform`) run one numba kernel, so they agree to the bit. It has no
fastmath (see :func:`grassroots.inference.sampling.exact_compile`).
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic

#: Part of PyTensor's numba cache key for this Op: raise it whenever the kernel changes.
KERNEL_VERSION = 2


@numba.njit(fastmath=False)
def _softplus_and_slope_scalar(x: float) -> tuple[float, float]:
    # exp(-|x|) is in [0, 1]: log1p takes one path, and the sigmoid of either sign reuses it.
    shrink = math.exp(-abs(x))
    inverse = 1.0 / (1.0 + shrink)
    return max(x, 0.0) + math.log1p(shrink), (inverse if x >= 0.0 else shrink * inverse)


@numba.njit(fastmath=False)
def softplus_and_slope_kernel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(softplus(x), sigmoid(x))`` elementwise, float64, the shape of ``x``."""
    flat = np.ascontiguousarray(x).reshape(-1)
    value = np.empty(flat.size)
    slope = np.empty(flat.size)
    for i in range(flat.size):
        value[i], slope[i] = _softplus_and_slope_scalar(flat[i])
    return value.reshape(x.shape), slope.reshape(x.shape)


class SoftplusAndSlope(Op):
    """Elementwise ``(softplus(x), sigmoid(x))``, float64; use :func:`softplus`."""

    __props__ = ()

    def make_node(self, x: Any) -> Apply:
        x = pt.as_tensor_variable(x)
        if x.type.dtype != "float64":
            x = pt.cast(x, "float64")
        return Apply(self, [x], [x.type(), x.type()])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        value, slope = softplus_and_slope_kernel(np.asarray(inputs[0], dtype=np.float64))
        outputs[0][0] = value
        outputs[1][0] = slope

    def infer_shape(self, node: Apply, shapes: list[tuple]) -> list[tuple]:
        return [shapes[0], shapes[0]]

    def pullback(self, inputs: list, outputs: list, cotangents: list) -> list:
        (x,) = inputs
        _, slope = outputs
        value_cotangent, slope_cotangent = cotangents
        terms = []
        if not isinstance(value_cotangent.type, DisconnectedType):
            terms.append(value_cotangent * slope)
        if not isinstance(slope_cotangent.type, DisconnectedType):
            # sigmoid' = sigmoid(x) sigmoid(-x): 1 - sigmoid(x) would cancel for large x.
            terms.append(slope_cotangent * slope * pt.sigmoid(-x))
        if not terms:
            return [pt.zeros_like(x)]
        return [terms[0] if len(terms) == 1 else terms[0] + terms[1]]


softplus_and_slope = SoftplusAndSlope()


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, ``pt.softplus(x)`` to an ulp, with a gradient that costs no ``exp``."""
    return softplus_and_slope(x)[0]


@numba_basic.register_funcify_default_op_cache_key(SoftplusAndSlope)
def _numba_softplus_and_slope(op: SoftplusAndSlope, node: Any = None, **kwargs: Any) -> Any:
    @numba_basic.numba_njit(fastmath=False)
    def softplus_and_slope_numba(x):
        return softplus_and_slope_kernel(x)

    return softplus_and_slope_numba, KERNEL_VERSION
