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
  survey (``months = days /`` :data:`DAYS_PER_MONTH`, with a tolerance of
  :data:`MONTHS_TOLERANCE`).

The problem log is :mod:`grassroots.data.problems`, the per-cell and per-column parsing
:mod:`~grassroots.data.cell_values` and :mod:`~grassroots.data.column_parsers`; this module holds
the checks across rows and tables and re-exports the names of the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from grassroots.data.cell_values import arrow_text, missing_cells, text_to_numbers, to_numbers
from grassroots.data.column_parsers import (
    ColumnContext,
    Parsed,
    parse_column,
    parse_dates,
    parse_ids,
)
from grassroots.data.problems import (
    DEFAULT_MAX_PROBLEMS,
    GROUP_COLUMNS,
    GROUP_ROWS_SHOWN,
    GROUP_VALUES_SHOWN,
    PROBLEM_COLUMNS,
    DataValidationError,
    DataValidationWarning,
    ProblemLog,
    did_you_mean,
    display_value,
    format_problems,
    group_problems,
    is_missing_scalar,
)
from grassroots.data.schema import DAYS_PER_MONTH

__all__ = [
    "DAYS_PER_MONTH",
    "DEFAULT_MAX_PROBLEMS",
    "GROUP_COLUMNS",
    "GROUP_ROWS_SHOWN",
    "GROUP_VALUES_SHOWN",
    "MONTHS_TOLERANCE",
    "PROBLEM_COLUMNS",
    "ColumnContext",
    "DataValidationError",
    "DataValidationWarning",
    "Parsed",
    "ProblemLog",
    "arrow_text",
    "check_constant_within",
    "check_dates",
    "check_parent_exists",
    "check_unique_ids",
    "did_you_mean",
    "format_problems",
    "group_problems",
    "missing_cells",
    "parse_column",
    "parse_dates",
    "parse_ids",
    "text_to_numbers",
    "to_numbers",
]

# Surveys record whole months, rounded up or down, so a project can report up to one month
# more than the exact time between its launch and the survey.
MONTHS_TOLERANCE = 1.0


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
            f"{'empty' if is_missing_scalar(first) else repr(display_value(first))} in row "
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
            f"still ran: correct months or the dates (months = days / {DAYS_PER_MONTH})",
            column="months",
            rows=projects.index[too_long.to_numpy()],
            values=months[too_long],
        )
