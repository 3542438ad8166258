"""One log-density-and-gradient evaluation of the structural model, engine by engine (issue 6).

The target: one evaluation within 2x of a hand-written numpy version of the same model
(``numpy_model.py``, the yardstick). Engines, all on the same flat unconstrained vector (PyMC's
``model.value_vars`` order, which is also nutpie's):

* ``numpy``: :class:`numpy_model.NumpyModel`, analytic gradient;
* ``pytensor_c``: ``model.logp_dlogp_function(ravel_inputs=True, mode="CVM")``, PyTensor's C
  backend (PyTensor 3 defaults to numba, so the C VM is asked for by name);
* ``nutpie_numba``: the numba C callback that ``nutpie.compile_pymc_model(backend="numba")``
  builds and nutpie's sampler calls (``grassroots.fit``'s path), called through ctypes;
* ``jax``: the numpyro port (``numpyro_model.py``), ``jax.jit(jax.value_and_grad(...))`` of minus
  its potential energy (only where jax and numpyro are installed: ``.venv-bench``).

For each size the script first checks the engines against each other at 4 points (PyMC's initial
point and three with N(0, 0.3^2) noise on every unconstrained coordinate): log densities differ by
a constant, gradients agree. It then times one evaluation, engines interleaved in rotating order,
single-threaded (BLAS, numba and XLA), and reports the median per engine and its ratio to numpy.
At the largest size it profiles the PyTensor C function (PyTensor's profiler: time per Op)::

    nice -n 10 .venv-bench/bin/python benchmarks/engines/logp_grad.py
    nice -n 10 .venv-bench/bin/python benchmarks/engines/logp_grad.py --sizes medium --rounds 10

Writes ``reports/benchmarks/logp_grad.json`` and ``logp_grad.md`` (``--out``; ``--report-only``
rebuilds the ``.md`` from the ``.json``). Simulated data and
designs are kept in ``.tmp-logp-grad/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import pickle
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    OUTCOMES,
    ROOT,
    SIZES,
    Size,
    export_design,
    load_design,
    load_frame,
    machine_info,
    ported_spec,
    save_design,
    write_json,
)
from numpy_model import NumpyModel, _softplus_and_sigmoid
from threadpoolctl import threadpool_limits

YARDSTICK = "numpy"
TARGET_RATIO = 2.0
WORKDIR = ROOT / ".tmp-logp-grad"

Evaluate = Callable[[np.ndarray], tuple[float, np.ndarray]]


# ---------------------------------------------------------------------------------------------
# Data and model


def prepare(size: Size, workdir: Path):
    """The PyMC model of a size (``build_model``) and its exported design, cached on disk."""
    from grassroots.models import build_model

    workdir.mkdir(parents=True, exist_ok=True)
    frame_path = workdir / "frame.pkl"
    if frame_path.is_file():
        frame = pickle.loads(frame_path.read_bytes())
    else:
        frame = load_frame(size)
        frame_path.write_bytes(pickle.dumps(frame))
    spec = ported_spec()
    built = build_model(spec, frame)
    design_path = workdir / "design.npz"
    save_design(export_design(spec, built.inputs), design_path)
    counts = built.inputs.summary_counts()
    return built, design_path, counts


def start_and_points(built, n_points: int, seed: int) -> list[dict[str, np.ndarray]]:
    """PyMC's initial point (cut points at equal category shares, as ``run.py --check``) and
    ``n_points - 1`` points with N(0, 0.3^2) noise on every unconstrained coordinate."""
    model = built.model
    start = model.initial_point()
    cut = np.asarray(built.initial_points["demand_fit_cutpoints_centred"])
    start["demand_fit_cutpoints_centred_ordered__"] = np.concatenate(
        [cut[:1], np.log(np.diff(cut))]
    )
    rng = np.random.default_rng(seed)
    return [start] + [
        {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()}
        for _ in range(n_points - 1)
    ]


# ---------------------------------------------------------------------------------------------
# The engines: each a function of the flat unconstrained vector -> (logp, gradient)


def numpy_engine(design_path: Path) -> Evaluate:
    return NumpyModel(load_design(design_path)).logp_and_grad


def pytensor_c_engine(model, **compile_kwargs) -> tuple[Evaluate, Any]:
    """PyMC's ``logp_dlogp_function`` (C backend, raveled input), as PyMC's NUTS calls it."""
    # PyTensor 3's default linker is numba: ask for the C VM by name.
    value_grad = model.logp_dlogp_function(ravel_inputs=True, mode="CVM", **compile_kwargs)
    compiled = value_grad._pytensor_function
    compiled.trust_input = True

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        logp, grad = compiled(x)
        return float(logp), grad

    return evaluate, compiled


def nutpie_numba_engine(model) -> Evaluate:
    """The C callback nutpie's sampler calls: ``logp(dim, x, grad_out, logp_out, user_data)``."""
    import nutpie

    compiled = nutpie.compile_pymc_model(model, backend="numba")
    callback = compiled.compiled_logp_func.ctypes
    n = compiled.n_dim
    x_buffer = np.empty(n)
    grad_out = np.empty(n)
    logp_out = np.empty(())
    as_double = ctypes.POINTER(ctypes.c_double)
    x_ptr = x_buffer.ctypes.data_as(as_double)
    grad_ptr = grad_out.ctypes.data_as(as_double)
    logp_ptr = logp_out.ctypes.data_as(as_double)
    user_data = ctypes.c_void_p(compiled.user_data.ctypes.data)

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        x_buffer[:] = x
        status = callback(n, x_ptr, grad_ptr, logp_ptr, user_data)
        if status != 0:
            raise RuntimeError(f"nutpie's logp callback returned {status}")
        return float(logp_out), grad_out.copy()

    return evaluate


