"""Where one fit of ``reproduce`` spends its time and memory: a fit taken apart stage by stage.

Stages, as ``grassroots.fit`` runs them: build the PyMC model, compile it for nutpie (numba),
sample, compute the pointwise log-likelihood (for LOO), PSIS-LOO, save the bundle. For each the
wall and CPU seconds (this process and its threads) and the resident memory after it; the peak
(VmHWM) at the end. Run it once per spec in a fresh interpreter, so each peak belongs to one fit:

    nice -n 5 .venv/bin/python benchmarks/profile_fit.py demand_fit_m4 --cold
    PYTHONPATH=/other/checkout/src .venv/bin/python benchmarks/profile_fit.py demand_fit_m4 --cold

``--cold`` points PyTensor's compile folder (and with it the numba cache) at a new empty
folder, as on a first ``reproduce``. The JSON record is printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _process import cpu_seconds


def _memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


class Stages:
    def __init__(self) -> None:
        self.rows: list[dict[str, float | str]] = []

    def run(self, name: str, call):
        wall, cpu = time.perf_counter(), cpu_seconds()
        value = call()
        self.rows.append(
            {
                "stage": name,
                "wall_s": round(time.perf_counter() - wall, 2),
                "cpu_s": round(cpu_seconds() - cpu, 2),
                "rss_after_mb": round(_memory_mb("VmRSS"), 1),
            }
        )
        print(json.dumps(self.rows[-1]), file=sys.stderr, flush=True)
        return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--seed", type=int, default=20250325)
    parser.add_argument("--draws", type=int)
    parser.add_argument("--tune", type=int)
    parser.add_argument("--chains", type=int)
    parser.add_argument("--cold", action="store_true", help="empty PyTensor/numba caches")
    parser.add_argument("--no-log-likelihood", action="store_true")
    args = parser.parse_args()
    if args.cold:
        # Before pytensor is imported: its compile folder is read once.
        folder = tempfile.mkdtemp(prefix="profile-fit-cache-")
        os.environ["PYTENSOR_FLAGS"] = f"compiledir={folder}"
        os.environ["NUMBA_CACHE_DIR"] = folder

    stages = Stages()
    started_wall, started_cpu = time.perf_counter(), cpu_seconds()

    def imports():
        import arviz_stats  # noqa: F401
        import nutpie  # noqa: F401
        import pymc  # noqa: F401

        import grassroots  # noqa: F401

    stages.run("import", imports)
    import arviz_stats as azs
    import nutpie

    import grassroots
    from grassroots.data import load_dataset
    from grassroots.inference.fit_result import Fit
    from grassroots.inference.fitting import _with_log_likelihood
    from grassroots.inference.sampling import exact_compile
    from grassroots.models import build_model, load_spec

    study = stages.run("load data", load_dataset)
    spec = load_spec(args.spec).with_sampler(chains=args.chains, draws=args.draws, tune=args.tune)
    frame = study.flat()
    built = stages.run("build model", lambda: build_model(spec, frame))

    def compile_model():
        with exact_compile():
            return nutpie.compile_pymc_model(
                built.model, backend="numba", initial_points=built.initial_points or None
            )

    compiled = stages.run("compile (numba)", compile_model)
    settings = spec.sampler
    trace = stages.run(
        "sample",
        lambda: nutpie.sample(
            compiled,
            seed=args.seed,
            chains=settings.chains,
            draws=settings.draws,
            tune=settings.tune,
            cores=min(settings.chains, os.cpu_count() or 1),
            target_accept=settings.target_accept,
            maxdepth=settings.max_treedepth,
            adaptation=settings.adaptation,
            save_warmup=False,
            progress_bar=False,
        ),
    )
    from grassroots.inference.sampling import _clean

    trace = _clean(trace)
    outcomes = [o.name for o in spec.outcomes]
    if not args.no_log_likelihood:

        def log_likelihood():
            with exact_compile():
                return _with_log_likelihood(trace, built.model)

        trace = stages.run("log-likelihood", log_likelihood)
        stages.run("PSIS-LOO", lambda: [azs.loo(trace, var_name=name) for name in outcomes])

    def save():
        from grassroots.inference.diagnostics import compute_diagnostics

        fitted = Fit(
            spec=spec,
            trace=trace,
            scaling=built.inputs.scaling,
            composite=built.inputs.groups.composite,
            data_hash=study.data_hash(),
            seed=args.seed,
            diagnostics=compute_diagnostics(trace),
            counts=built.inputs.summary_counts(),
            timings={},
            backend="nutpie",
            model_coords={},
        )
        with tempfile.TemporaryDirectory(prefix="profile-fit-bundle-") as folder:
            fitted.save(Path(folder) / "bundle")

    stages.run("diagnostics + save", save)
    posterior = trace["posterior"].to_dataset()
    means = {
        name: float(posterior[name].mean())
        for name in posterior.data_vars
        if name.endswith(("_beta", "_cutpoints"))
    }
    record = {
        "spec": args.spec,
        "grassroots": str(Path(grassroots.__file__).parent),
        "cold": args.cold,
        "chains_draws_tune": [settings.chains, settings.draws, settings.tune],
        "stages": stages.rows,
        "total_wall_s": round(time.perf_counter() - started_wall, 2),
        "total_cpu_s": round(cpu_seconds() - started_cpu, 2),
        "peak_rss_mb": round(_memory_mb("VmHWM"), 1),
        "load_average": os.getloadavg(),
        "means": means,
    }
    print(json.dumps(record))


if __name__ == "__main__":
    main()
