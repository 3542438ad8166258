"""Terms of the model tables: late-effect keys, the panel a term belongs to, and the row label
of a main effect whose column also enters an interaction (what it is conditional on).

:func:`coefficient_label` and :func:`term_panel` are shared by the model tables, the forest
plots, the frequentist appendix and the theory crosswalk, so every one of them labels and groups
a term the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Lang
from grassroots.inference.fit_result import outcome_of
from grassroots.reporting.labels import note_text, term_label, text

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "COEFFICIENT_PANELS",
    "coefficient_label",
    "given_by_term",
    "given_words",
    "in_codebook",
    "interaction_given",
    "late_change_term",
    "late_term",
    "outcome_family",
    "outcome_of",
    "term_panel",
]

#: Panels of coefficient rows, in table order (keys of ``labels.TEXT["panel_<key>"]``): the
#: paper's concepts first (weaknesses, strengths, remedies, strategies, dilemmas), then the
#: interactions, then the controls. Every coefficient table and forest plot uses this order.
COEFFICIENT_PANELS: tuple[str, ...] = (
    "weaknesses",
    "strengths",
    "remedies",
    "strategies",
    "dilemmas",
    "interactions",
    "controls",
)
# Codebook role -> panel. short_sighted is an outcome (the dilemma of short-sighted innovation)
# elsewhere; when it predicts survival it is still that dilemma, not a strategy.
_ROLE_PANELS: Mapping[str, str] = {
    "weakness": "weaknesses",
    "strength": "strengths",
    "control": "controls",
    "remedy": "remedies",
    "mediator": "strategies",
    "outcome": "dilemmas",
}


# A late (time-varying) effect is keyed "<term>~after<onset>" (the ratio after the onset, main
# and late effect together) or "<term>~change<onset>" (the late coefficient alone: the ratio of
# the ratios after and before the onset), so it never collides with a design term (which cannot
# hold "~") and carries its onset to the label.
_LATE = re.compile(r"^(?P<term>.+)~(?P<kind>after|change)(?P<onset>[0-9.]+)$")

# --- terms, labels, panels -----------------------------------------------------------------------


def late_term(term: str, onset: float) -> str:
    """The key of a late effect: the ratio after the onset, main and late effect together.

    Examples
    --------
    >>> late_term("short_sighted", 12)
    'short_sighted~after12'
    """
    return f"{term}~after{onset:g}"


def late_change_term(term: str, onset: float) -> str:
    """The key of the late coefficient alone: how much the ratio changes at the onset.

    Examples
    --------
    >>> late_change_term("short_sighted", 12)
    'short_sighted~change12'
    """
    return f"{term}~change{onset:g}"


# --- what a main effect is when its column also enters an interaction ---------------------------
#
# The design (grassroots.models.design) standardises continuous columns (mean 0), keeps binary
# ones 0/1 and codes categorical ones against a reference level, and forms ``a:b`` from those
# columns as they are. So in a model with ``a:b`` the main effect of ``a`` is its effect where
# the ``b`` column is 0: at the mean of ``b`` if ``b`` is continuous, at ``b = 0`` if binary, at
# the reference level if categorical. A "given" names those conditions, one per other column,
# ``column=mean``, ``column=0`` or ``column=<reference level>``, joined by ``;``.

_GIVEN_SEP = ";"


def interaction_given(fit: Fit, outcome: str | None = None) -> dict[str, str]:
    """Main-effect term -> the condition under which the fit estimates it (see above); terms
    whose column enters no interaction are left out.

    Examples
    --------
    In ``survival_m4`` (``collaboration:authority``; authority standardised, collaboration 0/1)
    ``authority`` maps to ``"collaboration=0"`` and ``collaboration`` to ``"authority=mean"``.
    """
    name = outcome_of(fit, outcome)
    spec = fit.spec.outcome(name)
    scaling = fit.scaling.predictors
    conditions: dict[str, list[str]] = {}
    for parts in spec.interactions:
        for column in parts:
            for other in parts:
                if other == column:
                    continue
                how = scaling[other]
                value = {"continuous": "mean", "binary": "0"}.get(how.kind, how.reference or "")
                conditions.setdefault(column, [])
                if f"{other}={value}" not in conditions[column]:
                    conditions[column].append(f"{other}={value}")
    return {
        term: _GIVEN_SEP.join(conditions[column])
        for column in conditions
        for term in scaling[column].terms
    }


def given_words(given: str, lang: Lang = "en") -> str:
    """A given (:func:`interaction_given`) in words.

    Examples
    --------
    >>> given_words("collaboration=0")
    'at Cross-department collaboration = 0'
    >>> given_words("authority=mean", "zh")
    '权力取均值时'
    """
    pieces = []
    for condition in filter(None, given.split(_GIVEN_SEP)):
        column, value = condition.split("=", 1)
        label = term_label(column, lang)
        if value == "mean":
            pieces.append(note_text("condition_mean", lang, label=label))
            continue
        if value not in ("0", "1") and in_codebook(column):
            value = schema.variable(column).level_label(value, lang)
        pieces.append(note_text("condition_value", lang, label=label, value=value))
    return note_text("sep_conditions", lang).join(pieces)


def given_by_term(estimates: pd.DataFrame) -> dict[str, str]:
    """Term -> the condition its row label states, for a display of several models (Tables 2-4,
    the forest plots): the given itself when every model with the term shares it, else
    ``"<model>@<given>|..."`` for the models that have one (M4 conditions what M1-M3 do not)."""
    if "given" not in estimates.columns:
        return {}
    result = {}
    for term, part in estimates.groupby("term", sort=False):
        givens = dict(zip(part["model"], part["given"].fillna(""), strict=True))
        if not any(givens.values()):
            continue
        if len(set(givens.values())) == 1:
            result[str(term)] = next(iter(givens.values()))
        else:
            result[str(term)] = "|".join(f"{m}@{g}" for m, g in givens.items() if g)
    return result


def coefficient_label(term: str, lang: Lang = "en", *, given: str = "") -> str:
    """:func:`~grassroots.reporting.labels.term_label`, plus late effects and, for a main effect
    of a column in an interaction, the condition it holds at (``given``: an
    :func:`interaction_given` value, or :func:`given_by_term`'s per-model form).

    Examples
    --------
    >>> coefficient_label("short_sighted~after12")
    'Short-sighted innovation, after month 12'
    >>> coefficient_label("short_sighted~change12")
    'Short-sighted innovation, change after month 12 (ratio of HRs)'
    >>> coefficient_label("region[west]", "zh")
    '地区：西部'
    >>> coefficient_label("authority", given="collaboration=0")
    'Authority (at Cross-department collaboration = 0)'
    >>> coefficient_label("authority", "zh", given="M4@collaboration=0")
    '权力（M4：跨部门协作机制 = 0 时）'
    """
    if match := _LATE.match(term):
        key = "late_effect" if match["kind"] == "after" else "late_change"
        label = text(key, lang).format(label=term_label(match["term"], lang), onset=match["onset"])
    else:
        label = term_label(term, lang)
    if not given:
        return label
    if "@" in given:
        words = note_text("sep_clauses", lang).join(
            note_text("condition_model", lang, model=model, words=given_words(g, lang))
            for model, g in (piece.split("@", 1) for piece in given.split("|"))
        )
    else:
        words = given_words(given, lang)
    return note_text("parenthesised", lang, label=label, inner=words)


def term_panel(term: str) -> str:
    """The panel of a coefficient: ``interactions`` for ``a:b``, else from the codebook role of
    its column (a column outside the codebook is a control).

    Examples
    --------
    >>> [term_panel(t) for t in ["authority", "proximity", "collaboration", "region[west]",
    ...                          "extensive", "collaboration:authority", "short_sighted~after12"]]
    ['weaknesses', 'strengths', 'remedies', 'controls', 'strategies', 'interactions', 'dilemmas']
    """
    if match := _LATE.match(term):
        term = match["term"]
    if ":" in term:
        return "interactions"
    column = term.split("[", 1)[0]
    try:
        role = schema.variable(column).role
    except KeyError:
        return "controls"
    return _ROLE_PANELS.get(role, "controls")


def outcome_family(fit: Fit, outcome: str) -> str:
    """The likelihood family (``survival``, ``ordinal``, ``logistic``) of one outcome of a fit."""
    return fit.spec.outcome(outcome).family


def in_codebook(column: str) -> bool:
    """Whether the codebook knows ``column`` (a user's extra column keeps its raw name)."""
    try:
        schema.variable(column)
    except KeyError:
        return False
    return True