def jax_engine(design_path: Path, numpy_model: NumpyModel) -> Evaluate | None:
    """The numpyro port, ``jit(value_and_grad)`` of minus its potential energy, on the flat
    vector (unravelled inside the jitted function); ``None`` without jax and numpyro."""
    try:
        import jax
        import numpyro_model
        from numpyro.infer.util import potential_energy
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    design = numpyro_model.as_jax(load_design(design_path))
    slices = numpy_model.slices
    shapes = dict(numpy_model.layout)

    def block(flat, name):
        return flat[slices[name]].reshape(shapes[name])

    def logp(flat):
        values = {
            "sd_county": jax.numpy.stack([block(flat, f"{o}_sd_county_log__") for o in OUTCOMES]),
            "z_county_unc": jax.numpy.stack(
                [block(flat, f"{o}_z_county_zerosum__") for o in OUTCOMES]
            ),
            "township_chol_unc": block(flat, "township_chol_cholesky-cov-packed__"),
            "township_z_unc": block(flat, "township_z_zerosum__"),
            "beta_s": block(flat, "survival_beta"),
            "beta_late": block(flat, "survival_beta_late"),
            "lh_start": block(flat, "survival_log_hazard_start_centred"),
            "lh_steps": block(flat, "survival_log_hazard_steps"),
            "beta_d": block(flat, "demand_fit_beta"),
            "cut_d": block(flat, "demand_fit_cutpoints_centred_ordered__"),
        }
        for name, tag in (("extensive", "e"), ("expedient", "x"), ("short_sighted", "h")):
            values[f"beta_{tag}"] = block(flat, f"{name}_beta")
            values[f"int_{tag}"] = block(flat, f"{name}_intercept_centred")
        return -potential_energy(numpyro_model.model, (design,), {}, values)

    value_and_grad = jax.jit(jax.value_and_grad(logp))

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad(x)
        return float(value), np.asarray(grad)

    return evaluate


# ---------------------------------------------------------------------------------------------
# Equivalence


def equivalence(
    engines: dict[str, Evaluate], points: list[np.ndarray], reference: str = "pytensor_c"
) -> dict[str, Any]:
    """Every engine against PyMC's compiled function (``reference``) at the same points.

    Engines keep different normalising constants: the log densities must differ by one
    constant per engine (its spread over the points is the error); the gradients must agree
    (max |difference| / max |reference gradient|).
    """
    rows = []
    values = {name: [engine(x) for x in points] for name, engine in engines.items()}
    for name in engines:
        if name == reference:
            continue
        offsets = [values[name][i][0] - values[reference][i][0] for i in range(len(points))]
        grad_rel = [
            float(
                np.max(np.abs(values[name][i][1] - values[reference][i][1]))
                / np.max(np.abs(values[reference][i][1]))
            )
            for i in range(len(points))
        ]
        scale = max(abs(values[reference][i][0]) for i in range(len(points)))
        rows.append(
            {
                "engine": name,
                "logp_offset": offsets,
                "offset_spread": float(np.ptp(offsets)),
                "offset_spread_relative": float(np.ptp(offsets) / scale),
                "max_grad_rel_diff_per_point": grad_rel,
                "max_grad_rel_diff": max(grad_rel),
            }
        )
    passed = all(
        r["offset_spread_relative"] < 1e-10 and r["max_grad_rel_diff"] < 1e-8
        for r in rows
        # numpyro's Bernoulli takes a one-sided derivative of |x| at logit 0, which every row
        # has at PyMC's initial point (see run.py --check): judge jax at the noisy points only.
        if r["engine"] != "jax"
    ) and all(
        max(r["max_grad_rel_diff_per_point"][1:]) < 1e-8 for r in rows if r["engine"] == "jax"
    )
    return {
        "reference": reference,
        "logp_reference": [values[reference][i][0] for i in range(len(points))],
        "engines": rows,
        "passed": bool(passed),
    }


