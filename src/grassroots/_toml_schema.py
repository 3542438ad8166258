"""The structure of the package's TOML files, as pydantic models, and errors that teach.

Two kinds of TOML file are read: model specs (``models/*.toml``, :mod:`grassroots.models.spec`)
and column mappings (:mod:`grassroots.data.mapping`). This module declares, for both, which keys
exist, which are required, their types, allowed values and ranges; the modules that read the
files keep the rules that depend on other keys or on the codebook. The module sits at the top of
the package so that the data layer need not import the model layer (nor the other way round).

pydantic's own errors never reach a user: :func:`key_problems` turns them into
:class:`KeyProblem` records (the full key path, what was wrong, what the value must be, how to
fix it), and each reader raises its own exception type (``SpecError``,
``DataValidationError``). :class:`TomlSource` adds the line of the key in the file.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

KeyPath = tuple[str | int, ...]


class TomlTable(BaseModel):
    """A TOML table: no coercion (``"4"`` is not 4, ``true`` is not 1), no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    #: What the keys of this table are called in an "unknown ..." message.
    key_noun: ClassVar[str] = "key"


def toml_field(
    default: Any = ...,
    *,
    must: str,
    fix: str = "",
    each: str = "",
    each_fix: str = "",
    **rules: Any,
):
    """A field whose errors read "must be ``must``", and say how to fix it (``fix``).

    ``each`` and ``each_fix`` are the same for one item of a list or table, when they differ
    from the field's; ``{key}`` in a fix stands for the key's own name.
    """
    extra = {"fix": fix, "each": each, "each_fix": each_fix}
    return Field(default, description=must, json_schema_extra=extra, **rules)


# ---------------------------------------------------------------------------------------------
# Locating a key in the file


_KEY_PART = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _parse_dotted_key(text: str) -> tuple[tuple[str, ...], str]:
    """The key parts at the start of ``text`` (``a."b c".d``) and the text after them."""
    parts: list[str] = []
    position = 0
    while True:
        match = _KEY_PART.match(text, position)
        if match is None:
            return (), text
        parts.append(next(group for group in match.groups() if group is not None))
        position = match.end()
        if not text.startswith(".", position):
            return tuple(parts), text[position:]
        position += 1


def render_key_path(path: KeyPath, table: tuple[str, ...] = (), *, quote: bool = True) -> str:
    """The key path as TOML writes it: ``[outcomes.a].family``, ``groups[0].column``.

    ``quote=False`` leaves keys that TOML would quote (``"东部"``) bare, for tables of problems
    whose ``column`` names keys that way.
    """

    def key(part: str | int) -> str:
        if isinstance(part, int):
            return f"[{part}]"
        return part if not quote or _BARE_KEY.fullmatch(part) else f'"{part}"'

    head = f"[{'.'.join(key(part) for part in table)}]" if table else ""
    rest = ""
    for part in path[len(table) :]:
        text = key(part)
        rest += text if text.startswith("[") or not (head or rest) else "." + text
    return head + rest


@dataclass(frozen=True)
class TomlSource:
    """A TOML file's name and text, to say where a key is: ``[sampler].chains`` on line 12.

    tomllib keeps no positions, so lines are found by a simple scan of the text: a line
    ``[a.b]`` opens table ``a.b``, a line ``key = ...`` (bare, quoted or dotted key) defines
    ``<table>.key``. A key inside an inline table or array is reported at the line of the
    outermost key that holds it; lines inside multi-line strings are not told apart from keys
    (the package's files have none). ``text=None`` (a dict built in code) gives paths without
    lines or table brackets.
    """

    name: str
    text: str | None = None

    @cached_property
    def _index(self) -> tuple[dict[tuple[str, ...], int], frozenset[tuple[str, ...]]]:
        lines: dict[tuple[str, ...], int] = {}
        headers: set[tuple[str, ...]] = set()
        table: tuple[str, ...] = ()
        for number, line in enumerate((self.text or "").splitlines(), start=1):
            stripped = line.lstrip()
            if stripped.startswith("["):
                array = stripped.startswith("[[")
                parts, rest = _parse_dotted_key(stripped[2 if array else 1 :])
                if parts and rest.startswith("]"):
                    table = parts
                    headers.add(table)
                    lines.setdefault(table, number)
                continue
            parts, rest = _parse_dotted_key(stripped)
            if parts and rest.startswith("=") and not rest.startswith("=="):
                lines.setdefault(table + parts, number)
        return lines, frozenset(headers)

    def line(self, path: KeyPath) -> int | None:
        """The line of the key, of the key or table holding it, or ``None`` if not in the file."""
        lines, _ = self._index
        keys = tuple(typing.cast(str, part) for part in _leading_keys(path))
        for length in range(len(keys), 0, -1):
            if keys[:length] in lines:
                return lines[keys[:length]]
        return None

    def display(self, path: KeyPath) -> str:
        """The key path as the file writes it: ``[outcome].event``, ``groups[0].column``."""
        _, headers = self._index
        keys = _leading_keys(path)
        tables = [keys[:n] for n in range(len(keys), 0, -1) if keys[:n] in headers]
        return render_key_path(path, tables[0] if tables else ())

    def where(self, path: KeyPath) -> str:
        """``file, line 12`` (the file alone when the line is unknown)."""
        line = self.line(path)
        return self.name if line is None else f"{self.name}, line {line}"

    def at(self, path: KeyPath) -> str:
        """``file, line 12: key '[sampler].chains'``: the start of a message about a key."""
        return f"{self.where(path)}: key '{self.display(path)}'"


