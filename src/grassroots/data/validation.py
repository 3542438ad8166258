"""Validation of a study's data: every problem found at once, each with its file, row and fix.

The checks run on tables whose columns already carry canonical names (see
:mod:`grassroots.data.mapping`) but whose values are still as the user's file holds them. Each
check adds rows to a :class:`ProblemLog` instead of raising, so one run reports every problem in
every file; :meth:`ProblemLog.raise_if_any` then raises one :class:`DataValidationError` whose
``problems`` table lists them all.

Row numbers are the user's: the index of a frame returned by
:func:`grassroots.data.readers.read_table` (the line of a CSV or the row of a sheet, with the
header as row 1; the record number, from 1, of parquet, Stata and SPSS files).

Checks, in the order they report:

* structure: required columns present (the id of each grouping level, ``project_id``,
  ``months``, ``discontinued``), a column in the file its table belongs to;
* values, one column at a time: ids present; ``months`` finite and >= 0; ``discontinued`` and the
  other binary columns in {0, 1} (labels such as 是/否 recoded by the mapping's
  ``[categories.<binary>]``); ``demand_fit`` an integer 1-5 or missing; continuous predictors
  numeric, finite and within the codebook's range (``data/codebook.csv``); categorical levels
  known after recoding; dates parse; missing values only where the codebook allows them (or,
  for predictors, where the mapping asks to drop the rows);
* relations: ids unique per table; every township in exactly one county; every project's township
  in the townships table and every township's county in the counties table; in a flat table,
  township-level columns constant within a township and county-level ones within a county;
* time: ``launch_date`` before ``survey_date``; ``months`` no longer than the time from launch to
  survey (``months = days / 30.4375``, with a tolerance of :data:`MONTHS_TOLERANCE`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from grassroots.data import schema

PROBLEM_COLUMNS = ("file", "row", "column", "value", "problem", "hint")
DEFAULT_MAX_PROBLEMS = 50
DAYS_PER_MONTH = 30.4375
# Surveys record whole months, rounded up or down, so a project can report up to one month
# more than the exact time between its launch and the survey.
MONTHS_TOLERANCE = 1.0
# Longest value shown in a message; a pasted paragraph in a cell should not flood the terminal.
_MAX_VALUE_CHARS = 60


class DataValidationError(ValueError):
    """The data (or the mapping file) cannot be used as they are.

    Attributes
    ----------
    problems : pandas.DataFrame
        One row per problem, with columns ``file``, ``row`` (the row number as the user's file
        counts it; missing for problems with a whole file or column), ``column``, ``value``,
        ``problem`` and ``hint``. Every problem found is here, even those the message leaves out.
    """

    def __init__(self, problems: pd.DataFrame, max_problems: int = DEFAULT_MAX_PROBLEMS) -> None:
        self.problems = _normalise_problems(problems)
        super().__init__(format_problems(self.problems, max_problems))

    def __reduce__(self):  # keep the problems table when the error crosses a process boundary
        return (type(self), (self.problems,))

    @classmethod
    def single(
        cls,
        file: str | None,
        problem: str,
        hint: str,
        *,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ) -> DataValidationError:
        """An error with one problem (a missing file, an unreadable file, a bad option)."""
        log = ProblemLog()
        log.add(
            file,
            problem,
            hint,
            column=column,
            rows=None if row is None else [row],
            values=None if value is None else [value],
        )
        return cls(log.frame())


class DataValidationWarning(UserWarning):
    """Soft problems in the data that did not stop the load (e.g. rows dropped on request)."""


def _normalise_problems(problems: pd.DataFrame) -> pd.DataFrame:
    frame = problems.reindex(columns=list(PROBLEM_COLUMNS)).reset_index(drop=True)
    frame["row"] = frame["row"].astype("Int64")
    for column in ("file", "column", "value", "problem", "hint"):
        frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
    return frame


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


# A problem group shows this many of its rows and distinct values; the rest are counted.
GROUP_ROWS_SHOWN = 5
GROUP_VALUES_SHOWN = 5
GROUP_COLUMNS = ("file", "column", "problem", "hint", "count", "rows", "values")


def group_problems(problems: pd.DataFrame) -> pd.DataFrame:
    """One row per cause: the problems of one file and column with the same fix (``hint``).

    Many bad cells of one kind (a thousand ``"是"`` in a 0/1 column) are one cause, listed once
    with how many cells it covers, its first rows and its distinct values with their counts.

    Returns
    -------
    pandas.DataFrame
        Columns ``file``, ``column``, ``problem`` (the first cell's text), ``hint``, ``count``
        (cells), ``rows`` (the first :data:`GROUP_ROWS_SHOWN` rows, ascending; empty for whole
        file or column problems) and ``values`` (the most frequent distinct values as
        ``(value, count)`` pairs, at most :data:`GROUP_VALUES_SHOWN`), in the order the causes
        first appear in ``problems``.
    """
    problems = _normalise_problems(problems)
    if problems.empty:
        return pd.DataFrame(columns=list(GROUP_COLUMNS))
    grouped = problems.groupby(["file", "column", "hint"], sort=False, dropna=False)
    records = []
    for _, group in grouped:
        rows = group["row"].dropna().astype("int64").sort_values()
        # Most frequent first; ties in the order the values first appear.
        counts = group["value"].dropna().value_counts(sort=False)
        counts = counts.sort_values(ascending=False, kind="stable")
        first = group.iloc[0]
        records.append(
            {
                "file": first["file"],
                "column": first["column"],
                "problem": first["problem"],
                "hint": first["hint"],
                "count": len(group),
                "rows": rows.head(GROUP_ROWS_SHOWN).tolist(),
                "values": list(counts.head(GROUP_VALUES_SHOWN).items()),
            }
        )
    return pd.DataFrame.from_records(records, columns=list(GROUP_COLUMNS))


def _group_location(group) -> str:
    where = [str(group.file)] if group.file is not None else []
    if group.rows:
        label = "row" if group.count == 1 else "rows"
        shown = ", ".join(str(row) for row in group.rows)
        more = group.count - len(group.rows)
        where.append(f"{label} {shown}" + (f" and {more} more" if more > 0 else ""))
    if group.column is not None:
        where.append(f"column {group.column!r}")
    if group.count == 1 and group.values:
        where.append(f"value {_shorten(str(group.values[0][0]))!r}")
    return ", ".join(where)


def _group_values(group) -> str:
    shown = ", ".join(f"{_shorten(str(value))!r} ({count}x)" for value, count in group.values)
    return shown


def format_problems(problems: pd.DataFrame, max_problems: int = DEFAULT_MAX_PROBLEMS) -> str:
    """The message of a :class:`DataValidationError`: one entry per cause (see
    :func:`group_problems`), the first ``max_problems`` causes, then how many more."""
    total = len(problems)
    groups = group_problems(problems)
    shown = groups.head(max(int(max_problems), 0))
    noun = "problem" if total == 1 else "problems"
    causes = (
        ""
        if len(groups) in (0, total)
        else f" ({len(groups)} {'cause' if len(groups) == 1 else 'causes'})"
    )
    lines = [f"{total} {noun} found{causes}; nothing was loaded."]
    for number, group in enumerate(shown.itertuples(index=False), start=1):
        location = _group_location(group)
        cells = f" [{group.count} cells]" if group.count > 1 else ""
        lines.append(
            f"  {number}. {location + cells + ': ' if location or cells else ''}{group.problem}"
        )
        if group.count > 1 and group.values:
            lines.append(f"     Values: {_group_values(group)}")
        if group.hint:
            lines.append(f"     Fix: {group.hint}")
    if len(groups) > len(shown):
        lines.append(
            f"  ... and {len(groups) - len(shown)} more (every problem, one row per cell, is in "
            "the error's .problems table; the command line writes it with --problems-csv)."
        )
    return "\n".join(lines)


class ProblemLog:
    """Collects problems from many checks; vectorised: one call adds a whole column's worth."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(
        self,
        file: str | None,
        problem: str | Sequence[str] | pd.Series,
        hint: str | Sequence[str] | pd.Series,
        *,
        column: str | None = None,
        rows: Iterable[int] | pd.Index | None = None,
        values: Iterable[object] | pd.Series | None = None,
    ) -> None:
        """Add one problem (``rows=None``) or one problem per row.

        ``problem`` and ``hint`` are one text for all rows or one text per row; ``values`` are
        the offending cells as the user's file holds them.
        """
        if rows is None:
            row_array = np.array([pd.NA], dtype=object)
        else:
            row_array = np.asarray(list(rows) if not hasattr(rows, "__len__") else rows)
            if len(row_array) == 0:
                return
        n = len(row_array)
        if values is None:
            value_array = np.full(n, None, dtype=object)
        else:
            value_array = np.asarray(
                [None if _is_missing_scalar(v) else _display(v) for v in values], dtype=object
            )
        part = pd.DataFrame(
            {
                "file": np.full(n, file, dtype=object),
                "row": row_array,
                "column": np.full(n, column, dtype=object),
                "value": value_array,
                "problem": _broadcast(problem, n),
                "hint": _broadcast(hint, n),
            }
        )
        self._parts.append(part)

    def extend(self, problems: pd.DataFrame) -> None:
        """Add the problems of another check (e.g. those of a :class:`DataValidationError`)."""
        if len(problems):
            self._parts.append(problems)

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def frame(self) -> pd.DataFrame:
        """Every problem, file by file (in the order the files were first reported), and within
        a file the whole-file and column problems first, then by row, so that a user can work
        through a file from top to bottom."""
        if not self._parts:
            return _normalise_problems(pd.DataFrame(columns=list(PROBLEM_COLUMNS)))
        frame = _normalise_problems(pd.concat(self._parts, ignore_index=True))
        file_order = {name: i for i, name in enumerate(dict.fromkeys(frame["file"]))}
        order = pd.DataFrame(
            {
                "file": frame["file"].map(file_order).fillna(-1),
                "row": frame["row"].astype("float64").fillna(-1.0),
            }
        )
        positions = order.sort_values(["file", "row"], kind="stable").index
        return frame.loc[positions].reset_index(drop=True)

    def raise_if_any(self, max_problems: int = DEFAULT_MAX_PROBLEMS) -> None:
        if self._parts:
            raise DataValidationError(self.frame(), max_problems)