# ---------------------------------------------------------------------------------------------
# Timing


def timing(
    engines: dict[str, Evaluate], x: np.ndarray, rounds: int, block_seconds: float
) -> dict[str, Any]:
    """Seconds per evaluation: ``rounds`` rounds, each timing a block of calls of every engine
    in turn (the order rotates per round); the median over rounds, per engine.

    Both wall time and this process's CPU time are recorded: every engine runs on one thread,
    so CPU time is the evaluation's own cost, less inflated than wall time when other jobs
    share the cores (it still pays for shared caches and memory bandwidth)."""
    names = list(engines)
    calls = {}
    for name in names:
        engine = engines[name]
        for _ in range(3):
            engine(x)
        start = time.perf_counter()
        engine(x)
        once = time.perf_counter() - start
        calls[name] = max(1, int(block_seconds / max(once, 1e-7)))
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            engine = engines[name]
            n = calls[name]
            start_cpu = time.process_time()
            start = time.perf_counter()
            for _ in range(n):
                engine(x)
            wall[name].append((time.perf_counter() - start) / n)
            cpu[name].append((time.process_time() - start_cpu) / n)
    out = {}
    for name in names:
        out[name] = {
            "median_cpu_seconds": statistics.median(cpu[name]),
            "min_cpu_seconds": min(cpu[name]),
            "median_seconds": statistics.median(wall[name]),
            "min_seconds": min(wall[name]),
            "max_seconds": max(wall[name]),
            "calls_per_round": calls[name],
            "rounds": rounds,
        }
    for name in names:
        for key in ("median_cpu_seconds", "median_seconds"):
            ratio_key = "ratio_to_numpy" + ("_cpu" if "cpu" in key else "_wall")
            out[name][ratio_key] = out[name][key] / out[YARDSTICK][key]
    return out


# ---------------------------------------------------------------------------------------------
# Profile


def profile_pytensor(model, x: np.ndarray, calls: int, top: int = 15) -> dict[str, Any]:
    """PyTensor's profiler on the C function: time per Op class and the costliest Apply nodes."""
    evaluate, compiled = pytensor_c_engine(model, profile=True)
    for _ in range(calls):
        evaluate(x)
    stats = compiled.profile
    total = sum(stats.apply_time.values())
    by_op: dict[str, float] = defaultdict(float)
    by_op_count: dict[str, int] = defaultdict(int)
    for (_, node), seconds in stats.apply_time.items():
        key = _op_name(node.op)
        by_op[key] += seconds
        by_op_count[key] += 1
    ops = sorted(by_op.items(), key=lambda item: -item[1])
    applies = sorted(stats.apply_time.items(), key=lambda item: -item[1])[:top]
    summary = io.StringIO()
    stats.summary(file=summary, n_ops_to_print=top, n_apply_to_print=top)
    return {
        "calls": calls,
        "seconds_per_call_in_ops": total / calls,
        "wall_seconds_per_call": stats.fct_call_time / max(stats.fct_callcount, 1),
        "n_apply_nodes": len(stats.apply_time),
        "ops": [
            {
                "op": name,
                "apply_nodes": by_op_count[name],
                "ms_per_call": seconds / calls * 1e3,
                "share": seconds / total,
            }
            for name, seconds in ops
        ],
        "apply_nodes": [
            {
                "node": _apply_label(node),
                "ms_per_call": seconds / calls * 1e3,
                "share": seconds / total,
            }
            for (_, node), seconds in applies
        ],
        "pytensor_summary": summary.getvalue(),
    }


def _op_category(name: str) -> str:
    """The part of the model an Op's time goes to, in the numpy yardstick's terms."""
    if name.startswith(("Gemv", "Dot22")):
        return "design products"
    if name.startswith(("Elemwise", "Sum", "All", "CumOp", "Prod", "Max")):
        return "elementwise and reductions"
    if name.startswith(("AdvancedSubtensor", "AdvancedIncSubtensor")):
        return "group gathers and scatter-adds"
    return "the rest (zero-sum transform, joins, allocations, small blocks)"


def _op_name(op) -> str:
    scalar = getattr(op, "scalar_op", None)
    if scalar is not None:
        return f"{type(op).__name__}{{{type(scalar).__name__}}}"
    return type(op).__name__


def _apply_label(node) -> str:
    text = str(node)
    return text if len(text) <= 160 else text[:157] + "..."


