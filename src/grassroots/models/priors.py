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
beta           Normal(0, 1)                  log hazard / log odds ratio per SD; a ratio of
                                             e^2 ~ 7.4 per SD sits at 2 prior SDs
intercept      Normal(0, 2.5)                logistic intercept at the average profile: base
                                             rates from ~1% to ~99%
cutpoints      Normal(0, 2.5), ordered       cumulative-logit cut points at the average profile
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

import pymc as pm

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
        if dist not in DISTRIBUTIONS:
            raise SpecError(
                f"{where}: unknown or missing 'dist' {dist!r}; "
                f"choose one of {sorted(DISTRIBUTIONS)}"
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
        return cls(dist, {key: float(number) for key, number in params.items()})

    def create(self, name: str, *, dims: str | tuple[str, ...] | None = None, **kwargs: Any):
        """Create the PyMC random variable ``name`` in the model on the context stack."""
        return DISTRIBUTIONS[self.dist](name, **self.params, dims=dims, **kwargs)

    def unnamed(self, **kwargs: Any):
        """An unnamed distribution (``.dist``), e.g. for ``LKJCholeskyCov(sd_dist=...)``."""
        return DISTRIBUTIONS[self.dist].dist(**self.params, **kwargs)


def _parameter_names(dist: str) -> set[str]:
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
    "cutpoints": Prior("Normal", {"mu": 0.0, "sigma": 2.5}),
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
