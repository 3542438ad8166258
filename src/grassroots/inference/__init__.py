"""Sampling, diagnostics and the fit bundle.

>>> from grassroots.inference import fit, Fit      # doctest: +SKIP
>>> fitted = fit(frame, "survival_m2", seed=20250101)  # doctest: +SKIP
>>> Fit.load(fitted.path).summary()                 # doctest: +SKIP
"""

from __future__ import annotations

from grassroots.inference.diagnostics import ConvergenceWarning, Diagnostics, compute_diagnostics
from grassroots.inference.fitting import (
    BundleError,
    DataMismatchError,
    Fit,
    fit,
    fitted_dir,
    frame_hash,
    model_inputs,
)
from grassroots.inference.sampling import SamplingResult, sample

__all__ = [
    "BundleError",
    "ConvergenceWarning",
    "DataMismatchError",
    "Diagnostics",
    "Fit",
    "SamplingResult",
    "compute_diagnostics",
    "fit",
    "fitted_dir",
    "frame_hash",
    "model_inputs",
    "sample",
]
