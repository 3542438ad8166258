"""What each spec's warm-up costs and what a shorter one changes: steps, CPU, convergence.

For each spec, one numba compile, then for each seed and warm-up length one nutpie run at the
spec's other settings (chains, draws, target_accept, adaptation; ``--draws`` and
``--adaptation`` and ``--target-accept`` replace the spec's, to weigh fewer draws against another
mass matrix or another step size), warm-up
kept: leapfrog steps in warm-up and after it, sampling wall and CPU seconds (nutpie's chains are
threads of this process), and the diagnostics ``fit()`` reports (max R-hat, min bulk and tail ESS,
divergences, converged or not, the slowest element). One JSON record per run, appended to ``--out``:

    nice -n 5 .venv/bin/python benchmarks/tune_length.py survival_m4 strategy_expedient \\
        --tunes 1000,500,300 --seeds 20250325,1,2 --out reports/benchmarks/tune_length.jsonl

The same seed gives the same draws as ``grassroots fit`` (the check: the bundled seed at the
spec's own warm-up reproduces Appendix A's ESS to the digit).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _process import cpu_seconds, measured_commit


def _integers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--tunes", type=_integers, required=True, help="e.g. 1000,500,300")
    parser.add_argument("--seeds", type=_integers, default=[20250325])
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument("--draws", type=int, help="draws a chain (default: the spec's)")
    parser.add_argument(
        "--adaptation", choices=["diag", "draw_diag"], help="mass matrix (default: the spec's)"
    )
    parser.add_argument(
        "--target-accept", type=float, help="step-size target (default: the spec's)"
    )
    args = parser.parse_args()

    import nutpie

    from grassroots.data import load_dataset
    from grassroots.inference.diagnostics import compute_diagnostics
    from grassroots.inference.sampling import _clean, exact_compile
    from grassroots.models import build_model, load_spec

    frame = load_dataset().flat()
    code = measured_commit()
    for name in args.specs:
        spec = load_spec(name)
        built = build_model(spec, frame)
        with exact_compile():
            compiled = nutpie.compile_pymc_model(
                built.model, backend="numba", initial_points=built.initial_points or None
            )
        settings = spec.sampler
        draws = args.draws or settings.draws
        adaptation = args.adaptation or settings.adaptation
        target_accept = args.target_accept or settings.target_accept
        for seed in args.seeds:
            for tune in args.tunes:
                wall, cpu = time.perf_counter(), cpu_seconds()
                trace = nutpie.sample(
                    compiled,
                    seed=seed,
                    chains=settings.chains,
                    draws=draws,
                    tune=tune,
                    cores=min(settings.chains, os.cpu_count() or 1),
                    target_accept=target_accept,
                    maxdepth=settings.max_treedepth,
                    adaptation=adaptation,
                    save_warmup=True,
                    progress_bar=False,
                )
                wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
                warmup_steps = int(trace["warmup_sample_stats"]["n_steps"].sum())
                stats = trace["sample_stats"]
                steps = int(stats["n_steps"].sum())
                diagnostics = compute_diagnostics(_clean(trace))
                record = {
                    "spec": name,
                    "code": code,
                    "seed": seed,
                    "tune": tune,
                    "spec_tune": settings.tune,
                    "chains": settings.chains,
                    "draws": draws,
                    "spec_draws": settings.draws,
                    "adaptation": adaptation,
                    "spec_adaptation": settings.adaptation,
                    "target_accept": target_accept,
                    "spec_target_accept": settings.target_accept,
                    "sample_wall_s": round(wall, 1),
                    "sample_cpu_s": round(cpu, 1),
                    "warmup_steps": warmup_steps,
                    "step_size": [round(float(v), 4) for v in stats["step_size"][:, -1]],
                    "mean_depth": round(float(stats["depth"].mean()), 3),
                    "steps": steps,
                    "max_rhat": round(diagnostics.max_rhat, 4),
                    "min_ess_bulk": round(diagnostics.min_ess_bulk, 1),
                    "min_ess_tail": round(diagnostics.min_ess_tail, 1),
                    "divergences": diagnostics.n_divergent,
                    "converged": diagnostics.converged,
                    "slowest": str(diagnostics.table["ess_bulk"].idxmin()),
                    "load_average": round(os.getloadavg()[0], 2),
                }
                line = json.dumps(record)
                print(line, flush=True)
                with args.out.open("a") as out:
                    out.write(line + "\n")


if __name__ == "__main__":
    main()
