"""Warnings that point at the caller's code, however deep in the package they are raised."""

from __future__ import annotations

import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent)


def warn_caller(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first frame outside the package: the line of the
    user's script or notebook that called in, not a counted ``stacklevel`` that goes stale when
    a call moves (``fit`` -> ``start_fit`` -> ``PendingFit.result`` -> ...)."""
    warnings.warn(message, category, skip_file_prefixes=(_PACKAGE,))
