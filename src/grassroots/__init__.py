"""grassroots: Bayesian models of the digital transformation of grassroots public services.

The public entry points are imported lazily, so that ``import grassroots`` stays quick and the
command line does not load PyMC for a data check.
"""

from __future__ import annotations

import importlib
from typing import Any

from grassroots._blas_kernel import pin_kernel

# Before numpy loads OpenBLAS: the same kernels on every x86-64 machine, whose choice by
# processor changed a seed's draws (grassroots._blas_kernel).
pin_kernel()

from grassroots._pytensor_setup import silence_blas_warning  # noqa: E402

# Before any submodule imports PyTensor, so that no entry point shows the warning.
silence_blas_warning()

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": "grassroots.data.study",
    "load_study": "grassroots.data.study",
    "Study": "grassroots.data.study",
    "DataValidationError": "grassroots.data.validation",
    "simulate": "grassroots.data.simulate",
    "fit": "grassroots.inference.fitting",
    "Fit": "grassroots.inference.fit_result",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grassroots' has no attribute {name!r}")
