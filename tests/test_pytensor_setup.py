"""PyTensor's missing-BLAS warning never reaches a grassroots user; nothing else is hidden."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from grassroots._pytensor_setup import silence_blas_warning

SRC = Path(__file__).parents[1] / "src"

# A matrix product makes PyTensor look for BLAS (and warn when it finds none) while compiling.
_TINY_MODEL = """
import grassroots
import pymc as pm
import pytensor

with pm.Model() as model:
    a = pm.Normal("a", shape=(3, 3))
    pm.Deterministic("b", a @ a)
outputs = model.replace_rvs_by_values([model["b"]])
model.compile_fn(outputs, inputs=model.value_vars)(model.initial_point())
print(repr(pytensor.config.blas__ldflags))
"""


def test_import_grassroots_then_build_a_model_shows_no_blas_warning() -> None:
    environment = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONWARNINGS": "default"}
    environment.pop("PYTENSOR_FLAGS", None)
    result = subprocess.run(
        [sys.executable, "-c", _TINY_MODEL],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() != "''":
        pytest.skip(f"PyTensor links to a BLAS here ({result.stdout.strip()}): nothing to silence")
    assert "BLAS" not in result.stderr, result.stderr


def _shown(message: str, module: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_blas_warning()
        warnings.warn_explicit(message, UserWarning, "cmodule.py", 1, module=module)
    return [str(warning.message) for warning in caught]


def test_only_the_blas_warning_from_pytensor_is_silenced() -> None:
    blas = "PyTensor could not link to a BLAS installation. Operations ... degraded."
    assert _shown(blas, "pytensor.link.c.cmodule") == []
    other = "PyTensor could not compile this Op"
    assert _shown(other, "pytensor.link.c.cmodule") == [other]
    assert _shown(blas, "my_own_code") == [blas]
