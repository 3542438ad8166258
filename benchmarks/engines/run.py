"""Benchmark NUTS engines on the package's joint structural model (issue 6).

Engines (each fit in its own process, one at a time, interleaved per repetition):

* ``grassroots``: ``grassroots.fit`` (nutpie on the PyMC model, the package's default path);
* ``pymc``: PyMC's own NUTS (``pm.sample(nuts_sampler="pymc")``) on the same PyMC model;
* ``numpyro``: ``numpyro_model.py`` (CPU JAX, float64);
* ``stan``: ``structural.stan`` through pystan 3 / httpstan.

Run it in ``.venv-bench`` (``scripts/setup-bench-venv``)::

    nice -n 5 .venv-bench/bin/python benchmarks/engines/run.py --check
    nice -n 5 .venv-bench/bin/python benchmarks/engines/run.py --sizes small,bundled

``--check`` evaluates every engine's log density and gradient at the same unconstrained points
(the engines share their unconstrained coordinates) and writes ``engines-check.json``; a run writes
``engines.json`` and ``engines.md`` to ``--out`` (default ``reports/benchmarks``).

Compile times are cold by default: each fit gets empty PyTensor, numba and httpstan caches (JAX
keeps none between processes), so "compile" is what a first fit on a fresh machine pays;
``--warm-cache`` uses the usual caches instead.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    HERE,
    OUTCOMES,
    ROOT,
    SIZES,
    SPEC_NAME,
    Size,
    derived_draws,
    diagnostics,
    export_design,
    load_design,
    load_frame,
    machine_info,
    ported_spec,
    save_design,
    stan_data,
    write_json,
)

ENGINES = ("grassroots", "grassroots_low_rank", "pymc", "numpyro", "stan")
REFERENCE = "stan"


# ---------------------------------------------------------------------------------------------
# Data


def prepare(size: Size, workdir: Path) -> dict[str, Any]:
    """Write ``frame.pkl`` and ``design.npz`` of a size; return its counts."""
    from grassroots.models import load_spec, prepare_inputs

    workdir.mkdir(parents=True, exist_ok=True)
    frame = load_frame(size)
    spec = load_spec(SPEC_NAME)
    inputs = prepare_inputs(spec, frame)
    (workdir / "frame.pkl").write_bytes(pickle.dumps(frame))
    save_design(export_design(spec, inputs), workdir / "design.npz")
    counts = inputs.summary_counts()
    counts["description"] = size.describe()
    return counts


# ---------------------------------------------------------------------------------------------
# The equivalence check


def check(size: Size, workdir: Path, n_points: int = 4, seed: int = 7) -> dict[str, Any]:
    """Log density and gradient of PyMC, Stan and numpyro at the same unconstrained points.

    Point 0 is PyMC's initial point (cut points at equal category shares); the others add
    N(0, 0.3^2) noise to every unconstrained coordinate. Stan's unconstrained vector is obtained
    with ``unconstrain_pars`` from the constrained values and matched to PyMC's coordinates
    element by element, which shows the two parameterisations are the same map. Engines drop or
    keep different normalising constants, so log densities agree up to one constant per engine;
    gradients agree exactly.
    """
    import jax
    import numpyro_model
    import pytensor.tensor as pt
    import stan
    from numpyro.infer.util import potential_energy

    from grassroots.models import build_model

    jax.config.update("jax_enable_x64", True)
    frame = pickle.loads((workdir / "frame.pkl").read_bytes())
    built = build_model(ported_spec(), frame)
    model = built.model
    design = load_design(workdir / "design.npz")

    value_vars = model.value_vars
    names = [v.name for v in value_vars]
    logp_fn = model.compile_fn(model.logp(jacobian=True), inputs=value_vars, point_fn=False)
    grad_fn = model.compile_fn(
        pt.grad(model.logp(jacobian=True), value_vars), inputs=value_vars, point_fn=False
    )
    constrained_names = [v.name for v in model.unobserved_value_vars]
    constrained_fn = model.compile_fn(
        model.unobserved_value_vars, inputs=value_vars, point_fn=False, on_unused_input="ignore"
    )

    start = model.initial_point()
    cut = np.asarray(built.initial_points["demand_fit_cutpoints_centred"])
    start["demand_fit_cutpoints_centred_ordered__"] = np.concatenate(
        [cut[:1], np.log(np.diff(cut))]
    )
    rng = np.random.default_rng(seed)
    points = [start] + [
        {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()}
        for _ in range(n_points - 1)
    ]

    def common_unconstrained(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """PyMC's unconstrained values (or gradients) under the Stan/numpyro names."""
        out = {
            "sd_county": np.array([values[f"{o}_sd_county_log__"] for o in OUTCOMES]),
            "z_county_unc": np.stack([values[f"{o}_z_county_zerosum__"] for o in OUTCOMES]),
            "township_chol_unc": values["township_chol_cholesky-cov-packed__"],
            "township_z_unc": values["township_z_zerosum__"],
            "beta_s": values["survival_beta"],
            "beta_late": values["survival_beta_late"],
            "lh_start": values["survival_log_hazard_start_centred"],
            "lh_steps": values["survival_log_hazard_steps"],
            "beta_d": values["demand_fit_beta"],
            "cut_d": values["demand_fit_cutpoints_centred_ordered__"],
        }
        for name, tag in (("extensive", "e"), ("expedient", "x"), ("short_sighted", "h")):
            out[f"beta_{tag}"] = values[f"{name}_beta"]
            out[f"int_{tag}"] = values[f"{name}_intercept_centred"]
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    print("check: building the Stan program (cold builds take a few minutes)", flush=True)
    posterior = stan.build((HERE / "structural.stan").read_text(), data=stan_data(design))
    np_design = numpyro_model.as_jax(design)
    np_grad = jax.jit(
        jax.grad(lambda p: -potential_energy(numpyro_model.model, (np_design,), {}, p))
    )
    np_logp = jax.jit(lambda p: -potential_energy(numpyro_model.model, (np_design,), {}, p))

    rows = []
    stan_points = []
    for index, point in enumerate(points):
        args = [point[n] for n in names]
        lp_pymc = float(logp_fn(*args))
        grad_pymc = common_unconstrained(dict(zip(names, grad_fn(*args), strict=True)))
        unc = common_unconstrained(point)
        constrained = dict(zip(constrained_names, constrained_fn(*args), strict=True))
        stan_values = {k: v for k, v in unc.items()}
        stan_values["sd_county"] = np.exp(unc["sd_county"])
        stan_values["cut_d"] = np.asarray(constrained["demand_fit_cutpoints_centred"])
        u_stan = np.asarray(
            posterior.unconstrain_pars({k: v.tolist() for k, v in stan_values.items()})
        )
        lp_stan = float(posterior.log_prob(u_stan.tolist(), adjust_transform=True))
        g_stan = np.asarray(posterior.grad_log_prob(u_stan.tolist()))
        # Stan orders its unconstrained vector its own way (column-major containers). A random
        # point has distinct coordinates, so matching by value finds the permutation; point 0
        # (many zeros) reuses the permutation of point 1.
        flat_unc = np.concatenate([np.ravel(v) for v in unc.values()])
        flat_grad = np.concatenate([np.ravel(v) for v in grad_pymc.values()])
        stan_points.append((flat_unc, flat_grad, u_stan, g_stan))
        jax_unc = {k: jax.numpy.asarray(v) for k, v in unc.items()}
        lp_numpyro = float(np_logp(jax_unc))
        g_np = np_grad(jax_unc)
        grad_numpyro_vs_pymc = max(
            float(np.max(np.abs(np.asarray(g_np[k]) - grad_pymc[k]))) for k in grad_pymc
        )
        rows.append(
            {
                "point": index,
                "logp_pymc": lp_pymc,
                "logp_stan": lp_stan,
                "logp_numpyro": lp_numpyro,
                "stan_minus_pymc": lp_stan - lp_pymc,
                "numpyro_minus_pymc": lp_numpyro - lp_pymc,
                "max_abs_grad_diff_numpyro_vs_pymc": grad_numpyro_vs_pymc,
                "grad_diff_numpyro_by_parameter": {
                    k: float(np.max(np.abs(np.asarray(g_np[k]) - grad_pymc[k]))) for k in grad_pymc
                },
                "max_abs_grad_pymc": float(np.max(np.abs(flat_grad))),
            }
        )

    # Permutation of PyMC's flattened coordinates into Stan's, from the first random point.
    flat_unc, _, u_stan, _ = stan_points[min(1, len(stan_points) - 1)]
    to_stan = np.argsort(flat_unc)[np.argsort(np.argsort(u_stan))]
    for row, (flat_unc, flat_grad, u_stan, g_stan) in zip(rows, stan_points, strict=True):
        same = u_stan.size == flat_unc.size and np.allclose(
            flat_unc[to_stan], u_stan, rtol=0, atol=1e-10
        )
        row["stan_same_unconstrained_coordinates"] = bool(same)
        row["max_abs_grad_diff_stan_vs_pymc"] = (
            float(np.max(np.abs(flat_grad[to_stan] - g_stan))) if same else None
        )
        print(json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)}), flush=True)

    # The comparable quantities must come out the same from both routes too.
    raw = {k: v[None, None] for k, v in common_unconstrained(points[-1]).items()}
    raw["sd_county"] = np.exp(raw["sd_county"])
    raw["cut_d"] = np.asarray(
        dict(zip(constrained_names, constrained_fn(*[points[-1][n] for n in names]), strict=True))[
            "demand_fit_cutpoints_centred"
        ]
    )[None, None]
    ours = derived_draws(raw)
    theirs = dict(
        zip(constrained_names, constrained_fn(*[points[-1][n] for n in names]), strict=True)
    )
    derived_diff = {k: float(np.max(np.abs(ours[k][0, 0] - np.asarray(theirs[k])))) for k in ours}
    offsets = {engine: [r[f"{engine}_minus_pymc"] for r in rows] for engine in ("stan", "numpyro")}
    spread = {engine: float(np.ptp(values)) for engine, values in offsets.items()}
    scale = max(abs(r["logp_pymc"]) for r in rows)
    # Gradients are judged at the random points. At point 0 every logit is exactly 0, where
    # numpyro's Bernoulli (clip(x, 0) + log1p(exp(-|x|)) - x y) takes a one-sided derivative of
    # |x|: its intercept gradients there are off by 0.5 per row, a tie artefact, not a model
    # difference (the log densities still agree).
    random_rows = rows[1:] or rows

    def close(row: dict[str, Any], engine: str) -> bool:
        diff = row[f"max_abs_grad_diff_{engine}_vs_pymc"]
        return diff is not None and diff < 1e-6 * max(1.0, row["max_abs_grad_pymc"])

    passed = (
        all(r["stan_same_unconstrained_coordinates"] for r in rows)
        and all(s <= 1e-8 * max(scale, 1.0) for s in spread.values())
        and all(close(r, "stan") and close(r, "numpyro") for r in random_rows)
        and max(derived_diff.values()) < 1e-9
    )
    return {
        "size": size.name,
        "points": rows,
        "constant_offset": {e: float(np.mean(v)) for e, v in offsets.items()},
        "offset_spread": spread,
        "max_abs_diff_derived_quantities": derived_diff,
        "n_unconstrained": int(sum(np.size(v) for v in start.values())),
        "passed": bool(passed),
    }


