"""Header rows of a table file: where the header is, its names, and repeated names.

A sheet (or a CSV saved from one) may carry title rows above its header; :func:`find_header_row`
tells them apart. Blank names become ``Unnamed: <position>``, columns without a name and without
data are dropped, and a name given to two columns is an error naming both positions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from grassroots.data.problems import ProblemLog

# The row a file shows for the first data record: after the header line in CSV and sheets.
FIRST_DATA_ROW = {".csv": 2, ".xlsx": 2, ".parquet": 1, ".dta": 1, ".sav": 1}


# How far down a sheet a header is looked for under title rows.
MAX_TITLE_ROWS = 10


def find_header_row(rows: list[tuple], expected_columns: Iterable[str] = ()) -> int:
    """The 0-based index of a sheet's header row, skipping title rows above it.

    The rule: rows above the header each hold at most one non-empty cell (a title, often a
    merged cell, or nothing); the header is the first row with two or more non-empty cells,
    all of them text, within the first :data:`MAX_TITLE_ROWS` rows. When ``expected_columns``
    are given, the header must hold at least one of them and the rows above none. Anything
    else keeps row 1 as the header, as before.
    """
    expected = {str(name).strip() for name in expected_columns}
    for index, row in enumerate(rows[: MAX_TITLE_ROWS + 1]):
        cells = [cell for cell in row if cell is not None and str(cell).strip()]
        if len(cells) <= 1:
            if expected and any(str(cell).strip() in expected for cell in cells):
                return index  # a one-column table's header, not a title
            continue
        if index == 0:
            return 0
        names = {str(cell).strip() for cell in cells}
        if not all(isinstance(cell, str) for cell in cells):
            return 0
        if expected and not names & expected:
            return 0
        return index
    return 0


def row_range_text(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}-{last}"


def header_column_names(header: list[str]) -> list[str]:
    """The header's names, stripped; a blank one becomes ``Unnamed: <position>``, made unique
    against the named columns (a header may hold a real column called ``Unnamed: 0``)."""
    names = [str(name).strip() for name in header]
    taken = set(names)
    for position, name in enumerate(names):
        if not name:
            name = f"Unnamed: {position}"
            while name in taken:
                name += "_"
            taken.add(name)
            names[position] = name
    return names


def drop_unnamed_empty_columns(frame: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """Drop columns without a header name and without data (trailing commas from Excel)."""
    keep = []
    for position in range(frame.shape[1]):
        unnamed = position >= len(header) or not header[position].strip()
        if unnamed and frame.iloc[:, position].isna().all():
            continue
        keep.append(position)
    return frame.iloc[:, keep]


def check_header_unique(path: Path, header: list[str]) -> None:
    names = [str(name).strip() for name in header]
    counts = Counter(name for name in names if name)
    duplicates = [name for name, count in counts.items() if count > 1]
    if not duplicates:
        return
    log = ProblemLog()
    for name in duplicates:
        positions = [str(i + 1) for i, other in enumerate(names) if other == name]
        log.add(
            str(path),
            f"the header has {counts[name]} columns named {name!r} (columns "
            f"{', '.join(positions)})",
            "give each column its own name; if they hold the same data, delete the copies",
            column=name,
        )
    log.raise_if_any()
