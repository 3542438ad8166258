"""Scenario steps: shift, floor, set, and the codebook measures that state them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Interval
from grassroots.estimands.scenarios._levels import (
    OVERALL,
    ROW_LEVEL,
    StepContext,
    Where,
    check_column,
    check_level,
    continuous_values,
    reference_sd,
    unit_codes,
    variable_level,
)


@dataclass(frozen=True)
class Measure:
    """How the codebook (``data/codebook.csv``) measures a continuous column.

    A unit written ``log X`` means the column holds the natural log of ``X``: ``resources`` is
    the log of the budget per resident, so its natural unit, the one a budget is decided in, is
    ``CNY per resident``, and a shift of ``by`` such units is ``log(exp(x) + by)``.

    Attributes
    ----------
    variable : str
    unit, unit_zh : str
        The column's unit as stored (``"log CNY per resident"``).
    natural, natural_zh : str
        The unit of the un-logged quantity (the same as ``unit`` unless ``log``).
    log : bool
    interval : Interval, optional
        The codebook's valid range of the stored values; shifts are capped to it.
    """

    variable: str
    unit: str
    unit_zh: str
    natural: str
    natural_zh: str
    log: bool
    interval: Interval | None

    def to_natural(self, values: np.ndarray) -> np.ndarray:
        return np.exp(values) if self.log else values


_LOG_PREFIX = "log "
_LOG_SUFFIX_ZH = "（对数）"


def codebook_measure(variable: str) -> Measure | None:
    """The codebook's unit and range of a continuous column; ``None`` for other columns."""
    try:
        entry = schema.variable(variable)
    except KeyError:
        return None
    if entry.type != "continuous" or not entry.unit:
        return None
    log = entry.unit.startswith(_LOG_PREFIX)
    return Measure(
        variable=variable,
        unit=entry.unit,
        unit_zh=entry.unit_zh,
        natural=entry.unit.removeprefix(_LOG_PREFIX) if log else entry.unit,
        natural_zh=entry.unit_zh.removesuffix(_LOG_SUFFIX_ZH) if log else entry.unit_zh,
        log=log,
        interval=entry.interval,
    )


def shift_units(variable: str) -> list[str]:
    """The units a shift of ``variable`` may be stated in."""
    measure = codebook_measure(variable)
    named = [] if measure is None else list(dict.fromkeys((measure.unit, measure.natural)))
    return ["sd", "natural", *named]


@dataclass(frozen=True)
class Shift:
    """Add ``by`` SDs, or ``by`` units of a natural unit, to a column; capped to its valid range.

    Attributes
    ----------
    variable : str
    by : float
    unit : str
        ``"sd"``: SDs over the rows of the fitted data (ddof=1), the predictor's
        standardisation; ``"natural"`` or the codebook's unit of the column (``"index"``): the
        column's own unit; for a column holding a log (codebook unit ``log X``), ``X`` itself
        (``"CNY per resident"``): ``by`` is added before the log, ``x' = log(exp(x) + by)``.
    minimum, maximum : float, optional
        Caps on the shifted values; the codebook's valid range of the column (``[0, 100]`` for
        an index) always caps them too, so a shift never leaves the values the data may hold.
    level : str, optional
        The column's grouping level; inferred from the data when ``None``.
    """

    variable: str
    by: float
    unit: str = "sd"
    minimum: float | None = None
    maximum: float | None = None
    level: str | None = None
    where: Where = field(default_factory=Where, compare=False, repr=False)

    def describe(self) -> str:
        unit = {"sd": " SD", "natural": ""}.get(self.unit, f" {self.unit}")
        return f"{self.variable} {self.by:+g}{unit}"

    def bounds(self) -> tuple[float, float]:
        """The caps: ``minimum``/``maximum`` within the codebook's valid range."""
        low, high = -np.inf, np.inf
        measure = codebook_measure(self.variable)
        if measure is not None and measure.interval is not None:
            interval = measure.interval
            # An open finite end is not a valid value: cap just inside it.
            low, high = interval.low, interval.high
            if not interval.low_closed and np.isfinite(low):
                low = np.nextafter(low, np.inf)
            if not interval.high_closed and np.isfinite(high):
                high = np.nextafter(high, -np.inf)
        if self.minimum is not None:
            low = max(low, self.minimum)
        if self.maximum is not None:
            high = min(high, self.maximum)
        return float(low), float(high)

    def _apply(self, frame: pd.DataFrame, context: StepContext) -> pd.DataFrame:
        frame[self.variable], _ = self._shifted(frame, context)
        return frame

    def _shifted(self, frame: pd.DataFrame, context: StepContext) -> tuple[np.ndarray, np.ndarray]:
        """The shifted values and which rows the caps held back."""
        values = continuous_values(frame, self.variable, self.where, context)
        measure = codebook_measure(self.variable)
        if self.unit == "sd":
            shifted = values + self.by * reference_sd(self.variable, context, self.where)
        elif self.unit == "natural" or (measure is not None and self.unit == measure.unit):
            shifted = values + self.by
        elif measure is not None and measure.log and self.unit == measure.natural:
            natural = np.exp(values) + self.by
            if (natural <= 0).any():
                raise self.where.fail(
                    f"{self.by:+g} {self.unit} would leave {int((natural <= 0).sum())} row(s) "
                    f"with no {self.unit} at all (the log of 0 or less is undefined); choose a "
                    "smaller cut or a floor",
                    "by",
                )
            shifted = np.log(natural)
        else:
            raise self.where.fail(
                f"{self.variable!r} cannot be shifted in {self.unit!r}; use one of "
                f"{shift_units(self.variable)}",
                "unit",
            )
        low, high = self.bounds()
        capped = np.clip(shifted, low, high)
        return capped, capped != shifted


