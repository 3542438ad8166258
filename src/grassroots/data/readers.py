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

import csv
import datetime as dt
import io
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from grassroots.data.validation import (
    DataValidationError,
    DataValidationWarning,
    ProblemLog,
    text_to_numbers,
)

SUPPORTED_SUFFIXES = (".csv", ".xlsx", ".parquet", ".dta", ".sav")
DEFAULT_TEXT_COLUMNS = ("county_id", "township_id", "project_id")
# The row a file shows for the first data record: after the header line in CSV and sheets.
FIRST_DATA_ROW = {".csv": 2, ".xlsx": 2, ".parquet": 1, ".dta": 1, ".sav": 1}


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
        or GB18030 when the whole file is consistently GB18030 (see :func:`_decode`).
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
        frame, header = _read_csv(path, text_columns, encoding, tuple(expected_columns))
    elif suffix == ".xlsx":
        frame, header = _read_xlsx(path, sheet, header_row, tuple(expected_columns))
    elif suffix == ".parquet":
        frame, header = _read_parquet(path)
    else:
        frame, header, value_labels = _read_readstat(path, suffix)
    _check_header(path, header)
    frame.columns = [str(name).strip() for name in frame.columns]
    frame.index.name = "row"
    frame.attrs = {"source": str(path), "format": suffix, "value_labels": value_labels}
    return frame


def row_number(frame: pd.DataFrame, position: int) -> int:
    """The row number, as the user's file counts it, of the 0-based data ``position``."""
    return int(frame.index[position])


# ----------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------


def _decode(path: Path, data: bytes, encoding: str | None = None) -> str:
    """The file's text, decoded by one encoding for the whole file, never a mix.

    The rule (a careful user's): with ``encoding`` given, that one, strictly. Otherwise a
    UTF-16 byte-order mark means UTF-16; else the file must be UTF-8 (a byte-order mark is
    fine). A file that is not UTF-8 is read as GB18030 (a superset of GBK and GB2312, what
    Chinese Excel and SPSS export) only when the whole file decodes as GB18030 *and* no cell
    holds valid UTF-8 Chinese text: a UTF-8 file with one GBK cell is never turned into
    mojibake; its bad cells are reported with row and column instead.
    """
    if encoding is not None:
        try:
            "".encode(encoding)
        except LookupError as exc:
            raise DataValidationError.single(
                str(path),
                f"unknown text encoding {encoding!r}",
                "give an encoding Python knows, such as utf-8, gbk or gb18030",
            ) from exc
        codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            raise _undecodable(path, data, encoding, given=True) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DataValidationError.single(
                str(path),
                "the file starts like UTF-16 text but its bytes are not UTF-16",
                "open the file in a spreadsheet or text editor and save it as CSV UTF-8",
            ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        as_gb18030 = data.decode("gb18030")
    except UnicodeDecodeError:
        as_gb18030 = None
    if as_gb18030 is not None and not _UTF8_WIDE_CELL.search(
        data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="surrogateescape")
    ):
        return as_gb18030
    raise _undecodable(path, data, "utf-8", given=False)


# A cell (or the part of a quoted cell between commas) that is valid UTF-8 and holds a
# character from U+0800 up (Chinese is U+4E00-U+9FFF), in text decoded with surrogateescape
# (bytes that are not UTF-8 become U+DC80-U+DCFF). GBK bytes that happen to be valid UTF-8
# almost always give two-byte characters below U+0800, and rarely a whole cell.
_UTF8_WIDE_CELL = re.compile(
    '(?:^|(?<=[,\r\n"]))[^,\r\n"\udc80-\udcff]*[\u0800-\udc7f\udd00-\U0010ffff]'
    '[^,\r\n"\udc80-\udcff]*(?=[,\r\n"]|$)',
    re.MULTILINE,
)


