"""Prior declarations and the one place that turns them into PyMC variables.

Every model parameter has a *role* (``beta``, ``sd``, ``cutpoints`` ...). A role's default prior
is in :data:`DEFAULT_PRIORS`; a spec overrides it in its ``[priors]`` table (for all outcomes) or in
``[outcomes.<name>.priors]`` (for one outcome of a joint model), e.g.::

    [priors]
    beta = { dist = "Normal", mu = 0, sigma = 0.5 }
    sd_township = { dist = "Exponential", lam = 2 }
    lkj_eta = 4

The defaults are weakly informative on the package's scales: continuous predictors are
standardised (mean 0, SD 1), binary predictors are 0/1, categorical ones are dummies against a
reference level, and survival times are in months.

============== ============================= ===================================================
role           default                       why
============== ============================= ===================================================
beta           Normal(0, 1) per SD of the    log hazard / log odds ratio per SD; a ratio of
               term, i.e. Normal(0, 1/sd(x)) e^2 ~ 7.4 per SD sits at 2 prior SDs. Per unit
               per unit of a 0/1 or dummy    change of a 0/1 or dummy term x this is
               term                          Normal(0, 1/sd(x)): Normal(0, 2) for a balanced
                                             0/1 term, wider for a rare one
intercept      Normal(0, 2.5)                logistic intercept at the average profile: base
                                             rates from ~1% to ~99%
cutpoints      InducedDirichlet(alpha=1)     cumulative-logit cut points at the average
                                             profile, through the category probabilities
                                             there: Dirichlet(1, ..., 1), uniform on the
                                             simplex for any number of levels
sd             HalfNormal(1)                 SD of group effects (log hazard / logit scale);
                                             ``sd_<level>`` overrides it for one level
log_hazard     Normal(-4, 1.5)               piecewise baseline: log events per month in the
                                             first interval at the average profile: e^-4 ~ 1/55
                                             per month, 95% range 1/1100 to 1/3 per month
log_hazard_    Normal(0, 0.5)                change of the log hazard from one interval to the
step                                         next (a random walk: adjacent intervals similar)
weibull_shape  LogNormal(0, 0.5)             Weibull shape: 0.37 to 2.7 (falling to rising
                                             hazard)
weibull_scale  LogNormal(4.1, 1)             Weibull scale in months at the average profile
                                             (e^4.1 ~ 60; 95% range 8 to 430 months)
lkj_eta        2                             LKJ prior on the correlation of group effects
                                             across outcomes; mildly favours small correlations
============== ============================= ===================================================

**Coefficients are autoscaled.** The ``beta`` prior (default or declared) is stated per SD of
the design term and divided by the term's SD on the fitted data
(:meth:`grassroots.models.design.Scaling.term_sd`): standardised columns keep it as declared, a
0/1 or dummy column with SD ``s`` gets its location and scale divided by ``s`` per unit change,
an interaction by the product of its parts' SDs. This is rstanarm's rule (``autoscale = TRUE``:
"the scales of the priors on the coefficients are multiplied by 1/sd(x)"; Gabry & Goodrich,
*Prior Distributions for rstanarm Models*), which bambi's default priors share (slope scale
``2.5 * sd(y) / sd(x)``, Capretto et al. 2022); without it a Normal(0, 1) meant per SD shrinks a
0/1 contrast, whose SD is at most 0.5, twice as hard. The ``beta`` role therefore takes a
location-scale distribution (Normal, StudentT, Cauchy, Laplace).

**Cut points** default to the prior induced on them by a Dirichlet prior on the category
probabilities at the average profile (Betancourt 2019, *Ordinal Regression*, "induced Dirichlet";
rstanarm's ``stan_polr`` puts its Dirichlet prior on the same probabilities at the predictors'
means). Unlike a fixed Normal(0, 2.5), it scales with the number of levels: with K equally likely
levels the cut points sit around ``logit(k / K)``, so a 9-level rating is not squeezed into the
range a 3-level one needs. A spec may still declare e.g. ``cutpoints = { dist = "Normal", mu = 0,
sigma = 3 }`` (an ordered Normal).

Baselines, intercepts and cut points are sampled at the *average* covariate profile (every design
column centred), where they barely trade off against the coefficients; the fit reports them at
the reference profile (every design column 0). Survival data in other units (days, years) should
override ``log_hazard`` and ``weibull_scale``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats
from scipy.special import logit

from grassroots.models.exceptions import SpecError

# The distributions a spec may name. A whitelist keeps specs portable and lets errors list choices.
DISTRIBUTIONS: dict[str, type] = {
    "Normal": pm.Normal,
    "StudentT": pm.StudentT,
    "Cauchy": pm.Cauchy,
    "Laplace": pm.Laplace,
    "LogNormal": pm.LogNormal,
    "Gamma": pm.Gamma,
    "HalfNormal": pm.HalfNormal,
    "HalfStudentT": pm.HalfStudentT,
    "HalfCauchy": pm.HalfCauchy,
    "Exponential": pm.Exponential,
    "InverseGamma": pm.InverseGamma,
    "Uniform": pm.Uniform,
}

#: Version of the rules that turn declared priors into model priors (autoscaling, cut points);
#: part of a fit bundle's key, so that a fit made under other rules is refitted, not reused.
#: 2: coefficient priors autoscaled per term, induced-Dirichlet cut points (issue 13).
PRIOR_RULES_VERSION = 2

#: The cut-point prior induced by a Dirichlet on the category probabilities (cut points only).
INDUCED_DIRICHLET = "InducedDirichlet"

# Parameters that must be positive, per distribution (a negative SD is a typo, not a prior).
POSITIVE_PARAMETERS: dict[str, frozenset[str]] = {
    "Normal": frozenset({"sigma", "tau"}),
    "StudentT": frozenset({"nu", "sigma", "lam"}),
    "Cauchy": frozenset({"beta"}),
    "Laplace": frozenset({"b"}),
    "LogNormal": frozenset({"sigma", "tau"}),
    "Gamma": frozenset({"alpha", "beta", "mu", "sigma"}),
    "HalfNormal": frozenset({"sigma", "tau"}),
    "HalfStudentT": frozenset({"nu", "sigma", "lam"}),
    "HalfCauchy": frozenset({"beta"}),
    "Exponential": frozenset({"lam", "scale"}),
    "InverseGamma": frozenset({"alpha", "beta", "mu", "sigma"}),
    "Uniform": frozenset(),
    INDUCED_DIRICHLET: frozenset({"alpha"}),
}

# Coefficient priors are rescaled per term (autoscaling), so they must be location-scale
# families: per distribution, its location, scale and precision parameters.
LOCATION_SCALE: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "Normal": (frozenset({"mu"}), frozenset({"sigma"}), frozenset({"tau"})),
    "StudentT": (frozenset({"mu"}), frozenset({"sigma"}), frozenset({"lam"})),
    "Cauchy": (frozenset({"alpha"}), frozenset({"beta"}), frozenset()),
    "Laplace": (frozenset({"mu"}), frozenset({"b"}), frozenset()),
}

# Roles whose prior must live on the positive half-line (they are scales).
POSITIVE_ROLES = frozenset({"sd", "weibull_shape", "weibull_scale"})
POSITIVE_DISTRIBUTIONS = frozenset(
    {
        "LogNormal",
        "Gamma",
        "HalfNormal",
        "HalfStudentT",
        "HalfCauchy",
        "Exponential",
        "InverseGamma",
    }
)


@dataclass(frozen=True)
class Prior:
    """A prior declaration: a PyMC distribution name and its parameters.

    Parameters
    ----------
    dist : str
        Name of a distribution in :data:`DISTRIBUTIONS`, e.g. ``"Normal"``.
    params : Mapping[str, float]
        Keyword parameters of that distribution, e.g. ``{"mu": 0, "sigma": 1}``.

    Examples
    --------
    >>> Prior("Normal", {"mu": 0, "sigma": 1})
    Prior(Normal(mu=0, sigma=1))
    """

    dist: str
    params: Mapping[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value:g}" for key, value in self.params.items())
        return f"Prior({self.dist}({args}))"

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **{key: float(value) for key, value in self.params.items()}}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any], *, where: str) -> Prior:
        """Validate a spec's prior table (``{dist = "Normal", mu = 0, sigma = 1}``).

        Parameters
        ----------
        value : Mapping
            The table from the spec.
        where : str
            ``"<file>: key 'priors.beta'"``, prefixed to every error message.
        """
        if not isinstance(value, Mapping):
            raise SpecError(
                f'{where}: a prior is a table such as {{ dist = "Normal", mu = 0, sigma = 1 }}, '
                f"not {value!r}"
            )
        params = dict(value)
        dist = params.pop("dist", None)
        if dist not in DISTRIBUTIONS and dist != INDUCED_DIRICHLET:
            raise SpecError(
                f"{where}: unknown or missing 'dist' {dist!r}; "
                f"choose one of {sorted([*DISTRIBUTIONS, INDUCED_DIRICHLET])}"
            )
        allowed = _parameter_names(dist)
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise SpecError(
                f"{where}: {dist} has no parameter(s) {unknown}; "
                f"its parameters are {sorted(allowed)}"
            )
        for key, number in params.items():
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise SpecError(f"{where}: parameter {key!r} must be a number, not {number!r}")
            if not math.isfinite(number):
                raise SpecError(f"{where}: parameter {key!r} must be finite, not {number!r}")
            if key in POSITIVE_PARAMETERS[dist] and number <= 0:
                raise SpecError(
                    f"{where}: {dist} parameter {key!r} is a scale and must be positive, not "
                    f"{number!r}"
                )
        if dist == "Uniform" and params.get("lower", 0.0) >= params.get("upper", 1.0):
            raise SpecError(f"{where}: Uniform needs lower < upper, not {params}")
        return cls(dist, {key: float(number) for key, number in params.items()})

    def create(self, name: str, *, dims: str | tuple[str, ...] | None = None, **kwargs: Any):
        """Create the PyMC random variable ``name`` in the model on the context stack."""
        return DISTRIBUTIONS[self.dist](name, **self.params, dims=dims, **kwargs)

    def unnamed(self, **kwargs: Any):
        """An unnamed distribution (``.dist``), e.g. for ``LKJCholeskyCov(sd_dist=...)``."""
        return DISTRIBUTIONS[self.dist].dist(**self.params, **kwargs)


def _parameter_names(dist: str) -> set[str]:
    if dist == INDUCED_DIRICHLET:
        return {"alpha"}
    signature = inspect.signature(DISTRIBUTIONS[dist].dist)
    skip = {"cls", "args", "kwargs", "size", "shape", "dims", "rng"}
    return {
        name
        for name, param in signature.parameters.items()
        if name not in skip and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    }


DEFAULT_PRIORS: dict[str, Prior] = {
    "beta": Prior("Normal", {"mu": 0.0, "sigma": 1.0}),
    "intercept": Prior("Normal", {"mu": 0.0, "sigma": 2.5}),
    "cutpoints": Prior(INDUCED_DIRICHLET, {"alpha": 1.0}),
    "sd": Prior("HalfNormal", {"sigma": 1.0}),
    "log_hazard": Prior("Normal", {"mu": -4.0, "sigma": 1.5}),
    "log_hazard_step": Prior("Normal", {"mu": 0.0, "sigma": 0.5}),
    "weibull_shape": Prior("LogNormal", {"mu": 0.0, "sigma": 0.5}),
    "weibull_scale": Prior("LogNormal", {"mu": 4.1, "sigma": 1.0}),
}
DEFAULT_LKJ_ETA = 2.0
SCALAR_ROLES = frozenset({"lkj_eta"})


def validate_priors(
    table: Any, *, where: str, key: str = "priors", levels: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Validate a ``[priors]`` table; return role -> :class:`Prior` (or float for ``lkj_eta``).

    Parameters
    ----------
    table : Any
        The spec's table.
    where : str
        The spec file, prefixed to every error message.
    key : str
        The table's key in the spec (``priors`` or ``outcomes.<name>.priors``).
    levels : tuple of str
        Names of the spec's grouping levels (``sd_<level>`` keys are allowed for them).
    """
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: key '{key}' must be a table of role = {{ dist = ..., ... }}")
    roles = set(DEFAULT_PRIORS) | SCALAR_ROLES | {f"sd_{level}" for level in levels}
    result: dict[str, Any] = {}
    for role, value in table.items():
        key_where = f"{where}: key '{key}.{role}'"
        if role not in roles:
            raise SpecError(
                f"{key_where}: unknown prior role {role!r}; known roles are {sorted(roles)}"
            )
        if role in SCALAR_ROLES:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SpecError(f"{key_where}: must be a positive number, not {value!r}")
            result[role] = float(value)
            continue
        prior = Prior.from_dict(value, where=key_where)
        base_role = "sd" if role.startswith("sd_") else role
        if base_role == "beta" and prior.dist not in LOCATION_SCALE:
            raise SpecError(
                f"{key_where}: coefficient priors are stated per SD of a term and rescaled per "
                f"term, so they need a location-scale distribution: one of "
                f"{sorted(LOCATION_SCALE)}, not {prior.dist}"
            )
        if prior.dist == INDUCED_DIRICHLET and base_role != "cutpoints":
            raise SpecError(f"{key_where}: {INDUCED_DIRICHLET} is a prior for cut points only")
        if base_role in POSITIVE_ROLES and prior.dist not in POSITIVE_DISTRIBUTIONS:
            raise SpecError(
                f"{key_where}: a {base_role} must be positive; use one of "
                f"{sorted(POSITIVE_DISTRIBUTIONS)}, not {prior.dist}"
            )
        result[role] = prior
    return result