def _leading_keys(path: KeyPath) -> tuple[str, ...]:
    keys: list[str] = []
    for part in path:
        if isinstance(part, int):
            break
        keys.append(part)
    return tuple(keys)


# ---------------------------------------------------------------------------------------------
# pydantic errors -> the package's own words


@dataclass(frozen=True)
class KeyProblem:
    """One structural problem of a TOML file, in words, with no trace of pydantic.

    ``kind`` is ``unknown`` (a key the table does not take: ``allowed`` lists those it does),
    ``missing`` (a required key is absent) or ``invalid`` (``value`` is of the wrong type, not
    an allowed value or out of range). ``must`` says what the value must be; ``fix`` what to
    write.
    """

    path: KeyPath
    kind: Literal["unknown", "missing", "invalid"]
    must: str
    fix: str
    value: Any
    key_noun: str = "key"
    allowed: tuple[str, ...] = ()

    def suggestion(self) -> str | None:
        """The allowed key closest to an unknown one, if any is close."""
        close = difflib.get_close_matches(str(self.path[-1]), self.allowed, n=1)
        return close[0] if close else None


def key_problems(
    error: ValidationError, model: type[BaseModel], *, prefix: KeyPath = ()
) -> list[KeyProblem]:
    """Translate ``error`` (raised validating ``model``) into one problem per key.

    ``prefix`` is the key path of the table the model validated (e.g. ``("sampler",)``).
    """
    problems: dict[tuple[KeyPath, str], KeyProblem] = {}
    for item in error.errors(include_url=False):
        keys, table, field, field_depth = _resolve(model, item["loc"])
        if item["type"] == "extra_forbidden":
            kind = "unknown"
        elif item["type"] == "missing":
            kind = "missing"
        else:
            kind = "invalid"
        must, fix = "", ""
        if field is not None:
            extra = typing.cast(dict[str, str], field.json_schema_extra or {})
            item_of_field = len(keys) > field_depth
            must = (extra.get("each", "") if item_of_field else "") or field.description or ""
            fix = (extra.get("each_fix", "") if item_of_field else "") or extra.get("fix", "")
            fix = fix.replace("{key}", str(keys[-1]) if keys else "")
        problem = KeyProblem(
            path=prefix + keys,
            kind=kind,
            must=must,
            fix=fix,
            value=item.get("input"),
            key_noun=table.key_noun if issubclass(table, TomlTable) else "key",
            allowed=tuple(table.model_fields),
        )
        # A union reports each of its members: one problem per key is enough.
        problems.setdefault((problem.path, kind), problem)
    return list(problems.values())


def _unwrap(annotation: Any) -> Any:
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(annotation) if m is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _union_tag(member: Any) -> str:
    member = _unwrap(member)
    if isinstance(member, type):
        return member.__name__
    return repr(member)


