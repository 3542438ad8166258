"""Read a user's data file into a DataFrame without silently changing any value.

Formats, chosen by extension:

========  ===================================================  ==========================
suffix    how                                                  row numbers (index)
========  ===================================================  ==========================
.csv      UTF-8 (a byte-order mark is fine), or a whole-file   line in the file, header =
          GB18030, or ``encoding=``; UTF-16 with a BOM         1, first data row = 2
.xlsx     openpyxl; the first sheet unless one is named;       sheet row, header = 1 (or
          title rows above the header are skipped (warned)     the row found/given)
.parquet  pyarrow                                              record number from 1
.dta      Stata, via pyreadstat                                record number from 1
.sav      SPSS, via pyreadstat                                 record number from 1
========  ===================================================  ==========================

The returned frame's **index is the row number as the user's file counts it** (named ``row``),
so ``frame.index[i]`` maps the 0-based data position ``i`` to the row to look at in the file
(see :func:`row_number`). Fully empty rows are left out but keep the numbering of the rows after
them.

What is read as what:

* id columns (``text_columns``; by default the canonical ``county_id``, ``township_id`` and
  ``project_id``) are read from CSV as text, so ``"C001"`` and ``"001"`` stay as written;
* in a CSV, a column whose every non-empty cell is a number becomes numeric; a column with a
  stray text value (``"n/a"``, ``"abc"``) stays text, for validation to report with its row;
  columns whose values look like zero-padded codes (``"007"``) stay text, too;
* only empty cells are missing: the text ``"NA"`` or ``"n/a"`` is kept as text;
* typed formats (xlsx, parquet, Stata, SPSS) keep their types; Stata and SPSS value labels are not
  applied but kept in ``frame.attrs["value_labels"]`` (``{column: {code: label}}``), so a
  categorical column can be recoded by its labels while binary codes stay 0/1.

Title rows above the header (a survey's title, blank rows) are skipped with a
:class:`~grassroots.data.validation.DataValidationWarning` naming them (see
:func:`find_header_row`): in a sheet always, in a CSV when ``expected_columns`` say which row is
the header; ``header_row`` picks a sheet's header row by hand. Row numbers stay the file's.

Every failure (unknown extension, missing, empty, undecodable or corrupt file, duplicate column
names, unknown sheet) raises :class:`~grassroots.data.validation.DataValidationError` naming the
file and what to do.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from grassroots._warnings import warn_caller
from grassroots.data.csv_reading import read_csv_table
from grassroots.data.problems import DataValidationError, DataValidationWarning
from grassroots.data.table_headers import (
    FIRST_DATA_ROW,
    MAX_TITLE_ROWS,
    check_header_unique,
    drop_unnamed_empty_columns,
    find_header_row,
    header_column_names,
    row_range_text,
)

__all__ = [
    "DEFAULT_TEXT_COLUMNS",
    "FIRST_DATA_ROW",
    "MAX_TITLE_ROWS",
    "SUPPORTED_SUFFIXES",
    "find_header_row",
    "read_table",
    "row_number",
]

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".parquet", ".dta", ".sav")
DEFAULT_TEXT_COLUMNS = ("county_id", "township_id", "project_id")


def read_table(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    text_columns: Iterable[str] = DEFAULT_TEXT_COLUMNS,
    encoding: str | None = None,
    header_row: int | None = None,
    expected_columns: Iterable[str] = (),
) -> pd.DataFrame:
    """Read one data file, choosing the reader by its extension.

    Parameters
    ----------
    path
        A ``.csv``, ``.xlsx``, ``.parquet``, ``.dta`` or ``.sav`` file.
    sheet
        For ``.xlsx``: the sheet to read (default: the first). Ignored for other formats.
    text_columns
        Columns read as text from a CSV (ids). Typed formats keep their own types.
    encoding
        For ``.csv``: the text encoding of the whole file (e.g. ``"gbk"``). Default: UTF-8,
        or GB18030 when the whole file is consistently GB18030
        (see :func:`grassroots.data.csv_reading._decode`).
    header_row
        For ``.xlsx``: the sheet row (from 1) that holds the column names. Default: found
        by :func:`find_header_row` (title rows above the header are skipped, with a warning).
    expected_columns
        Column names the table should have (canonical and mapped names); they tell a title
        row above an ``.xlsx`` header from the header itself.

    Returns
    -------
    pandas.DataFrame
        The columns as named in the file (surrounding spaces removed); the index, named
        ``row``, holds the row numbers as the file counts them. ``attrs`` holds ``source``
        (the path), ``format`` (the suffix) and ``value_labels`` (Stata/SPSS).

    Raises
    ------
    DataValidationError
        If the file cannot be read; the message says why and what to do.

    Examples
    --------
    >>> frame = read_table("projects.csv")  # doctest: +SKIP
    >>> row_number(frame, 0)  # doctest: +SKIP
    2
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataValidationError.single(
            str(path),
            f"unknown file type {path.suffix or '(no extension)'!r}",
            f"save the table as one of {', '.join(SUPPORTED_SUFFIXES)} (e.g. CSV, UTF-8)",
        )
    if not path.exists():
        raise DataValidationError.single(
            str(path),
            "file not found",
            "check the path (relative paths in a mapping file count from the mapping file's "
            "folder)",
        )
    if not path.is_file():
        raise DataValidationError.single(str(path), "not a file", "give the path of a data file")
    if path.stat().st_size == 0:
        raise DataValidationError.single(
            str(path), "the file is empty", "export the table again, with its header row"
        )
    text_columns = tuple(text_columns)
    value_labels: dict[str, dict[object, str]] = {}
    if suffix == ".csv":
        frame, header = read_csv_table(path, text_columns, encoding, tuple(expected_columns))
    elif suffix == ".xlsx":
        frame, header = _read_xlsx(path, sheet, header_row, tuple(expected_columns))
    elif suffix == ".parquet":
        frame, header = _read_parquet(path)
    else:
        frame, header, value_labels = _read_readstat(path, suffix)
    check_header_unique(path, header)
    frame.columns = [str(name).strip() for name in frame.columns]
    frame.index.name = "row"
    frame.attrs = {"source": str(path), "format": suffix, "value_labels": value_labels}
    return frame


