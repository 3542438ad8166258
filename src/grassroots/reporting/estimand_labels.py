"""What the rows of an estimand summary say, shared by the tables of
:mod:`grassroots.reporting.estimand_tables`: quantity, subgroup and scenario labels, the checks
of the columns a builder reads, and the sentences their notes share.

:func:`quantity_label`, :func:`contrast_scale` and :func:`subgroup_label` also label the figures
of contrasts; the underscored helpers are the table builders' only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from grassroots.data.schema import Lang
from grassroots.reporting.labels import NOTES, model_label, note_text, percent, term_label, text
from grassroots.reporting.tables import format_estimate

__all__ = ["contrast_scale", "quantity_label", "subgroup_label"]

_REQUIRED = ("scenario", "outcome", "median", "lower", "upper", "pr_positive")
_SURVIVAL = re.compile(r"^S\((?P<t>[^)]+)\)$")
_AT_LEAST = re.compile(r"^P\(\s*>=?\s*(?P<k>[^)]+)\)$")
#: Rows of a binary remedy's effect among the units not yet treated (estimands.contrasts).
_UNTREATED = "untreated"


def _words_or_value(prefix: str, value: str, lang: Lang) -> str:
    """The words of a code value (``NOTES[prefix + value]``), or the value itself when the
    package has none (a user's own group-effect kind or tercile)."""
    key = f"{prefix}{value}"
    return note_text(key, lang) if key in NOTES else value


def _units(level: str, lang: Lang) -> str:
    """The counted units of a level: "townships" (en), "个乡镇" (zh); "units" if unknown."""
    key = f"units_{level}"
    return note_text(key if key in NOTES else "units", lang)


def _check(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    if missing := [c for c in required if c not in frame.columns]:
        raise ValueError(
            f"{what} needs columns {list(required)}; missing {missing} (has {list(frame.columns)})"
        )


def _present(value: object) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and math.isnan(value))
        and str(value) != ""
    )


def _outcome_label(outcome: str, lang: Lang) -> str:
    if outcome == "survival":
        return text("survival_outcome", lang)
    return term_label(outcome, lang)


def quantity_label(outcome: str, quantity: object = None, lang: Lang = "en") -> str:
    """The row label of an outcome quantity.

    Examples
    --------
    >>> quantity_label("survival", "S(24)")
    'S(24): still running at 24 months'
    >>> quantity_label("demand_fit", "P(>=4)", "zh")
    'P(需求匹配度 ≥ 4)'
    >>> quantity_label("extensive", "P")
    'P(Extensive innovation)'
    """
    label = _outcome_label(str(outcome), lang)
    if not _present(quantity):
        return label
    q = str(quantity)
    if match := _SURVIVAL.match(q):
        return note_text("quantity_survival", lang, t=match["t"])
    if match := _AT_LEAST.match(q):
        return f"P({label} ≥ {match['k']})"
    if q == "E":
        return note_text("quantity_expected_rating", lang, label=label, label_lower=label.lower())
    if q == "P":
        return f"P({label})"
    return f"{label} {q}"


def _is_probability(quantity: object) -> bool:
    """S(t) and P(...) are probabilities (printed in percentage points); E is a rating."""
    return _present(quantity) and str(quantity).startswith(("S(", "P"))


def _scale(quantity: object) -> tuple[float, int]:
    """Multiplier and decimals of a quantity's cells: percentage points or rating points."""
    return (100.0, 1) if _is_probability(quantity) else (1.0, 2)


def contrast_scale(quantity: object) -> tuple[float, str]:
    """Multiplier and unit (a ``labels.TEXT`` key, "" for none) of a contrast of ``quantity``
    as Tables 5-7 print it: probabilities in percentage points, ratings in rating points.

    Examples
    --------
    >>> contrast_scale("S(12)"), contrast_scale("E"), contrast_scale(None)
    ((100.0, 'delta_pp'), (1.0, 'delta_rating'), (1.0, ''))
    """
    if not _present(quantity):
        return 1.0, ""
    return (100.0, "delta_pp") if _is_probability(quantity) else (1.0, "delta_rating")