@dataclass(frozen=True)
class Floor:
    """Raise values below a percentile to the percentile: ``x' = max(x, q)``.

    Attributes
    ----------
    variable : str
    percentile : float
        In [0, 100]; numpy's default (linear) interpolation between the units' values.
    within : str
        ``"overall"`` (one percentile over all units of the column's level) or the name of an
        outer grouping level (``"county"``: each county's percentile over its own townships).
    level : str, optional
        The column's grouping level; inferred from the data when ``None``.
    """

    variable: str
    percentile: float
    within: str = OVERALL
    level: str | None = None
    where: Where = field(default_factory=Where, compare=False, repr=False)

    def describe(self) -> str:
        scope = "" if self.within == OVERALL else f" within {self.within}"
        return f"{self.variable} floored at P{self.percentile:g}{scope}"

    def _apply(self, frame: pd.DataFrame, context: StepContext) -> pd.DataFrame:
        continuous_values(frame, self.variable, self.where, context)
        groups = context.groups
        level = self.level or variable_level(context.reference, self.variable, groups)
        check_level(level, groups, self.where)
        names = [name for name, _ in groups]
        depth = names.index(level) + 1 if level != ROW_LEVEL else len(groups) + 1
        reference = context.reference
        # One value per unit of the column's level (first row of each unit; constant within it).
        codes = unit_codes(reference, groups, depth)
        first = pd.Series(np.arange(len(reference))).groupby(codes).first().to_numpy()
        unit_values = reference[self.variable].to_numpy(dtype=float)[first]
        if self.within == OVERALL:
            floor_of_row = np.full(len(frame), np.percentile(unit_values, self.percentile))
        else:
            if self.within not in names:
                raise self.where.fail(
                    f"'within' must be 'overall' or a grouping level {names}, not {self.within!r}",
                    "within",
                )
            outer_depth = names.index(self.within) + 1
            if outer_depth >= depth:
                raise self.where.fail(
                    f"{self.variable!r} is a {level}-level column, so a floor within "
                    f"{self.within!r} would compare a unit only with itself; use an outer level "
                    "or 'overall'",
                    "within",
                )
            outer_of_row = unit_codes(reference, groups, outer_depth)
            outer_of_unit = outer_of_row[first]
            per_outer = (
                pd.Series(unit_values)
                .groupby(outer_of_unit)
                .quantile(self.percentile / 100.0, interpolation="linear")
            )
            floor_of_row = per_outer.reindex(outer_of_row).to_numpy()
        frame[self.variable] = np.maximum(frame[self.variable].to_numpy(dtype=float), floor_of_row)
        return frame


@dataclass(frozen=True)
class SetValue:
    """Set a column to one value in every row (``collaboration = 1`` in every county).

    Attributes
    ----------
    variable : str
    value : float or str
        A number for a numeric column (0 or 1 for a binary one), a level for a categorical one.
    """

    variable: str
    value: float | str
    where: Where = field(default_factory=Where, compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.variable} = {self.value}"

    def _apply(self, frame: pd.DataFrame, context: StepContext) -> pd.DataFrame:
        check_column(frame, self.variable, self.where, context)
        column = frame[self.variable]
        numeric = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        if isinstance(column.dtype, pd.CategoricalDtype):
            if self.value not in column.cat.categories:
                raise self.where.fail(
                    f"{self.value!r} is not a level of {self.variable!r} "
                    f"({list(column.cat.categories)})",
                    "value",
                )
            frame[self.variable] = pd.Categorical(
                [self.value] * len(frame), categories=column.cat.categories
            )
        elif numeric:
            if isinstance(self.value, str):
                raise self.where.fail(
                    f"{self.variable!r} is numeric; 'value' must be a number, not {self.value!r}",
                    "value",
                )
            value = float(self.value)
            # Keep an integer column integer (0/1 columns stay 0/1 for the model's scaling).
            if pd.api.types.is_integer_dtype(column) and value.is_integer():
                frame[self.variable] = pd.Series(int(value), index=frame.index, dtype=column.dtype)
            else:
                frame[self.variable] = np.full(len(frame), value)
        else:
            frame[self.variable] = self.value
        return frame


Step = Shift | Floor | SetValue
