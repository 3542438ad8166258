"""Same seed, same draws, whatever PyTensor's compile cache holds.

A survival fit differed between a cold and a warm PyTensor cache (issue 13): numba's fastmath
let LLVM reassociate sums and fuse multiply-adds differently in a kernel compiled afresh and
the same kernel loaded from the cache. Each run here is a fresh ``python`` process whose
PyTensor ``base_compiledir`` (where the numba cache lives) is a folder of the test: empty for
the first run, filled by it for the second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# survival_m2 (two nested group levels, categorical and continuous predictors) on a small
# simulated study: the smallest model seen to give other draws on a warm cache before the fix
# (a one-level survival model with two predictors did not).
FIT_SCRIPT = """
import sys, warnings
import numpy as np
from grassroots.data import Study
from grassroots.data.simulate import SimulationConfig, simulate
from grassroots.inference import ConvergenceWarning, fit

sim = simulate(seed=3, config=SimulationConfig(n_counties=6, townships_per_county=5,
                                               projects_per_township=4))
study = Study.from_frames(sim.projects, sim.townships, sim.counties)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    fitted = fit(study, sys.argv[3], seed=11, chains=2, draws=50, tune=50,
                 backend=sys.argv[2], save=False, reuse=False, progress=False)
assert fitted.backend == sys.argv[2], fitted.backend
with open(sys.argv[1], "wb") as out:
    for name, draws in sorted(fitted.posterior.data_vars.items()):
        out.write(name.encode() + b"\\0" + np.ascontiguousarray(draws.to_numpy()).tobytes())
"""


def _draws_in_a_fresh_process(
    compiledir: Path, out: Path, backend: str, spec: str = "survival_m2"
) -> bytes:
    flags = [os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={compiledir}"]
    env = {**os.environ, "PYTENSOR_FLAGS": ",".join(flag for flag in flags if flag)}
    subprocess.run(
        [sys.executable, "-c", FIT_SCRIPT, str(out), backend, spec],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return out.read_bytes()


def _cold_and_warm(tmp_path: Path, backend: str, spec: str = "survival_m2") -> tuple[bytes, bytes]:
    compiledir = tmp_path / "pytensor"
    compiledir.mkdir()
    cold = _draws_in_a_fresh_process(compiledir, tmp_path / "cold.bin", backend, spec)
    if backend == "nutpie":
        assert any((compiledir / "numba").iterdir()), "the first run filled the numba cache"
    warm = _draws_in_a_fresh_process(compiledir, tmp_path / "warm.bin", backend, spec)
    return cold, warm


# demand_fit_m2: the ordinal likelihood's softplus is the package's own Op and numba kernel
# (grassroots.models.softplus), cached by PyTensor like its own.
@pytest.mark.parametrize("spec", ["survival_m2", "demand_fit_m2"])
def test_nutpie_draws_are_the_same_with_a_cold_and_a_warm_cache(tmp_path: Path, spec: str) -> None:
    """Real nutpie sampling, ~30 s: an empty compile cache, then the one it left."""
    cold, warm = _cold_and_warm(tmp_path, "nutpie", spec)
    assert len(cold) > 1000
    assert cold == warm


@pytest.mark.slow
def test_pymc_draws_are_the_same_with_a_cold_and_a_warm_cache(tmp_path: Path) -> None:
    """The PyMC fallback (PyTensor's C backend, compiled into the same folder)."""
    cold, warm = _cold_and_warm(tmp_path, "pymc")
    assert len(cold) > 1000
    assert cold == warm


def test_nutpie_compiles_without_fastmath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast check of the cause: the log density is compiled with fastmath off, whatever
    PyTensor's default, so no compile reorders floating-point sums."""
    import nutpie
    import pytensor

    from grassroots.inference.sampling import _start_nutpie
    from grassroots.models.spec import SamplerSettings

    seen = []

    class Compiled(Exception):
        pass

    def compile_pymc_model(*args, **kwargs):
        seen.append(pytensor.config.numba__fastmath)
        raise Compiled

    monkeypatch.setattr(nutpie, "compile_pymc_model", compile_pymc_model)
    with pytensor.config.change_flags(numba__fastmath=True):
        with pytest.raises(Compiled):
            _start_nutpie(None, SamplerSettings(), seed=1, progress=False, cores=1, initial={})
        assert pytensor.config.numba__fastmath is True, "the flag is restored after the compile"
    assert seen == [False]


def test_the_pymc_fallback_compiles_without_fastmath(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytensor

    from grassroots.inference import sampling
    from grassroots.models.spec import SamplerSettings

    seen = []

    class Sampled(Exception):
        pass

    def pm_sample(*args, **kwargs):
        seen.append(pytensor.config.numba__fastmath)
        raise Sampled

    monkeypatch.setattr(sampling.pm, "sample", pm_sample)
    with pytensor.config.change_flags(numba__fastmath=True), pytest.raises(Sampled):
        sampling._sample_pymc(None, SamplerSettings(), seed=1, progress=False, cores=1, initial={})
    assert seen == [False]


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
def test_advi_and_the_log_likelihood_compile_without_fastmath(
    monkeypatch: pytest.MonkeyPatch, fake_sampler, tmp_path: Path
) -> None:
    import numpy as np
    import pandas as pd
    import pytensor

    from grassroots.inference import fitting
    from grassroots.models import spec_from_dict

    seen: dict[str, bool] = {}

    class Approximated(Exception):
        pass

    def approximate(*args, **kwargs):
        seen["advi"] = pytensor.config.numba__fastmath
        raise Approximated

    def with_log_likelihood(trace, model):
        seen["log_likelihood"] = pytensor.config.numba__fastmath
        return trace

    monkeypatch.setattr(fitting, "approximate", approximate)
    monkeypatch.setattr(fitting, "_with_log_likelihood", with_log_likelihood)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"age": rng.normal(size=40), "readmitted": rng.integers(0, 2, 40)})
    spec = spec_from_dict({"name": "tiny", "family": "logistic", "predictors": ["age"],
                           "outcome": {"column": "readmitted"},
                           "sampler": {"chains": 1, "draws": 5, "tune": 5}})  # fmt: skip
    with pytensor.config.change_flags(numba__fastmath=True):
        fitting.fit(frame, spec, seed=1, save=False, progress=False, log_likelihood=True)
        with pytest.raises(Approximated):
            fitting.fit(frame, spec, seed=1, save=False, progress=False, method="advi")
    assert seen == {"advi": False, "log_likelihood": False}
