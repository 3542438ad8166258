"""A variational approximation of the posterior (PyMC's ADVI), for data too large for NUTS.

Mean-field ADVI (``advi``) fits an independent normal to every unconstrained parameter; full-rank
ADVI (``fullrank_advi``) one multivariate normal over all of them (its covariance has d(d+1)/2
parameters for d latent dimensions, so it grows quadratically with the number of groups). Both
maximise the ELBO by stochastic gradient steps from the model's initial point, which is why the
approximation is then sampled with the run's seed: the same seed, model and settings give the same
draws, byte for byte.

Neither is NUTS. Mean-field ADVI is known to understate posterior SDs, group SDs most of all, so
an approximate fit is flagged wherever it is reported (see
:func:`grassroots.inference.diagnostics.approximation_note`) and should be checked against NUTS
at a size NUTS can still fit (``analysis/validation/approximate_vs_nuts.py``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from pymc.variational.callbacks import CheckParametersConvergence

from grassroots.models.spec import SamplerSettings

#: Steps between two convergence checks: the variational parameters are compared with their
#: values this many steps earlier.
CHECK_EVERY = 1000
#: The final ELBO is the mean over this many last steps (a single step's is a one-draw Monte
#: Carlo estimate, too noisy to compare fits by).
ELBO_WINDOW = 1000
#: Starting SD of every direction of the full-rank approximation. PyMC starts it at 1 (L = I):
#: on the structural model such wide draws put exp() of the survival hazard out of range and
#: the ELBO was infinite by the fourth step; mean-field ADVI starts at PyMC's 0.69 and copes.
FULLRANK_INITIAL_SD = 0.1
_INFERENCES = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}


class ApproximationError(RuntimeError):
    """The optimisation failed (a NaN in the ELBO or the variational parameters)."""


@dataclass(frozen=True)
class ApproximationResult:
    """Draws of a fitted approximation and how the optimisation went.

    Attributes
    ----------
    trace : xarray.DataTree
        ``posterior`` (chain=1, draw=N) and ``optimisation`` (``loss``, the negative ELBO, per
        ``iteration``).
    optimisation : dict
        ``method``, ``iterations`` run, ``max_iterations``, ``tolerance``, ``check_every``,
        ``converged``, ``final_elbo``, ``elbo_window`` and ``latent_dimensions``.
    fit_seconds : float
        Compiling and optimising.
    draw_seconds : float
        Drawing from the fitted approximation.
    """

    trace: xr.DataTree
    optimisation: dict[str, Any]
    fit_seconds: float
    draw_seconds: float


class _ConvergenceCheck(CheckParametersConvergence):
    """PyMC's check, remembering how many steps ran and whether it stopped the optimisation.

    PyMC ends the loop quietly on both convergence and Ctrl-C; only these records tell them
    apart.
    """

    def __init__(self, tolerance: float):
        super().__init__(every=CHECK_EVERY, tolerance=tolerance, diff="absolute", ord=np.inf)
        self.steps = 0
        self.converged = False

    def __call__(self, approx: Any, loss: Any, i: int) -> None:
        self.steps = i
        try:
            super().__call__(approx, loss, i)
        except StopIteration:
            self.converged = True
            raise


def approximate(
    model: pm.Model,
    settings: SamplerSettings,
    *,
    seed: int,
    progress: bool = True,
    initial_points: Mapping[str, np.ndarray] | None = None,
) -> ApproximationResult:
    """Fit ``settings.method`` (``advi`` or ``fullrank_advi``) to ``model`` and draw from it.

    Parameters
    ----------
    model : pymc.Model
    settings : SamplerSettings
        ``method``, ``iterations`` (the budget), ``tolerance`` and the number of draws
        (:attr:`SamplerSettings.draw_shape`).
    seed : int
        Seeds the optimisation and the draws.
    progress : bool
        Show PyMC's progress bar.
    initial_points : Mapping[str, ndarray], optional
        Starting values (constrained scale), as for NUTS.

    Raises
    ------
    ApproximationError
        When the optimisation produced a NaN.
    KeyboardInterrupt
        When it stopped before its budget without converging: PyMC answers Ctrl-C by returning
        the approximation so far as if it had finished, and that must never be saved as a fit.
    """
    if not settings.approximate:
        raise ValueError(f"approximate() fits advi or fullrank_advi, not {settings.method!r}")
    check = _ConvergenceCheck(settings.tolerance)
    start = time.perf_counter()
    inference = _INFERENCES[settings.method](
        model=model, random_seed=seed, start=dict(initial_points or {}) or None
    )
    if settings.method == "fullrank_advi":
        _narrow_fullrank_start(inference)
    try:
        approximation = inference.fit(
            settings.iterations, callbacks=[check], progressbar=progress
        )
    except FloatingPointError as error:
        raise ApproximationError(
            f"{settings.method} diverged after {check.steps:,d} iterations (NaN in the "
            f"optimisation): {str(error).splitlines()[0]}"
        ) from error
    fitted_at = time.perf_counter()
    if not check.converged and check.steps < settings.iterations:
        raise KeyboardInterrupt(
            f"{settings.method} stopped after {check.steps:,d} of {settings.iterations:,d} "
            "iterations without converging"
        )
    _, draws = settings.draw_shape
    drawn = approximation.sample(draws, random_seed=seed)
    done = time.perf_counter()
    losses = np.asarray(approximation.hist, dtype=float)
    optimisation = {
        "method": settings.method,
        "iterations": int(check.steps),
        "max_iterations": int(settings.iterations),
        "tolerance": float(settings.tolerance),
        "check_every": CHECK_EVERY,
        "converged": bool(check.converged),
        "final_elbo": float(-np.mean(losses[-ELBO_WINDOW:])),
        "elbo_window": int(min(ELBO_WINDOW, losses.size)),
        "latent_dimensions": int(approximation.ndim),
    }
    trace = xr.DataTree.from_dict(
        {
            "posterior": drawn["posterior"].to_dataset(),
            "optimisation": xr.Dataset(
                {"loss": ("iteration", losses)},
                coords={"iteration": np.arange(1, losses.size + 1)},
            ),
        }
    )
    return ApproximationResult(trace, optimisation, fitted_at - start, done - fitted_at)


def _narrow_fullrank_start(inference: Any) -> None:
    """Start the full-rank Cholesky factor at ``FULLRANK_INITIAL_SD`` times the identity."""
    (group,) = inference.approx.groups
    factor = group.shared_params["L_tril"]
    dimensions = group.ddim
    start = FULLRANK_INITIAL_SD * np.eye(dimensions)[np.tril_indices(dimensions)]
    factor.set_value(start.astype(factor.dtype))