def _resolve(
    model: type[BaseModel], loc: Sequence[str | int]
) -> tuple[KeyPath, type[BaseModel], Any, int]:
    """Walk ``loc`` through the model: the key path, the innermost table, the field there and
    how many keys lead to that field (keys beyond it are list items or keys of a table field).

    pydantic puts the member of a union it tried into ``loc`` (``("region", "str")``): such
    steps are not keys and are skipped.
    """
    keys: list[str | int] = []
    table, field, field_depth = model, None, 0
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            table = annotation
            keys.append(part)
            field = annotation.model_fields.get(str(part))
            field_depth = len(keys)
            if field is None:
                break
            annotation = field.annotation
            continue
        origin = typing.get_origin(annotation)
        if origin in (dict, Mapping):
            keys.append(part)
            annotation = typing.get_args(annotation)[1]
        elif origin in (list, tuple):
            keys.append(part)
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(annotation) if _union_tag(m) == part]
            if not members:
                break
            annotation = members[0]
        else:
            break
    return tuple(keys), table, field, field_depth


def validate_table(
    model: type[TomlTable], table: Any, *, prefix: KeyPath = ()
) -> tuple[Any, list[KeyProblem]]:
    """``(model instance, [])`` or ``(None, problems)``."""
    try:
        return model.model_validate(table), []
    except ValidationError as error:
        return None, key_problems(error, model, prefix=prefix)


# ---------------------------------------------------------------------------------------------
# Model specs (models/*.toml)

FAMILIES: tuple[str, ...] = ("survival", "ordinal", "logistic")
SPEC_FAMILIES: tuple[str, ...] = (*FAMILIES, "structural")
BACKENDS = ("nutpie", "pymc")
#: How the posterior is obtained: NUTS, or a variational approximation (PyMC's mean-field or
#: full-rank ADVI) for data too large for NUTS.
METHODS = ("nuts", "advi", "fullrank_advi")
ADAPTATIONS = ("diag", "draw_diag", "low_rank")
#: How a grouping level's effects are sampled: as standard normals scaled by the SD
#: (``non_centred``, the default), as the effects themselves (``centred``), or chosen from the
#: data (``auto``).
PARAMETERIZATIONS = ("non_centred", "centred", "auto")
# Boundaries of the piecewise-constant baseline, in months: fine early, where most projects stop,
# coarser later; the last interval runs from 84 months to infinity.
DEFAULT_CUTS: tuple[float, ...] = (6.0, 12.0, 18.0, 24.0, 36.0, 48.0, 60.0, 84.0)

ColumnName = Annotated[str, StringConstraints(min_length=1)]
_COLUMN_LIST = "a list of column names (non-empty strings)"


def _column_as_table(value: Any) -> Any:
    return {"column": value} if isinstance(value, str) else value


class GroupTable(TomlTable):
    column: ColumnName = toml_field(
        must="the column holding the level's ids (a non-empty string)",
        fix='write { column = "hospital_code", name = "hospital" }',
    )
    name: str | None = toml_field(
        None, must="the level's name, an identifier", fix='write name = "hospital"'
    )
    parameterization: Literal[PARAMETERIZATIONS] = toml_field(
        "non_centred",
        must=f"one of {PARAMETERIZATIONS}",
        fix='write parameterization = "auto" (or leave it out: "non_centred")',
    )


class SamplerTable(TomlTable):
    """The ``[sampler]`` table; defaults are :class:`grassroots.models.spec.SamplerSettings`'s."""

    chains: int = toml_field(must="a positive integer", fix="e.g. chains = 4", ge=1)
    draws: int = toml_field(must="a positive integer", fix="e.g. draws = 1000", ge=1)
    tune: int = toml_field(must="a whole number >= 0", fix="e.g. tune = 1000", ge=0)
    target_accept: float = toml_field(
        must="a number that lies in (0, 1)", fix="e.g. target_accept = 0.9", gt=0, lt=1
    )
    max_treedepth: int = toml_field(must="a positive integer", fix="e.g. max_treedepth = 10", ge=1)
    backend: Literal[BACKENDS] = toml_field(must=f"one of {BACKENDS}")
    adaptation: Literal[ADAPTATIONS] = toml_field(must=f"one of {ADAPTATIONS}")
    method: Literal[METHODS] = toml_field(
        must=f"one of {METHODS} (NUTS, mean-field ADVI, full-rank ADVI)"
    )
    iterations: int = toml_field(must="a positive integer", fix="e.g. iterations = 50000", ge=1)
    tolerance: float = toml_field(must="a positive number", fix="e.g. tolerance = 0.05", gt=0)