def profile_numpy(model: NumpyModel, x: np.ndarray, calls: int) -> dict[str, float]:
    """CPU milliseconds per call of the numpy yardstick and of its parts, each timed alone: the
    design products (X beta and X^T d_eta, per outcome and merged), the group effects' gathers
    and scatter-adds, and everything elementwise (the rest)."""
    rng = np.random.default_rng(0)
    betas = {tag: rng.normal(size=m.shape[1]) for tag, m in model.x.items()}
    d_eta = rng.normal(size=model.n_rows)
    county_effect = rng.normal(size=model.k * model.c)
    township_effect = rng.normal(size=model.k * model.t)

    def cpu_ms(work: Callable[[], Any]) -> float:
        start = time.process_time()
        for _ in range(calls):
            work()
        return (time.process_time() - start) / calls * 1e3

    def per_outcome() -> None:
        for tag, matrix in model.x.items():
            matrix @ betas[tag]
            d_eta[model.rows[tag]] @ matrix

    def merged() -> None:
        if not model.merged:
            return
        m, q = len(model.merged), len(model.merged_columns)
        rng.normal(size=(m, q)) @ model.merged_columns
        d_eta[model.merged_rows].reshape(m, model.merged_n) @ model.merged_columns.T
        for tag in model.separate:
            model.x[tag] @ betas[tag]
            d_eta[model.rows[tag]] @ model.x[tag]

    def groups() -> None:
        np.bincount(model.township_index, weights=d_eta, minlength=model.k * model.t)
        np.bincount(model.county_index, weights=d_eta, minlength=model.k * model.c)
        county_effect.take(model.county_index)
        township_effect.take(model.township_index)

    out = {
        "whole_ms": cpu_ms(lambda: model.logp_and_grad(x)),
        "design_products_per_outcome_ms": cpu_ms(per_outcome),
        "design_products_merged_ms": cpu_ms(merged),
        "group_gathers_scatters_ms": cpu_ms(groups),
        "design_megabytes_per_outcome": sum(m.nbytes for m in model.x.values()) / 1e6,
        "design_megabytes_merged": (
            model.merged_columns.nbytes + sum(model.x[t].nbytes for t in model.separate)
        )
        / 1e6
        if model.merged
        else None,
    }
    products = out["design_products_merged_ms"] if model.merged else None
    products = out["design_products_per_outcome_ms"] if products is None else products
    out["elementwise_and_rest_ms"] = out["whole_ms"] - products - out["group_gathers_scatters_ms"]
    return out


def op_benchmarks(model: NumpyModel, calls: int) -> dict[str, dict[str, float]]:
    """CPU milliseconds per call of single operations on the survival rows, compiled by PyTensor
    for the C VM and for numba, next to numpy: a matrix-vector product with the survival design
    and its transpose, ``sum(exp(eta))``, and a logistic log density with its gradient."""
    import pytensor
    import pytensor.tensor as pt

    rng = np.random.default_rng(0)
    design = model.x["s"]
    n, p = design.shape
    y = (rng.random(n) < 0.4).astype(float)
    beta, d_eta, eta = pt.dvector("beta"), pt.dvector("d_eta"), pt.dvector("eta")
    design_t, y_t = pt.constant(design), pt.constant(y)
    logistic = pt.sum(y_t * eta - pt.log1pexp(eta))
    beta_value, vector_value = rng.normal(size=p), rng.normal(size=n)

    def numpy_logistic(eta_value):
        softplus, probability = _softplus_and_sigmoid(eta_value)
        return np.dot(y, eta_value) - softplus.sum(), y - probability

    cases = {
        "X @ beta": ([beta], design_t @ beta, beta_value, lambda b: design @ b),
        "X^T @ d_eta": ([d_eta], design_t.T @ d_eta, vector_value, lambda g: g @ design),
        "sum(exp(eta))": ([eta], pt.sum(pt.exp(eta)), vector_value, lambda e: np.exp(e).sum()),
        "logistic logp + gradient": (
            [eta],
            [logistic, pt.grad(logistic, eta)],
            vector_value,
            numpy_logistic,
        ),
    }

    def cpu_ms(function, argument) -> float:
        for _ in range(3):
            function(argument)
        samples = []
        for _ in range(calls):
            start = time.process_time()
            function(argument)
            samples.append(time.process_time() - start)
        return statistics.median(samples) * 1e3

    out = {}
    for name, (inputs, outputs, argument, numpy_version) in cases.items():
        row = {"numpy": cpu_ms(numpy_version, argument)}
        for mode, label in (("CVM", "pytensor_c"), ("NUMBA", "pytensor_numba")):
            compiled = pytensor.function(inputs, outputs, mode=mode, trust_input=True)
            row[label] = cpu_ms(compiled, argument)
        out[name] = row
    return out


# ---------------------------------------------------------------------------------------------
# One size


