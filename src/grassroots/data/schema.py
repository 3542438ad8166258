"""The canonical data model, read from ``data/codebook.csv`` (the one source of names and labels).

Three linked tables, ``counties`` > ``townships`` > ``projects``, keyed by ``county_id``,
``township_id`` and ``project_id``. A flat table holds the same columns in one project-level
table. The codebook's ``range`` column is machine-readable: ``{a, b, c}`` is a set of allowed
values, ``[lo, hi]``/``(lo, hi)`` an interval (closed/open ends, ``inf`` allowed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

import pandas as pd

from grassroots._paths import bundled_data_dir

TableName = Literal["counties", "townships", "projects"]
TABLES: tuple[TableName, ...] = ("counties", "townships", "projects")
LEVELS: tuple[str, ...] = ("county", "township")
ID_COLUMN: dict[TableName, str] = {
    "counties": "county_id",
    "townships": "township_id",
    "projects": "project_id",
}
#: Suffix of a user's own column whose name is also used in a nested table (the flat table).
SUFFIX: dict[TableName, str] = {"counties": "_county", "townships": "_township", "projects": ""}
PARENT: dict[TableName, TableName | None] = {
    "counties": None,
    "townships": "counties",
    "projects": "townships",
}
LEVEL_TABLE: dict[str, TableName] = {"county": "counties", "township": "townships"}
VARIABLE_TYPES = ("id", "categorical", "continuous", "binary", "ordinal", "duration", "date")
Lang = Literal["en", "zh"]
#: Length of a month in days (the Julian year / 12): ``months`` = days / DAYS_PER_MONTH.
DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    low_closed: bool
    high_closed: bool

    def contains(self, values: pd.Series) -> pd.Series:
        above = values >= self.low if self.low_closed else values > self.low
        below = values <= self.high if self.high_closed else values < self.high
        return above & below

    def __str__(self) -> str:
        def fmt(x: float) -> str:
            return "inf" if math.isinf(x) else f"{x:g}"

        return (
            f"{'[' if self.low_closed else '('}{fmt(self.low)}, {fmt(self.high)}"
            f"{']' if self.high_closed else ')'}"
        )


@dataclass(frozen=True)
class Variable:
    """One row of the codebook."""

    name: str
    table: TableName
    type: str
    role: str
    unit: str
    unit_zh: str
    allowed: tuple[str, ...] | None
    interval: Interval | None
    missing_allowed: bool
    label_zh: str
    label_en: str
    definition: str
    concept: str

    def label(self, lang: Lang = "en") -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def unit_label(self, lang: Lang = "en") -> str:
        return self.unit_zh if lang == "zh" else self.unit

    def level_label(self, level: str, lang: Lang = "en") -> str:
        """The label of one category level (``data/codebook_levels.csv``); the level itself
        when the file has none."""
        return level_labels().get((self.name, level), {}).get(lang, level)

    @property
    def range_text(self) -> str:
        if self.allowed is not None:
            return "{" + ", ".join(self.allowed) + "}"
        return str(self.interval) if self.interval is not None else ""


_SET = re.compile(r"^\{(.*)\}$")
_INTERVAL = re.compile(r"^([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])$")


def parse_range(text: str) -> tuple[tuple[str, ...] | None, Interval | None]:
    """Parse a codebook ``range`` cell into a set of allowed values or an interval."""
    text = (text or "").strip()
    if not text:
        return None, None
    if match := _SET.match(text):
        return tuple(item.strip() for item in match.group(1).split(",") if item.strip()), None
    if match := _INTERVAL.match(text):
        opening, low, high, closing = match.groups()
        return None, Interval(float(low), float(high), opening == "[", closing == "]")
    raise ValueError(f"codebook range {text!r} is neither '{{a, b}}' nor an interval '[lo, hi)'")


@cache
def codebook() -> pd.DataFrame:
    """The codebook as a DataFrame, one row per (table, variable)."""
    path = bundled_data_dir() / "codebook.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    unknown = sorted(set(frame["type"]) - set(VARIABLE_TYPES))
    if unknown:
        raise ValueError(f"{path}: unknown variable types {unknown}; use one of {VARIABLE_TYPES}")
    return frame


@cache
def level_labels() -> dict[tuple[str, str], dict[str, str]]:
    """Labels of category levels, keyed by (variable, level): ``{"en": ..., "zh": ...}``."""
    frame = pd.read_csv(
        bundled_data_dir() / "codebook_levels.csv", dtype=str, keep_default_na=False
    )
    return {
        (row.variable, row.level): {"en": row.label_en, "zh": row.label_zh}
        for row in frame.itertuples(index=False)
    }


@cache
def variables() -> dict[tuple[TableName, str], Variable]:
    """Every codebook variable, keyed by (table, variable)."""
    result: dict[tuple[TableName, str], Variable] = {}
    for row in codebook().itertuples(index=False):
        allowed, interval = parse_range(row.range)
        result[(row.table, row.variable)] = Variable(
            name=row.variable,
            table=row.table,
            type=row.type,
            role=row.role,
            unit=row.unit,
            unit_zh=row.unit_zh,
            allowed=allowed,
            interval=interval,
            missing_allowed=row.missing == "yes",
            label_zh=row.label_zh,
            label_en=row.label_en,
            definition=row.definition,
            concept=row.concept,
        )
    return result


def table_variables(table: TableName) -> list[Variable]:
    """The variables of one table, in codebook order."""
    return [var for (tab, _), var in variables().items() if tab == table]


def variable(name: str, table: TableName | None = None) -> Variable:
    """Look a variable up by name (and table, for the id columns that appear in two tables)."""
    for (tab, var_name), var in variables().items():
        if var_name == name and (table is None or tab == table):
            return var
    raise KeyError(f"{name!r} is not in the codebook (data/codebook.csv)")


def canonical_columns() -> list[str]:
    """Every canonical column name, each once, in codebook order."""
    return list(dict.fromkeys(codebook()["variable"]))


def label(name: str, lang: Lang = "en") -> str:
    """The codebook label of a variable; the name itself for columns outside the codebook."""
    try:
        return variable(name).label(lang)
    except KeyError:
        return name


def table_of(name: str) -> TableName:
    """The table that owns a non-id variable (the id columns belong to their own table)."""
    for table, id_column in ID_COLUMN.items():
        if name == id_column:
            return table
    return variable(name).table


def predictor_columns() -> list[str]:
    """Columns that enter models as predictors: every non-id, non-outcome, non-date variable."""
    return [
        var.name
        for var in variables().values()
        if var.type not in ("id", "date") and var.role not in ("outcome", "design")
    ]