def resolve_prior(role: str, *tables: Mapping[str, Any], level: str | None = None) -> Prior:
    """The prior of ``role``: the last table that declares it wins, then the package default.

    For ``role="sd"`` with a ``level``, a ``sd_<level>`` entry beats a plain ``sd`` entry.
    """
    keys = [f"sd_{level}", "sd"] if role == "sd" and level is not None else [role]
    for key in keys:
        for table in reversed(tables):
            if key in table:
                return table[key]
    return DEFAULT_PRIORS[role]


def resolve_lkj_eta(*tables: Mapping[str, Any]) -> float:
    for table in reversed(tables):
        if "lkj_eta" in table:
            return float(table["lkj_eta"])
    return DEFAULT_LKJ_ETA


# ---------------------------------------------------------------------------------------------
# Coefficients (autoscaled per term) and cut points (induced Dirichlet)


def per_term(prior: Prior, term_sd: float | np.ndarray) -> dict[str, Any]:
    """The parameters of ``prior`` (stated per SD of a term) per unit of a term of SD
    ``term_sd``: locations and scales divided by it, precisions multiplied by its square.

    Examples
    --------
    >>> per_term(Prior("Normal", {"mu": 0.0, "sigma": 1.0}), 0.5)
    {'mu': 0.0, 'sigma': 2.0}
    """
    if prior.dist not in LOCATION_SCALE:
        raise SpecError(
            f"coefficient prior {prior!r} is not a location-scale distribution "
            f"({sorted(LOCATION_SCALE)}); it cannot be stated per SD of a term"
        )
    locations, scales, precisions = LOCATION_SCALE[prior.dist]
    sd = np.asarray(term_sd, dtype=float)
    if np.any(~np.isfinite(sd)) or np.any(sd <= 0):
        raise ValueError(f"term SDs must be positive and finite, not {sd.tolist()}")
    result: dict[str, Any] = {}
    for key, value in prior.params.items():
        if key in locations or key in scales:
            scaled = value / sd
        elif key in precisions:
            scaled = value * sd**2
        else:
            scaled = np.full(sd.shape, value)
        result[key] = scaled if scaled.ndim else float(scaled)
    return result


