"""Where a gradient evaluation's time goes: each likelihood term of the numpyro port, alone.

Times ``jax.grad`` of one site's log density (the survival, ordinal and three logistic
likelihoods, and all priors together) at a random point, jitted, float64, one CPU device::

    nice -n 5 .venv-bench/bin/python benchmarks/engines/profile_terms.py [WORKDIR]

``WORKDIR`` holds ``design.npz`` (written by ``run.py``; default ``.tmp-bench-engines/small``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro_model
from common import ROOT, load_design
from numpyro import handlers
from numpyro.infer.util import initialize_model

LIKELIHOODS = ("survival", "demand_fit", "extensive", "expedient", "short_sighted")


def main() -> int:
    jax.config.update("jax_enable_x64", True)
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".tmp-bench-engines" / "small"
    design = numpyro_model.as_jax(load_design(workdir / "design.npz"))
    info = initialize_model(jax.random.PRNGKey(0), numpyro_model.model, model_args=(design,))
    params = info.param_info.z
    postprocess = info.postprocess_fn

    def site_logp(name: str | None):
        def logp(unconstrained):
            constrained = postprocess(unconstrained)
            tr = handlers.trace(handlers.substitute(numpyro_model.model, constrained)).get_trace(
                design
            )
            total = 0.0
            for site_name, site in tr.items():
                if site["type"] != "sample":
                    continue
                is_likelihood = site_name in LIKELIHOODS
                if (name is None and not is_likelihood) or site_name == name:
                    total = total + jnp.sum(site["fn"].log_prob(site["value"]))
            return total

        return jax.jit(jax.grad(logp))

    rows = []
    for name in (*LIKELIHOODS, None):
        grad = site_logp(name)
        jax.block_until_ready(grad(params))
        repeats = 300
        start = time.perf_counter()
        for _ in range(repeats):
            out = grad(params)
        jax.block_until_ready(out)
        per_call = (time.perf_counter() - start) / repeats * 1e6
        rows.append((name or "priors (all)", per_call))
    full = jax.jit(jax.grad(lambda u: -info.potential_fn(u)))
    jax.block_until_ready(full(params))
    start = time.perf_counter()
    for _ in range(300):
        out = full(params)
    jax.block_until_ready(out)
    rows.append(("whole model", (time.perf_counter() - start) / 300 * 1e6))
    for name, micro in rows:
        print(f"{name:>16}: {micro:8.1f} us per gradient")
    print(
        "rows:",
        {
            k: int(np.asarray(design[f"N_{t}"]))
            for k, t in (("survival", "s"), ("demand_fit", "d"), ("extensive", "e"))
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
