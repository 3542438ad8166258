"""Scenarios from ``models/scenarios.toml`` or a dict, validated with errors naming the key."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grassroots.estimands.scenarios._levels import (
    DEFAULT_GROUPS,
    OVERALL,
    ROW_LEVEL,
    ScenarioError,
    Where,
)
from grassroots.estimands.scenarios._scenario import Scenario, ScenarioSet
from grassroots.estimands.scenarios._steps import Floor, SetValue, Shift, Step, shift_units
from grassroots.models.spec import spec_dir

SCENARIO_FILE = "scenarios.toml"

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
        step = _parse_step(operation, body[operation], groups, Where(where, f"{key}.{operation}"))
        scenario = Scenario(name, (step,), **attributes)
    parsed[name] = scenario
    return scenario


def _parse_step(
    operation: str, body: Any, groups: tuple[tuple[str, str], ...], where: Where
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
        if unit not in shift_units(variable):
            raise where.fail(
                f"must be one of {shift_units(variable)} for {variable!r}, not {unit!r}", "unit"
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


def _number(value: Any, where: Where, key: str) -> float:
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
