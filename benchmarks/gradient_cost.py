"""What one log density + gradient costs, per spec, and how much of it is elementwise
transcendental functions.

For each spec: the model as ``grassroots.fit`` compiles it for nutpie (numba, no fastmath), timed
at one point (median of ``--rounds`` rounds of ``--calls`` calls, process time, one thread). Then
the pieces that explain it, on the bundled study's row count:

- the logistic likelihood term alone, log density + gradient with respect to the linear
  predictor: ``pm.Bernoulli`` with ``logit_p`` and the package's own term
  (``models/logistic.py``), each compiled by PyTensor for numba, and as the peer the same term in
  numpy;
- ``exp`` and ``log1p`` over the rows: numba's loop (one scalar libm call per element) against
  numpy's ufunc (SIMD on x86-64 with AVX2/AVX-512);
- the design products ``X @ beta`` and ``X.T @ g`` in numba;
- the softplus and sigmoid over the rows, the package's kernel (``models/softplus.py``) and as
  its peer ``pt.softplus``'s branches in a numba loop, each on one array called again and again
  and on 64 arrays in turn (a sampler's ever-new values, which the branch predictor cannot
  learn).

Prints one JSON record (and writes it with ``--out``)::

    nice -n 5 .venv/bin/python benchmarks/gradient_cost.py \
        --out reports/benchmarks/gradient_cost.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Imports grassroots before numpy, so that OpenBLAS computes with the kernels fits use.
import _process

DEFAULT_SPECS = (
    "survival_m0",
    "survival_m4",
    "demand_fit_m0",
    "demand_fit_m4",
    "strategy_expedient",
    "structural",
)


def _median_us(call: Callable[[], object], calls: int, rounds: int) -> float:
    call()
    per_round = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            call()
        per_round.append((time.process_time() - start) / calls)
    return statistics.median(per_round) * 1e6


def _spec_costs(names: list[str], calls: int, rounds: int) -> list[dict[str, Any]]:
    import numpy as np
    import nutpie

    from grassroots.data import load_dataset
    from grassroots.inference.sampling import exact_compile
    from grassroots.models import build_model, load_spec

    frame = load_dataset().flat()
    records = []
    for name in names:
        built = build_model(load_spec(name), frame)
        with exact_compile():
            compiled = nutpie.compile_pymc_model(
                built.model, backend="numba", initial_points=built.initial_points or None
            )
        point = np.random.default_rng(0).normal(size=compiled.n_dim) * 0.1
        logp_and_gradient = compiled.logp_func
        records.append(
            {
                "spec": name,
                "dimensions": int(compiled.n_dim),
                "logp_gradient_us": round(
                    _median_us(lambda f=logp_and_gradient, x=point: f(x), calls, rounds), 2
                ),
            }
        )
        print(json.dumps(records[-1]), flush=True)
    return records


def _piece_costs(rows: int, columns: int, calls: int, rounds: int) -> dict[str, float]:
    import numba
    import numpy as np
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from grassroots.inference.sampling import exact_compile

    rng = np.random.default_rng(1)
    eta_value = rng.normal(size=rows)
    outcome = (rng.random(rows) < 1 / (1 + np.exp(-eta_value))).astype("int64")

    eta = pt.vector("eta")
    term = pm.logp(pm.Bernoulli.dist(logit_p=eta), outcome).sum()
    with exact_compile():
        term_numba = pytensor.function([eta], [term, pytensor.grad(term, eta)], mode="NUMBA")
    term_numba.trust_input = True
    try:  # the package's own term, where this tree has it (models/logistic.py)
        from grassroots.models.logistic import bernoulli_logit_logp
    except ImportError:
        package_numba = None
    else:
        package_term = bernoulli_logit_logp(outcome, eta).sum()
        with exact_compile():
            package_numba = pytensor.function(
                [eta], [package_term, pytensor.grad(package_term, eta)], mode="NUMBA"
            )
        package_numba.trust_input = True

    def term_numpy(values: np.ndarray) -> tuple[float, np.ndarray]:
        shrink = np.exp(-np.abs(values))
        logp = (outcome * values - np.maximum(values, 0.0) - np.log1p(shrink)).sum()
        inverse = 1.0 / (1.0 + shrink)
        return logp, outcome - np.where(values >= 0, inverse, shrink * inverse)

    reference = term_numpy(eta_value)
    compiled = term_numba(eta_value)
    if not (
        math.isclose(float(compiled[0]), reference[0], rel_tol=1e-12)
        and np.allclose(compiled[1], reference[1], rtol=1e-12, atol=1e-15)
    ):
        raise SystemExit("the numpy peer of the logistic term disagrees with PyMC's")

    @numba.njit(fastmath=False)
    def exp_loop(values: np.ndarray, out: np.ndarray) -> None:
        for i in range(values.shape[0]):
            out[i] = math.exp(values[i])

    @numba.njit(fastmath=False)
    def log1p_loop(values: np.ndarray, out: np.ndarray) -> None:
        for i in range(values.shape[0]):
            out[i] = math.log1p(values[i])

    @numba.njit(fastmath=False)
    def product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return np.dot(left, right)

    @numba.njit(fastmath=False)
    def softplus_branching(values: np.ndarray, value: np.ndarray, slope: np.ndarray) -> None:
        # pt.softplus's branches, log1p(exp(x)) in the middle one: the peer of the package's kernel.
        for i in range(values.shape[0]):
            x = values[i]
            if x < -37.0:
                grow = math.exp(x)
                value[i], slope[i] = grow, grow / (1.0 + grow)
            elif x < 18.0:
                grow = math.exp(x)
                value[i], slope[i] = math.log1p(grow), grow / (1.0 + grow)
            elif x < 33.3:
                shrink = math.exp(-x)
                value[i], slope[i] = x + shrink, 1.0 / (1.0 + shrink)
            else:
                value[i], slope[i] = x, 1.0 / (1.0 + math.exp(-x))

    try:  # the package's softplus kernel, where this tree has it (models/softplus.py)
        from grassroots.models.softplus import softplus_and_slope_kernel
    except ImportError:
        softplus_and_slope_kernel = None
    # A sampler brings new values at every call; a loop over one array lets the branch predictor
    # learn its pattern. 64 arrays in turn stand for the sampler.
    arguments = [rng.normal(0.0, 1.5, rows) for _ in range(64)]
    turn = itertools.count()
    slope_out = np.empty(rows)

    out = np.empty(rows)
    positive = np.abs(eta_value)
    design = rng.normal(size=(rows, columns))
    coefficients = rng.normal(size=(columns, 1))
    residual = rng.normal(size=(rows, 1))
    timed = {
        "logistic_term_numba_us": lambda: term_numba(eta_value),
        "logistic_term_package_numba_us": package_numba and (lambda: package_numba(eta_value)),
        "logistic_term_numpy_us": lambda: term_numpy(eta_value),
        "exp_numba_loop_us": lambda: exp_loop(eta_value, out),
        "exp_numpy_ufunc_us": lambda: np.exp(eta_value, out=out),
        "log1p_numba_loop_us": lambda: log1p_loop(positive, out),
        "log1p_numpy_ufunc_us": lambda: np.log1p(positive, out=out),
        "softplus_package_same_values_us": softplus_and_slope_kernel
        and (lambda: softplus_and_slope_kernel(arguments[0])),
        "softplus_package_new_values_us": softplus_and_slope_kernel
        and (lambda: softplus_and_slope_kernel(arguments[next(turn) % 64])),
        "softplus_branching_same_values_us": lambda: softplus_branching(
            arguments[0], out, slope_out
        ),
        "softplus_branching_new_values_us": lambda: softplus_branching(
            arguments[next(turn) % 64], out, slope_out
        ),
        "design_product_numba_us": lambda: product(design, coefficients),
        "design_transposed_product_numba_us": lambda: product(design.T, residual),
    }
    return {
        name: round(_median_us(call, calls, rounds), 2) if call else None
        for name, call in timed.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--specs", default=",".join(DEFAULT_SPECS))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from grassroots.data import load_dataset
    from grassroots.inference.bundle import machine

    study = load_dataset().flat()
    record = {
        "command": "benchmarks/gradient_cost.py",
        "code": _process.measured_commit(),
        "machine": machine(),
        "python": platform.python_version(),
        "rows": len(study),
        "specs": _spec_costs(args.specs.split(","), args.calls, args.rounds),
        "pieces": _piece_costs(len(study), 20, args.calls * 5, args.rounds),
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