def run_size(size: Size, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{size.name}] simulating / building the model", flush=True)
    built, design_path, counts = prepare(size, WORKDIR / size.name)
    model = built.model
    yardstick = NumpyModel(load_design(design_path))
    names = [v.name for v in model.value_vars]
    layout = [(name, shape) for name, shape in yardstick.layout]
    pymc_layout = [(v.name, tuple(model.initial_point()[v.name].shape)) for v in model.value_vars]
    if layout != pymc_layout:
        raise RuntimeError(f"numpy_model's layout is not PyMC's: {layout} vs {pymc_layout}")
    points = [yardstick.flatten(p) for p in start_and_points(built, args.points, args.seed)]

    engines: dict[str, Evaluate] = {YARDSTICK: yardstick.logp_and_grad}
    if "numpy_per_outcome" in args.engines:
        per_outcome = NumpyModel(load_design(design_path), merge_designs=False)
        engines["numpy_per_outcome"] = per_outcome.logp_and_grad
    compile_seconds: dict[str, float] = {}
    print(f"[{size.name}] compiling PyTensor C", flush=True)
    start = time.perf_counter()
    engines["pytensor_c"], _ = pytensor_c_engine(model)
    compile_seconds["pytensor_c"] = time.perf_counter() - start
    if "nutpie_numba" in args.engines:
        print(f"[{size.name}] compiling nutpie (numba)", flush=True)
        start = time.perf_counter()
        engines["nutpie_numba"] = nutpie_numba_engine(model)
        compile_seconds["nutpie_numba"] = time.perf_counter() - start
    if "jax" in args.engines:
        start = time.perf_counter()
        jax_evaluate = jax_engine(design_path, yardstick)
        if jax_evaluate is not None:
            jax_evaluate(points[0])
            engines["jax"] = jax_evaluate
            compile_seconds["jax"] = time.perf_counter() - start
    engines = {k: v for k, v in engines.items() if k == YARDSTICK or k in args.engines}

    print(f"[{size.name}] equivalence at {len(points)} points", flush=True)
    check = equivalence(engines, points)
    for row in check["engines"]:
        print(
            f"  {row['engine']:>17}: logp offset spread {row['offset_spread']:.2e}, "
            f"max gradient rel. diff {row['max_grad_rel_diff']:.2e}",
            flush=True,
        )
    print(f"[{size.name}] timing ({args.rounds} rounds)", flush=True)
    load_before = os.getloadavg()
    times = timing(engines, points[1], args.rounds, args.block_seconds)
    load_after = os.getloadavg()
    for name, row in times.items():
        print(
            f"  {name:>17}: CPU {row['median_cpu_seconds'] * 1e3:8.3f} ms "
            f"({row['ratio_to_numpy_cpu']:.2f}x numpy), wall {row['median_seconds'] * 1e3:8.3f} "
            f"ms ({row['ratio_to_numpy_wall']:.2f}x)",
            flush=True,
        )
    result: dict[str, Any] = {
        "size": size.name,
        "description": size.describe(),
        "counts": counts,
        "n_unconstrained": yardstick.size,
        "rows_stacked": yardstick.n_rows,
        "value_vars": names,
        "compile_seconds": compile_seconds,
        "equivalence": check,
        "timing": times,
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
    }
    if size.name == args.profile_size:
        print(f"[{size.name}] profiling PyTensor C", flush=True)
        result["pytensor_profile"] = profile_pytensor(model, points[1], args.profile_calls)
        result["numpy_profile"] = profile_numpy(yardstick, points[1], args.profile_calls)
        result["op_benchmarks"] = op_benchmarks(yardstick, args.profile_calls)
    return result


# ---------------------------------------------------------------------------------------------
# Report