def row_number(frame: pd.DataFrame, position: int) -> int:
    """The row number, as the user's file counts it, of the 0-based data ``position``."""
    return int(frame.index[position])


# ----------------------------------------------------------------------------------------------
# Excel
# ----------------------------------------------------------------------------------------------


def _read_xlsx(
    path: Path, sheet: str | None, header_row: int | None, expected_columns: tuple[str, ...]
) -> tuple[pd.DataFrame, list[str]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and its own errors for a damaged file
        raise DataValidationError.single(
            str(path),
            f"the file cannot be read as an Excel workbook ({type(exc).__name__}: {exc})",
            "open it in Excel or WPS and save it again as .xlsx, or export the sheet as CSV",
        ) from exc
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise DataValidationError.single(
                str(path),
                f"the workbook has no sheet named {sheet!r}",
                f"name one of its sheets: {', '.join(map(repr, workbook.sheetnames))}",
            )
        rows = list(worksheet.iter_rows(values_only=True))
        sheet_name = worksheet.title
    finally:
        workbook.close()
    if header_row is None:
        header_index = find_header_row(rows, expected_columns)
        if header_index > 0:
            title = next(
                (str(cell) for row in rows[:header_index] for cell in row if cell is not None),
                None,
            )
            seen = "are empty" if title is None else f"look like a title ({title[:60]!r})"
            warn_caller(
                f"{path}, sheet {sheet_name!r}: "
                f"{row_range_text(1, header_index)} above the header {seen} and were skipped; "
                f"the header was read from row "
                f"{header_index + 1}. If that is wrong, give header_row (command line: "
                "--header-row) with the row of the column names.",
                DataValidationWarning,
            )
    else:
        if not 1 <= header_row <= max(len(rows), 1):
            raise DataValidationError.single(
                str(path),
                f"header_row {header_row} is outside the sheet {sheet_name!r} ({len(rows)} rows)",
                "give the row (from 1) that holds the column names",
            )
        header_index = header_row - 1
    if not rows or all(cell is None for cell in rows[header_index]):
        raise DataValidationError.single(
            str(path),
            f"the sheet is empty or its header row (row {header_index + 1}) is blank",
            "put the column names in row 1 of the sheet, or give header_row (command line: "
            "--header-row)",
        )
    header_cells = list(rows[header_index])
    while header_cells and header_cells[-1] is None:
        header_cells.pop()
    width = len(header_cells)
    body = [tuple(row[:width]) + (None,) * (width - len(row)) for row in rows[header_index + 1 :]]
    header = ["" if cell is None else str(cell) for cell in header_cells]
    check_header_unique(path, header)  # before the columns are used by name
    names = header_column_names(header)
    data = np.array(body, dtype=object).reshape(len(body), width)
    first = header_index + 2  # the sheet's row number of the first data row
    frame = pd.DataFrame(data, columns=names, index=pd.RangeIndex(first, first + len(body)))
    frame = frame.loc[frame.notna().any(axis=1)]
    frame = drop_unnamed_empty_columns(frame, header)
    # A column of numbers becomes numeric and a column of dates datetime; a column with any
    # text stays as cells (object), so validation reports the text with its row.
    for column in frame.columns:
        frame[column] = _typed_cells(frame[column])
    return frame, header


def _typed_cells(cells: pd.Series) -> pd.Series:
    present = cells.dropna()
    if present.empty:
        return cells.astype("float64")
    kinds = set(present.map(type))
    if kinds <= {int, float}:
        return pd.to_numeric(cells)
    if kinds <= {dt.datetime, dt.date}:
        try:
            return pd.to_datetime(cells)
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            return cells  # a date before 1677 or after 2262 (a typo): validation reports it
    return cells


# ----------------------------------------------------------------------------------------------
# Parquet, Stata, SPSS
# ----------------------------------------------------------------------------------------------


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[str]]:
    import pyarrow.parquet as pq

    try:
        # The names first: pyarrow refuses to read a table whose names repeat, and that is
        # worth its own message (from check_header_unique) rather than "cannot be read".
        header = list(pq.read_schema(path).names)
        named = [name.strip() for name in header if name.strip()]
        if len(set(named)) < len(named):
            return pd.DataFrame(), header  # reported by check_header_unique
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
        raise DataValidationError.single(
            str(path),
            f"the file cannot be read as parquet ({type(exc).__name__}: {exc})",
            "write the file again (e.g. pandas.DataFrame.to_parquet), or export it as CSV",
        ) from exc
    frame.index = pd.RangeIndex(1, 1 + len(frame))
    return frame, header