class BaselineTable(TomlTable):
    kind: Literal["piecewise", "weibull"] = toml_field("piecewise", must="'piecewise' or 'weibull'")
    cuts: list[Annotated[float, Field(gt=0)]] | None = toml_field(
        None,
        must="a non-empty list of increasing positive times (the interval boundaries after 0), "
        f"e.g. {list(DEFAULT_CUTS)}",
        each="a positive time",
        min_length=1,
    )

    @field_validator("cuts")
    @classmethod
    def _increasing(cls, cuts: list[float] | None) -> list[float] | None:
        if cuts is not None and any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
            raise ValueError("not increasing")
        return cuts


class _OutcomeTable(TomlTable):
    """One outcome's keys, as written in ``[outcomes.<name>]`` (or gathered for a single spec)."""

    name: str | None = toml_field(None, must="the outcome's name, an identifier")
    predictors: list[ColumnName] = toml_field([], must=_COLUMN_LIST, each="a column name")
    interactions: list[ColumnName] = toml_field(
        [],
        must="a list of terms such as 'collaboration:authority'",
        each="a term such as 'collaboration:authority'",
    )
    priors: dict[str, Any] = toml_field({}, must="a table of role = { dist = ..., ... }")


class SurvivalOutcomeTable(_OutcomeTable):
    family: Literal["survival"]
    time: ColumnName = toml_field(must="the name of the survival outcome's time column")
    event: ColumnName = toml_field(must="the name of the survival outcome's event column")
    baseline: BaselineTable = toml_field(
        BaselineTable(), must="a table with 'kind' (and 'cuts')", fix='e.g. kind = "weibull"'
    )
    time_varying: dict[str, Annotated[float, Field(gt=0)]] = toml_field(
        {},
        must="a table of column = onset (months)",
        each="a positive onset in months",
        fix="e.g. time_varying = { short_sighted = 12 }",
    )


class OrdinalOutcomeTable(_OutcomeTable):
    family: Literal["ordinal"]
    column: ColumnName = toml_field(must="the name of the ordinal outcome's column")
    levels: list[int] | None = toml_field(
        None, must="at least two increasing integers, e.g. [1, 2, 3, 4, 5]", min_length=2
    )

    @field_validator("levels")
    @classmethod
    def _increasing(cls, levels: list[int] | None) -> list[int] | None:
        if levels is not None and sorted(set(levels)) != levels:
            raise ValueError("levels not increasing")
        return levels


class LogisticOutcomeTable(_OutcomeTable):
    family: Literal["logistic"]
    column: ColumnName = toml_field(must="the name of the logistic outcome's 0/1 column")


OUTCOME_TABLES: dict[str, type[_OutcomeTable]] = {
    "survival": SurvivalOutcomeTable,
    "ordinal": OrdinalOutcomeTable,
    "logistic": LogisticOutcomeTable,
}


class OutcomeFamily(TomlTable):
    """Only an outcome's ``family``, read first to know which table it is."""

    model_config = ConfigDict(extra="ignore")
    family: Literal[FAMILIES] = toml_field(must=f"one of {FAMILIES}")


class _SpecTable(TomlTable):
    name: str = toml_field(must="a plain name")
    description: str = toml_field("", must="a string")
    groups: list[Annotated[GroupTable, BeforeValidator(_column_as_table)]] = toml_field(
        [],
        must="a list of 0, 1 or 2 nested grouping levels, outer level first",
        each="a column name or a table { column = ..., name = ... }",
        fix='e.g. groups = ["county_id", "township_id"]',
        max_length=2,
    )
    categorical: dict[str, str | int] = toml_field(
        {},
        must="a table of column = reference level",
        each="the reference level (a string or integer)",
        fix='e.g. region = "east"',
    )
    priors: dict[str, Any] = toml_field({}, must="a table of role = { dist = ..., ... }")
    sampler: dict[str, Any] = toml_field({}, must="a table", fix="write it as [sampler]")


