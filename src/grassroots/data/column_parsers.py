"""Column parsers, one per codebook type: a raw column in, a typed :class:`Parsed` out.

Every invalid cell is reported to a :class:`~grassroots.data.problems.ProblemLog` with its row and
the user's column name (:class:`ColumnContext`), never raised one at a time.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from grassroots.data import schema
from grassroots.data.cell_values import (
    arrow_text,
    each_cell,
    is_other_typed,
    missing_cells,
    to_numbers,
)
from grassroots.data.problems import ProblemLog


@dataclass(frozen=True)
class Parsed:
    """A column parsed to its canonical type.

    ``values`` is the typed column; ``missing`` marks empty cells; ``invalid`` marks cells that
    were present but could not be used (already reported).
    """

    values: pd.Series
    missing: pd.Series
    invalid: pd.Series


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
    if pd.api.types.is_numeric_dtype(raw.dtype) or is_other_typed(raw):
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"), missing, ~missing
    # Fast path: ISO text, the common case; the rest, cell by cell.
    is_text = each_cell(raw, lambda v: isinstance(v, str))
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
        each_cell(raw, lambda v: isinstance(v, bool | np.bool_))
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
