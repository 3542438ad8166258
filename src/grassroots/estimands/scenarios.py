"""Counterfactual scenarios: declared in TOML, applied to a flat table as a modified copy.

A scenario is a sequence of steps, each changing one column of the flat (one row per project)
table:

* :class:`Shift` adds ``by`` SDs (``unit = "sd"``) or ``by`` units of the column
  (``unit = "natural"``, or the codebook's unit by name); for a column holding a log (codebook
  unit ``log CNY per resident``), ``unit = "CNY per resident"`` adds CNY before the log. The
  result is capped to the codebook's valid range (``[0, 100]`` for an index), and to optional
  ``min``/``max``;
* :class:`Floor` raises every value below a percentile to that percentile, the percentile taken
  over the whole study (``within = "overall"``) or within each group of an outer level
  (``within = "county"``);
* :class:`SetValue` sets every row to one value (``collaboration = 1``);
* combining scenarios concatenates their steps (applied in order).

**Levels.** A column is measured at the outermost grouping level within whose groups it is
constant (``resources`` is a township column, ``collaboration`` a county column, ``project_type``
a project column); it can be stated with ``level = "..."``. Percentiles are taken over the units
of that level, each unit once (a township with nine projects counts as much as one with two), so
"the county's 25th percentile of resources" is the 25th percentile of its townships' values.
Shifts and set values are the same for every row of a unit, so a township column stays constant
within townships.

**Reference values.** SDs and percentiles are those of the status-quo data (the table handed to
:meth:`Scenario.apply`), never of a partly modified copy, so the steps of a combined scenario do
not depend on each other's order through their reference values. The SD of a column is the SD
over the rows of the fitted data (``ddof = 1``), the one that standardises the predictor in the
models (:class:`grassroots.models.Scaling`): "+1 SD" moves the linear predictor by exactly the
coefficient per SD. Pass the fit's ``scaling`` to use its stored SD.

:meth:`Scenario.changes` states what a scenario does in SDs and natural units, and how many
units the caps held back ("+1 SD of resources = +0.61 log CNY per resident, i.e. the budget per
resident x1.84"), for the tables' notes.

The shipped scenarios (``models/scenarios.toml``) are the paper's three remedies and their
combination::

    groups = ["county_id", "township_id"]      # outer -> inner, as in the model specs
    default = ["resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd",
               "all_three"]

    [scenarios.resources_plus_1sd]
    label = "Resources +1 SD"
    shift = { variable = "resources", by = 1, unit = "sd" }

    [scenarios.collaboration_everywhere]
    set = { variable = "collaboration", value = 1 }

    [scenarios.all_three]
    combine = ["resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd"]

    [scenarios.resources_floor_p25]
    floor = { variable = "resources", percentile = 25, within = "county" }

Examples
--------
>>> scenarios = builtin_scenarios()
>>> scenarios.default
('resources_plus_1sd', 'collaboration_everywhere', 'tech_capacity_plus_1sd', 'all_three')
>>> scenarios["all_three"].variables
('resources', 'collaboration', 'tech_capacity')
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Interval
from grassroots.models.design import Scaling
from grassroots.models.spec import spec_dir

__all__ = [
    "DEFAULT_GROUPS",
    "SCENARIO_FILE",
    "Floor",
    "Scenario",
    "ScenarioError",
    "ScenarioSet",
    "SetValue",
    "Shift",
    "builtin_scenarios",
    "load_scenarios",
    "scenarios_from_dict",
    "variable_level",
]

SCENARIO_FILE = "scenarios.toml"
#: Grouping levels (name, column), outer to inner, when a scenario file names none.
DEFAULT_GROUPS: tuple[tuple[str, str], ...] = (("county", "county_id"), ("township", "township_id"))
#: The level name of a column that varies within the innermost group (one value per row).
ROW_LEVEL = "row"
OVERALL = "overall"


class ScenarioError(ValueError):
    """A scenario is malformed or cannot be applied; the message names the file and the key."""


# ---------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class _Where:
    """Where a step was declared (for error messages): file and key."""

    source: str = "<scenario>"
    key: str = ""

    def fail(self, message: str, subkey: str = "") -> ScenarioError:
        key = f"{self.key}.{subkey}" if subkey else self.key
        return ScenarioError(f"{self.source}: key '{key}': {message}" if key else message)


@dataclass(frozen=True)
class _Context:
    """Reference values of the status-quo data shared by every step of one application."""

    reference: pd.DataFrame
    groups: tuple[tuple[str, str], ...]
    scaling: Scaling | None


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


def _shift_units(variable: str) -> list[str]:
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
    where: _Where = field(default_factory=_Where, compare=False, repr=False)

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

    def _apply(self, frame: pd.DataFrame, context: _Context) -> pd.DataFrame:
        frame[self.variable], _ = self._shifted(frame, context)
        return frame

    def _shifted(self, frame: pd.DataFrame, context: _Context) -> tuple[np.ndarray, np.ndarray]:
        """The shifted values and which rows the caps held back."""
        values = _continuous(frame, self.variable, self.where, context)
        measure = codebook_measure(self.variable)
        if self.unit == "sd":
            shifted = values + self.by * _sd(self.variable, context, self.where)
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
                f"{_shift_units(self.variable)}",
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
    where: _Where = field(default_factory=_Where, compare=False, repr=False)

    def describe(self) -> str:
        scope = "" if self.within == OVERALL else f" within {self.within}"
        return f"{self.variable} floored at P{self.percentile:g}{scope}"

    def _apply(self, frame: pd.DataFrame, context: _Context) -> pd.DataFrame:
        _continuous(frame, self.variable, self.where, context)
        groups = context.groups
        level = self.level or variable_level(context.reference, self.variable, groups)
        _check_level(level, groups, self.where)
        names = [name for name, _ in groups]
        depth = names.index(level) + 1 if level != ROW_LEVEL else len(groups) + 1
        reference = context.reference
        # One value per unit of the column's level (first row of each unit; constant within it).
        unit_codes = _unit_codes(reference, groups, depth)
        first = pd.Series(np.arange(len(reference))).groupby(unit_codes).first().to_numpy()
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
            outer_of_row = _unit_codes(reference, groups, outer_depth)
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
    where: _Where = field(default_factory=_Where, compare=False, repr=False)

    def describe(self) -> str:
        return f"{self.variable} = {self.value}"

    def _apply(self, frame: pd.DataFrame, context: _Context) -> pd.DataFrame:
        _check_column(frame, self.variable, self.where, context)
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


# ---------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Scenario:
    """A named counterfactual: steps applied in order to a copy of the status-quo table.

    Attributes
    ----------
    name : str
        Identifier (the TOML table name), used in result tables.
    steps : tuple of Shift, Floor or SetValue
    label, label_zh : str
        Labels for tables and figures (English, Chinese); default: the steps described.
    description : str
    groups : tuple of (level name, column)
        Grouping levels, outer to inner (for levels and within-group percentiles).
    source : str, optional
        The file the scenario came from.
    """

    name: str
    steps: tuple[Step, ...]
    label: str = ""
    label_zh: str = ""
    description: str = ""
    groups: tuple[tuple[str, str], ...] = DEFAULT_GROUPS
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise ScenarioError(f"scenario {self.name!r} has no step")
        if not self.label:
            object.__setattr__(self, "label", "; ".join(step.describe() for step in self.steps))
        if not self.label_zh:
            object.__setattr__(self, "label_zh", self.label)

    @property
    def variables(self) -> tuple[str, ...]:
        """Columns the scenario changes, each once, in step order."""
        return tuple(dict.fromkeys(step.variable for step in self.steps))

    @classmethod
    def combine(cls, name: str, *scenarios: Scenario, **attributes: Any) -> Scenario:
        """One scenario applying the steps of ``scenarios`` in order."""
        if not scenarios:
            raise ScenarioError(f"scenario {name!r}: combine needs at least one scenario")
        steps = tuple(step for scenario in scenarios for step in scenario.steps)
        attributes.setdefault("groups", scenarios[0].groups)
        attributes.setdefault("label", " + ".join(s.label for s in scenarios))
        attributes.setdefault("label_zh", " + ".join(s.label_zh for s in scenarios))
        return cls(name, steps, **attributes)

    def apply(self, frame: pd.DataFrame, *, scaling: Scaling | None = None) -> pd.DataFrame:
        """The counterfactual copy of ``frame`` (``frame`` itself is left unchanged).

        Parameters
        ----------
        frame : DataFrame
            The status quo: the flat table (one row per project).
        scaling : Scaling, optional
            A fit's predictor scaling; its SD is used for ``unit = "sd"`` shifts of the columns it
            standardises (otherwise the SD over the rows of ``frame``, ddof=1).

        Returns
        -------
        DataFrame
            Same rows, index and columns; only the scenario's columns differ.

        Raises
        ------
        ScenarioError
            When a column is missing, of the wrong kind, or a grouping column; the message names
            the file and key of the step.
        """
        result, _ = self._run(frame, scaling)
        return result

    def _run(
        self, frame: pd.DataFrame, scaling: Scaling | None
    ) -> tuple[pd.DataFrame, list[tuple[Step, np.ndarray, np.ndarray, np.ndarray]]]:
        """The counterfactual copy and, per step, its column before and after and which rows
        its caps held back."""
        groups = tuple((name, column) for name, column in self.groups if column in frame.columns)
        context = _Context(reference=frame, groups=groups, scaling=scaling)
        result = frame.copy()
        record = []
        for step in self.steps:
            _check_column(result, step.variable, step.where, context)
            before = result[step.variable].to_numpy(copy=True)
            capped = np.zeros(len(frame), dtype=bool)
            if isinstance(step, Shift):
                result[step.variable], capped = step._shifted(result, context)
            else:
                result = step._apply(result, context)
            record.append((step, before, result[step.variable].to_numpy(copy=True), capped))
        return result, record

    def changes(self, frame: pd.DataFrame, *, scaling: Scaling | None = None) -> pd.DataFrame:
        """What the scenario does to the status quo, step by step, in SDs and natural units.

        Medians are over the units of the column's level (each township once) that the step
        changes, so "+1 SD of resources" reads as its median change in CNY per resident.

        Parameters
        ----------
        frame : DataFrame
            The status quo.
        scaling : Scaling, optional
            As in :meth:`apply`.

        Returns
        -------
        DataFrame
            One row per step: ``scenario``, ``step`` (its position), ``operation`` (``shift``,
            ``floor``, ``set``), ``variable``, ``level``, ``by`` and ``by_unit`` (a shift as
            stated), ``step_size`` (a shift's step in ``unit`` before caps; NaN when it differs
            between units, as for CNY added before the log), ``value`` (a set step's value, as
            text),
            ``sd`` (the SD "1 SD" means; NaN for a non-numeric column), ``unit`` and
            ``unit_zh`` (the column's), ``natural_unit`` and ``natural_unit_zh`` (the un-logged
            unit of a log column, else the column's), ``change`` (median change in ``unit``),
            ``change_sd`` (the same in SDs), ``change_natural`` (median change in
            ``natural_unit``), ``ratio`` (median after/before in ``natural_unit``, for a log
            column), ``cap_low`` and ``cap_high`` (a shift's caps), ``n_units`` (units of the
            level), ``n_changed`` (units whose value changes) and ``n_capped`` (units a cap
            held back).
        """
        _, record = self._run(frame, scaling)
        groups = tuple((name, column) for name, column in self.groups if column in frame.columns)
        context = _Context(reference=frame, groups=groups, scaling=scaling)
        names = [name for name, _ in groups]
        rows = []
        for position, (step, before, after, capped) in enumerate(record):
            level = getattr(step, "level", None) or variable_level(frame, step.variable, groups)
            depth = names.index(level) + 1 if level in names else len(groups) + 1
            codes = _unit_codes(frame, groups, depth)
            first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
            measure = codebook_measure(step.variable)
            numeric = pd.api.types.is_numeric_dtype(frame[step.variable]) and not isinstance(
                frame[step.variable].dtype, pd.CategoricalDtype
            )
            changed = before[first] != after[first]
            row: dict[str, Any] = {
                "scenario": self.name,
                "step": position + 1,
                "operation": {Shift: "shift", Floor: "floor", SetValue: "set"}[type(step)],
                "variable": step.variable,
                "level": level,
                "by": step.by if isinstance(step, Shift) else np.nan,
                "by_unit": step.unit if isinstance(step, Shift) else "",
                "step_size": np.nan,
                "value": _value_text(step.value) if isinstance(step, SetValue) else "",
                "sd": np.nan,
                "unit": measure.unit if measure else "",
                "unit_zh": measure.unit_zh if measure else "",
                "natural_unit": measure.natural if measure else "",
                "natural_unit_zh": measure.natural_zh if measure else "",
                "change": np.nan,
                "change_sd": np.nan,
                "change_natural": np.nan,
                "ratio": np.nan,
                "cap_low": np.nan,
                "cap_high": np.nan,
                "n_units": int(first.size),
                "n_changed": int(changed.sum()),
                "n_capped": int(capped[first].sum()),
            }
            if isinstance(step, Shift):
                row["cap_low"], row["cap_high"] = step.bounds()
                if step.unit == "sd":
                    row["step_size"] = step.by * _sd(step.variable, context, step.where)
                elif step.unit == "natural" or (measure and step.unit == measure.unit):
                    row["step_size"] = step.by
            if numeric:
                old = before[first].astype(float)[changed]
                new = after[first].astype(float)[changed]
                if old.size:
                    row["change"] = float(np.median(new - old))
                    natural = measure.to_natural if measure else (lambda v: v)
                    row["change_natural"] = float(np.median(natural(new) - natural(old)))
                    if measure is not None and measure.log:
                        row["ratio"] = float(np.median(natural(new) / natural(old)))
                if frame[step.variable].nunique(dropna=True) > 2:
                    row["sd"] = _sd(step.variable, context, _Where())
                    row["change_sd"] = row["change"] / row["sd"]
            rows.append(row)
        return pd.DataFrame(rows)

    def natural_change(
        self, frame: pd.DataFrame, variable: str, *, scaling: Scaling | None = None
    ) -> pd.Series:
        """Every row's change of ``variable`` in its natural unit (CNY per resident for
        ``resources``: ``exp(x') - exp(x)``); aligned with ``frame``."""
        if variable not in self.variables:
            raise ScenarioError(
                f"scenario {self.name!r} does not change {variable!r} (it changes "
                f"{list(self.variables)})"
            )
        result = self.apply(frame, scaling=scaling)
        measure = codebook_measure(variable)
        natural = measure.to_natural if measure else (lambda v: v)
        before = frame[variable].to_numpy(dtype=float)
        after = result[variable].to_numpy(dtype=float)
        return pd.Series(natural(after) - natural(before), index=frame.index, name=variable)


@dataclass(frozen=True)
class ScenarioSet:
    """The scenarios of one file, by name, and the names run by default.

    Iterating yields the default scenarios, in order.
    """

    scenarios: Mapping[str, Scenario]
    default: tuple[str, ...]
    groups: tuple[tuple[str, str], ...] = DEFAULT_GROUPS
    source: str | None = None

    def __getitem__(self, name: str) -> Scenario:
        try:
            return self.scenarios[name]
        except KeyError:
            hint = difflib.get_close_matches(name, list(self.scenarios), n=1)
            raise KeyError(
                f"no scenario {name!r} in {self.source or 'the scenario set'}"
                + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {list(self.scenarios)}")
            ) from None

    def __iter__(self) -> Iterator[Scenario]:
        return (self.scenarios[name] for name in self.default)

    def __len__(self) -> int:
        return len(self.default)

    def select(self, names: Sequence[str] | None = None) -> list[Scenario]:
        """The named scenarios (default: the default ones)."""
        return [self[name] for name in (self.default if names is None else names)]


# ---------------------------------------------------------------------------------------------
# Loading and validation

_TOP_KEYS = {"groups", "default", "scenarios"}
_SCENARIO_KEYS = {"label", "label_zh", "description", "shift", "floor", "set", "combine"}
_OPERATIONS = ("shift", "floor", "set", "combine")
_STEP_KEYS = {
    "shift": ({"variable", "by"}, {"unit", "min", "max", "level"}),
    "floor": ({"variable", "percentile"}, {"within", "level"}),
    "set": ({"variable", "value"}, set()),
}


def builtin_scenarios() -> ScenarioSet:
    """The shipped scenarios (``models/scenarios.toml``): the paper's remedies."""
    return load_scenarios(spec_dir() / SCENARIO_FILE)


def load_scenarios(path: str | Path | None = None) -> ScenarioSet:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path, optional
        A TOML file; default: the shipped ``models/scenarios.toml``.

    Raises
    ------
    ScenarioError
        When the file is missing, not TOML, or a key is missing, unknown or malformed; the
        message names the file and the key.
    """
    if path is None:
        return builtin_scenarios()
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML: {error}") from error
    return scenarios_from_dict(table, source=str(path))


def scenarios_from_dict(table: Mapping[str, Any], *, source: str | None = None) -> ScenarioSet:
    """Validate a scenario set given as a dict (the parsed TOML)."""
    where = source or "<scenarios>"
    _reject_unknown(table, _TOP_KEYS, where, "")
    groups = _parse_groups(table.get("groups", [c for _, c in DEFAULT_GROUPS]), where)
    raw = table.get("scenarios")
    if not isinstance(raw, Mapping) or not raw:
        raise ScenarioError(f"{where}: key 'scenarios' must hold one [scenarios.<name>] table each")
    for name, body in raw.items():
        if not isinstance(body, Mapping):
            raise ScenarioError(f"{where}: key 'scenarios.{name}' must be a table")
        if not name.isidentifier():
            raise ScenarioError(
                f"{where}: key 'scenarios.{name}': a scenario name must be an identifier"
            )
    parsed: dict[str, Scenario] = {}
    for name in raw:
        _parse_scenario(name, raw, parsed, groups, where, stack=())
    default = table.get("default", list(raw))
    if not isinstance(default, list) or not all(isinstance(n, str) for n in default):
        raise ScenarioError(f"{where}: key 'default' must be a list of scenario names")
    for name in default:
        if name not in parsed:
            hint = difflib.get_close_matches(name, list(parsed), n=1)
            raise ScenarioError(
                f"{where}: key 'default': no scenario {name!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else f" (known: {list(parsed)})")
            )
    return ScenarioSet(parsed, tuple(default), groups, source)


def _parse_groups(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{where}: key 'groups' must be a list of columns, outer level first")
    groups = []
    for position, item in enumerate(raw):
        key = f"groups[{position}]"
        if isinstance(item, str) and item:
            groups.append((item.removesuffix("_id") or item, item))
        elif isinstance(item, Mapping) and isinstance(item.get("column"), str):
            _reject_unknown(item, {"column", "name"}, where, f"{key}.")
            column = item["column"]
            name = item.get("name", column.removesuffix("_id") or column)
            if not isinstance(name, str) or not name.isidentifier():
                raise ScenarioError(f"{where}: key '{key}.name' must be an identifier")
            groups.append((name, column))
        else:
            raise ScenarioError(f"{where}: key '{key}' must be a column name or {{ column, name }}")
    names = [name for name, _ in groups]
    if len(set(names)) != len(names) or OVERALL in names or ROW_LEVEL in names:
        raise ScenarioError(
            f"{where}: key 'groups': level names {names} must be distinct and not "
            f"{OVERALL!r} or {ROW_LEVEL!r}"
        )
    return tuple(groups)


def _parse_scenario(
    name: str,
    raw: Mapping[str, Any],
    parsed: dict[str, Scenario],
    groups: tuple[tuple[str, str], ...],
    where: str,
    stack: tuple[str, ...],
) -> Scenario:
    if name in parsed:
        return parsed[name]
    key = f"scenarios.{name}"
    if name in stack:
        raise ScenarioError(
            f"{where}: key '{key}.combine': scenarios combine each other in a cycle "
            f"{' -> '.join((*stack, name))}"
        )
    body = raw[name]
    _reject_unknown(body, _SCENARIO_KEYS, where, f"{key}.")
    operations = [op for op in _OPERATIONS if op in body]
    if len(operations) != 1:
        raise ScenarioError(
            f"{where}: key '{key}' needs exactly one of {list(_OPERATIONS)}, found "
            f"{operations or 'none'}"
        )
    for text_key in ("label", "label_zh", "description"):
        if not isinstance(body.get(text_key, ""), str):
            raise ScenarioError(f"{where}: key '{key}.{text_key}' must be a string")
    attributes = {
        "label": body.get("label", ""),
        "label_zh": body.get("label_zh", ""),
        "description": body.get("description", ""),
        "groups": groups,
        "source": where,
    }
    (operation,) = operations
    if operation == "combine":
        names = body["combine"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ScenarioError(
                f"{where}: key '{key}.combine' must be a non-empty list of scenario names"
            )
        parts = []
        for part in names:
            if part not in raw:
                hint = difflib.get_close_matches(part, list(raw), n=1)
                raise ScenarioError(
                    f"{where}: key '{key}.combine': no scenario {part!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else f" (known: {list(raw)})")
                )
            parts.append(_parse_scenario(part, raw, parsed, groups, where, (*stack, name)))
        scenario = Scenario.combine(
            name, *parts, **{k: v for k, v in attributes.items() if v != ""}
        )
    else:
        step = _parse_step(operation, body[operation], groups, _Where(where, f"{key}.{operation}"))
        scenario = Scenario(name, (step,), **attributes)
    parsed[name] = scenario
    return scenario


def _parse_step(
    operation: str, body: Any, groups: tuple[tuple[str, str], ...], where: _Where
) -> Step:
    if not isinstance(body, Mapping):
        raise ScenarioError(
            f"{where.source}: key '{where.key}' must be a table, e.g. "
            '{ variable = "resources", ... }'
        )
    required, optional = _STEP_KEYS[operation]
    _reject_unknown(body, required | optional, where.source, f"{where.key}.")
    for name in sorted(required):
        if name not in body:
            raise where.fail(f"missing (needs {sorted(required)})", name)
    variable = body["variable"]
    if not isinstance(variable, str) or not variable:
        raise where.fail("must name a column", "variable")
    if variable in {column for _, column in groups}:
        raise where.fail(f"{variable!r} is a grouping column and cannot be changed", "variable")
    level_names = [name for name, _ in groups] + [ROW_LEVEL]
    level = body.get("level")
    if level is not None and level not in level_names:
        raise where.fail(f"must be one of {level_names}, not {level!r}", "level")
    if operation == "shift":
        by = _number(body["by"], where, "by")
        unit = body.get("unit", "sd")
        if unit not in _shift_units(variable):
            raise where.fail(
                f"must be one of {_shift_units(variable)} for {variable!r}, not {unit!r}", "unit"
            )
        low = _number(body["min"], where, "min") if "min" in body else None
        high = _number(body["max"], where, "max") if "max" in body else None
        if low is not None and high is not None and low > high:
            raise where.fail(f"'min' ({low:g}) exceeds 'max' ({high:g})")
        return Shift(variable, by, unit, low, high, level, where)
    if operation == "floor":
        percentile = _number(body["percentile"], where, "percentile")
        if not 0 <= percentile <= 100:
            raise where.fail(f"must lie in [0, 100], not {percentile:g}", "percentile")
        within = body.get("within", OVERALL)
        allowed = [OVERALL, *(name for name, _ in groups)]
        if within not in allowed:
            raise where.fail(f"must be one of {allowed}, not {within!r}", "within")
        return Floor(variable, percentile, within, level, where)
    value = body["value"]
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int | float | str):
        raise where.fail(f"must be a number or a level name, not {value!r}", "value")
    return SetValue(variable, value, where)


def _value_text(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def _number(value: Any, where: _Where, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise where.fail(f"must be a finite number, not {value!r}", key)
    return float(value)


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise ScenarioError(
                f"{where}: unknown key '{prefix}{key}'"
                + (f"; did you mean '{prefix}{hint[0]}'?" if hint else "")
                + f" (allowed here: {sorted(allowed)})"
            )


# ---------------------------------------------------------------------------------------------
# Levels and reference values


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
        codes = _unit_codes(frame, present, depth)
        if (frame[column].groupby(codes).nunique(dropna=False) <= 1).all():
            return name
    return ROW_LEVEL


def _unit_codes(frame: pd.DataFrame, groups: Sequence[tuple[str, str]], depth: int) -> np.ndarray:
    """Integer code of every row's unit at ``depth`` (1 = outermost level; beyond: the row).

    Units are keyed by the ids of every level down to ``depth``, so an inner id reused under two
    outer groups names two units.
    """
    if depth > len(groups):
        return np.arange(len(frame))
    columns = [column for _, column in groups[:depth]]
    return frame.groupby(columns, sort=True, observed=True).ngroup().to_numpy()


def _check_level(level: str, groups: Sequence[tuple[str, str]], where: _Where) -> None:
    names = [name for name, _ in groups]
    if level != ROW_LEVEL and level not in names:
        raise where.fail(
            f"level {level!r} is not a grouping level of the data ({names + [ROW_LEVEL]})",
            "level",
        )


def _check_column(frame: pd.DataFrame, column: str, where: _Where, context: _Context) -> None:
    if column not in frame.columns:
        hint = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
        raise where.fail(
            f"the data have no column {column!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else ""),
            "variable",
        )
    if column in {c for _, c in context.groups}:
        raise where.fail(f"{column!r} is a grouping column and cannot be changed", "variable")


def _continuous(frame: pd.DataFrame, column: str, where: _Where, context: _Context) -> np.ndarray:
    """The column as floats; refuses non-numeric and 0/1 columns (use ``set`` for those)."""
    _check_column(frame, column, where, context)
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


def _sd(column: str, context: _Context, where: _Where) -> float:
    scaling = context.scaling.predictors.get(column) if context.scaling is not None else None
    if scaling is not None and scaling.kind == "continuous":
        return float(scaling.sd)
    sd = float(context.reference[column].to_numpy(dtype=float).std(ddof=1))
    if not np.isfinite(sd) or sd == 0:
        raise where.fail(f"{column!r} has no spread in the data, so '1 SD' is undefined", "unit")
    return sd