ENGINE_LABELS = {
    "numpy": "numpy (hand-written, analytic gradient): the yardstick",
    "numpy_per_outcome": "numpy, one design product per outcome (`merge_designs=False`)",
    "pytensor_c": "PyTensor C (`logp_dlogp_function`)",
    "nutpie_numba": "nutpie numba callback",
    "jax": "JAX (numpyro port, `jit(value_and_grad)`)",
}


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# One log density + gradient evaluation (issue 6)",
        "",
        f"Generated {report['generated']} by `benchmarks/engines/logp_grad.py` "
        f"(`{report['command']}`).",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB, Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        "",
        f"Single-threaded (BLAS, XLA); median over {report['settings']['rounds']} interleaved "
        "rounds, each timing a block of calls of every engine in rotating order. Target: at most "
        f"{TARGET_RATIO:g}x the numpy yardstick, judged on CPU time (this process's, per "
        "evaluation): wall time is shown too, but on a machine shared with other jobs it mostly "
        "measures the wait for a core.",
        "",
    ]
    for result in report["results"]:
        counts = result["counts"]
        lines += [
            f"## {result['size']}: {result['description']}",
            "",
            f"Realised: {_counts(counts)}; {result['n_unconstrained']} unconstrained "
            f"coordinates, {result['rows_stacked']} likelihood rows over the five outcomes. "
            "Load average (1, 5, 15 min) before "
            + ", ".join(f"{v:.2f}" for v in result["load_average_before"])
            + "; after "
            + ", ".join(f"{v:.2f}" for v in result["load_average_after"])
            + ".",
            "",
            "| engine | CPU ms (median) | ratio to numpy (CPU) | within 2x | wall ms (median) "
            "| ratio (wall) | compile s |",
            "|---|---:|---:|---|---:|---:|---:|",
        ]
        for name, row in result["timing"].items():
            compile_s = result["compile_seconds"].get(name)
            lines.append(
                f"| {ENGINE_LABELS.get(name, name)} | {row['median_cpu_seconds'] * 1e3:.3f} | "
                f"{row['ratio_to_numpy_cpu']:.2f} | "
                f"{'yes' if row['ratio_to_numpy_cpu'] <= TARGET_RATIO else 'no'} | "
                f"{row['median_seconds'] * 1e3:.3f} | {row['ratio_to_numpy_wall']:.2f} | "
                f"{'' if compile_s is None else f'{compile_s:.1f}'} |"
            )
        check = result["equivalence"]
        lines += [
            "",
            f"Equivalence against PyMC's compiled function at {len(check['logp_reference'])} "
            f"points: {'passed' if check['passed'] else 'FAILED'}.",
            "",
            "| engine | logp − PyMC (mean) | spread over points | max gradient rel. diff |",
            "|---|---:|---:|---:|",
        ]
        for row in check["engines"]:
            lines.append(
                f"| {row['engine']} | {np.mean(row['logp_offset']):.6f} | "
                f"{row['offset_spread']:.1e} | {row['max_grad_rel_diff']:.1e} |"
            )
        if any(row["engine"] == "jax" for row in check["engines"]):
            lines += [
                "",
                "(jax at PyMC's initial point, where every logit is 0: numpyro's Bernoulli takes "
                "a one-sided derivative of |x| there, so its intercept gradients differ at that "
                "point only; the noisy points agree.)",
            ]
        lines.append("")
        if "pytensor_profile" in result:
            lines += _profile_markdown(result)
    return "\n".join(lines) + "\n"


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items() if isinstance(v, int))


