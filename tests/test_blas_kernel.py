"""One OpenBLAS kernel on every x86-64 machine: pinned on ``import grassroots``, before numpy
loads OpenBLAS; a user's own choice kept; recorded with every fit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import warnings

import pytest

from grassroots._blas_kernel import PINNED_KERNEL, can_pin, cpu_info

CAN_PIN = can_pin()


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


@pytest.fixture
def numpy_came_first(monkeypatch: pytest.MonkeyPatch):
    """A process where numpy loaded OpenBLAS before grassroots, which chose its AVX-512 kernels."""
    import grassroots._blas_kernel as blas_kernel

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.setattr(blas_kernel, "can_pin", lambda: True)
    monkeypatch.setattr(blas_kernel, "loaded_kernels", lambda: "SkylakeX")
    blas_kernel.warn_if_unpinned.cache_clear()
    yield blas_kernel
    blas_kernel.warn_if_unpinned.cache_clear()


def test_other_kernels_loaded_before_the_pin_are_named_with_the_remedy(
    numpy_came_first, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = numpy_came_first.unpinned_kernel_message()
    assert "its SkylakeX kernels" in message
    assert "import grassroots before numpy" in message
    assert f"OPENBLAS_CORETYPE={PINNED_KERNEL}" in message
    monkeypatch.setattr(numpy_came_first, "loaded_kernels", lambda: PINNED_KERNEL)
    assert numpy_came_first.unpinned_kernel_message() is None, "the pinned kernels: no problem"
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    assert numpy_came_first.unpinned_kernel_message() is None, "the user's own choice"


def test_sampling_warns_once_when_the_pin_came_too_late(numpy_came_first) -> None:
    import pymc as pm

    from grassroots.inference.sampling import start_sampling
    from grassroots.models.spec import SamplerSettings

    with pm.Model() as model:
        pm.Normal("x")
    settings = SamplerSettings(chains=1, draws=5, tune=5)
    with pytest.warns(numpy_came_first.KernelWarning, match="SkylakeX kernels"):
        start_sampling(model, settings, seed=1, progress=False).result()
    with warnings.catch_warnings():
        warnings.simplefilter("error", numpy_came_first.KernelWarning)
        start_sampling(model, settings, seed=1, progress=False).result()


@pytest.mark.skipif(not CAN_PIN, reason="the pinned kernel needs an x86-64 with AVX2 and FMA")
def test_the_test_suite_draws_with_the_pinned_kernel() -> None:
    """pytest loads grassroots first (``-p`` in pyproject.toml), before a plugin loads numpy."""
    from grassroots._blas_kernel import loaded_kernels

    assert os.environ.get("OPENBLAS_CORETYPE") == PINNED_KERNEL
    assert loaded_kernels() == PINNED_KERNEL
