"""Min ESS per second of the structural model under one group-effect parameterisation.

One fit per run, in a fresh interpreter: build, nutpie's numba compile, sample; then the min bulk
and tail ESS and max R-hat over the reported parameters (the latent ``z``, centred baselines,
random-walk steps and packed Cholesky factors, which differ between parameterisations, are left
out), divergences, and sampling wall and CPU seconds (nutpie's chains are threads of this
process, so CPU seconds count every chain). Prints one JSON record.

    nice -n 5 .venv/bin/python benchmarks/geometry.py --size bundled --draws 1000 --tune 1000
    nice -n 5 .venv/bin/python benchmarks/geometry.py --size small --parameterization non_centred

``--adaptation flow`` is nutpie's normalising-flow adaptation: it trains a flow (flowjax, on JAX)
during warm-up and needs the model compiled for JAX with JAX gradients, so it implies
``--backend jax``. JAX and flowjax are no dependency of the package: run it from an environment
that has them (``reports/benchmarks/README.md``, "Normalising-flow adaptation"). The JAX logp is
compiled lazily, at the first call, so its compile time lands in ``sample_wall_s``, not in
``compile_wall_s``.

    nice -n 10 /work/venv-flow/bin/python benchmarks/geometry.py --size small --adaptation flow

``--parameterization`` sets every grouping level's ``parameterization`` (``auto``, ``centred``,
``non_centred``); without it the spec's own setting is used (what an older checkout, which lacks
the option, fits). ``--size small`` is the engine benchmark's simulated study (30 counties, 300
townships, 1,200 projects; ``benchmarks/engines/common.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from _process import cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent / "engines"))


def _reported(name: str) -> bool:
    return not (name.endswith(("_z", "_chol", "_centred", "_steps")) or "_z_" in name)


def _jax_versions(*, flow: bool) -> dict[str, str]:
    """Versions of JAX (and flowjax for the flow), or a clear error when they are missing."""
    from importlib.metadata import PackageNotFoundError, version

    needed = ["jax", "jaxlib"] + (["flowjax", "equinox", "optax"] if flow else [])
    try:
        return {name: version(name) for name in needed}
    except PackageNotFoundError as missing:
        sys.exit(
            f"{missing.name} is not installed in {sys.prefix}: the JAX backend"
            f"{' and the flow adaptation' if flow else ''} need {', '.join(needed)}, which are "
            "no dependency of grassroots; use an environment that has them (see "
            'reports/benchmarks/README.md, "Normalising-flow adaptation")'
        )


def _gradient_safe_jax_softplus() -> None:
    """PyTensor's JAX softplus as ``jax.nn.softplus``, whose gradient stays finite.

    PyTensor (3.3.8) lowers ``Softplus`` to JAX as nested ``jnp.where`` branches; every branch
    is differentiated, and ``exp`` of a large logit in an unselected one turns the gradient into
    ``0 * inf = NaN`` (pymc-devs/pytensor#2264). The Bernoulli log density of the three
    strategies goes through it: at nutpie's jittered initial points 1,596 of the 1,833 gradient
    entries were NaN and every chain failed to initialise. ``jax.nn.softplus`` is the same
    function (``logaddexp(x, 0)``); with it the JAX log density and gradient matched the numba
    ones to 1e-14 (relative) at three initial points.
    """
    import jax
    from pytensor.link.jax.dispatch import jax_funcify
    from pytensor.scalar.math import Softplus

    @jax_funcify.register(Softplus)
    def _softplus(op, **kwargs):
        return jax.nn.softplus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="structural")
    parser.add_argument("--size", default="bundled", choices=["bundled", "small", "medium"])
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--parameterization", choices=["auto", "centred", "non_centred"])
    parser.add_argument("--adaptation", choices=["diag", "low_rank", "draw_diag", "flow"])
    parser.add_argument(
        "--backend",
        choices=["numba", "jax"],
        help="how PyTensor compiles the log density (default: numba; jax with --adaptation flow)",
    )
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    backend = args.backend or ("jax" if args.adaptation == "flow" else "numba")
    if args.adaptation == "flow" and backend != "jax":
        parser.error("--adaptation flow trains its flow in JAX: it needs --backend jax")
    library_versions = _jax_versions(flow=args.adaptation == "flow") if backend == "jax" else {}

    import arviz_stats as azs
    import numpy as np
    import nutpie
    from common import SIZES, load_frame

    import grassroots
    from grassroots.inference.sampling import exact_compile
    from grassroots.models import build_model, load_spec

    spec = load_spec(args.spec).with_sampler(chains=args.chains, draws=args.draws, tune=args.tune)
    # Passed to nutpie directly: "draw_diag" (Stan's and PyMC's draw-variance mass matrix) is no
    # spec setting.
    adaptation = args.adaptation or spec.sampler.adaptation
    if args.parameterization is not None:
        groups = tuple(
            dataclasses.replace(level, parameterization=args.parameterization)
            for level in spec.groups
        )
        spec = dataclasses.replace(spec, groups=groups)
    frame = load_frame(SIZES[args.size])
    started = time.perf_counter()
    built = build_model(spec, frame)
    if backend == "jax":
        # float64 as the numba path computes it: JAX defaults to float32, which would compare a
        # different (and less accurate) log density.
        import jax

        jax.config.update("jax_enable_x64", True)
        _gradient_safe_jax_softplus()
        compiled = nutpie.compile_pymc_model(
            built.model,
            backend="jax",
            gradient_backend="jax",
            initial_points=built.initial_points or None,
        )
    else:
        with exact_compile():
            compiled = nutpie.compile_pymc_model(
                built.model, backend="numba", initial_points=built.initial_points or None
            )
    compile_wall = time.perf_counter() - started
    settings = spec.sampler
    wall, cpu = time.perf_counter(), cpu_seconds()
    trace = nutpie.sample(
        compiled,
        seed=args.seed,
        chains=settings.chains,
        draws=settings.draws,
        tune=settings.tune,
        cores=min(settings.chains, os.cpu_count() or 1),
        target_accept=settings.target_accept,
        maxdepth=settings.max_treedepth,
        adaptation=adaptation,
        save_warmup=False,
        progress_bar=False,
    )
    sample_wall, sample_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    posterior = trace["posterior"].to_dataset()
    posterior = posterior[[name for name in posterior.data_vars if _reported(name)]]
    per_variable = {}
    for name in posterior.data_vars:
        values = posterior[name]
        varying = (values.max(("chain", "draw")) - values.min(("chain", "draw"))) > 0
        bulk = azs.ess(values, method="bulk").where(varying)
        tail = azs.ess(values, method="tail").where(varying)
        rhat = azs.rhat(values).where(varying)
        per_variable[name] = (
            float(np.nanmin(bulk)),
            float(np.nanmin(tail)),
            float(np.nanmax(rhat)),
        )
    stats = trace["sample_stats"].to_dataset()
    min_bulk = min(v[0] for v in per_variable.values())
    min_tail = min(v[1] for v in per_variable.values())
    record = {
        "label": args.label,
        "grassroots": str(Path(grassroots.__file__).parent),
        "size": args.size,
        "parameterization": args.parameterization or "spec",
        "levels": {
            f"{level}/{outcome or 'all'}": f"{choice.chosen} ({choice.ratio:.2f})"
            for (level, outcome), choice in getattr(built, "parameterizations", {}).items()
        },
        "chains_draws_tune": [settings.chains, settings.draws, settings.tune],
        "adaptation": adaptation,
        "backend": backend,
        "n_dim": compiled.n_dim,
        "versions": {"nutpie": nutpie.__version__, **library_versions},
        "seed": args.seed,
        "compile_wall_s": round(compile_wall, 1),
        "sample_wall_s": round(sample_wall, 1),
        "sample_cpu_s": round(sample_cpu, 1),
        "min_ess_bulk": round(min_bulk, 1),
        "min_ess_tail": round(min_tail, 1),
        "min_ess_bulk_per_wall_s": round(min_bulk / sample_wall, 3),
        "min_ess_bulk_per_cpu_s": round(min_bulk / sample_cpu, 3),
        "min_ess_tail_per_cpu_s": round(min_tail / sample_cpu, 3),
        "max_rhat": round(max(v[2] for v in per_variable.values()), 4),
        "divergences": int(stats["diverging"].sum()),
        "mean_tree_steps": float(stats["n_steps"].mean()),
        "lowest_bulk": sorted(per_variable, key=lambda n: per_variable[n][0])[:4],
        # A chain stuck apart from the others shows here (its step size, tree size, SDs).
        "per_chain_step_size": stats["step_size"].mean("draw").round(4).values.tolist(),
        "per_chain_mean_steps": stats["n_steps"].mean("draw").round(1).values.tolist(),
        "per_chain_township_sd": posterior["township_sd"].mean("draw").round(3).values.tolist()
        if "township_sd" in posterior
        else None,
        "per_variable_bulk": {n: round(v[0], 1) for n, v in per_variable.items()},
        "load_average": os.getloadavg(),
    }
    print(json.dumps(record, default=str), flush=True)


if __name__ == "__main__":
    main()
