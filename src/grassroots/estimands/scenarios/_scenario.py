"""A scenario (its steps applied to the status quo) and a set of scenarios."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grassroots.estimands.scenarios._levels import (
    DEFAULT_GROUPS,
    ScenarioError,
    StepContext,
    Where,
    check_column,
    reference_sd,
    unit_codes,
    variable_level,
)
from grassroots.estimands.scenarios._steps import Floor, SetValue, Shift, Step, codebook_measure
from grassroots.models.design import Scaling


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
        context = StepContext(reference=frame, groups=groups, scaling=scaling)
        result = frame.copy()
        record = []
        for step in self.steps:
            check_column(result, step.variable, step.where, context)
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
        context = StepContext(reference=frame, groups=groups, scaling=scaling)
        names = [name for name, _ in groups]
        rows = []
        for position, (step, before, after, capped) in enumerate(record):
            level = getattr(step, "level", None) or variable_level(frame, step.variable, groups)
            depth = names.index(level) + 1 if level in names else len(groups) + 1
            codes = unit_codes(frame, groups, depth)
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
                    row["step_size"] = step.by * reference_sd(step.variable, context, step.where)
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
                    row["sd"] = reference_sd(step.variable, context, Where())
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


def _value_text(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:g}"