def _delta(row: pd.Series) -> str:
    factor, digits = _scale(row.get("quantity"))
    return format_estimate(
        factor * row["median"], factor * row["lower"], factor * row["upper"], digits
    )


def _level(value: float, quantity: object) -> str:
    factor, digits = _scale(quantity)
    return "" if pd.isna(value) else f"{factor * value:.{digits}f}"


def _scenario_label(scenario: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(scenario, scenario)


def subgroup_label(group_by: str, group: object, lang: Lang = "en") -> str:
    """The label of a subgroup: ``("region", "east")`` -> ``"Region: East"``,
    ``("weakness", "low")`` -> ``"Baseline weakness: low tercile"``; ``"all"`` -> all projects.

    Examples
    --------
    >>> subgroup_label("weakness", "high", "zh")
    '基线弱势：高三分位'
    """
    if group_by == "all" or str(group) == "all":
        return text("all_projects", lang)
    if group_by == "weakness":
        words = _words_or_value("tercile_", str(group), lang)
        return text("weakness_tercile", lang).format(level=words)
    return term_label(f"{group_by}[{group}]", lang)


def _split_subgroups(frame: pd.DataFrame) -> pd.DataFrame:
    """``group_by``/``group`` columns from either spelling of the subgroup."""
    if "group_by" in frame.columns and "group" in frame.columns:
        return frame
    if "subgroup" not in frame.columns:
        return frame.assign(group_by="all", group="all")
    parts = frame["subgroup"].astype(str).str.split("=", n=1, expand=True)
    if parts.shape[1] == 1:
        # Labels printed as they are, under one pseudo-grouping.
        labelled = frame["subgroup"].astype(str)
        return frame.assign(group_by=labelled.where(labelled == "all", "label"), group=labelled)
    group_by = parts[0].where(parts[1].notna(), "label")
    group = parts[1].where(parts[1].notna(), parts[0])
    return frame.assign(group_by=group_by.where(frame["subgroup"] != "all", "all"), group=group)


def _row_keys(part: pd.DataFrame) -> list[tuple[str, object, str]]:
    """(outcome, quantity, model) of each row, in order of first appearance."""
    quantity = part["quantity"] if "quantity" in part.columns else pd.Series(None, part.index)
    model = part["model"] if "model" in part.columns else pd.Series("", part.index)
    return list(dict.fromkeys(zip(part["outcome"], quantity, model, strict=True)))


def _row_label(key: tuple[str, object, str], keys: Sequence[tuple], lang: Lang) -> str:
    outcome, quantity, model = key
    label = quantity_label(outcome, quantity, lang)
    # Name the model only when two models report the same quantity.
    twins = [k for k in keys if k[0] == outcome and str(k[1]) == str(quantity)]
    return f"{label} ({model})" if len(twins) > 1 and _present(model) else label


def _select(part: pd.DataFrame, key: tuple[str, object, str]) -> pd.DataFrame:
    outcome, quantity, model = key
    mask = part["outcome"] == outcome
    if "quantity" in part.columns:
        mask &= part["quantity"].astype(str) == str(quantity)
    if "model" in part.columns:
        mask &= part["model"].astype(str) == str(model)
    return part[mask]


def _group_effects_note(frame: pd.DataFrame, lang: Lang) -> str:
    """How the contrasts treat the group effects, or "" without a ``group_effects`` column."""
    if "group_effects" not in frame.columns:
        return ""
    kinds = [k for k in dict.fromkeys(frame["group_effects"].astype(str)) if k]
    words = [_words_or_value("group_effects_kind_", k, lang) for k in kinds]
    if not words:
        return ""
    return note_text("group_effects", lang, items=note_text("sep_clauses", lang).join(words))


def _common_note(frame: pd.DataFrame, lang: Lang, prob: float) -> list[str]:
    pieces = [note_text("contrast_delta", lang, pct=percent(prob))]
    pieces.append(_group_effects_note(frame, lang))
    if "model" in frame.columns:
        models = [model_label(m, lang) for m in dict.fromkeys(frame["model"].astype(str)) if m]
        if models:
            items = note_text("sep_list", lang).join(models)
            pieces.append(note_text("models_used", lang, items=items))
    return pieces


def _join(pieces: Sequence[str], lang: Lang) -> str:
    return note_text("sep_sentences", lang).join(piece for piece in pieces if piece)


def _untreated_rows(frame: pd.DataFrame) -> pd.DataFrame:
    group_by = frame["group_by"].astype(str)
    return frame[
        group_by.str.startswith(f"{_UNTREATED}:") & (frame["group"].astype(str) == _UNTREATED)
    ]


def _number(value: float) -> str:
    """Three significant digits, thousands separated: 0.612, 15.2, 17, 1,250."""
    return f"{float(f'{value:.3g}'):,g}"


def _untreated_note(
    untreated: pd.DataFrame,
    changes: pd.DataFrame | None,
    scenario_labels: Mapping[str, str] | None,
    lang: Lang,
) -> str:
    parts = []
    for scenario in dict.fromkeys(untreated["scenario"]):
        rows = untreated[untreated["scenario"] == scenario]
        label = _scenario_label(str(scenario), scenario_labels)
        n = int(rows["n_rows"].iloc[0]) if "n_rows" in rows.columns else None
        counted = ""
        if changes is not None and not changes.empty:
            step = changes[changes["scenario"] == scenario]
            if len(step):
                first = step.iloc[0]
                counted = note_text(
                    "n_of_units", lang, n=int(first["n_changed"]), total=int(first["n_units"]),
                    units=_units(str(first["level"]), lang),
                )  # fmt: skip
        projects = note_text("n_projects", lang, n=f"{n:,d}") if n is not None else ""
        separator = note_text("sep_comma" if lang == "zh" else "sep_list", lang)
        detail = separator.join(x for x in (counted, projects) if x)
        parts.append(
            note_text("untreated_scenario", lang, label=label, detail=detail) if detail else label
        )
    return note_text("untreated", lang, items=note_text("sep_clauses", lang).join(parts))


def _changes_note(changes: pd.DataFrame, lang: Lang) -> str:
    """Each distinct step once: a shift in SDs and natural units, with its caps; a set step
    with the units it changes."""
    zh = lang == "zh"
    pieces = []
    seen = set()
    for row in changes.itertuples(index=False):
        # As text: NaN (a set step's "by") never equals itself.
        key = (row.variable, row.operation, f"{row.by}", row.by_unit, f"{row.value}")
        if key in seen or row.operation == "floor":
            continue
        seen.add(key)
        variable = term_label(str(row.variable), lang)
        units = _units(str(row.level), lang)
        unit = str(row.unit_zh if zh else row.unit)
        natural = str(row.natural_unit_zh if zh else row.natural_unit)
        if row.operation == "set":
            pieces.append(note_text(
                "change_set", lang, variable=variable, value=row.value, changed=row.n_changed,
                n=row.n_units, units=units,
            ))  # fmt: skip
            continue
        by_unit = str(row.by_unit)
        if by_unit == "sd":
            stated = "SD"
        elif by_unit in ("natural", str(row.unit)):
            stated = unit
        else:
            stated = natural
        piece = f"{variable} {row.by:+g} {stated}"
        if by_unit == "sd" and pd.notna(row.step_size) and unit:
            piece += f" = {row.step_size:+.3g} {unit}"
        elif pd.notna(row.change_sd):
            piece += note_text("change_sd_median", lang, change=f"{row.change_sd:+.3g}")
        if pd.notna(row.ratio):
            piece += note_text(
                "change_natural", lang, natural=natural, ratio=f"{row.ratio:.3g}",
                change=f"{row.change_natural:+.3g}",
            )  # fmt: skip
        if row.n_capped:
            piece += note_text(
                "change_capped", lang, bounds=f"[{row.cap_low:g}, {row.cap_high:g}]",
                capped=row.n_capped, n=row.n_units, units=units,
            )  # fmt: skip
        pieces.append(piece)
    if not pieces:
        return ""
    return note_text("changes", lang, items=note_text("sep_clauses", lang).join(pieces))