def _profile_markdown(result: dict[str, Any]) -> list[str]:
    profile = result["pytensor_profile"]
    numpy_profile = result["numpy_profile"]
    lines = [
        f"### Where PyTensor's C function spends its time ({result['size']})",
        "",
        f"PyTensor's profiler over {profile['calls']} calls: "
        f"{profile['seconds_per_call_in_ops'] * 1e3:.2f} ms per call inside "
        f"{profile['n_apply_nodes']} Apply nodes "
        f"({profile['wall_seconds_per_call'] * 1e3:.2f} ms per call wall, profiling overhead "
        "included).",
        "",
        "| Op | Apply nodes | ms per call | share |",
        "|---|---:|---:|---:|",
    ]
    for row in profile["ops"][:15]:
        lines.append(
            f"| `{row['op']}` | {row['apply_nodes']} | {row['ms_per_call']:.3f} | "
            f"{row['share']:.1%} |"
        )
    lines += [
        "",
        "Costliest Apply nodes:",
        "",
        "| node | ms per call | share |",
        "|---|---:|---:|",
    ]
    for row in profile["apply_nodes"]:
        label = row["node"].replace("|", "\\|")
        lines.append(f"| `{label}` | {row['ms_per_call']:.3f} | {row['share']:.1%} |")
    lines += [
        "",
        f"The numpy yardstick at the same point, CPU time, parts timed alone: "
        f"{numpy_profile['whole_ms']:.2f} ms per call; design products "
        f"{numpy_profile['design_products_merged_ms']:.2f} ms merged "
        f"({numpy_profile['design_megabytes_merged']:.1f} MB read per product) or "
        f"{numpy_profile['design_products_per_outcome_ms']:.2f} ms one per outcome "
        f"({numpy_profile['design_megabytes_per_outcome']:.1f} MB); group effects' gathers and "
        f"scatter-adds {numpy_profile['group_gathers_scatters_ms']:.2f} ms; the rest "
        f"(elementwise likelihood terms, small blocks) "
        f"{numpy_profile['elementwise_and_rest_ms']:.2f} ms.",
        "",
    ]
    by_category: dict[str, float] = defaultdict(float)
    for row in profile["ops"]:
        by_category[_op_category(row["op"])] += row["share"]
    c_cpu_ms = result["timing"]["pytensor_c"]["median_cpu_seconds"] * 1e3
    numpy_parts = {
        "design products": numpy_profile["design_products_per_outcome_ms"],
        "group gathers and scatter-adds": numpy_profile["group_gathers_scatters_ms"],
    }
    lines += [
        "Where the difference lies. PyTensor C: each kind of Op's share of the profile times the "
        f"function's median CPU time in the timing above ({c_cpu_ms:.2f} ms; the profile itself "
        "is wall time on a shared machine). numpy: the yardstick's parts timed alone (CPU ms; "
        "the design products one per outcome, as PyTensor computes them, merged in brackets). "
        "PyTensor's design-products row also holds the survival exposures' products, which "
        "numpy's parts count in its elementwise row:",
        "",
        "| part | PyTensor C, CPU ms (share) | numpy, CPU ms |",
        "|---|---:|---:|",
    ]
    for category in sorted(by_category, key=lambda c: -by_category[c]):
        if category == "design products":
            numpy_cell = (
                f"{numpy_parts[category]:.2f} ({numpy_profile['design_products_merged_ms']:.2f})"
            )
        elif category in numpy_parts:
            numpy_cell = f"{numpy_parts[category]:.2f}"
        elif category.startswith("elementwise"):
            numpy_cell = f"{numpy_profile['elementwise_and_rest_ms']:.2f} (with the rest)"
        else:
            numpy_cell = "(in the row above)"
        share = by_category[category]
        lines.append(f"| {category} | {share * c_cpu_ms:.2f} ({share:.0%}) | {numpy_cell} |")
    lines.append("")
    ops = result.get("op_benchmarks")
    if ops:
        n_rows = result["counts"]["survival_observed"]
        lines += [
            f"Single operations on the survival rows ({n_rows:,} rows, its design matrix), CPU ms "
            "per call, PyTensor compiling each alone:",
            "",
            "| operation | numpy | PyTensor C | PyTensor numba |",
            "|---|---:|---:|---:|",
        ]
        for name, row in ops.items():
            lines.append(
                f"| {name} | {row['numpy']:.3f} | {row['pytensor_c']:.3f} | "
                f"{row['pytensor_numba']:.3f} |"
            )
        lines.append("")
        lines += _reading_markdown(result, dict(by_category), c_cpu_ms)
    return lines