def _csv_records(text: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return [line.split(",") for line in text.splitlines()]


def _is_escaped(char: str) -> bool:
    return 0xDC80 <= ord(char) <= 0xDCFF  # a byte that did not decode (surrogateescape)


def _scan_cells(
    data: bytes, codec: str = "utf-8"
) -> tuple[list[tuple[int, int, bytes]], list[str]]:
    """Cells whose bytes do not decode, as (row, column position, bytes), and the header's
    names (``""`` for a name that does not decode)."""
    if codec.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig"):
        data, codec = data.removeprefix(b"\xef\xbb\xbf"), "utf-8"
    records = _csv_records(data.decode(codec, errors="surrogateescape"))
    bad = [
        (row, position, cell.encode(codec, errors="surrogateescape"))
        for row, record in enumerate(records, start=1)
        for position, cell in enumerate(record)
        if any(map(_is_escaped, cell))
    ]
    header = records[0] if records else []
    names = ["" if any(map(_is_escaped, name)) else name.strip() for name in header]
    return bad, names


def _as_gbk(raw: bytes) -> str | None:
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return None


def _undecodable(path: Path, data: bytes, encoding: str, *, given: bool) -> DataValidationError:
    """The error for a file that does not decode: each bad cell with row, column, bytes."""
    bad_cells, names = _scan_cells(data, encoding)
    if given:
        hint = (
            f"the file was read as {encoding}, as asked, but these bytes are not {encoding}: "
            "correct the cells, or give the file's real encoding (or re-save it as CSV UTF-8)"
        )
    else:
        hint = (
            "the file is UTF-8 but these cells are not (pasted from a GBK file?): retype them, "
            "or open the file in a spreadsheet and save it again as CSV UTF-8; if the WHOLE file "
            "is GBK/GB18030, say so: encoding='gbk' (command line: --encoding gbk)"
        )
    if not bad_cells:
        return DataValidationError.single(
            str(path), f"the file's bytes are not {encoding} text", hint
        )
    log = ProblemLog()
    for row, position, raw in bad_cells:
        name = names[position] if position < len(names) else ""
        problem = f"the cell's bytes are not {encoding} text"
        if not given and (as_gbk := _as_gbk(raw)) is not None:
            problem += f" (as GBK they would read {as_gbk!r})"
        log.add(
            str(path),
            problem,
            hint,
            column=name or f"column {position + 1}",
            rows=[row],
            values=["bytes " + raw.hex(" ").upper()],
        )
    return DataValidationError(log.frame())


# Columns that stay text although they parse as numbers: zero-padded codes ("007" is an
# identifier; 7 would lose it) and integers too long for a float64 to hold exactly (18-digit
# codes).
_KEEP_AS_TEXT = r"^\s*[+-]?(0\d|\d{16,}\s*$)"


def _read_csv(
    path: Path,
    text_columns: tuple[str, ...],
    encoding: str | None = None,
    expected_columns: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, list[str]]:
    text = _decode(path, path.read_bytes(), encoding)
    if not text.strip():
        raise DataValidationError.single(
            str(path), "the file is empty", "export the table again, with its header row"
        )
    text, skipped = _skip_csv_title_lines(path, text, expected_columns)
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration) as exc:
        raise DataValidationError.single(
            str(path),
            f"the header row cannot be read as CSV ({exc})",
            "check the file is comma-separated and its quotes are balanced",
        ) from exc
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        separator = "';'" if ";" in header[0] else "tabs"
        raise DataValidationError.single(
            str(path),
            f"the header is one column; the file seems to be separated by {separator}",
            "save the table as comma-separated CSV (in Excel: CSV UTF-8)",
        )
    _check_header(path, header)
    columns = _csv_columns_arrow(text, header)
    if columns is None:
        columns = _csv_columns_pandas(path, text, header)
    names = _column_names(header)
    n_rows = len(columns[0]) if columns else 0
    data = {}
    for position, (name, column) in enumerate(zip(names, columns, strict=True)):
        if name in text_columns:
            data[position] = column.to_numpy(zero_copy_only=False)
        else:
            data[position] = _numeric_if_clean(column)
    first = FIRST_DATA_ROW[".csv"] + skipped
    frame = pd.DataFrame(data, index=pd.RangeIndex(first, first + n_rows))
    frame.columns = names
    # One row per record keeps the index equal to the file's row numbers; fully empty rows are
    # dropped afterwards, keeping the numbers of the rows after them.
    frame = frame.loc[frame.notna().any(axis=1)]
    return _drop_unnamed_empty(frame, header), header


