"""Prior dominance: how far the data moved each coefficient away from its prior.

For every coefficient (``beta`` and ``beta_late``) the check compares the posterior SD with the
prior SD of that term (the autoscaled prior the model used, see
:func:`grassroots.models.priors.coefficient_prior`). The ratio is the posterior-to-prior SD
ratio of the prior-sensitivity literature: Gelman's rule of thumb (Gelman, Simpson & Betancourt
2017, "The prior can often only be understood in the context of the likelihood"; implemented as
``bayestestR::check_prior(method = "gelman")`` for rstanarm and brms fits) calls a prior
*informative* once the ratio exceeds 0.1.

The package warns at a stronger level, :data:`PRIOR_DOMINANCE_THRESHOLD` = 0.5, where the prior
*dominates*: with a normal likelihood the squared ratio is the prior's share of the posterior
precision, so above 0.5 the prior carries more than a quarter of it and pulls the estimate at
least a quarter of the way to the prior mean (the size of the shrinkage that issue 13 saw on
small real data sets). It is also where ``dsge::prior_posterior_update`` stops calling an update
"strong". Ratios above 0.1 but below 0.5 are shown in :meth:`Fit.summary` (column
``prior_sd_ratio``) without a warning: county-level effects estimated from a few dozen counties
routinely sit there.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from grassroots._warnings import warn_caller
from grassroots.inference.diagnostics import flatten
from grassroots.models.design import Scaling
from grassroots.models.priors import prior_sd, resolve_prior
from grassroots.models.spec import ModelSpec

#: Posterior SD / prior SD above which a coefficient's prior dominates its posterior (see the
#: module docstring for the reasons and sources).
PRIOR_DOMINANCE_THRESHOLD = 0.5
_COEFFICIENTS = (("beta", "term"), ("beta_late", "late_term"))


class PriorDominanceWarning(UserWarning):
    """A coefficient's posterior SD exceeds :data:`PRIOR_DOMINANCE_THRESHOLD` times its prior SD:
    the estimate mostly restates the prior."""


def coefficient_prior_sds(
    spec: ModelSpec, scaling: Scaling, coords: Mapping[str, object]
) -> pd.Series:
    """The prior SD of every coefficient, per unit of its term, as the model built it.

    Parameters
    ----------
    spec, scaling
        The fitted spec and the scaling learnt from the fitted data.
    coords
        Coordinates holding ``<outcome>_term`` and ``<outcome>_late_term`` (a posterior's, or
        the fit's model coordinates).

    Returns
    -------
    Series
        Indexed ``<outcome>_beta[<term>]`` (and ``_beta_late``), as :meth:`Fit.summary` is.
    """
    values: dict[str, float] = {}
    for outcome in spec.outcomes:
        per_sd = prior_sd(resolve_prior("beta", spec.priors, outcome.priors))
        for parameter, dim in _COEFFICIENTS:
            terms = coords.get(f"{outcome.name}_{dim}")
            if terms is None:
                continue
            for term in np.asarray(terms).tolist():
                values[f"{outcome.name}_{parameter}[{term}]"] = per_sd / scaling.term_sd(term)
    return pd.Series(values, dtype=float)


def prior_dominance(fit) -> pd.DataFrame:
    """Posterior SD, prior SD and their ratio for every coefficient of a fit.

    Returns
    -------
    DataFrame
        Index as :meth:`Fit.summary`; columns ``posterior_sd``, ``prior_sd``, ``ratio`` and
        ``dominated`` (ratio > :data:`PRIOR_DOMINANCE_THRESHOLD`).
    """
    posterior = fit.posterior
    coords = {name: posterior.coords[name].values for name in posterior.coords}
    prior = coefficient_prior_sds(fit.spec, fit.scaling, coords)
    names = sorted({label.split("[", 1)[0] for label in prior.index})
    posterior_sd = (
        flatten(posterior[names].std(("chain", "draw"), ddof=1)).reindex(prior.index)
        if names
        else pd.Series(dtype=float)
    )
    frame = pd.DataFrame({"posterior_sd": posterior_sd, "prior_sd": prior})
    frame["ratio"] = frame["posterior_sd"] / frame["prior_sd"]
    frame["dominated"] = frame["ratio"] > PRIOR_DOMINANCE_THRESHOLD
    return frame


def dominated_terms(fit) -> list[str]:
    """Labels (``<outcome>_beta[<term>]``) of the coefficients whose prior dominates."""
    frame = prior_dominance(fit)
    return frame.index[frame["dominated"]].tolist()


def warn_prior_dominance(fit, name: str | None = None) -> None:
    """Issue a :class:`PriorDominanceWarning` naming every dominated coefficient, if any."""
    frame = prior_dominance(fit)
    dominated = frame[frame["dominated"]]
    if dominated.empty:
        return
    listed = ", ".join(f"{label} ({ratio:.2f})" for label, ratio in dominated["ratio"].items())
    warn_caller(
        f"{name or fit.spec.name}: the prior dominates {len(dominated)} coefficient(s) "
        f"(posterior SD > {PRIOR_DOMINANCE_THRESHOLD:g} x prior SD): {listed}. Their estimates "
        "mostly restate the prior; report them as such, or collect more data.",
        PriorDominanceWarning,
    )
