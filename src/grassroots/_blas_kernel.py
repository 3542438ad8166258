"""One OpenBLAS kernel on every x86-64 processor, so that its choice does not change a seed's draws.

OpenBLAS (bundled with numpy and scipy; numba's matrix products call it) picks its kernels by
processor when it is loaded, and kernels of different vector widths sum in different orders. A
model's log density then differs in its last bits between two machines, and its draws, after
some hundred, in every digit: the bundled study's survival fits drew one set of bytes where
OpenBLAS chose its AVX-512 kernels (``SkylakeX``) and another where it chose its AVX2 ones
(``Haswell``), with the same code, seed and packages (reports/benchmarks/README.md, "Same seed,
another processor"). ``Haswell`` runs on every x86-64 processor with AVX2 and FMA (Intel since
2013, AMD since 2017).

OpenBLAS reads ``OPENBLAS_CORETYPE`` once, when numpy first loads it, so :func:`pin_kernel` must
run before numpy is imported: ``import grassroots`` calls it first. A value the user set is
kept; a processor without AVX2 and FMA, or another architecture, keeps OpenBLAS's own choice.
Where numpy was imported before grassroots (a notebook that imported numpy first), the pin
comes too late: the first fit then warns (:func:`warn_if_unpinned`) when OpenBLAS chose other
kernels, and every fit records what was loaded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
from pathlib import Path

PINNED_KERNEL = "Haswell"
#: What the pinned kernel needs of the processor (``/proc/cpuinfo`` flag names).
KERNEL_NEEDS = frozenset({"avx2", "fma"})


def cpu_info() -> dict[str, str]:
    """The first processor's fields in ``/proc/cpuinfo`` (empty where there is none)."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    return fields


class KernelWarning(UserWarning):
    """OpenBLAS computes with other kernels than the pinned ones: a seed's draws can differ from
    those of other machines."""


def can_pin() -> bool:
    """This processor can run :data:`PINNED_KERNEL` (x86-64 with AVX2 and FMA)."""
    return platform.machine() in ("x86_64", "AMD64") and KERNEL_NEEDS <= set(
        cpu_info().get("flags", "").split()
    )


def pin_kernel() -> None:
    """Set ``OPENBLAS_CORETYPE`` to :data:`PINNED_KERNEL` before numpy loads OpenBLAS, on an
    x86-64 processor that can run it, unless the user set it."""
    if "OPENBLAS_CORETYPE" in os.environ or "numpy" in sys.modules:
        return
    if can_pin():
        os.environ["OPENBLAS_CORETYPE"] = PINNED_KERNEL


def unpinned_kernel_message() -> str | None:
    """Why a seed's draws here may differ from other machines', when the pin could have applied
    but came too late (numpy loaded OpenBLAS first) and OpenBLAS chose other kernels; else
    ``None``. A kernel the user set is their choice, not a problem."""
    if "OPENBLAS_CORETYPE" in os.environ or not can_pin():
        return None
    kernels = loaded_kernels()
    if kernels in (PINNED_KERNEL, "unknown"):
        return None
    return (
        f"OpenBLAS computes with its {kernels} kernels here because numpy was imported before "
        f"grassroots, so this seed's draws can differ from those of machines that use the "
        f"{PINNED_KERNEL} kernels grassroots pins: import grassroots before numpy (and pandas, "
        f"matplotlib), or set OPENBLAS_CORETYPE={PINNED_KERNEL} before Python starts"
    )


@functools.cache
def warn_if_unpinned() -> None:
    """:func:`unpinned_kernel_message` as a :class:`KernelWarning`, once a process."""
    from grassroots._warnings import warn_caller

    message = unpinned_kernel_message()
    if message is not None:
        warn_caller(message, KernelWarning)


def loaded_kernels() -> str:
    """The kernels of the OpenBLAS libraries loaded in this process, e.g. ``"Haswell"``, or
    ``"unknown"`` where none reports one."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS)
    import scipy.linalg  # noqa: F401  (and scipy's, which numba's matrix products call)
    from threadpoolctl import threadpool_info

    kernels = {
        str(library["architecture"])
        for library in threadpool_info()
        if library.get("internal_api") == "openblas" and library.get("architecture")
    }
    return "/".join(sorted(kernels)) or "unknown"