def coefficient_prior(prior: Prior, name: str, *, dims: str, term_sds: np.ndarray):
    """Create the coefficients ``name`` (dims ``dims``), ``prior`` autoscaled per term."""
    return DISTRIBUTIONS[prior.dist](name, **per_term(prior, np.asarray(term_sds)), dims=dims)


def prior_sd(prior: Prior) -> float:
    """The SD of a coefficient prior (``inf`` when it has none, e.g. Cauchy or StudentT with
    ``nu <= 2``)."""
    params = per_term(prior, 1.0)
    if prior.dist == "Normal":
        sigma = params.get("sigma", 1 / math.sqrt(params["tau"]) if "tau" in params else 1.0)
        frozen = stats.norm(scale=sigma)
    elif prior.dist == "StudentT":
        sigma = params.get("sigma", 1 / math.sqrt(params["lam"]) if "lam" in params else 1.0)
        frozen = stats.t(params["nu"], scale=sigma)
    elif prior.dist == "Laplace":
        frozen = stats.laplace(scale=params["b"])
    else:
        return math.inf
    value = float(frozen.std())
    return value if math.isfinite(value) else math.inf


def _induced_dirichlet_logp(value, template, alpha):
    # Density of the category probabilities p(c) under Dirichlet(alpha, ..., alpha), times the
    # Jacobian of c -> p: the map c -> sigmoid(c) is diagonal with derivative q (1 - q), and
    # cumulative -> category probabilities is triangular with a unit diagonal (Betancourt 2019).
    q = pt.sigmoid(value)
    p = pt.concatenate([q[..., :1], pt.diff(q, axis=-1), 1 - q[..., -1:]], axis=-1)
    k = value.shape[-1] + 1
    dirichlet = pt.gammaln(k * alpha) - k * pt.gammaln(alpha) + ((alpha - 1) * pt.log(p)).sum(-1)
    jacobian = (-pt.softplus(-value) - pt.softplus(value)).sum(-1)
    return dirichlet + jacobian


def _induced_dirichlet_random(template, alpha, rng=None, size=None):
    k = np.shape(template)[-1] + 1
    probabilities = rng.dirichlet(np.full(k, float(alpha)), size=size)
    return logit(np.cumsum(probabilities, axis=-1)[..., :-1])


def cutpoint_prior(prior: Prior, name: str, *, dims: str, n_cut: int):
    """Create ``n_cut`` ordered cut points ``name``: an induced Dirichlet, or an ordered
    ``prior`` (e.g. Normal)."""
    ordered = pm.distributions.transforms.ordered
    if prior.dist != INDUCED_DIRICHLET:
        return prior.create(name, dims=dims, transform=ordered)
    return pm.CustomDist(
        name,
        np.zeros(n_cut),
        float(prior.params.get("alpha", 1.0)),
        logp=_induced_dirichlet_logp,
        random=_induced_dirichlet_random,
        # The zeros only carry the number of cut points into the random generator's signature.
        signature="(c),()->(c)",
        transform=ordered,
        dims=dims,
    )