# ---------------------------------------------------------------------------------------------
# One fit in its own process


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_fit(
    engine: str, workdir: Path, out_prefix: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Run ``worker.py`` for one engine; add its peak memory and the draws' diagnostics."""
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore::FutureWarning"
    if engine == "numpyro":
        # One virtual CPU device per chain so that numpyro runs the chains in parallel (on the
        # same 2 cores the other engines get); float64 like the other engines.
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.chains}"
        env["JAX_PLATFORMS"] = "cpu"
        env["JAX_ENABLE_X64"] = "1"
    cache = None
    if not args.warm_cache:
        cache = Path(tempfile.mkdtemp(prefix=f"cache-{engine}-", dir=workdir))
        env["XDG_CACHE_HOME"] = str(cache / "xdg")
        env["NUMBA_CACHE_DIR"] = str(cache / "numba")
        env["PYTENSOR_FLAGS"] = ",".join(
            f for f in (env.get("PYTENSOR_FLAGS"), f"base_compiledir={cache / 'pytensor'}") if f
        )
    command = [
        sys.executable,
        str(HERE / "worker.py"),
        engine,
        str(workdir),
        str(out_prefix),
        f"--chains={args.chains}",
        f"--draws={args.draws}",
        f"--tune={args.tune}",
        f"--seed={args.seed}",
    ]
    log = out_prefix.with_suffix(".log")
    load_before = os.getloadavg()
    start = time.perf_counter()
    with log.open("w") as stream:
        proc = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=env)
        peak_tree = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak_tree
            while not stop.is_set():
                peak_tree = max(peak_tree, _tree_rss(proc.pid))
                stop.wait(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        timer = threading.Timer(args.timeout, proc.kill)
        timer.start()
        # wait4 gives this child's own rusage: ru_maxrss is the largest resident size of it and
        # of its waited-for descendants (one process, not their sum).
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        stop.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
    record: dict[str, Any] = {
        "engine": engine,
        "wall_seconds": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "peak_tree_rss_mib": peak_tree / 1024**2,
        # CPU time of the worker and its waited-for children: less sensitive than wall time to
        # other jobs on a shared machine.
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        # 1-minute load average before and after the fit (2 cores: above 2 means contention).
        "load_average": [load_before[0], os.getloadavg()[0]],
        "returncode": proc.returncode,
        "log": str(log.relative_to(ROOT)) if log.is_relative_to(ROOT) else str(log),
    }
    result_path = out_prefix.with_suffix(".json")
    if proc.returncode != 0 or not result_path.is_file():
        tail = log.read_text(errors="replace").splitlines()[-25:]
        record["error"] = "\n".join(tail)
        return record
    record |= json.loads(result_path.read_text())
    with np.load(out_prefix.with_suffix(".npz")) as stored:
        draws = {k: stored[k] for k in stored.files}
    diag = diagnostics(draws)
    record["min_ess_bulk"] = diag["min_ess_bulk"]
    record["min_ess_variable"] = diag["min_ess_variable"]
    record["max_rhat"] = diag["max_rhat"]
    record["n_quantities"] = diag["n_quantities"]
    record["per_variable"] = diag["per_variable"]
    add_rates(record)
    if not args.keep_draws:
        out_prefix.with_suffix(".npz").unlink()
    return record


def add_rates(record: dict[str, Any]) -> None:
    """ESS per second of sampling, of compile + sampling, and per CPU second of the whole fit."""
    ess = record["min_ess_bulk"]
    record["ess_per_second"] = ess / record["sample_seconds"]
    record["ess_per_second_with_compile"] = ess / (
        record["sample_seconds"] + record["compile_seconds"]
    )
    if record.get("cpu_seconds"):
        record["ess_per_cpu_second"] = ess / record["cpu_seconds"]


# ---------------------------------------------------------------------------------------------
# Report

METRICS = (
    ("compile_seconds", "compile s", "{:.1f}"),
    ("sample_seconds", "sample s", "{:.1f}"),
    ("min_ess_bulk", "min bulk ESS", "{:.0f}"),
    ("ess_per_second", "min ESS/s", "{:.2f}"),
    ("ess_per_second_with_compile", "min ESS/s incl. compile", "{:.2f}"),
    ("max_rhat", "max R-hat", "{:.3f}"),
    ("divergences", "divergences", "{:.0f}"),
    ("cpu_seconds", "CPU s (whole fit)", "{:.0f}"),
    ("ess_per_cpu_second", "min ESS per CPU s", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB (largest process)", "{:.0f}"),
    ("peak_tree_rss_mib", "peak RSS MiB (all processes)", "{:.0f}"),
)
RATIOS = (
    "sample_seconds",
    "ess_per_second",
    "ess_per_second_with_compile",
    "ess_per_cpu_second",
    "peak_tree_rss_mib",
)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median over repetitions per size and engine, with ratios against Stan."""
    table = []
    keys = sorted({(r["size"], r["engine"]) for r in runs}, key=lambda k: (k[0], k[1]))
    for size, engine in keys:
        ok = [r for r in runs if r["size"] == size and r["engine"] == engine and "error" not in r]
        row: dict[str, Any] = {"size": size, "engine": engine, "repeats": len(ok)}
        if not ok:
            row["error"] = next(
                r["error"] for r in runs if r["size"] == size and r["engine"] == engine
            )
        for key, _, _ in METRICS:
            if ok and all(key in r for r in ok):
                row[key] = float(np.median([r[key] for r in ok]))
        if ok:
            row["min_ess_variable"] = ok[0]["min_ess_variable"]
        table.append(row)
    for row in table:
        ref = next(
            (r for r in table if r["size"] == row["size"] and r["engine"] == REFERENCE), None
        )
        for key in RATIOS:
            if ref is not None and key in row and ref.get(key):
                row[f"{key}_vs_stan"] = row[key] / ref[key]
    return table


def _measured_at(runs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The dates (UTC) each size's fits were measured on: sizes may come from separate runs."""
    dates: dict[str, set[str]] = {}
    for record in runs:
        stamp = record.get("measured_at") or "an earlier run"
        dates.setdefault(record["size"], set()).add(stamp[:16].replace("T", " "))
    return dates


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    settings = report["settings"]
    lines = [
        "# Engine benchmark: joint structural model",
        "",
        f"Run {report['finished']} with `benchmarks/engines/run.py` "
        f"({settings['chains']} chains x {settings['draws']} draws, {settings['tune']} tune, "
        f"target accept 0.9, max tree depth 10, a diagonal mass matrix (grassroots adapts it "
        f"as the structural spec's `[sampler] adaptation` says, recorded in each run's settings "
        f"in engines.json), "
        f"{settings['repeats']} repetition(s), engines interleaved, one fit at a time; "
        f"compile caches {'warm' if settings['warm_cache'] else 'cold (emptied for every fit)'}).",
        "",
        "Measured: "
        + "; ".join(
            f"{size} at {', '.join(sorted(times))}"
            for size, times in _measured_at(report["runs"]).items()
        )
        + ".",
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB; {machine['os']}; Python {machine['python']}; "
        f"{machine['gxx']}. Shared with other work, so times carry noise.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        "",
        "## Sizes",
        "",
        "| size | data | rows | demand_fit rated | counties | townships |",
        "|---|---|---|---|---|---|",
    ]
    for name, counts in report["sizes"].items():
        lines.append(
            f"| {name} | {counts['description']} | {counts['rows']} | "
            f"{counts['demand_fit_observed']} | {counts['county']} | {counts['township']} |"
        )
    lines += ["", "## Results (median over repetitions)", ""]
    header = ["size", "engine", *[label for _, label, _ in METRICS]]
    header += [f"{k.replace('_', ' ')} / Stan" for k in RATIOS]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["summary"]:
        if "error" in row:
            lines.append(f"| {row['size']} | {row['engine']} | failed: see engines.json |")
            continue
        cells = [row["size"], row["engine"]]
        cells += [fmt.format(row[key]) if key in row else "-" for key, _, fmt in METRICS]
        cells += [f"{row[f'{k}_vs_stan']:.2f}" if f"{k}_vs_stan" in row else "-" for k in RATIOS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Min bulk ESS and max R-hat are over every element of: coefficients, baseline (average "
        "profile), cut points, intercepts, county SDs and effects, township SDs, correlations "
        "(lower triangle) and effects. ESS/s divides it by sampling time (warm-up included), or by "
        "compile + sampling time; ESS per CPU s divides it by the CPU time of the whole fit "
        "(compile included; all processes and threads), which other jobs on a shared machine "
        "distort less than wall time. Ratios above 1 mean more than Stan (for time and memory: "
        "worse; for ESS rates: better). Load: 1-minute load average before/after each fit in "
        "engines.json (`load_average`).",
        "",
    ]
    check_result = report.get("check")
    if check_result:
        lines += ["## Equivalence check", ""]
        for entry in check_result:
            # Gradients at the random points (point 0's logits are all exactly 0; see check()).
            random_points = entry["points"][1:] or entry["points"]
            grad_stan = max(p["max_abs_grad_diff_stan_vs_pymc"] or np.nan for p in random_points)
            grad_numpyro = max(p["max_abs_grad_diff_numpyro_vs_pymc"] for p in random_points)
            lines.append(
                f"- {entry['size']}: {'passed' if entry['passed'] else 'FAILED'}; "
                f"{entry['n_unconstrained']} unconstrained coordinates; log density minus "
                f"PyMC's is constant over {len(entry['points'])} points (Stan "
                f"{entry['constant_offset']['stan']:.4f}, spread "
                f"{entry['offset_spread']['stan']:.1e}; numpyro "
                f"{entry['constant_offset']['numpyro']:.4f}, spread "
                f"{entry['offset_spread']['numpyro']:.1e}); largest gradient difference at the "
                f"random points "
                f"Stan {grad_stan:.1e}, numpyro {grad_numpyro:.1e}."
            )
        lines.append("")
    failures = [r for r in report["runs"] if "error" in r]
    if failures:
        lines += ["## Failures", ""]
        for r in failures:
            lines.append(f"- {r['size']} / {r['engine']}: see `{r['log']}`")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,bundled", help="of: " + ", ".join(SIZES))
    parser.add_argument("--engines", default=",".join(ENGINES), help="of: " + ", ".join(ENGINES))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--check", action="store_true", help="only check that the engines' densities agree"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks")
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / ".tmp-bench-engines", help="data, logs, draws"
    )
    parser.add_argument("--warm-cache", action="store_true", help="keep compile caches")
    parser.add_argument("--keep-draws", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per fit")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the summary and engines.md from --out's engines.json (no fits)",
    )
    args = parser.parse_args(argv)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for name in args.sizes:
        if name not in SIZES:
            parser.error(f"unknown size {name!r}; choose from {list(SIZES)}")
    for name in args.engines:
        if name not in ENGINES:
            parser.error(f"unknown engine {name!r}; choose from {list(ENGINES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        report = json.loads((args.out / "engines.json").read_text())
        if (args.out / "engines-check.json").is_file():
            report["check"] = json.loads((args.out / "engines-check.json").read_text())["check"]
        for record in report["runs"]:
            if "error" not in record:
                add_rates(record)
        report["summary"] = summarise(report["runs"])
        write_json(args.out / "engines.json", report)
        (args.out / "engines.md").write_text(markdown(report))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name in args.sizes:
        print(f"preparing {name}", flush=True)
        sizes[name] = prepare(SIZES[name], args.workdir / name)
    check_path = args.out / "engines-check.json"
    if args.check:
        results = [check(SIZES[name], args.workdir / name) for name in args.sizes]
        earlier = json.loads(check_path.read_text())["check"] if check_path.is_file() else []
        merged = [entry for entry in earlier if entry["size"] not in args.sizes] + results
        write_json(check_path, {"machine": machine_info(), "check": merged})
        print(f"wrote {check_path}")
        return 0 if all(r["passed"] for r in results) else 1

    # Runs of sizes and engines not measured this time are kept from the last report, so sizes
    # can be measured in separate sessions and still share one table.
    planned = {(size, engine) for size in args.sizes for engine in args.engines}
    previous_path = args.out / "engines.json"
    kept: list[dict[str, Any]] = []
    if previous_path.is_file():
        previous = json.loads(previous_path.read_text())
        kept = [
            {"measured_at": previous.get("finished")} | record
            for record in previous.get("runs", [])
            if (record["size"], record["engine"]) not in planned
        ]
        sizes = previous.get("sizes", {}) | sizes
    runs: list[dict[str, Any]] = list(kept)
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            k: getattr(args, k)
            for k in ("sizes", "engines", "chains", "draws", "tune", "repeats", "seed")
        }
        | {"warm_cache": args.warm_cache, "nice": os.nice(0)},
        "sizes": sizes,
    }
    if check_path.is_file():
        report["check"] = json.loads(check_path.read_text())["check"]
    for repeat in range(args.repeats):
        # Rotate the engine order per repetition: no engine always runs first (cold file cache)
        # or always right after the heaviest one.
        shift = repeat % len(args.engines)
        order = args.engines[shift:] + args.engines[:shift]
        for name in args.sizes:
            for engine in order:
                prefix = args.workdir / name / f"{engine}-rep{repeat}"
                print(
                    f"[{datetime.now():%H:%M:%S}] {name} / {engine} (repeat {repeat})", flush=True
                )
                record = run_fit(engine, args.workdir / name, prefix, args)
                record |= {
                    "size": name,
                    "repeat": repeat,
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                runs.append(record)
                brief = {
                    k: record.get(k)
                    for k in (
                        "compile_seconds",
                        "sample_seconds",
                        "min_ess_bulk",
                        "max_rhat",
                        "divergences",
                        "peak_tree_rss_mib",
                        "error",
                    )
                }
                print("   ", json.dumps(brief, default=str), flush=True)
                report["runs"] = runs
                report["summary"] = summarise(runs)
                report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
                # Written after every fit, so an interrupted session keeps what it measured.
                write_json(args.out / "engines.json", report)
                (args.out / "engines.md").write_text(markdown(report))
    print(f"wrote {args.out / 'engines.json'} and {args.out / 'engines.md'}")
    return 0 if all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
