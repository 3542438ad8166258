"""Problems found in a user's data: collected, grouped and reported all at once.

Each check adds rows to a :class:`ProblemLog` instead of raising, so one run reports every problem
in every file; :meth:`ProblemLog.raise_if_any` then raises one :class:`DataValidationError` whose
``problems`` table (:data:`PROBLEM_COLUMNS`: file, row, column, value, problem, hint) lists
them all. Messages group the cells that share a cause (:func:`group_problems`).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

PROBLEM_COLUMNS = ("file", "row", "column", "value", "problem", "hint")
DEFAULT_MAX_PROBLEMS = 50


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
                [None if is_missing_scalar(v) else display_value(v) for v in values], dtype=object
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


def is_missing_scalar(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def display_value(value: object) -> str:
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
