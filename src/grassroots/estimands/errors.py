"""The estimands layer's error, below every module that raises it."""

from __future__ import annotations

__all__ = ["EstimandError"]


class EstimandError(ValueError):
    """An estimand cannot be computed as asked (unknown outcome, no mediators ...)."""
