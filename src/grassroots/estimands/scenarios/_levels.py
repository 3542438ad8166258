"""Grouping levels of the columns, reference values, and where a step was declared."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grassroots.models.design import Scaling

#: Grouping levels (name, column), outer to inner, when a scenario file names none.
DEFAULT_GROUPS: tuple[tuple[str, str], ...] = (("county", "county_id"), ("township", "township_id"))
#: The level name of a column that varies within the innermost group (one value per row).
ROW_LEVEL = "row"
OVERALL = "overall"


class ScenarioError(ValueError):
    """A scenario is malformed or cannot be applied; the message names the file and the key."""


@dataclass(frozen=True)
class Where:
    """Where a step was declared (for error messages): file and key."""

    source: str = "<scenario>"
    key: str = ""

    def fail(self, message: str, subkey: str = "") -> ScenarioError:
        key = f"{self.key}.{subkey}" if subkey else self.key
        return ScenarioError(f"{self.source}: key '{key}': {message}" if key else message)


@dataclass(frozen=True)
class StepContext:
    """Reference values of the status-quo data shared by every step of one application."""

    reference: pd.DataFrame
    groups: tuple[tuple[str, str], ...]
    scaling: Scaling | None


def variable_level(
    frame: pd.DataFrame, column: str, groups: Sequence[tuple[str, str]] = DEFAULT_GROUPS
) -> str:
    """The outermost grouping level within whose groups ``column`` is constant.

    Parameters
    ----------
    frame : DataFrame
        The flat table.
    column : str
    groups : sequence of (level name, column)
        Outer to inner; levels whose column the frame lacks are skipped.

    Returns
    -------
    str
        A level name (``"county"``, ``"township"``), or ``"row"`` when the column varies within
        the innermost group.
    """
    present = [(name, col) for name, col in groups if col in frame.columns]
    for depth, (name, _) in enumerate(present, start=1):
        codes = unit_codes(frame, present, depth)
        if (frame[column].groupby(codes).nunique(dropna=False) <= 1).all():
            return name
    return ROW_LEVEL


def unit_codes(frame: pd.DataFrame, groups: Sequence[tuple[str, str]], depth: int) -> np.ndarray:
    """Integer code of every row's unit at ``depth`` (1 = outermost level; beyond: the row).

    Units are keyed by the ids of every level down to ``depth``, so an inner id reused under two
    outer groups names two units.
    """
    if depth > len(groups):
        return np.arange(len(frame))
    columns = [column for _, column in groups[:depth]]
    return frame.groupby(columns, sort=True, observed=True).ngroup().to_numpy()


def check_level(level: str, groups: Sequence[tuple[str, str]], where: Where) -> None:
    names = [name for name, _ in groups]
    if level != ROW_LEVEL and level not in names:
        raise where.fail(
            f"level {level!r} is not a grouping level of the data ({names + [ROW_LEVEL]})",
            "level",
        )


def check_column(frame: pd.DataFrame, column: str, where: Where, context: StepContext) -> None:
    if column not in frame.columns:
        hint = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
        raise where.fail(
            f"the data have no column {column!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else ""),
            "variable",
        )
    if column in {c for _, c in context.groups}:
        raise where.fail(f"{column!r} is a grouping column and cannot be changed", "variable")


def continuous_values(
    frame: pd.DataFrame, column: str, where: Where, context: StepContext
) -> np.ndarray:
    """The column as floats; refuses non-numeric and 0/1 columns (use ``set`` for those)."""
    check_column(frame, column, where, context)
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise where.fail(
            f"{column!r} is not numeric ({values.dtype}); use 'set' to give it a level", "variable"
        )
    numeric = values.to_numpy(dtype=float, na_value=np.nan)
    if set(np.unique(numeric[np.isfinite(numeric)]).tolist()) <= {0.0, 1.0}:
        raise where.fail(
            f"{column!r} is a 0/1 column; shifting or flooring it would leave {{0, 1}}: use "
            "'set' instead",
            "variable",
        )
    return numeric


def reference_sd(column: str, context: StepContext, where: Where) -> float:
    scaling = context.scaling.predictors.get(column) if context.scaling is not None else None
    if scaling is not None and scaling.kind == "continuous":
        return float(scaling.sd)
    sd = float(context.reference[column].to_numpy(dtype=float).std(ddof=1))
    if not np.isfinite(sd) or sd == 0:
        raise where.fail(f"{column!r} has no spread in the data, so '1 SD' is undefined", "unit")
    return sd
