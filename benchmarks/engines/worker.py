"""One fit of one engine, run in its own process by ``run.py`` (so its peak memory is its own).

Usage (``run.py`` builds this command)::

    python worker.py ENGINE WORKDIR OUT_PREFIX --chains 4 --draws 1000 --tune 1000 --seed 1

``WORKDIR`` holds ``frame.pkl`` (the flat table, for the PyMC engines) and ``design.npz`` (the
arrays of ``build_model``, for Stan and numpyro). Writes ``OUT_PREFIX.json`` (timings,
divergences, engine settings) and ``OUT_PREFIX.npz`` (draws of the comparable quantities, see
:func:`common.derived_draws`). The Stan and numpyro paths never import PyMC.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from common import HERE, SPEC_NAME, derived_draws, load_design, stan_data, write_json

# Every engine gets the same. engines.md's runs used 0.9, structural.toml's value until
# 2026-12-08 (now 0.8: reports/benchmarks/README.md, "Step-size target"); kept so that new
# runs compare with them until both engines are re-run at 0.8.
TARGET_ACCEPT = 0.9
MAX_TREEDEPTH = 10


def run_grassroots(
    workdir: Path, args: argparse.Namespace, adaptation: str | None = None
) -> tuple[dict, dict]:
    """``grassroots.fit``: nutpie on the PyMC model (the package's default path), with the
    structural spec's own mass-matrix adaptation unless ``adaptation`` names another."""
    from common import pymc_comparable

    import grassroots
    from grassroots.models import load_spec

    frame = pickle.loads((workdir / "frame.pkl").read_bytes())
    spec = load_spec(SPEC_NAME)
    if adaptation is not None:
        spec = spec.with_sampler(adaptation=adaptation)
    start = time.perf_counter()
    fitted = grassroots.fit(
        frame,
        spec,
        seed=args.seed,
        chains=args.chains,
        draws=args.draws,
        tune=args.tune,
        progress=False,
        save=False,
        reuse=False,
    )
    wall = time.perf_counter() - start
    stats = fitted.trace["sample_stats"].to_dataset()
    result = {
        "compile_seconds": fitted.timings["compile_seconds"],
        "sample_seconds": fitted.timings["sample_seconds"],
        # build_model, nutpie's trace conversion and the package's own diagnostics
        "other_seconds": wall - sum(fitted.timings.values()),
        "divergences": int(stats["diverging"].sum()),
        "backend": fitted.backend,
        "settings": {
            "cores": min(args.chains, os.cpu_count() or 1),
            "adaptation": spec.sampler.adaptation,
        },
    }
    return result, pymc_comparable(fitted.posterior)


def run_pymc(workdir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """PyMC's own NUTS (``pm.sample(nuts_sampler="pymc")``) on the same PyMC model.

    ``pm.sample`` compiles inside ``init_nuts``; calling it first, as ``pm.sample`` would, splits
    the compile (logp and gradient, C backend) from the sampling.
    """
    import pymc as pm
    from common import pymc_comparable

    from grassroots.models import build_model, load_spec

    frame = pickle.loads((workdir / "frame.pkl").read_bytes())
    start = time.perf_counter()
    built = build_model(load_spec(SPEC_NAME), frame)
    built_at = time.perf_counter()
    cores = min(args.chains, os.cpu_count() or 1)
    seeds = np.random.default_rng(args.seed).integers(2**30, size=args.chains).tolist()
    initial_points, step = pm.init_nuts(
        init="jitter+adapt_diag",
        chains=args.chains,
        model=built.model,
        random_seed=seeds,
        progressbar=False,
        tune=args.tune,
        initvals=dict(built.initial_points),
        target_accept=TARGET_ACCEPT,
        max_treedepth=MAX_TREEDEPTH,
    )
    compiled_at = time.perf_counter()
    # init_nuts returns its jittered starts on the unconstrained scale (value-variable names);
    # pm.sample(step=...) takes starts on the constrained scale (variable names).
    model = built.model
    free = [rv.name for rv in model.free_RVs]
    outs = [v for v in model.unobserved_value_vars if v.name in free]
    constrain = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    starts = [dict(zip([v.name for v in outs], constrain(p), strict=True)) for p in initial_points]
    trace = pm.sample(
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        cores=cores,
        step=step,
        initvals=starts,
        random_seed=seeds,
        nuts_sampler="pymc",
        progressbar=False,
        compute_convergence_checks=False,
        model=built.model,
    )
    done = time.perf_counter()
    stats = trace["sample_stats"]
    result = {
        "compile_seconds": compiled_at - built_at,
        "sample_seconds": done - compiled_at,
        "other_seconds": built_at - start,
        "divergences": int(stats["diverging"].sum()),
        "settings": {"cores": cores, "init": "jitter+adapt_diag"},
    }
    return result, pymc_comparable(trace["posterior"].to_dataset())


def run_stan(workdir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """pystan 3 (httpstan): build the program, then NUTS with a diagonal metric."""
    import stan

    code = (HERE / "structural.stan").read_text()
    data = stan_data(load_design(workdir / "design.npz"))
    start = time.perf_counter()
    posterior = stan.build(code, data=data, random_seed=args.seed)
    compiled_at = time.perf_counter()
    fit = posterior.sample(
        num_chains=args.chains,
        num_samples=args.draws,
        num_warmup=args.tune,
        delta=TARGET_ACCEPT,
        max_depth=MAX_TREEDEPTH,
    )
    done = time.perf_counter()

    def draws(name: str) -> np.ndarray:
        # fit[name]: (*dims, draws * chains) with the chain index fastest.
        values = np.asarray(fit[name])
        dims = values.shape[:-1]
        values = values.reshape(*dims, args.draws, args.chains)
        return np.moveaxis(values, (-1, -2), (0, 1))

    raw = {name: draws(name) for name in fit.param_names}
    result = {
        "compile_seconds": compiled_at - start,
        "sample_seconds": done - compiled_at,
        "other_seconds": 0.0,
        "divergences": int(np.asarray(fit["divergent__"]).sum()),
        "settings": {"metric": "diag_e", "cache": os.environ.get("XDG_CACHE_HOME", "default")},
    }
    return result, derived_draws(raw)


def run_numpyro(workdir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """numpyro NUTS on CPU JAX (float64), chains in parallel over virtual host devices.

    JAX compiles inside ``MCMC.run``; its monitoring events time every trace, lowering and
    backend compile, which is the compile time; the rest of the run is sampling.
    """
    import jax
    from jax import monitoring

    compile_events: dict[str, float] = {}

    def listener(event: str, duration: float, **_: Any) -> None:
        if event.startswith("/jax/core/compile/") or "compil" in event:
            compile_events[event] = compile_events.get(event, 0.0) + duration

    monitoring.register_event_duration_secs_listener(listener)
    import numpyro
    import numpyro_model
    from numpyro.infer import MCMC, NUTS

    numpyro.enable_x64()
    design = numpyro_model.as_jax(load_design(workdir / "design.npz"))
    devices = jax.local_device_count()
    chain_method = "parallel" if devices >= args.chains else "sequential"
    kernel = NUTS(
        numpyro_model.model,
        target_accept_prob=TARGET_ACCEPT,
        max_tree_depth=MAX_TREEDEPTH,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=args.tune,
        num_samples=args.draws,
        num_chains=args.chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(args.seed), design, extra_fields=("diverging",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    done = time.perf_counter()
    compile_seconds = sum(compile_events.values())
    raw = {name: np.asarray(value) for name, value in samples.items()}
    diverging = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])
    result = {
        "compile_seconds": compile_seconds,
        "sample_seconds": done - start - compile_seconds,
        "other_seconds": 0.0,
        "divergences": int(diverging.sum()),
        "settings": {
            "chain_method": chain_method,
            "devices": devices,
            "x64": True,
            "compile_events": compile_events,
        },
    }
    return result, derived_draws(raw)


def run_grassroots_low_rank(workdir: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    """The package's path with nutpie's low-rank mass matrix (``[sampler] adaptation``)."""
    return run_grassroots(workdir, args, adaptation="low_rank")


ENGINES = {
    "grassroots": run_grassroots,
    "grassroots_low_rank": run_grassroots_low_rank,
    "pymc": run_pymc,
    "numpyro": run_numpyro,
    "stan": run_stan,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=sorted(ENGINES))
    parser.add_argument("workdir", type=Path)
    parser.add_argument("out_prefix", type=Path)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    warnings.simplefilter("default")
    start = time.perf_counter()
    result, draws = ENGINES[args.engine](args.workdir, args)
    result["worker_seconds"] = time.perf_counter() - start
    np.savez(args.out_prefix.with_suffix(".npz"), **draws)
    write_json(args.out_prefix.with_suffix(".json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
