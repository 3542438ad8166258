"""The structure every renderer reads: header rows with their spanners, body sections under
their panels, one alignment per column.

:func:`layout` reads a :class:`~grassroots.reporting.tables.Table` once; each renderer of
:mod:`grassroots.reporting.renderers` turns the :class:`Layout` into its format. This module
imports neither of the two, so that both can import it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd

from grassroots.reporting.labels import text

if TYPE_CHECKING:
    from grassroots.reporting.tables import Table

__all__ = [
    "Align",
    "HeaderCell",
    "Layout",
    "Section",
    "cell_text",
    "flat_label",
    "is_numeric_column",
    "layout",
    "note_lead_in",
]

Align = Literal["l", "r", "c"]


@dataclass(frozen=True)
class HeaderCell:
    """One cell of a header row: its text and how many columns it spans."""

    text: str
    span: int = 1
    start: int = 0


@dataclass(frozen=True)
class Section:
    """Consecutive body rows under one panel heading (``panel is None``: no heading)."""

    panel: str | None
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Layout:
    """What a renderer needs: header rows (top spanners first, column labels last), the body
    sections, one alignment per column, and the flat column labels (for formats with one header
    row)."""

    header: tuple[tuple[HeaderCell, ...], ...]
    sections: tuple[Section, ...]
    align: tuple[Align, ...]
    flat_columns: tuple[str, ...]

    @property
    def n_columns(self) -> int:
        return len(self.align)

    @property
    def has_panels(self) -> bool:
        return any(section.panel is not None for section in self.sections)


def cell_text(value: object) -> str:
    """A frame cell as text: missing values are blank, numbers as pandas prints them."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


_NUM = r"[-+−]?(?:\d[\d,]*)?\.?\d+(?:[eE][-+]?\d+)?%?"
# A figure, optionally with its interval ("0.82 [0.71, 0.95]", "1.2 (0.9, 1.6)"), stars or a flag.
_NUMERIC_CELL = re.compile(rf"^{_NUM}(?:\s*[\[(]{_NUM},\s*{_NUM}[\])])?\**(?:\s*⚠)?$")
# Placeholders for "not in this model" do not make a column textual.
_BLANK_CELLS = {"", "—", "–", "-", "·", "."}


def is_numeric_column(cells: Sequence[str]) -> bool:
    """Whether a column holds figures (right-aligned), also when they are formatted text."""
    present = [cell.strip() for cell in cells if cell.strip() not in _BLANK_CELLS]
    return bool(present) and all(_NUMERIC_CELL.match(cell) for cell in present)


def _column_levels(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    if isinstance(frame.columns, pd.MultiIndex):
        return [tuple(cell_text(part) for part in col) for col in frame.columns]
    return [(cell_text(col),) for col in frame.columns]


def _header_rows(levels: list[tuple[str, ...]]) -> tuple[tuple[HeaderCell, ...], ...]:
    """Spanner rows: adjacent columns that share a label *and* every label above it merge."""
    depth = len(levels[0]) if levels else 1
    rows = []
    for level in range(depth):
        cells: list[HeaderCell] = []
        for position, labels in enumerate(levels):
            key = labels[: level + 1]
            last = cells[-1] if cells else None
            merge = (
                level < depth - 1
                and last is not None
                and levels[last.start][: level + 1] == key
                and key[-1] != ""
            )
            if merge and last is not None:
                cells[-1] = HeaderCell(last.text, last.span + 1, last.start)
            else:
                cells.append(HeaderCell(labels[level], 1, position))
        rows.append(tuple(cells))
    return tuple(rows)


def flat_label(labels: Sequence[str]) -> str:
    """One label for a multi-level column: its distinct non-empty levels joined by " / "."""
    parts = [part for part in labels if part]
    return " / ".join(dict.fromkeys(parts))


def layout(table: Table) -> Layout:
    """Read a table's structure once, for every renderer."""
    frame = table.frame
    levels = _column_levels(frame)
    cells = [[cell_text(value) for value in row] for row in frame.itertuples(index=False)]
    if table.panel is not None:
        panels = [cell_text(value) for value in frame.index.get_level_values(table.panel)]
    else:
        panels = [None] * len(cells)
    sections: list[Section] = []
    for panel, row in zip(panels, cells, strict=True):
        if sections and sections[-1].panel == panel:
            sections[-1] = Section(panel, (*sections[-1].rows, tuple(row)))
        else:
            sections.append(Section(panel, (tuple(row),)))
    if table.align is not None:
        align = tuple(table.align)
    else:
        columns = list(zip(*cells, strict=True)) if cells else [() for _ in levels]
        # The first column holds row labels: left, even when the labels are years or codes.
        align = tuple(
            "l" if i == 0 or not is_numeric_column(column) else "r"
            for i, column in enumerate(columns)
        )
    return Layout(
        header=_header_rows(levels),
        sections=tuple(sections),
        align=align,  # type: ignore[arg-type]
        flat_columns=tuple(flat_label(labels) for labels in levels),
    )


def note_lead_in(table: Table) -> tuple[str, str]:
    """The note's lead-in ("Note." / "注：") and the separator between it and the text."""
    return text("note", table.lang), "" if table.lang == "zh" else " "
