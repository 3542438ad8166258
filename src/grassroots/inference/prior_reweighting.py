"""The posterior under another prior, from the draws of one fit: Pareto-smoothed importance
sampling (PSIS) of the prior ratio.

The posterior under a prior ``p_new`` is the same likelihood times ``p_new``, so the draws of
a fit under ``p_base`` estimate it with importance weights
``w(theta) = p_new(theta) / p_base(theta)``, normalised. Both log densities are PyMC's
(:func:`pymc.compute_log_prior` on the fit's draws, for the two models built on the same data);
the raw weights are Pareto-smoothed by ``arviz_stats`` and judged by the Pareto ``k`` of their
tail: above :func:`psis_threshold` the weighted estimates are not trusted and the model must be
refitted. This is priorsense's power-scaling (Kallioinen et al. 2023) for any change of prior.

References
----------
Vehtari, A., Simpson, D., Gelman, A., Yao, Y. and Gabry, J. (2024). Pareto smoothed importance
sampling. *Journal of Machine Learning Research* 25(72): 1-58.

Kallioinen, N., Paananen, T., Bürkner, P.-C. and Vehtari, A. (2023). Detecting and diagnosing
prior and likelihood sensitivity with power-scaling. *Statistics and Computing* 34(57).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots.inference.bundle import (
    DRAW_PACKAGES,
    MANIFEST_FILE,
    BundleError,
    package_versions,
    read_stored,
    store_loo,
)
from grassroots.models.builder import SAMPLE_DIMS, build_model, prepare_inputs

if TYPE_CHECKING:
    import pymc as pm

    from grassroots.inference.fit_result import Fit
    from grassroots.models.spec import ModelSpec

__all__ = ["PriorReweighting", "psis_threshold", "reweight_draws", "reweight_prior"]


def psis_threshold(n_draws: int) -> float:
    """The Pareto ``k`` above which PSIS estimates from ``n_draws`` draws are unreliable:
    ``min(1 - 1/log10(S), 0.7)`` (Vehtari et al. 2024, section 3.2.4); 0.7 for 4,000 draws."""
    return min(1 - 1 / math.log10(n_draws), 0.7)


@dataclass(frozen=True)
class PriorReweighting:
    """A fit's draws reweighted to another prior: :func:`reweight_prior`'s result.

    Attributes
    ----------
    spec_name
        The name of the spec whose prior the weights target (e.g. ``survival_m4_prior_x2``).
    log_weights
        Pareto-smoothed, normalised log weights (dims ``chain, draw``; ``logsumexp`` is 0).
    pareto_k
        The Pareto ``k`` of the raw weights' tail.
    threshold
        :func:`psis_threshold` of the number of draws.
    changed
        The free variables whose prior differs between the two specs (only these enter the
        weights; the others' log densities cancel).
    seconds
        Wall time of the reweighting (building both models, the log priors and the smoothing).
    """

    spec_name: str
    log_weights: xr.DataArray
    pareto_k: float
    threshold: float
    changed: tuple[str, ...]
    seconds: float

    @property
    def reliable(self) -> bool:
        """Whether the weighted estimates can stand for a refit (``pareto_k <= threshold``)."""
        return bool(self.pareto_k <= self.threshold)

    @property
    def weights(self) -> np.ndarray:
        """Normalised weights, flattened chain by chain like ``posterior.stack(sample=("chain",
        "draw"))`` and the tables' ``reshape(-1)`` of ``(chain, draw)`` arrays."""
        weights = np.exp(self.log_weights.transpose(*SAMPLE_DIMS).to_numpy().reshape(-1))
        return weights / weights.sum()


def _changed_variables(base: pm.Model, other: pm.Model) -> tuple[str, ...]:
    """The free variables of ``base`` whose prior log density differs in ``other``: their
    log-density graphs are compared, with the two models' value variables taken as equal.

    A comparison that cannot tell counts as a change: including an unchanged variable costs
    memory, never correctness, since its log densities cancel.
    """
    from pytensor.graph.basic import equal_computations

    names = [rv.name for rv in base.free_RVs]
    if set(names) != {rv.name for rv in other.free_RVs}:
        raise ValueError(
            "the two models have different free variables "
            f"({sorted(set(names) ^ {rv.name for rv in other.free_RVs})}): only a change of "
            "prior can be reweighted"
        )
    base_values = [base.rvs_to_values[base[name]] for name in names]
    other_values = [other.rvs_to_values[other[name]] for name in names]
    # One log-density graph per model, a term per variable: PyMC rewrites the whole model for
    # each call, so asking variable by variable would cost ~50 times as much on the structural one.
    base_terms = base.logp(vars=[base[name] for name in names], jacobian=False, sum=False)
    other_terms = other.logp(vars=[other[name] for name in names], jacobian=False, sum=False)
    return tuple(
        name
        for name, term, other_term in zip(names, base_terms, other_terms, strict=True)
        if not equal_computations([term], [other_term], in_xs=base_values, in_ys=other_values)
    )


def _log_prior(model: pm.Model, trace: xr.DataTree, names: tuple[str, ...]) -> xr.DataArray:
    """Sum over ``names`` of their prior log densities at every draw (dims ``chain, draw``), on
    the constrained scale of the stored draws (PyMC removes the value transforms, so no
    Jacobian enters)."""
    from pymc.stats import compute_log_prior

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        log_prior = compute_log_prior(
            trace, var_names=list(names), model=model, extend_inferencedata=False,
            progressbar=False,
        )  # fmt: skip
    total = sum(
        log_prior[name].sum([d for d in log_prior[name].dims if d not in SAMPLE_DIMS])
        for name in names
    )
    return total.transpose(*SAMPLE_DIMS)


def reweight_draws(
    base: pm.Model, other: pm.Model, posterior: xr.Dataset, *, name: str = ""
) -> PriorReweighting:
    """Importance weights that turn draws of ``base``'s posterior into draws of ``other``'s,
    two models that differ in their priors only.

    Parameters
    ----------
    base, other
        PyMC models with the same free variables and the same likelihood.
    posterior
        Draws of ``base``'s posterior (dims ``chain, draw, ...``), with every free variable on
        its constrained scale, as PyMC and nutpie store them.
    name
        What the weights target, kept in the result (e.g. the other spec's name).

    Returns
    -------
    PriorReweighting

    Raises
    ------
    ValueError
        When the models have different free variables, or ``other``'s prior gives zero density
        to a draw.

    Notes
    -----
    ``log p_other(theta) - log p_base(theta)`` is evaluated by :func:`pymc.compute_log_prior`
    for the free variables whose prior log density differs only, so that thousands of unchanged
    group effects per draw are never evaluated twice. The raw ratios are smoothed by
    ``arviz_stats``' PSIS with the relative efficiency of the ratios over the chains
    (``r_eff``), as for PSIS-LOO.

    References
    ----------
    Vehtari, A., Simpson, D., Gelman, A., Yao, Y. and Gabry, J. (2024). Pareto smoothed
    importance sampling. *JMLR* 25(72): 1-58.
    """
    import arviz_stats as azs

    started = time.perf_counter()
    changed = _changed_variables(base, other)
    # PyMC reads every free variable's draws; draws still on disk (a lazy bundle) are read once
    # here instead of at every draw.
    draws = posterior[[rv.name for rv in base.free_RVs]].load()
    trace = xr.DataTree.from_dict({"posterior": draws})
    shape = (draws.sizes["chain"], draws.sizes["draw"])
    if changed:
        log_ratio = _log_prior(other, trace, changed) - _log_prior(base, trace, changed)
    else:
        log_ratio = xr.DataArray(np.zeros(shape), dims=SAMPLE_DIMS)
    values = log_ratio.to_numpy()
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"the other prior ({name or 'the second model'}) gives zero density to posterior "
            "draws: importance weights cannot move mass outside the fitted prior's support"
        )
    ratios = np.exp(values - values.max())
    r_eff = float(azs.ess(xr.DataArray(ratios, dims=SAMPLE_DIMS), method="mean")) / ratios.size
    # arviz_stats smooths the weights exp(-x) of its input x (PSIS-LOO passes the
    # log-likelihood): hence the minus sign.
    log_weights, pareto_k = (-log_ratio).azstats.psislw(dim=list(SAMPLE_DIMS), r_eff=r_eff)
    return PriorReweighting(
        spec_name=name,
        log_weights=log_weights.transpose(*SAMPLE_DIMS),
        pareto_k=float(pareto_k),
        threshold=psis_threshold(int(np.prod(shape))),
        changed=changed,
        seconds=time.perf_counter() - started,
    )


