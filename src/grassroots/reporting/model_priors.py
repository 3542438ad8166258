"""Priors in the model tables: each spec's prior declarations resolved as the builder resolves
them, printed as "Normal(μ=0, σ=1)", and the sentence of a table note that lists them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from grassroots.data.schema import Lang
from grassroots.models.priors import resolve_lkj_eta, resolve_prior
from grassroots.reporting.labels import NOTES, level_name, note_text
from grassroots.reporting.model_terms import outcome_of

if TYPE_CHECKING:
    from grassroots.inference import Fit
    from grassroots.models import ModelSpec
    from grassroots.models.priors import Prior

__all__ = [
    "format_prior",
    "prior_declarations",
    "priors_sentence",
    "role_label",
]

# --- priors --------------------------------------------------------------------------------------

_GREEK = {"mu": "μ", "sigma": "σ", "lam": "λ", "nu": "ν", "alpha": "α", "beta": "β", "b": "b"}


def format_prior(prior: Prior | float) -> str:
    """A prior as a reader sees it: ``Normal(μ=0, σ=1)``; a bare number (``lkj_eta``) as is.

    Examples
    --------
    >>> from grassroots.models.priors import Prior
    >>> format_prior(Prior("HalfNormal", {"sigma": 1.0}))
    'HalfNormal(σ=1)'
    """
    if isinstance(prior, int | float):
        return f"{prior:g}"
    args = ", ".join(f"{_GREEK.get(k, k)}={v:g}" for k, v in prior.params.items())
    return f"{prior.dist}({args})"


def _family_roles(outcome: Any) -> list[str]:
    if outcome.family == "survival":
        if outcome.baseline is not None and outcome.baseline.kind == "weibull":
            return ["weibull_shape", "weibull_scale"]
        return ["log_hazard", "log_hazard_step"]
    return ["cutpoints"] if outcome.family == "ordinal" else ["intercept"]


def prior_declarations(spec: ModelSpec) -> pd.DataFrame:
    """The prior of every parameter role of a spec, resolved as the model builder resolves it.

    Returns
    -------
    DataFrame
        Columns ``model`` (spec name), ``outcome``, ``role`` (``beta``, ``sd``, ``log_hazard`` ...),
        ``level`` (grouping level of an ``sd``, else ""), ``prior`` (:func:`format_prior`) and
        ``source`` (``spec`` when the spec declares it, else ``default``).
    """
    rows = []

    def add(outcome: str, role: str, level: str | None, tables: tuple[Mapping, ...]) -> None:
        if role == "lkj_eta":
            value: Prior | float = resolve_lkj_eta(*tables)
            keys = ["lkj_eta"]
        else:
            value = resolve_prior(role, *tables, level=level)
            keys = [f"sd_{level}", "sd"] if role == "sd" else [role]
        declared = any(key in table for key in keys for table in tables)
        rows.append(
            {
                "model": spec.name,
                "outcome": outcome,
                "role": role,
                "level": level or "",
                "prior": format_prior(value),
                "source": "spec" if declared else "default",
            }
        )

    for outcome in spec.outcomes:
        tables = (spec.priors, outcome.priors)
        if outcome.predictors or outcome.time_varying:
            add(outcome.name, "beta", None, tables)
        for role in _family_roles(outcome):
            add(outcome.name, role, None, tables)
        for level in spec.levels:
            if level != spec.correlated:
                add(outcome.name, "sd", level, tables)
    if spec.correlated is not None:
        # The correlated level's SDs and LKJ prior are shared by every outcome (spec-wide table).
        add("", "sd", spec.correlated, (spec.priors,))
        add("", "lkj_eta", spec.correlated, (spec.priors,))
    return pd.DataFrame(rows, columns=["model", "outcome", "role", "level", "prior", "source"])


# The roles of the priors, in the order the notes list them (their words: labels.NOTES).
_ROLES = (
    "beta", "intercept", "cutpoints", "log_hazard", "log_hazard_step", "weibull_shape",
    "weibull_scale", "sd", "lkj_eta",
)  # fmt: skip


def role_label(role: str, level: str = "", lang: Lang = "en") -> str:
    """Words for a prior role (``"sd"``, ``"township"`` -> ``"SD of township effects"``)."""
    if f"prior_role_{role}" not in NOTES:
        return role
    return note_text(f"prior_role_{role}", lang, level=level_name(level, lang) if level else "")


def priors_sentence(fits: Mapping[str, Fit], lang: Lang, outcome: str | None = None) -> str:
    """ "coefficients Normal(μ=0, σ=1); SD of county effects HalfNormal(σ=1); ...", naming the
    models when a role's prior differs between them. Only the reported outcome's priors (and
    the shared ones of a correlated level) are listed."""
    frames = []
    for model, fit in fits.items():
        declared = prior_declarations(fit.spec).assign(model=model)
        name = outcome_of(fit, outcome)
        frames.append(declared[declared["outcome"].isin([name, ""])])
    table = pd.concat(frames, ignore_index=True)
    # Coefficients first, then the family's own parameters, then the group SDs.
    table["rank"] = table["role"].map({role: k for k, role in enumerate(_ROLES)})
    table = table.sort_values("rank", kind="stable")
    pieces = []
    for (role, level), part in table.groupby(["role", "level"], sort=False):
        priors = list(dict.fromkeys(part["prior"]))
        label = role_label(str(role), str(level), lang)
        if len(priors) == 1:
            pieces.append(f"{label} {priors[0]}")
            continue
        by_prior = [
            f"{prior} ({', '.join(dict.fromkeys(part.loc[part['prior'] == prior, 'model']))})"
            for prior in priors
        ]
        pieces.append(f"{label} {', '.join(by_prior)}")
    return note_text("sep_clauses", lang).join(pieces)