def _broadcast(text: str | Sequence[str] | pd.Series, n: int) -> np.ndarray:
    if isinstance(text, str):
        return np.full(n, text, dtype=object)
    array = np.asarray(list(text), dtype=object)
    if len(array) != n:
        raise ValueError(f"{len(array)} texts for {n} problems")
    return array


def _is_missing_scalar(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _display(value: object) -> str:
    """A cell as the user would recognise it: 3 not 3.0, dates without a time of day."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # 1e300 stays "1e+300", not its 301 digits
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):  # outside Timestamp's years
        return value.date().isoformat()
    return str(value)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return f" (did you mean {lowered[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close and len(name) >= 3:  # an abbreviation: "drop_rows" for the long option name
        close = [c for c in candidates if c.lower().startswith(name.lower())][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


# ----------------------------------------------------------------------------------------------
# Missing cells and numbers
# ----------------------------------------------------------------------------------------------


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
        missing = missing | _each(raw, lambda v: isinstance(v, str) and not v.strip())
    return missing.astype(bool)


def _each(raw: pd.Series, test) -> np.ndarray:
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


@dataclass(frozen=True)
class Parsed:
    """A column parsed to its canonical type.

    ``values`` is the typed column; ``missing`` marks empty cells; ``invalid`` marks cells that
    were present but could not be used (already reported).
    """

    values: pd.Series
    missing: pd.Series
    invalid: pd.Series


def _other_typed(raw: pd.Series) -> bool:
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
    if pd.api.types.is_datetime64_any_dtype(raw.dtype) or _other_typed(raw):
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
        is_real = _each(
            raw,
            lambda v: (
                isinstance(v, int | float | np.integer | np.floating)
                and not isinstance(v, bool | np.bool_)
            ),
        )
        if is_real.any():
            numbers[is_real] = raw[is_real].astype("float64").to_numpy()
        is_text = _each(raw, lambda v: isinstance(v, str))
        not_number |= ~is_real & ~is_text & ~missing.to_numpy()
    else:
        numbers, not_number = text_to_numbers(text)
    not_numeric = pd.Series(not_number & ~missing.to_numpy(), index=raw.index)
    values = pd.Series(numbers, index=raw.index).where(~not_numeric & ~missing)
    return values, missing, not_numeric


# ----------------------------------------------------------------------------------------------
# Column parsers: one per codebook type
# ----------------------------------------------------------------------------------------------


def parse_ids(raw: pd.Series) -> pd.Series:
    """Ids as text: ``"C001"`` stays ``"C001"``; a number 7 or 7.0 (Stata, SPSS) becomes ``"7"``.

    Surrounding spaces are removed, so ``"T01 "`` in one file matches ``"T01"`` in another.
    """
    missing = missing_cells(raw).to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        numbers = raw.astype("float64")
        integral = np.isfinite(numbers) & (numbers == np.round(numbers))
        small = integral & (numbers.abs() <= 2.0**53)  # exact in int64; larger would wrap
        text = pd.Series(
            np.where(
                small,
                numbers.where(small, 0).astype("int64").astype(str),
                numbers.astype(str),
            ),
            index=raw.index,
            dtype=object,
        )
        large = integral & ~small
        if large.any():  # 1e20 -> "100000000000000000000", not a wrapped-round int64
            text[large] = numbers[large].map(lambda v: str(int(v)))
    elif (arrow := arrow_text(raw)) is not None:
        trimmed = pc.utf8_trim_whitespace(arrow).to_numpy(zero_copy_only=False)
        text = pd.Series(trimmed, index=raw.index, dtype=object)
    else:
        text = raw.map(_id_text, na_action="ignore")
    return text.where(~missing, None).astype(object)


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_DATE_TEXT = re.compile(
    r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$"
)


def parse_dates(raw: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse dates: datetime columns as they are; text as ``YYYY-MM-DD`` (also ``YYYY/MM/DD``,
    ``YYYY.MM.DD``, ``YYYY年M月D日``, with or without a time of day). Day-first and month-first
    forms such as ``01/02/2024`` are refused rather than guessed."""
    missing = missing_cells(raw)
    no = pd.Series(False, index=raw.index)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        # Parquet, Stata and SPSS dates may lie outside what nanoseconds hold (year 1, 9999).
        outside = values.notna() & ~((values >= pd.Timestamp.min) & (values <= pd.Timestamp.max))
        values = values.where(~outside).astype("datetime64[ns]")
        return values, missing, outside.astype(bool) if outside.any() else no
    if pd.api.types.is_numeric_dtype(raw.dtype) or _other_typed(raw):
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"), missing, ~missing
    # Fast path: ISO text, the common case; the rest, cell by cell.
    is_text = _each(raw, lambda v: isinstance(v, str))
    text = raw.where(is_text & ~missing)
    values = pd.to_datetime(text.str.strip(), format="%Y-%m-%d", errors="coerce")
    left = (~missing & values.isna()).to_numpy()
    if left.any():
        values[left] = raw[left].map(_other_date)
    values = values.astype("datetime64[ns]")
    invalid = (~missing & values.isna()).astype(bool)
    return values, missing, invalid


def _other_date(value: object) -> pd.Timestamp:
    if isinstance(value, dt.datetime | dt.date):  # openpyxl cells, Stata dates
        return _within_ns(pd.Timestamp(value))
    if isinstance(value, str) and (match := _DATE_TEXT.match(value)):
        year, month, day = (int(part) for part in match.groups())
        try:
            return _within_ns(pd.Timestamp(year=year, month=month, day=day))
        except ValueError:  # 2023-02-30 (OutOfBoundsDatetime is a ValueError, too)
            return pd.NaT
    return pd.NaT


def _within_ns(stamp: pd.Timestamp) -> pd.Timestamp:
    """The date, or NaT when a nanosecond timestamp cannot hold it (before 1677, after 2262):
    such a date (0130-07-21) is a typo, reported as not a date."""
    return stamp if pd.Timestamp.min <= stamp <= pd.Timestamp.max else pd.NaT


@dataclass(frozen=True)
class ColumnContext:
    """Where a column comes from, for the problems it reports."""

    file: str
    categories: dict[str, str] | None = None  # the mapping's [categories.<name>]: label -> level
    value_labels: dict[object, str] | None = None  # Stata/SPSS value labels: code -> label
    mapping_file: str | None = None
    user_name: str | None = None  # the column's name in the user's file, when it differs

    def name(self, var: schema.Variable) -> str:
        """How messages name the column: the user's own name, with the codebook's after it
        when the two differ (``存续月数 (months)``)."""
        if self.user_name is None or self.user_name == var.name:
            return var.name
        return f"{self.user_name} ({var.name})"

    def column(self, var: schema.Variable) -> str:
        """The ``column`` of a problem: the name in the user's file."""
        return self.user_name or var.name


def parse_column(
    raw: pd.Series,
    var: schema.Variable,
    context: ColumnContext,
    log: ProblemLog,
    *,
    missing_ok: bool,
) -> Parsed:
    """Parse one canonical column, reporting every invalid cell (and missing ones unless
    ``missing_ok``)."""
    parser = _PARSERS[var.type]
    parsed = parser(raw, var, context, log)
    if not missing_ok and parsed.missing.any():
        rows = raw.index[parsed.missing.to_numpy()]
        log.add(
            context.file,
            f"{context.name(var)} is missing",
            _missing_hint(var, context.name(var)),
            column=context.column(var),
            rows=rows,
        )
    return parsed


def _missing_hint(var: schema.Variable, name: str) -> str:
    if var.role in ("weakness", "strength", "control", "remedy", "mediator"):
        return (
            f"fill in {name}, or set drop_rows_with_missing_predictors = true under "
            "[options] of your mapping file to drop these rows"
        )
    return f"fill in {name} ({var.label_en}: {var.definition})"


def _report_invalid(
    log: ProblemLog,
    context: ColumnContext,
    var: schema.Variable,
    raw: pd.Series,
    invalid: pd.Series,
    problem: str,
    hint: str,
) -> None:
    if invalid.any():
        mask = invalid.to_numpy()
        log.add(
            context.file,
            problem,
            hint,
            column=context.column(var),
            rows=raw.index[mask],
            values=raw[mask],
        )


def _parse_id(raw, var, context, log) -> Parsed:
    values = parse_ids(raw)
    missing = values.isna()
    return Parsed(values, missing, pd.Series(False, index=raw.index))


def _parse_number_column(raw, var, context, log, *, check_range: bool) -> Parsed:
    numbers, missing, not_numeric = to_numbers(raw)
    _report_invalid(
        log,
        context,
        var,
        raw,
        not_numeric,
        f"{context.name(var)} must be a number, not text",
        "write a number, using '.' for decimals and no thousands separators; leave the cell "
        "empty if the value is missing",
    )
    infinite = ~missing & ~not_numeric & ~np.isfinite(numbers.fillna(0.0))
    _report_invalid(
        log,
        context,
        var,
        raw,
        infinite,
        f"{context.name(var)} must be finite",
        "replace the infinite value with the real one, or leave the cell empty if unknown",
    )
    invalid = not_numeric | infinite
    if check_range and var.interval is not None:
        ok = missing | invalid | var.interval.contains(numbers).fillna(False)
        out_of_range = ~ok
        _report_invalid(
            log,
            context,
            var,
            raw,
            out_of_range,
            f"{context.name(var)} must lie in {var.interval} ({var.unit or var.label_en})",
            f"correct the value: {var.definition}",
        )
        invalid = invalid | out_of_range
    # NaN (missing or invalid) stays NaN: rows with invalid cells never reach a model.
    return Parsed(numbers.where(~invalid), missing, invalid.astype(bool))


def _parse_continuous(raw, var, context, log) -> Parsed:
    # The codebook's range is the variable's domain (an index is 0-100, a share 0-1): a value
    # outside it is a typo or a different scale, and would reach the model unnoticed
    # (authority = 1e300 once passed here and broke the fit after sampling).
    return _parse_number_column(raw, var, context, log, check_range=True)


def _parse_set_of_integers(
    raw, var, context, log, *, hint: str, dtype: str, text_hint: str | None = None
) -> Parsed:
    numbers, missing, not_numeric = to_numbers(raw)
    allowed = [float(level) for level in var.allowed or ()]
    outside = ~missing & ~numbers.isin(allowed)
    range_text = var.range_text
    problem = f"{context.name(var)} must be one of {range_text}"
    if text_hint is None:
        _report_invalid(log, context, var, raw, outside, problem, hint)
    else:  # labels (是, TRUE) are one cause, numbers outside the set another
        _report_invalid(log, context, var, raw, outside & ~not_numeric, problem, hint)
        _report_invalid(log, context, var, raw, outside & not_numeric, problem, text_hint)
    values = numbers.where(~outside)
    if dtype == "int64":
        values = values.fillna(-1).astype("int64")  # rows with -1 are invalid and never used
    else:
        values = values.round().astype(dtype)
    return Parsed(values, missing, outside.astype(bool))


def _recode_binary(raw: pd.Series, context: ColumnContext) -> pd.Series:
    """Labels to 0/1 through the mapping's ``[categories.<binary>]`` (the raw code or, for a
    Stata/SPSS code, its value label), and spreadsheet booleans (TRUE/FALSE cells) to 1/0.
    Other cells are left as they are, for the 0/1 check to report."""
    recode = context.categories or {}
    is_bool = (
        _each(raw, lambda v: isinstance(v, bool | np.bool_))
        if raw.dtype == object
        else np.zeros(len(raw), dtype=bool)
    )
    if not recode and not is_bool.any():
        return raw
    result = raw.astype(object).copy()
    if is_bool.any():
        result[is_bool] = raw[is_bool].astype(int).to_numpy()
    if recode:
        missing = missing_cells(raw).to_numpy()
        codes = raw.where(~missing & ~is_bool)
        recoded = parse_ids(codes).map(recode)
        if context.value_labels and pd.api.types.is_numeric_dtype(raw.dtype):
            labels = {float(code): label for code, label in context.value_labels.items()}
            labelled = codes.astype("float64").map(labels).map(recode)
            recoded = recoded.where(recoded.notna(), labelled)
        hit = recoded.notna().to_numpy()
        result[hit] = recoded[hit].astype("int64").to_numpy()
    return result


def _parse_binary(raw, var, context, log) -> Parsed:
    where = f" in {context.mapping_file}" if context.mapping_file else " of your mapping file"
    return _parse_set_of_integers(
        _recode_binary(raw, context),
        var,
        context,
        log,
        hint=f"recode to 0/1: {var.definition}",
        text_hint=(
            f"recode to 0/1, or map your labels to 1 and 0 under [categories.{var.name}]{where}, "
            'e.g. "是" = 1 and "否" = 0 (or "TRUE" = 1, "FALSE" = 0)'
        ),
        dtype="int64",
    )


def _parse_ordinal(raw, var, context, log) -> Parsed:
    levels = ", ".join(var.allowed or ())
    return _parse_set_of_integers(
        raw,
        var,
        context,
        log,
        hint=f"use a whole number from {{{levels}}}, or leave the cell empty if no rating exists",
        dtype="Int64",
    )


def _parse_duration(raw, var, context, log) -> Parsed:
    return _parse_number_column(raw, var, context, log, check_range=True)


def _parse_categorical(raw, var, context, log) -> Parsed:
    allowed = list(var.allowed or ())
    missing = missing_cells(raw)
    codes = raw.where(~missing)
    if context.value_labels and pd.api.types.is_numeric_dtype(raw.dtype):
        labels = {float(code): label for code, label in context.value_labels.items()}
        labelled = codes.astype("float64").map(labels)
    else:
        labelled = pd.Series(np.nan, index=raw.index, dtype=object)
    code_text = parse_ids(codes)  # 1.0 -> "1", text stripped
    label_text = labelled.where(labelled.notna(), code_text).astype(object)
    recode = context.categories or {}
    recoded = code_text.map(recode)  # the mapping may name the raw code ...
    recoded = recoded.where(recoded.notna(), label_text.map(recode))  # ... or its label
    values = recoded.where(recoded.notna(), label_text)
    unknown = ~missing & ~values.isin(allowed)
    where = f" in {context.mapping_file}" if context.mapping_file else " in your mapping file"
    _report_invalid(
        log,
        context,
        var,
        raw,
        unknown,
        f"unknown {context.name(var)} level",
        f"allowed levels are {', '.join(allowed)}; recode the value, or add a "
        f'[categories.{var.name}] entry such as "<your label>" = "{allowed[0]}"{where}',
    )
    categorical = pd.Categorical(values.where(~unknown).to_numpy(dtype=object), categories=allowed)
    return Parsed(pd.Series(categorical, index=raw.index), missing, unknown.astype(bool))


def _parse_date(raw, var, context, log) -> Parsed:
    values, missing, invalid = parse_dates(raw)
    _report_invalid(
        log,
        context,
        var,
        raw,
        invalid,
        f"{context.name(var)} is not a date",
        "write dates as YYYY-MM-DD (e.g. 2023-05-01) between the years 1678 and 2261, or as "
        "dates in your spreadsheet",
    )
    return Parsed(values, missing, invalid)


_PARSERS = {
    "id": _parse_id,
    "continuous": _parse_continuous,
    "binary": _parse_binary,
    "ordinal": _parse_ordinal,
    "duration": _parse_duration,
    "categorical": _parse_categorical,
    "date": _parse_date,
}


# ----------------------------------------------------------------------------------------------
# Relations between rows and tables
# ----------------------------------------------------------------------------------------------


def check_unique_ids(ids: pd.Series, file: str, column: str, log: ProblemLog) -> pd.Series:
    """Report every repeat of an id (with the row of its first appearance); returns the mask of
    repeats."""
    present = ids.notna()
    repeated = ids.duplicated(keep="first") & present
    if repeated.any():
        first_row = (
            pd.Series(ids.index[present.to_numpy()], index=ids[present]).groupby(level=0).first()
        )
        repeats = ids[repeated]
        problems = [
            f"{column} {value!r} appears more than once (first in row {first_row[value]})"
            for value in repeats
        ]
        log.add(
            file,
            problems,
            f"each {column} must be unique in this table; remove the duplicate row or give it "
            "its own id",
            column=column,
            rows=repeats.index,
            values=repeats,
        )
    return repeated


def check_parent_exists(
    child_ids: pd.Series,
    parent_ids: pd.Series,
    *,
    child_file: str,
    parent_file: str,
    column: str,
    log: ProblemLog,
) -> pd.Series:
    """Report child rows whose key is not in the parent table; returns that mask."""
    orphan = child_ids.notna() & ~child_ids.isin(set(parent_ids.dropna()))
    if orphan.any():
        log.add(
            child_file,
            f"{column} not found in {parent_file}",
            f"add the missing row to {parent_file}, or correct the {column} here",
            column=column,
            rows=child_ids.index[orphan.to_numpy()],
            values=child_ids[orphan],
        )
    return orphan


_PARENT_OF_KEY = {"county_id": "county", "township_id": "township"}


def check_constant_within(
    frame: pd.DataFrame,
    group: str,
    columns: Sequence[str],
    *,
    file: str,
    level_name: str,
    log: ProblemLog,
    ignore: dict[str, pd.Series] | None = None,
    names: dict[str, str] | None = None,
) -> set[object]:
    """In a flat table, a group's columns (a township's, a county's) must not vary within it.

    Reports the first row of each group that differs from the group's first row, per column.
    Cells already reported as invalid (``ignore``) are skipped so a problem is reported once.
    ``names`` (canonical -> the user's column name) names the columns in the messages.
    Returns the groups that vary.
    """
    varying: set[object] = set()
    keys = frame[group]
    has_key = keys.notna().to_numpy()
    if not has_key.any():
        return varying
    sub = frame.loc[has_key]
    sub_keys = keys[has_key]
    first_position = ~sub_keys.duplicated(keep="first").to_numpy()
    first_rows = pd.Series(sub.index[first_position], index=sub_keys[first_position])
    for column in columns:
        if column not in sub.columns:
            continue
        values = sub[column]
        if ignore is not None and column in ignore:
            skip = ignore[column][has_key].to_numpy()
        else:
            skip = np.zeros(len(sub), dtype=bool)
        reference = pd.Series(values[first_position].to_numpy(), index=sub_keys[first_position])
        expected = sub_keys.map(reference)
        if isinstance(values.dtype, pd.CategoricalDtype):
            values_cmp, expected_cmp = values.astype(object), expected.astype(object)
        else:
            values_cmp, expected_cmp = values, expected
        same = (values_cmp.to_numpy() == expected_cmp.to_numpy()) | (
            pd.isna(values_cmp).to_numpy() & pd.isna(expected_cmp).to_numpy()
        )
        skip_groups = set(sub_keys[skip]) | set(sub_keys[first_position][skip[first_position]])
        differs = ~same & ~skip & ~sub_keys.isin(skip_groups).to_numpy()
        if not differs.any():
            continue
        differing = pd.DataFrame({"key": sub_keys[differs], "value": values[differs]})
        differing = differing[~differing["key"].duplicated(keep="first")]
        first_values = differing["key"].map(reference)
        shown = _user_name(column, names)
        problems = [
            f"{shown} differs within {level_name} {key!r}: "
            f"{'empty' if _is_missing_scalar(first) else repr(_display(first))} in row "
            f"{first_rows[key]}, another value here"
            for key, first in zip(differing["key"], first_values, strict=True)
        ]
        varying.update(differing["key"])
        if column in _PARENT_OF_KEY:
            hint = (
                f"a {level_name} lies in exactly one {_PARENT_OF_KEY[column]}: correct the "
                f"{shown} of the rows that are wrong"
            )
        else:
            hint = (
                f"{shown} describes the {level_name}: give every row of a {level_name} the "
                f"same value, or rename the column to keep it as your own project-level column"
            )
        log.add(
            file,
            problems,
            hint,
            column=column,
            rows=differing.index,
            values=differing["value"].astype(object),
        )
    return varying


def _user_name(column: str, names: dict[str, str] | None) -> str:
    """``存续月数 (months)`` for a column the mapping renamed, else the canonical name."""
    user = (names or {}).get(column)
    return column if user is None or user == column else f"{user} ({column})"


def check_dates(
    projects: pd.DataFrame,
    *,
    file: str,
    log: ProblemLog,
    invalid: dict[str, pd.Series],
    names: dict[str, str] | None = None,
) -> None:
    """``launch_date`` before ``survey_date``; ``months`` within launch-to-survey time.

    ``names`` (canonical -> the user's column name) names the columns in the messages."""
    launch_name, survey_name, months_name = (
        _user_name(c, names) for c in ("launch_date", "survey_date", "months")
    )
    if "launch_date" not in projects or "survey_date" not in projects:
        return
    launch, survey = projects["launch_date"], projects["survey_date"]
    usable = launch.notna() & survey.notna()
    late = usable & (launch >= survey)
    if late.any():
        log.add(
            file,
            [f"{launch_name} is not before {survey_name} ({s:%Y-%m-%d})" for s in survey[late]],
            "correct the launch or survey date: a project must have gone live before the survey",
            column="launch_date",
            rows=projects.index[late.to_numpy()],
            values=launch[late],
        )
    if "months" not in projects:
        return
    months = projects["months"]
    months_ok = months.notna()
    if "months" in invalid:
        months_ok &= ~invalid["months"].reindex(projects.index, fill_value=False)
    window = (survey - launch).dt.days / DAYS_PER_MONTH
    too_long = usable & ~late & months_ok & (months > window + MONTHS_TOLERANCE)
    if too_long.any():
        log.add(
            file,
            [
                f"{months_name} is longer than the {w:.1f} months from {launch_name} to "
                f"{survey_name}"
                for w in window[too_long]
            ],
            "months counts from launch to discontinuation, or to the survey date if the project "
            "still ran: correct months or the dates (months = days / 30.4375)",
            column="months",
            rows=projects.index[too_long.to_numpy()],
            values=months[too_long],
        )
