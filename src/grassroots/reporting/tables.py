"""Tables are data first, formatting second: a :class:`Table` holds a DataFrame of display-ready
cells plus its title and note, and one renderer per output format turns it into text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from grassroots._io import write_text_atomic

FORMATS = ("md", "csv")


@dataclass(frozen=True)
class Table:
    """A paper-style table.

    Parameters
    ----------
    name
        File stem, e.g. ``"table1_descriptives"``.
    title
        Caption printed above the table.
    frame
        The cells as they should appear (strings or numbers); the index is not rendered.
    note
        Text printed under the table (data source, N, model, diagnostics).
    data
        The unformatted numbers behind the cells, written to CSV so that readers can recompute.
    """

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    data: pd.DataFrame | None = field(default=None, compare=False)

    def to_markdown(self) -> str:
        return render_markdown(self)

    def to_csv(self) -> str:
        source = self.data if self.data is not None else self.frame
        return source.to_csv(index=False, lineterminator="\n")

    def write(self, directory: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
        """Write the table in each format to ``directory/<name>.<fmt>`` (atomic per file)."""
        renderers = {"md": self.to_markdown, "csv": self.to_csv}
        written = []
        for fmt in formats:
            if fmt not in renderers:
                raise ValueError(f"unknown table format {fmt!r}; choose from {sorted(renderers)}")
            path = Path(directory) / f"{self.name}.{fmt}"
            write_text_atomic(path, renderers[fmt]())
            written.append(path)
        return written


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


_NUMBER = re.compile(r"^[-+−]?[\d,]*\.?\d+%?$|^$")


def _is_numeric_column(column: pd.Series) -> bool:
    """Right-align columns of numbers, also when the cells are already formatted text."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    cells = column.map(_cell)
    return bool(cells.str.strip().str.match(_NUMBER).all()) and bool((cells != "").any())


def render_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: title, pipe table, then the note."""
    header = [_cell(col) for col in table.frame.columns]
    rows = [[_cell(v) for v in row] for row in table.frame.itertuples(index=False)]
    numeric = [_is_numeric_column(table.frame[col]) for col in table.frame.columns]
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---:" if is_num else ":---" for is_num in numeric) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    if table.note:
        lines += ["", f"*Note.* {table.note}"]
    return "\n".join(lines) + "\n"