def _read_readstat(
    path: Path, suffix: str
) -> tuple[pd.DataFrame, list[str], dict[str, dict[object, str]]]:
    import pyreadstat

    reader = pyreadstat.read_dta if suffix == ".dta" else pyreadstat.read_sav
    kind = "Stata" if suffix == ".dta" else "SPSS"
    error: Exception | None = None
    # Files from older Chinese versions of Stata/SPSS are often GB18030, not UTF-8. A date
    # that datetime64 cannot hold (year 15) makes pyreadstat fail on pandas dates: then the
    # dates come as Python dates, and validation reports the bad one with its row.
    attempts = [(None, True), ("GB18030", True), (None, False), ("GB18030", False)]
    for encoding, pandas_dates in attempts:
        try:
            frame, meta = reader(
                str(path),
                apply_value_formats=False,
                dates_as_pandas_datetime=pandas_dates,
                encoding=encoding,
            )
            break
        except Exception as exc:  # pyreadstat raises its own error classes for damaged files
            error = error or exc  # the first error says best what is wrong
    else:
        raise DataValidationError.single(
            str(path),
            f"the file cannot be read as a {kind} file ({type(error).__name__}: {error})",
            f"save it again from {kind}, or export it as CSV",
        ) from error
    frame.index = pd.RangeIndex(1, 1 + len(frame))
    for column in frame.columns:
        if frame[column].dtype == object:
            # SPSS pads text to its declared width; empty text is SPSS's missing string. A
            # date column holding a date that datetime64 cannot (year 94) is an object column
            # of dates: only text is touched.
            stripped = frame[column].map(
                lambda v: v.rstrip() if isinstance(v, str) else v, na_action="ignore"
            )
            frame[column] = stripped.where(stripped.ne("") | stripped.isna(), None)
    labels = {
        column: dict(value)
        for column, value in (getattr(meta, "variable_value_labels", None) or {}).items()
    }
    return frame, list(meta.column_names), labels