def reweight_prior(
    fit: Fit, spec: ModelSpec, data: pd.DataFrame, *, reuse: bool = False
) -> PriorReweighting:
    """Importance weights that turn ``fit``'s posterior into the posterior under ``spec``'s
    priors (:func:`reweight_draws` of the two specs' models).

    Parameters
    ----------
    fit
        A fit (NUTS draws) of a spec that differs from ``spec`` in its priors only.
    spec
        The spec with the other priors (e.g.
        :func:`grassroots.reporting.appendix.scale_priors` of ``fit.spec``).
    data
        The flat table ``fit`` was fitted to (``study.flat()``); both models are built on it with
        the fit's stored scaling, so that they differ only in their priors.
    reuse
        Keep the result in the fit's saved bundle (``reweighting-<spec name>.json``, listed in
        its manifest) and read it from there when ``spec``, the data and the packages that make
        the weights are unchanged: building and compiling both models' log priors takes seconds
        a spec. A stored result that fails its checksum or its key is computed again.

    Returns
    -------
    PriorReweighting
        Smoothed log weights with their Pareto ``k``; check :attr:`PriorReweighting.reliable`
        before using them in place of a refit. ``seconds`` includes building both models.

    Raises
    ------
    ValueError
        When the two specs differ in more than their priors (other free variables), or the fit
        is an approximate (ADVI) one, whose draws are not from the posterior.

    References
    ----------
    Vehtari, A., Simpson, D., Gelman, A., Yao, Y. and Gabry, J. (2024). Pareto smoothed
    importance sampling. *JMLR* 25(72): 1-58. Kallioinen, N. et al. (2023). Detecting and
    diagnosing prior and likelihood sensitivity with power-scaling. *Statistics and Computing*
    34(57).
    """
    if fit.diagnostics.approximate:
        raise ValueError(
            f"fit {fit.spec.name!r} is approximate ({fit.method}); importance weights need "
            "posterior draws (NUTS)"
        )
    started = time.perf_counter()
    saved = reuse and fit.path is not None and (fit.path / MANIFEST_FILE).is_file()
    if saved:
        key = _reweighting_key(fit, spec, data)
        stored = read_stored(fit.path, f"reweighting-{spec.name}.json")
        if stored is not None and stored.get("key") == key:
            return PriorReweighting(
                spec_name=stored["spec_name"],
                log_weights=xr.DataArray.from_dict(stored["log_weights"]),
                pareto_k=stored["pareto_k"], threshold=stored["threshold"],
                changed=tuple(stored["changed"]), seconds=time.perf_counter() - started,
            )  # fmt: skip
    base = build_model(fit.spec, prepare_inputs(fit.spec, data, fit.scaling)).model
    other = build_model(spec, prepare_inputs(spec, data, fit.scaling)).model
    result = reweight_draws(base, other, fit.posterior, name=spec.name)
    if saved:
        stored = {
            "key": key, "spec_name": result.spec_name, "pareto_k": result.pareto_k,
            "threshold": result.threshold, "changed": list(result.changed),
            "log_weights": result.log_weights.to_dict(data="list"),
        }  # fmt: skip
        # A read-only bundle still answers; it just computes again next time.
        with contextlib.suppress(OSError, BundleError):
            store_loo(fit.path, stored, file=f"reweighting-{spec.name}.json")
    return replace(result, seconds=time.perf_counter() - started)


def _reweighting_key(fit: Fit, spec: ModelSpec, data: pd.DataFrame) -> dict[str, Any]:
    """What stored weights must have been computed from: both specs, the data, the prior rules
    and the packages that build, evaluate and smooth the log priors."""
    from grassroots.data.identity import data_hash
    from grassroots.models.priors import PRIOR_RULES_VERSION

    versions = package_versions()
    return {
        "fit_spec_hash": fit.spec.hash(),
        "spec_hash": spec.hash(),
        "data_hash": data_hash(data),
        "prior_rules": PRIOR_RULES_VERSION,
        "versions": {name: versions.get(name) for name in (*DRAW_PACKAGES, "arviz-stats")},
    }
