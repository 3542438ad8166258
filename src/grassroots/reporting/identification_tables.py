"""Tables 5a and 5b: what each contrast of Table 5 assumes, and how robust it is.

* :func:`table5a_assumptions` reads :func:`grassroots.estimands.identification.assumptions`
  (one row per scenario and outcome) and its :func:`~grassroots.estimands.identification.
  positivity` evidence (one row per scenario and changed column);
* :func:`table5b_sensitivity` reads :func:`grassroots.estimands.sensitivity.sensitivity`'s
  table (one row per scenario and outcome quantity: the contrast, its risk ratio and E-values).

Both have one panel per scenario, as Table 5, in English or Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.scenarios import ROW_LEVEL
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.estimand_labels import quantity_label
from grassroots.reporting.labels import (
    NOTES,
    level_name,
    level_plural,
    note_text,
    percent,
    term_label,
    text,
)
from grassroots.reporting.tables import PANEL, Table, format_estimate

__all__ = ["table5a_assumptions", "table5b_sensitivity"]

_ASSUMPTION_COLUMNS = (
    "scenario", "outcome", "levels", "adjustment", "backdoor_valid", "mediator_valid",
)  # fmt: skip
_POSITIVITY_COLUMNS = ("scenario", "variable", "level", "units", "kind", "share")
_SENSITIVITY_COLUMNS = (
    "scenario", "outcome", "quantity", "median", "lower", "upper", "rr_scale", "rr",
    "rr_lower", "rr_upper", "e_value", "e_value_limit",
)  # fmt: skip


def _check(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    if missing := [c for c in required if c not in frame.columns]:
        raise ValueError(
            f"{what} needs columns {list(required)}; missing {missing} (has {list(frame.columns)})"
        )


def _panel(scenario: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(scenario, scenario)


def _units(level: str, lang: Lang) -> str:
    if level == ROW_LEVEL:
        return note_text("projects", lang)
    return level_plural(level, lang)


def _group_effect_words(node: str, lang: Lang) -> str:
    level = node.removesuffix("_effect")
    words = text("group_effect_node", lang).format(level=level_name(level, lang))
    return words if lang == "zh" else words.lower()


def _remedy_cell(row: pd.Series, lang: Lang) -> str:
    adjustment = [a.strip() for a in str(row["adjustment"]).split(",") if a.strip()]
    latent = [a for a in adjustment if a.endswith("_effect")]
    covariates = len(adjustment) - len(latent)
    given = note_text("remedy_given", lang, n=covariates) + "".join(
        note_text("remedy_given_latent", lang, words=_group_effect_words(a, lang)) for a in latent
    )
    return note_text(
        "remedy_blocked" if row["backdoor_valid"] else "remedy_open", lang, given=given
    )


def _mediator_cell(value: object, lang: Lang) -> str:
    if value is None or pd.isna(value):
        return note_text("mediator_not_needed", lang)
    return note_text("mediator_blocked" if bool(value) else "mediator_open", lang)


def _positivity_cell(evidence: pd.DataFrame, lang: Lang) -> str:
    parts = []
    for row in evidence.itertuples(index=False):
        label = term_label(str(row.variable), lang)
        units = _units(str(row.level), lang)
        parts.append(note_text(
            "positivity_set" if row.kind == "set" else "positivity_shift", lang,
            share=f"{100 * row.share:.0f}%", n=row.units, units=units, label=label,
            label_lower=label.lower(),
        ))  # fmt: skip
    return note_text("positivity_cell", lang, items=note_text("sep_clauses", lang).join(parts))


def _consistency_cell(levels: str, lang: Lang) -> str:
    distinct = dict.fromkeys(level.strip() for level in str(levels).split(",") if level.strip())
    # A level without its own sentence (a user's "hospital") is set per unit, as a project is.
    keys = [f"consistency_{level}" for level in distinct]
    return note_text("sep_sentences", lang).join(
        note_text(key if key in NOTES else f"consistency_{ROW_LEVEL}", lang) for key in keys
    )


def table5a_assumptions(
    assumptions: pd.DataFrame,
    positivity: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table5a_assumptions",
) -> Table:
    """Table 5a: the assumptions each contrast of Table 5 needs, and what supports them.

    Parameters
    ----------
    assumptions
        :func:`grassroots.estimands.identification.assumptions`.
    positivity
        :func:`grassroots.estimands.identification.positivity` of each scenario, concatenated.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    name
        File stem.
    """
    _check(assumptions, _ASSUMPTION_COLUMNS, "table5a_assumptions")
    _check(positivity, _POSITIVITY_COLUMNS, "table5a_assumptions (positivity)")
    if assumptions.empty:
        raise ValueError("table5a_assumptions: no contrast to describe")
    headers = [
        text("outcome", lang), text("no_remedy_confounding", lang),
        text("no_mediator_confounding", lang), text("positivity", lang),
        text("consistency", lang),
    ]  # fmt: skip
    rows, panels = [], []
    for scenario in dict.fromkeys(assumptions["scenario"]):
        evidence = positivity[positivity["scenario"] == scenario]
        if evidence.empty:
            raise ValueError(f"table5a_assumptions: no positivity evidence for {scenario!r}")
        part = assumptions[assumptions["scenario"] == scenario]
        for _, row in part.iterrows():
            rows.append([
                quantity_label(str(row["outcome"]), None, lang),
                _remedy_cell(row, lang),
                _mediator_cell(row["mediator_valid"], lang),
                _positivity_cell(evidence, lang),
                _consistency_cell(row["levels"], lang),
            ])  # fmt: skip
            panels.append(_panel(str(scenario), scenario_labels))
    frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    return Table(
        name=name,
        title=note_text("table5a_title", lang),
        frame=frame,
        note=note_text("table5a", lang),
        data=assumptions.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" * len(headers),
    )


def _scale(quantity: str) -> tuple[float, int]:
    # As Table 5: probabilities in percentage points, the expected rating in rating points.
    return (100.0, 1) if quantity.startswith(("S(", "P")) else (1.0, 2)


def _reading(row: pd.Series, prob: float, lang: Lang) -> str:
    pct = percent(prob)
    point, limit = row["e_value"], row["e_value_limit"]
    head = note_text("reading_head", lang, point=f"{point:.2f}")
    if limit <= 1:
        return note_text("reading_includes_zero", lang, head=head, pct=pct)
    return note_text("reading_limit", lang, head=head, limit=f"{limit:.2f}", pct=pct)


def table5b_sensitivity(
    sensitivity: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table5b_sensitivity",
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 5b: how strong an unmeasured confounder would have to be to remove each contrast.

    Parameters
    ----------
    sensitivity
        :func:`grassroots.estimands.sensitivity.sensitivity`'s ``table``.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    name
        File stem.
    prob
        Mass of the intervals.
    """
    _check(sensitivity, _SENSITIVITY_COLUMNS, "table5b_sensitivity")
    if sensitivity.empty:
        raise ValueError("table5b_sensitivity: no contrast to describe")
    pct = percent(prob)
    headers = [
        text("quantity", lang), text("delta_cri", lang).format(pct=pct),
        text("rr_cri", lang).format(pct=pct),
        text("e_value_estimate", lang), text("e_value_limit", lang), text("reading", lang),
    ]  # fmt: skip
    rows, panels = [], []
    for _, row in sensitivity.iterrows():
        factor, digits = _scale(str(row["quantity"]))
        ratio = format_estimate(row["rr"], row["rr_lower"], row["rr_upper"], 2)
        rows.append([
            quantity_label(str(row["outcome"]), row["quantity"], lang),
            format_estimate(factor * row["median"], factor * row["lower"],
                            factor * row["upper"], digits),
            f"≈ {ratio}" if row["rr_scale"] == "smd" else ratio,
            f"{row['e_value']:.2f}", f"{row['e_value_limit']:.2f}",
            _reading(row, prob, lang),
        ])  # fmt: skip
        panels.append(_panel(str(row["scenario"]), scenario_labels))
    frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    return Table(
        name=name,
        title=note_text("table5b_title", lang),
        frame=frame,
        note=note_text("table5b", lang, pct=pct),
        data=sensitivity.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="lrrrrl",
    )
