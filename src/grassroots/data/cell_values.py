"""Missing cells and numbers in a column as the user's file holds it.

Only empty cells are missing (``"n/a"` is text, reported by the caller); numbers are parsed
without guessing (no thousands separators), with arrow's correctly rounding parser for text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(raw: pd.Series) -> pa.Array | None:
    """The column as an arrow string array when every present cell is text, else ``None``.

    Text columns (CSV cells, the text of a sheet) then go through arrow's vectorised string
    functions instead of a Python loop per cell.
    """
    if raw.dtype != object and not pd.api.types.is_string_dtype(raw.dtype):
        return None
    try:
        return pa.array(raw.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None  # numbers, dates or booleans among the text (a mixed spreadsheet column)


def _to_numpy_bool(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def missing_cells(raw: pd.Series) -> pd.Series:
    """Empty cells: NaN/None/NaT, or text that is only whitespace.

    Text such as ``"n/a"`` or ``"NA"`` is *not* missing: it is reported, so that a code the user
    meant as a value is never silently dropped.
    """
    text = arrow_text(raw)
    if text is not None:
        blank = pc.equal(pc.utf8_trim_whitespace(text), "")
        missing = raw.isna().to_numpy() | _to_numpy_bool(blank)
        return pd.Series(missing, index=raw.index)
    missing = raw.isna()
    if raw.dtype == object:
        missing = missing | each_cell(raw, lambda v: isinstance(v, str) and not v.strip())
    return missing.astype(bool)


def each_cell(raw: pd.Series, test) -> np.ndarray:
    """``test(cell)`` for each present cell, ``False`` for missing ones, as a bool array.

    (``Series.map(...).fillna(False)`` would do, but makes pandas warn about downcasting.)
    """
    present = raw.notna().to_numpy()
    result = np.zeros(len(raw), dtype=bool)
    if present.any():
        cells = raw.to_numpy(dtype=object)[present]
        result[present] = np.fromiter((bool(test(v)) for v in cells), bool, len(cells))
    return result


# A number as text, and nothing else: no thousands separators, no "nan" (which is text).
_NUMBER_TEXT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:[+-]?inf(inity)?)$"


def text_to_numbers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 values of number text (arrow's parser rounds correctly, unlike pandas'
    default one), and a mask of cells that hold text that is not a number."""
    trimmed = pc.utf8_trim_whitespace(text)
    is_number = pc.match_substring_regex(trimmed, _NUMBER_TEXT)
    numbers = pc.cast(pc.if_else(is_number, trimmed, pa.scalar(None, pa.string())), pa.float64())
    not_number = pc.and_(pc.invert(is_number), pc.not_equal(trimmed, ""))
    return (
        np.asarray(numbers.to_numpy(zero_copy_only=False), dtype="float64"),
        _to_numpy_bool(not_number),
    )


def is_other_typed(raw: pd.Series) -> bool:
    """A typed column that holds neither numbers, text nor dates: durations (a Parquet
    ``duration``), periods, intervals. Its cells are reported as the wrong kind of value."""
    dtype = raw.dtype
    return not (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
    )


def to_numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse a column to float64 without guessing: returns ``(numbers, missing, not_numeric)``.

    Booleans count as 0/1 only when the whole column is boolean (a parquet ``bool`` column);
    numbers stored as text (``" 12 "``) are accepted; anything else that is not empty
    (``"n/a"``, ``"1,200"``, ``"nan"``, a date) is ``not_numeric``.
    """
    missing = missing_cells(raw)
    no = pd.Series(False, index=raw.index)
    if pd.api.types.is_bool_dtype(raw.dtype) or pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64"), missing, no
    if pd.api.types.is_datetime64_any_dtype(raw.dtype) or is_other_typed(raw):
        return pd.Series(np.nan, index=raw.index), missing, ~missing
    text = arrow_text(raw)
    if text is None:  # a mixed column: numbers stay numbers, text is parsed, the rest is bad
        text = pa.array(
            raw.map(lambda v: v if isinstance(v, str) else None, na_action="ignore").to_numpy(
                dtype=object
            ),
            type=pa.string(),
            from_pandas=True,
        )
        numbers, not_number = text_to_numbers(text)
        is_real = each_cell(
            raw,
            lambda v: (
                isinstance(v, int | float | np.integer | np.floating)
                and not isinstance(v, bool | np.bool_)
            ),
        )
        if is_real.any():
            numbers[is_real] = raw[is_real].astype("float64").to_numpy()
        is_text = each_cell(raw, lambda v: isinstance(v, str))
        not_number |= ~is_real & ~is_text & ~missing.to_numpy()
    else:
        numbers, not_number = text_to_numbers(text)
    not_numeric = pd.Series(not_number & ~missing.to_numpy(), index=raw.index)
    values = pd.Series(numbers, index=raw.index).where(~not_numeric & ~missing)
    return values, missing, not_numeric
