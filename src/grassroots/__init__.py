"""grassroots: Bayesian models of the digital transformation of grassroots public services."""

from __future__ import annotations

__version__ = "0.1.0"