def _reading_markdown(
    result: dict[str, Any], shares: dict[str, float], c_cpu_ms: float
) -> list[str]:
    """What would close the gap, with this run's numbers."""
    timing = result["timing"]
    numpy_ms = timing[YARDSTICK]["median_cpu_seconds"] * 1e3
    numpy_profile = result["numpy_profile"]
    ops = result["op_benchmarks"]
    profile_ops = {row["op"]: row["share"] for row in result["pytensor_profile"]["ops"]}
    nodes = result["pytensor_profile"]["apply_nodes"]

    def node_ms(fragment: str) -> float:
        return sum(n["share"] for n in nodes if fragment in n["node"]) * c_cpu_ms

    def op(name: str, engine: str) -> float:
        return ops[name][engine]

    plumbing = shares.get(_op_category("other"), 0.0) * c_cpu_ms
    gathers = shares["group gathers and scatter-adds"] * c_cpu_ms
    lines = [
        "### What would close the gap",
        "",
        f"PyTensor C needs {c_cpu_ms - numpy_ms:.1f} ms more CPU per evaluation than numpy "
        f"({c_cpu_ms:.1f} vs {numpy_ms:.1f} ms). By the table above:",
        "",
        f"* Elementwise terms and their reductions: about "
        f"{shares['elementwise and reductions'] * c_cpu_ms:.1f} ms against numpy's "
        f"{numpy_profile['elementwise_and_rest_ms']:.1f} ms for everything that is not a design "
        f"product or a group gather. numpy runs `exp` and `log1p` in SIMD kernels; PyTensor's "
        f"generated C and numba loops evaluate them element by element: `sum(exp(eta))` takes "
        f"{op('sum(exp(eta))', 'numpy'):.3f} ms in numpy, {op('sum(exp(eta))', 'pytensor_c'):.3f} "
        f"(C) and {op('sum(exp(eta))', 'pytensor_numba'):.3f} (numba); a logistic log density "
        f"with its gradient {op('logistic logp + gradient', 'numpy'):.2f}, "
        f"{op('logistic logp + gradient', 'pytensor_c'):.2f} and "
        f"{op('logistic logp + gradient', 'pytensor_numba'):.2f} ms. Vectorised transcendental "
        "functions in the Elemwise loops (a vector math library for the C backend; for numba, "
        "Intel SVML, which numba uses when `icc_rt` is installed: not tried here) would close "
        "most of it. The formulation adds to it: "
        "PyMC's ordered logistic builds the (rows x categories) probability matrix (the "
        f"`sigmoid` node alone about {node_ms('sigmoid'):.1f} ms, the `Join` that pads it with "
        "0 and 1 and the AdvancedIncSubtensor that scatters its gradient back more) where the "
        "likelihood needs two sigmoids per row, the lower and the upper cut point's; and the "
        f"{profile_ops.get('Sum{Add}', 0) * c_cpu_ms:.1f} ms of `Sum` nodes are separate "
        "passes over arrays an Elemwise loop has just written.",
        f"* Array plumbing: about "
        f"{plumbing:.1f} ms, mostly the zero-sum transform's gradient built through `Alloc`, "
        "`IncSubtensor` and `Join` on (outcomes x townships) arrays; its adjoint in closed form "
        "(`numpy_model._zerosum_adjoint`: one sum and one subtraction) costs no allocation of "
        "that size.",
        f"* Group gathers and scatter-adds: {gathers:.1f} ms against numpy's "
        f"{numpy_profile['group_gathers_scatters_ms']:.1f} ms, which gathers "
        "every outcome's group effects with one `take` and scatters with one `bincount` per "
        "level over the stacked rows; PyTensor does it per outcome.",
        f"* Design products: {shares['design products'] * c_cpu_ms:.1f} ms against numpy's "
        f"{numpy_profile['design_products_per_outcome_ms']:.1f} ms (one per outcome); alone, "
        f"PyTensor C's products cost what numpy's do (X @ beta {op('X @ beta', 'pytensor_c'):.2f}"
        f" vs {op('X @ beta', 'numpy'):.2f} ms). Merging the designs of the outcomes observed "
        "on the same rows (one product of their distinct columns with a coefficient matrix, "
        "as `numpy_model` does) takes numpy from "
        f"{numpy_profile['design_products_per_outcome_ms']:.1f} to "
        f"{numpy_profile['design_products_merged_ms']:.1f} ms, a change to `build_model` that "
        "every engine would gain from.",
    ]
    if "nutpie_numba" in timing:
        numba_ms = timing["nutpie_numba"]["median_cpu_seconds"] * 1e3
        transposed_extra = len(OUTCOMES) * (
            op("X^T @ d_eta", "pytensor_numba") - op("X^T @ d_eta", "numpy")
        )
        lines += [
            f"* nutpie's numba callback needs {numba_ms - numpy_ms:.1f} ms more than numpy "
            f"({numba_ms:.1f} ms). PyTensor's profiler cannot split it (one jitted function), "
            "but the single operations point at the transposed design products: X^T @ d_eta "
            f"takes {op('X^T @ d_eta', 'pytensor_numba'):.2f} ms in numba against "
            f"{op('X^T @ d_eta', 'numpy'):.2f} in numpy (X @ beta "
            f"{op('X @ beta', 'pytensor_numba'):.2f} vs {op('X @ beta', 'numpy'):.2f}); one per "
            f"outcome makes about {transposed_extra:.0f} ms of the difference (the exposures' "
            "products come on top). The elementwise terms are slower than numpy's as for C (the "
            "logistic term above); the remainder is not attributed here (py-spy is not "
            "installed, and it would see one native frame). Making the numba backend's "
            "transposed matrix-vector product as fast as BLAS is the first fix; the elementwise "
            "ones above apply to it too.",
        ]
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="medium,national")
    parser.add_argument("--engines", default="numpy_per_outcome,pytensor_c,nutpie_numba,jax")
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--block-seconds", type=float, default=0.1)
    parser.add_argument("--profile-size", default="national")
    parser.add_argument("--profile-calls", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks")
    parser.add_argument(
        "--report-only", action="store_true", help="rebuild logp_grad.md from logp_grad.json"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report = json.loads((args.out / "logp_grad.json").read_text())
        (args.out / "logp_grad.md").write_text(markdown(report))
        return 0
    args.engines = set(args.engines.split(","))
    # One core per evaluation, as a sampler's chain gets: no BLAS or XLA threads.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    ).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    started = datetime.now(UTC)
    results = []
    with threadpool_limits(limits=1):
        for name in args.sizes.split(","):
            results.append(run_size(SIZES[name], args))
    report = {
        "generated": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["benchmarks/engines/logp_grad.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "settings": {
            "rounds": args.rounds,
            "block_seconds": args.block_seconds,
            "points": args.points,
            "seed": args.seed,
            "threads": 1,
        },
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "logp_grad.json", report)
    (args.out / "logp_grad.md").write_text(markdown(report))
    print(f"wrote {args.out / 'logp_grad.json'} and logp_grad.md", flush=True)
    return 0 if all(r["equivalence"]["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
