"""Read a CSV file: one encoding for the whole file, text kept as text, row numbers kept.

See :func:`grassroots.data.readers.read_table` for what is read as what; this module is its CSV
part: decoding (UTF-8, UTF-16 with a byte-order mark, or a whole-file GB18030), title lines above
the header, and turning clean numeric columns into numbers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from grassroots._warnings import warn_caller
from grassroots.data.cell_values import text_to_numbers
from grassroots.data.problems import DataValidationError, DataValidationWarning, ProblemLog
from grassroots.data.table_headers import (
    FIRST_DATA_ROW,
    MAX_TITLE_ROWS,
    check_header_unique,
    drop_unnamed_empty_columns,
    find_header_row,
    header_column_names,
    row_range_text,
)


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


def read_csv_table(
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
    check_header_unique(path, header)
    columns = _csv_columns_arrow(text, header)
    if columns is None:
        columns = _csv_columns_pandas(path, text, header)
    names = header_column_names(header)
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
    return drop_unnamed_empty_columns(frame, header), header


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
    warn_caller(
        f"{path}: {row_range_text(1, header_index)} above the header {seen} and were skipped; the "
        f"header was read from row {header_index + 1}.",
        DataValidationWarning,
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
