"""``softplus(x) = log(1 + exp(x))`` whose gradient reuses the forward pass's ``exp``.

The logistic and ordinal likelihoods are sums of softplus terms, one or two per row, and NUTS
evaluates each with its gradient, ``sigmoid(x)``. PyTensor's ``pt.softplus`` computes the
sigmoid with an ``exp`` of its own, so every row costs an ``exp`` and a ``log1p`` forward and
another ``exp`` backward. numba evaluates them one scalar call at a time, and they were most of a
small model's gradient (``benchmarks/gradient_cost.py``). :class:`SoftplusAndSlope` returns the
softplus and the sigmoid from one ``exp`` per element, and its gradient reads the stored
sigmoid.

The softplus takes ``pt.softplus``'s branches (the same thresholds, the same operations), so
its values are the same to the bit. Both NUTS (numba) and the pointwise log-likelihood
(PyTensor's default backend, through :meth:`SoftplusAndSlope.perform`) run one numba kernel,
so they agree to the bit too. It has no fastmath (see
:func:`grassroots.inference.sampling.exact_compile`).
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
KERNEL_VERSION = 1


@numba.njit(fastmath=False)
def _softplus_and_slope_scalar(x: float) -> tuple[float, float]:
    # pt.softplus's branches; the sigmoid reuses whichever exp the branch took.
    if x < -37.0:
        shrink = math.exp(x)
        return shrink, shrink / (1.0 + shrink)
    if x < 18.0:
        grow = math.exp(x)
        return math.log1p(grow), grow / (1.0 + grow)
    if x < 33.3:
        shrink = math.exp(-x)
        return x + shrink, 1.0 / (1.0 + shrink)
    return x, 1.0 / (1.0 + math.exp(-x))


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
    """``log(1 + exp(x))``, equal to ``pt.softplus(x)``, with a gradient that costs no ``exp``."""
    return softplus_and_slope(x)[0]


@numba_basic.register_funcify_default_op_cache_key(SoftplusAndSlope)
def _numba_softplus_and_slope(op: SoftplusAndSlope, node: Any = None, **kwargs: Any) -> Any:
    @numba_basic.numba_njit(fastmath=False)
    def softplus_and_slope_numba(x):
        return softplus_and_slope_kernel(x)

    return softplus_and_slope_numba, KERNEL_VERSION
