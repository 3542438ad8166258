"""Table 1: descriptive statistics of every codebook variable, at the level it is measured.

Written like every table by :meth:`Table.write <grassroots.reporting.tables.Table.write>`: Markdown,
LaTeX, HTML, Word and CSV (the unformatted statistics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from grassroots.data import schema
from grassroots.reporting.labels import note_text, text
from grassroots.reporting.tables import PANEL, Table

if TYPE_CHECKING:
    from grassroots.data.study import Study

_HEADER_KEYS = ("variable", "n", "mean_percent", "sd", "min", "median", "max", "missing")


def _level_frame(study: Study, table: schema.TableName) -> tuple[pd.DataFrame, bool]:
    """The rows that describe one level: its own table, or the flat projects table de-duplicated
    on the level's id when the study has no separate table for it. The flag says whether the
    variables were measured at that level (False: they sit on project rows)."""
    own = {"counties": study.counties, "townships": study.townships, "projects": study.projects}
    if own[table] is not None:
        return own[table], True
    id_column = schema.ID_COLUMN[table]
    if id_column in study.projects.columns:
        return study.projects.drop_duplicates(id_column), True
    return study.projects, False


def _describe_numeric(values: pd.Series, as_percent: bool) -> dict[str, float]:
    present = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if present.empty:
        return {"n": 0, "mean": np.nan, "sd": np.nan, "min": np.nan, "median": np.nan,
                "max": np.nan, "missing": int(values.isna().sum())}
    scale = 100.0 if as_percent else 1.0
    return {
        "n": int(present.size),
        "mean": float(present.mean() * scale),
        "sd": float(present.std(ddof=1)) if present.size > 1 and not as_percent else np.nan,
        "min": float(present.min()),
        "median": float(present.median()),
        "max": float(present.max()),
        "missing": int(values.isna().sum()),
    }


def descriptives(study: Study) -> pd.DataFrame:
    """Statistics per variable (and per category level), one row each, unformatted.

    Columns: ``table, variable, category, n, mean, sd, min, median, max, missing``. ``mean`` is a
    percentage for binary variables and category shares.
    """
    rows = []
    for table in schema.TABLES:
        frame, _ = _level_frame(study, table)
        for var in schema.table_variables(table):
            if var.type in ("id", "date") or var.name not in frame.columns:
                continue
            values = frame[var.name]
            if var.type == "categorical":
                n_present = int(values.notna().sum())
                counts = values.value_counts(dropna=True)
                levels = list(var.allowed or ()) + sorted(
                    str(v) for v in counts.index if str(v) not in (var.allowed or ())
                )
                for level in levels:
                    count = int(counts.get(level, 0))
                    rows.append({
                        "table": table, "variable": var.name, "category": level, "n": count,
                        "mean": 100.0 * count / n_present if n_present else np.nan,
                        "sd": np.nan, "min": np.nan, "median": np.nan, "max": np.nan,
                        "missing": int(values.isna().sum()),
                    })
            else:
                stats = _describe_numeric(values, as_percent=var.type == "binary")
                rows.append({"table": table, "variable": var.name, "category": "", **stats})
    return pd.DataFrame(rows)


def _fmt(value: float, digits: int = 2) -> str:
    return "" if pd.isna(value) else f"{value:,.{digits}f}"


def table1(study: Study, *, lang: schema.Lang = "en", source_note: str = "") -> Table:
    """Table 1, descriptives by level, with labels from the codebook."""
    stats = descriptives(study)
    display, levels = [], []
    for row in stats.itertuples(index=False):
        var = schema.variable(row.variable, row.table)
        label = var.label(lang)
        unit = var.unit_label(lang)
        if row.category:
            label = f"{label}{note_text('sep_colon', lang)}{var.level_label(row.category, lang)}"
        elif var.type == "binary":
            label = note_text("parenthesised", lang, label=label, inner="%")
        elif unit and var.type in ("continuous", "duration") and unit not in label.lower():
            label = note_text("parenthesised", lang, label=label, inner=unit)
        is_share = var.type == "binary" or bool(row.category)
        spread = [] if is_share else [row.sd, row.min, row.median, row.max]
        levels.append(text(f"level_title_{row.table}", lang))
        display.append([
            label,
            f"{row.n:,d}",
            _fmt(row.mean, 1 if is_share else 2),
            *(_fmt(value) for value in spread or [np.nan] * 4),
            f"{row.missing:,d}",
        ])
    # One panel per level, so the level is a heading rather than a column repeated on every row.
    headers = [text(f"descriptives_{key}", lang) for key in _HEADER_KEYS]
    frame = pd.DataFrame(display, columns=headers,
                         index=pd.Index(levels, name=PANEL))
    counts = {
        table: len(_level_frame(study, table)[0]) for table in schema.TABLES
        if _level_frame(study, table)[1]
    }
    n_text = note_text("sep_clauses", lang).join(
        f"{text(f'level_title_{t}', lang)} N = {n:,d}" for t, n in counts.items()
    )
    note = note_text("table1", lang, counts=n_text, source=source_note)
    return Table(name="table1_descriptives", title=note_text("table1_title", lang), frame=frame,
                 note=note.strip(), data=stats, panel=PANEL, lang=lang)
