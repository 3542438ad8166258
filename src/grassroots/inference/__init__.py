"""Sampling, diagnostics and the fit bundle.

>>> from grassroots.inference import fit, Fit      # doctest: +SKIP
>>> fitted = fit(frame, "survival_m2", seed=20250101)  # doctest: +SKIP
>>> Fit.load(fitted.path).summary()                 # doctest: +SKIP
"""

from __future__ import annotations

from grassroots.inference.approximate import ApproximationError, ApproximationResult, approximate
from grassroots.inference.consensus import ConsensusPosterior, fit_consensus
from grassroots.inference.diagnostics import (
    ApproximationWarning,
    ConvergenceWarning,
    Diagnostics,
    compute_diagnostics,
)
from grassroots.inference.fit_result import Fit
from grassroots.inference.fitting import (
    BundleError,
    BundleWarning,
    DataMismatchError,
    fit,
    fitted_dir,
    frame_hash,
    model_inputs,
    verify_bundle,
)
from grassroots.inference.preflight import (
    OutputFolderError,
    PreflightError,
    UnfittableDataError,
)
from grassroots.inference.prior_reweighting import PriorReweighting, reweight_prior
from grassroots.inference.sampling import SamplingResult, sample

__all__ = [
    "ApproximationError",
    "ApproximationResult",
    "ApproximationWarning",
    "BundleError",
    "BundleWarning",
    "ConsensusPosterior",
    "ConvergenceWarning",
    "DataMismatchError",
    "Diagnostics",
    "Fit",
    "OutputFolderError",
    "PreflightError",
    "PriorReweighting",
    "SamplingResult",
    "UnfittableDataError",
    "approximate",
    "compute_diagnostics",
    "fit",
    "fit_consensus",
    "fitted_dir",
    "frame_hash",
    "model_inputs",
    "reweight_prior",
    "sample",
    "verify_bundle",
]