def _skip_csv_title_lines(
    path: Path, text: str, expected_columns: tuple[str, ...]
) -> tuple[str, int]:
    """The text without the title lines above its header (a sheet saved as CSV with its
    title), and how many lines were skipped (with a warning). Every CSV cell is text, so only
    the expected column names tell a header from a title: without them nothing is skipped."""
    if not expected_columns:
        return text, 0
    lines = text.split("\n", MAX_TITLE_ROWS + 1)[: MAX_TITLE_ROWS + 1]
    rows = []
    for line in lines:
        records = _csv_records(line)
        if len(records) > 1:  # a quoted line break: not a simple title line
            break
        cells = records[0] if records else []
        rows.append(tuple(cell if cell.strip() else None for cell in cells))
    header_index = find_header_row(rows, expected_columns)
    if header_index == 0:
        return text, 0
    title = next((cell for row in rows[:header_index] for cell in row if cell), None)
    seen = "are empty" if title is None else f"look like a title ({title.strip()[:60]!r})"
    warnings.warn(
        f"{path}: {_row_range(1, header_index)} above the header {seen} and were skipped; the "
        f"header was read from row {header_index + 1}.",
        DataValidationWarning,
        stacklevel=5,
    )
    return text.split("\n", header_index)[header_index], header_index


def _csv_columns_arrow(text: str, header: list[str]) -> list[pa.Array] | None:
    """Every column as text, with arrow's fast reader; ``None`` when only pandas can keep the
    row numbers right (blank lines, which arrow skips) or arrow refuses the file."""
    if "\n\n" in text or "\n\r\n" in text or any("\n" in name for name in header):
        return None
    import pyarrow.csv as pa_csv

    generic = [f"c{i}" for i in range(len(header))]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=generic, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(generic, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return [table.column(i).combine_chunks() for i in range(table.num_columns)]


def _csv_columns_pandas(path: Path, text: str, header: list[str]) -> list[pa.Array]:
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            skiprows=1,
            names=list(range(len(header))),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataValidationError.single(
            str(path),
            f"the file cannot be read as CSV: {str(exc).strip()}",
            "check that every row has as many comma-separated fields as the header, and that "
            "quotes are balanced",
        ) from exc
    return [
        pa.array(frame[i].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        for i in frame.columns
    ]


def _numeric_if_clean(text: pa.Array) -> np.ndarray:
    """The column as numbers if every non-empty cell is one, else as text (to be reported)."""
    numbers, not_number = text_to_numbers(text)
    if not_number.any() or pc.any(pc.match_substring_regex(text, _KEEP_AS_TEXT)).as_py():
        return text.to_numpy(zero_copy_only=False)
    present = ~np.isnan(numbers)
    # Whole numbers become int64 only where int64 holds them exactly: "1e308" stays a float
    # (a cast would wrap it round to -9223372036854775808).
    if (
        present.all()
        and np.isfinite(numbers).all()
        and np.all(numbers == np.round(numbers))
        and np.all(np.abs(numbers) <= _EXACT_INTEGER)
    ):
        return numbers.astype("int64")
    return numbers


# Integers up to 2**53 are exact in float64 (and well inside int64).
_EXACT_INTEGER = 2.0**53


def _column_names(header: list[str]) -> list[str]:
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


def _drop_unnamed_empty(frame: pd.DataFrame, header: list[str]) -> pd.DataFrame:
    """Drop columns without a header name and without data (trailing commas from Excel)."""
    keep = []
    for position in range(frame.shape[1]):
        unnamed = position >= len(header) or not header[position].strip()
        if unnamed and frame.iloc[:, position].isna().all():
            continue
        keep.append(position)
    return frame.iloc[:, keep]


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
            warnings.warn(
                f"{path}, sheet {sheet_name!r}: "
                f"{_row_range(1, header_index)} above the header {seen} and were skipped; "
                f"the header was read from row "
                f"{header_index + 1}. If that is wrong, give header_row (command line: "
                "--header-row) with the row of the column names.",
                DataValidationWarning,
                stacklevel=4,
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
    _check_header(path, header)  # before the columns are used by name
    names = _column_names(header)
    data = np.array(body, dtype=object).reshape(len(body), width)
    first = header_index + 2  # the sheet's row number of the first data row
    frame = pd.DataFrame(data, columns=names, index=pd.RangeIndex(first, first + len(body)))
    frame = frame.loc[frame.notna().any(axis=1)]
    frame = _drop_unnamed_empty(frame, header)
    # A column of numbers becomes numeric and a column of dates datetime; a column with any
    # text stays as cells (object), so validation reports the text with its row.
    for column in frame.columns:
        frame[column] = _typed_cells(frame[column])
    return frame, header


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


def _row_range(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}-{last}"


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
        # worth its own message (from _check_header) rather than "cannot be read".
        header = list(pq.read_schema(path).names)
        named = [name.strip() for name in header if name.strip()]
        if len(set(named)) < len(named):
            return pd.DataFrame(), header  # reported by _check_header
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


def _check_header(path: Path, header: list[str]) -> None:
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
