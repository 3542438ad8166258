"""PyTensor settings that every entry point needs, applied once on ``import grassroots``.

PyTensor warns that it "could not link to a BLAS installation" the first time a graph with a
matrix product is rewritten, which on a pip install is every session. The package samples with
nutpie and numba, which bring their own BLAS, so the warning tells users nothing they can act on
and buries the messages that matter (convergence, data problems) in the CLI, notebooks and logs.
Only that warning is silenced: any other PyTensor warning still reaches the user.
"""

from __future__ import annotations

import warnings

# Matched from the start of the message, at the module that emits it
# (pytensor/link/c/cmodule.py, ``default_blas_ldflags``).
BLAS_WARNING_MESSAGE = r"PyTensor could not link to a BLAS installation"
BLAS_WARNING_MODULE = r"pytensor\.link\.c\.cmodule"


def silence_blas_warning() -> None:
    """Ignore PyTensor's missing-BLAS ``UserWarning``, and no other warning."""
    warnings.filterwarnings(
        "ignore",
        message=BLAS_WARNING_MESSAGE,
        category=UserWarning,
        module=BLAS_WARNING_MODULE,
    )
