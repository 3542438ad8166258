"""One OpenBLAS kernel on every x86-64 machine: pinned on ``import grassroots``, before numpy
loads OpenBLAS; a user's own choice kept; recorded with every fit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from grassroots._blas_kernel import KERNEL_NEEDS, PINNED_KERNEL, cpu_info

CAN_PIN = platform.machine() in ("x86_64", "AMD64") and KERNEL_NEEDS <= set(
    cpu_info().get("flags", "").split()
)


def _fresh(code: str, **environment: str) -> list[str]:
    """``code`` in a new interpreter without OPENBLAS_CORETYPE (unless given); its output lines."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"} | environment
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


SHOW = (
    "import os; from grassroots._blas_kernel import loaded_kernels; "
    "print(os.environ.get('OPENBLAS_CORETYPE')); print(loaded_kernels())"
)


@pytest.mark.skipif(not CAN_PIN, reason="the pinned kernel needs an x86-64 with AVX2 and FMA")
def test_import_pins_the_kernel_before_numpy_loads_openblas() -> None:
    assert _fresh("import grassroots; " + SHOW) == [PINNED_KERNEL, PINNED_KERNEL]


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or "sse4_2" not in cpu_info().get("flags", ""),
    reason="the Nehalem kernel needs an x86-64 with SSE4.2",
)
def test_a_kernel_the_user_chose_is_kept() -> None:
    # Nehalem (SSE4.2) runs on every x86-64 processor this decade.
    assert _fresh("import grassroots; " + SHOW, OPENBLAS_CORETYPE="Nehalem") == [
        "Nehalem",
        "Nehalem",
    ]


def test_numpy_loaded_first_is_left_alone_and_what_it_loaded_is_recorded() -> None:
    lines = _fresh(
        "import numpy, grassroots; " + SHOW
        + "; from grassroots.inference.bundle import machine, package_versions; "
        "print(package_versions()['machine'] == machine()); print(machine().split(', ')[-1])"
    )  # fmt: skip
    assert lines[0] == "None"
    assert lines[2] == "True"
    assert lines[3:] == ["OpenBLAS", lines[1]]
