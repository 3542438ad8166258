"""The numpy yardstick of the engine benchmark computes PyMC's log density and gradient.

``benchmarks/engines/numpy_model.py`` writes the structural model's gradient by hand; on a tiny
simulated study it must differ from PyMC's log density by a constant and match its gradient, at
PyMC's initial point and at points with noise on every unconstrained coordinate.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytensor.tensor as pt
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks" / "engines"))

from common import Size, export_design, load_frame, ported_spec
from numpy_model import NumpyModel

from grassroots.models import build_model

# Compiling the structural model's C log density takes minutes with an empty PyTensor cache (a
# fresh CI machine); logp_grad.py runs the same check at every benchmark run.
pytestmark = pytest.mark.slow

TINY = Size("tiny", 8, 40, 200)


@pytest.fixture(scope="module")
def built_and_yardstick():
    spec = ported_spec()
    built = build_model(spec, load_frame(TINY, seed=3))
    return built, NumpyModel(export_design(spec, built.inputs))


def test_layout_is_pymcs(built_and_yardstick):
    built, yardstick = built_and_yardstick
    start = built.model.initial_point()
    assert yardstick.layout == [(v.name, start[v.name].shape) for v in built.model.value_vars]


def test_logp_differs_by_a_constant_and_gradients_agree(built_and_yardstick):
    built, yardstick = built_and_yardstick
    model = built.model
    value_vars = model.value_vars
    names = [v.name for v in value_vars]
    logp = model.logp(jacobian=True)
    # The C VM: its compiled ops are cached across runs, where numba (PyTensor's default)
    # would compile the whole graph afresh each time.
    logp_and_grads = model.compile_fn(
        [logp, *pt.grad(logp, value_vars)], inputs=value_vars, point_fn=False, mode="CVM"
    )
    start = model.initial_point()
    # The sampler's start for the cut points (equal category shares), as run.py --check uses:
    # PyMC's default one can put a category's probability at 0 on a tiny study.
    cuts = np.asarray(built.initial_points["demand_fit_cutpoints_centred"])
    start["demand_fit_cutpoints_centred_ordered__"] = np.concatenate(
        [cuts[:1], np.log(np.diff(cuts))]
    )
    rng = np.random.default_rng(11)
    points = [start] + [
        {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()} for _ in range(2)
    ]
    offsets = []
    for point in points:
        pymc_logp, *pymc_grads = logp_and_grads(*[point[n] for n in names])
        pymc_grad = yardstick.flatten(dict(zip(names, pymc_grads, strict=True)))
        numpy_logp, numpy_grad = yardstick.logp_and_grad(yardstick.flatten(point))
        offsets.append(numpy_logp - float(pymc_logp))
        np.testing.assert_allclose(
            numpy_grad, pymc_grad, rtol=0, atol=1e-8 * np.max(np.abs(pymc_grad))
        )
    assert np.ptp(offsets) < 1e-8 * max(1.0, abs(float(pymc_logp)))