class SingleSpecTable(_SpecTable):
    """A one-outcome spec; its outcome's keys (``[outcome]``, ``predictors`` ...) are checked by
    the outcome's own table (:data:`OUTCOME_TABLES`)."""

    family: Literal[SPEC_FAMILIES] = toml_field(must=f"one of {SPEC_FAMILIES}")
    outcome: dict[str, Any] = toml_field(
        must="the [outcome] table naming the outcome column(s)",
        fix='add [outcome] with column = "..." (or time = "..." and event = "..." for survival)',
    )
    predictors: Any = None
    interactions: Any = None
    baseline: Any = None
    time_varying: Any = None


class StructuralSpecTable(_SpecTable):
    family: Literal["structural"]
    correlated: str | bool = toml_field(
        False, must="the name of a grouping level, or false", fix='e.g. correlated = "township"'
    )
    outcomes: dict[str, dict[str, Any]] = toml_field(
        must="one [outcomes.<name>] table per outcome",
        each="a table [outcomes.<name>]",
        fix="add [outcomes.<name>] with the outcome's family and columns",
        min_length=1,
    )


# ---------------------------------------------------------------------------------------------
# Column mappings (the user's mapping.toml)

# Not blank: a name of only spaces names nothing.
_NAME = Annotated[str, StringConstraints(pattern=r"\S")]


def _date_of(value: Any) -> Any:
    """A TOML date or datetime, or ISO text (``"2025-06-30"``), as a date; else left as it is."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return value
    return value


_SHEET = {"must": "a sheet name", "fix": 'write {key} = "Sheet1"'}


class SheetsTable(TomlTable):
    """``sheets = { projects = "项目" }``: per table, its sheet of a shared workbook."""

    key_noun: ClassVar[str] = "table"
    counties: _NAME | None = toml_field(None, **_SHEET)
    townships: _NAME | None = toml_field(None, **_SHEET)
    projects: _NAME | None = toml_field(None, **_SHEET)
    flat: _NAME | None = toml_field(None, **_SHEET)


_FILE = {"must": "a string", "fix": 'write {key} = "your_file.csv"'}


class FilesTable(TomlTable):
    """``[files]``: the data files (checked for existence by the mapping reader) and how to read
    them."""

    counties: str | None = toml_field(None, **_FILE)
    townships: str | None = toml_field(None, **_FILE)
    projects: str | None = toml_field(None, **_FILE)
    flat: str | None = toml_field(None, **_FILE)
    sheet: str | None = toml_field(None, must="a string", fix='write sheet = "Sheet1"')
    sheets: SheetsTable = toml_field(
        SheetsTable(), must="a table", fix='write sheets = { projects = "项目" }'
    )
    encoding: str | None = toml_field(None, must="a string", fix='write encoding = "gbk"')
    header_row: int | None = toml_field(
        None, must="a whole number from 1", fix="write header_row = 3", ge=1
    )


class LevelsTable(TomlTable):
    groups: list[str] | None = toml_field(
        None,
        must="a list of level names",
        each="a level name (county or township)",
        fix='write groups = ["county", "township"] (outer to inner), ["township"], ["county"] '
        "or []",
    )


class OptionsTable(TomlTable):
    key_noun: ClassVar[str] = "option"
    drop_rows_with_missing_predictors: bool = toml_field(
        False, must="true or false (no quotes)", fix="write {key} = true"
    )
    survey_date: Annotated[dt.date | None, BeforeValidator(_date_of)] = toml_field(
        None, must="a date", fix='write survey_date = "2025-06-30" (YYYY-MM-DD)'
    )


class MappingFile(TomlTable):
    """The mapping file's sections; the codebook-dependent rules are in the mapping reader."""

    key_noun: ClassVar[str] = "section"
    files: FilesTable = toml_field(FilesTable(), must="a section [files]", fix="write [files]")
    levels: LevelsTable = toml_field(LevelsTable(), must="a section [levels]", fix="write [levels]")
    columns: dict[str, _NAME] = toml_field(
        {},
        must="a section [columns]",
        each="a non-empty string (your column's name)",
        fix="write [columns]",
        each_fix='write {key} = "your column name"',
    )
    categories: dict[str, dict[str, Any]] = toml_field(
        {},
        must="a section [categories]",
        each="a section",
        fix='write [categories.<name>] then "label" = "level"',
        each_fix='write [categories.{key}] then "label" = "level"',
    )
    options: OptionsTable = toml_field(
        OptionsTable(), must="a section [options]", fix="write [options]"
    )
