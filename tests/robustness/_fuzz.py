"""Generated malformed study inputs: the hypothesis strategies and checks behind the fuzz tests.

A plain module (not a conftest), shared by ``tests/robustness/test_fuzz_inputs.py`` and the
long campaign ``analysis/validation/fuzz_inputs.py``.

How an input is made
--------------------
A :class:`Case` starts from valid tables (a small simulated study, or the one-row templates of
``data/templates/``), so that most examples get past the readers and into validation. It then
records, as small readable dataclasses (hypothesis prints them for a failing example):

* value and structure mutations of the tables (:class:`SetCell`, :class:`DropColumn`,
  :class:`DuplicateColumn`, :class:`RenameColumn`, :class:`DuplicateRow`, :class:`Orphan`,
  :class:`TwoCounties`, :class:`Retype`, :class:`NoRows`, :class:`OwnColumn`), and mappings of
  columns and labels that a mapping file must undo (:class:`MapColumn`, :class:`Relabel`,
  :class:`Coded`);
* the format of each file (CSV, Parquet, xlsx, Stata, SPSS) and, for CSV, the text encoding
  (UTF-8, UTF-8 with BOM, GB18030, Latin-1, UTF-16, lines in mixed encodings) and separator;
* damage to a file's bytes (:class:`ByteDamage`: truncation, random bytes, an empty file, a
  CSV saved under another format's extension);
* the mapping file: absent, given as the source (with ``[files]``) or as ``mapping=``, and its
  own damage (:class:`MapSet`, :class:`MapDelete`, :class:`MapText`, :class:`MapEncoding`).

:func:`materialise` writes a case into a folder and returns what to pass to ``load_study``;
:func:`check_load` runs the property: ``load_study`` returns a study that passes
:func:`assert_valid_study`, or raises :class:`~grassroots.data.DataValidationError`; anything
else propagates.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import decimal
import functools
import io
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from grassroots.data import DataValidationError, load_study, schema
from grassroots.data.simulate import SimulationConfig, simulate
from grassroots.data.validation import DAYS_PER_MONTH, MONTHS_TOLERANCE

TEMPLATES = Path(__file__).resolve().parents[2] / "data" / "templates"
TABLES = ("counties", "townships", "projects")
FORMATS = (".csv", ".parquet", ".xlsx", ".dta", ".sav")
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "latin-1", "utf-16", "mixed")
CANONICAL = tuple(schema.canonical_columns())
ID_COLUMNS = ("county_id", "township_id", "project_id")
CATEGORICAL = tuple(
    name
    for name in CANONICAL
    if any(var.type == "categorical" for (_, n), var in schema.variables().items() if n == name)
)
OUTCOMES = ("valid", "validation", "reader", "mapping")
EXTRA_FILES = (
    "projects.xlsx",
    "projects.CSV",
    "flat.csv",
    "counties.parquet",
    "notes.txt",
    ".~lock.projects.csv#",
    ".hidden.csv",
    "Townships.dta",
    "survey.sav",
)

# ----------------------------------------------------------------------------------------------
# The valid starting tables
# ----------------------------------------------------------------------------------------------


@functools.cache
def _base(kind: str) -> dict[str, pd.DataFrame]:
    if kind == "template":
        return {t: pd.read_csv(TEMPLATES / f"{t}.csv") for t in TABLES}
    config = SimulationConfig(n_counties=3, townships_per_county=2.0, projects_per_township=2.0)
    return {t: frame.copy() for t, frame in simulate(seed=11, config=config).tables.items()}


def base_tables(kind: str) -> dict[str, pd.DataFrame]:
    """Valid canonical tables: ``"simulated"`` (3 counties, a handful of townships and
    projects) or ``"template"`` (the one-row tables of ``data/templates/``)."""
    return {t: frame.copy() for t, frame in _base(kind).items()}


def flat_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The three tables joined into one row per project."""
    return (
        tables["projects"]
        .merge(tables["townships"], on="township_id", how="left")
        .merge(tables["counties"], on="county_id", how="left")
    )


# ----------------------------------------------------------------------------------------------
# Values that break things
# ----------------------------------------------------------------------------------------------

NASTY_VALUES: tuple[object, ...] = (
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    1.7976931348623157e308,
    5e-324,
    -0.0,
    10**30,
    -(10**30),
    2**63,
    2**63 - 1,
    -(2**63),
    2**31,
    0,
    1,
    -1,
    -5,
    0.5,
    2.5,
    6,
    5,
    1.0,
    "",
    " ",
    "abc",
    "n/a",
    "NA",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e999",
    "1e308",
    "-1e-400",
    "未知",
    "是",
    "否",
    "１２",
    "1,200",
    "3.5.1",
    "0x10",
    "1_000",
    "+5",
    "٣",
    "2023-02-30",
    "2023年5月1日",
    "01/02/2024",
    "2024-13-01",
    "9999-12-31",
    "0000-00-00",
    "1677-09-21",
    "2262-04-12",
    "2025-06-30 25:00",
    "2024-01-01T10:00:00",
    True,
    False,
    None,
    pd.NaT,
    dt.date(2024, 1, 1),
    dt.datetime(2262, 4, 12),
    dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59),
    dt.time(12, 0),
    "\x00",
    "\ufeffC001",
    "C001\u200b",
    "=1+1",
    "'",
    '"',
    "a,b",
    "a\nb",
    "a\r\nb",
    ";",
    "C001",
    "T001",
    "P0001",
    "east",
    "东部",
    "town",
    "镇",
    "mini_program",
    "小程序",
    "x" * 5000,
    "é",
    "ÿþ",
    "😀",
)


def _no_surrogates(text: str) -> bool:
    return not any("\ud800" <= ch <= "\udfff" for ch in text)


cell_values = st.one_of(
    st.sampled_from(NASTY_VALUES),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12).filter(_no_surrogates),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
)
column_names = st.one_of(
    st.sampled_from(
        [
            *CANONICAL,
            "",
            " ",
            "Unnamed: 0",
            "项目编号",
            "存续月数",
            "月",
            "months ",
            " months",
            "MONTHS",
            "project id",
            "1st",
            "a.b",
            "县编码",
            "\ufeffproject_id",
            "x" * 300,
        ]
    ),
    st.text(min_size=1, max_size=10).filter(_no_surrogates),
)
toml_values = st.recursive(
    st.one_of(
        st.none(),  # a missing value: the key is left out
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12).filter(_no_surrogates),
        st.sampled_from(
            [
                "county",
                "township",
                "projects.csv",
                "missing.csv",
                "2025-06-30",
                "2025-02-30",
                "east",
                "东部",
                "../projects.csv",
                "/nonexistent/x.csv",
                ".",
                "",
                "months",
            ]
        ),
        st.dates(),
        st.datetimes(),
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(min_size=1, max_size=6).filter(_no_surrogates), children, max_size=3
        )
    ),
    max_leaves=6,
)

# ----------------------------------------------------------------------------------------------
# Mutations: small records that say what to change (hypothesis shows them for a failure)
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SetCell:
    """Put ``value`` into row ``row`` (modulo the row count) of ``column``."""

    table: str
    row: int
    column: str
    value: object


@dataclasses.dataclass(frozen=True)
class DropColumn:
    table: str
    column: str


@dataclasses.dataclass(frozen=True)
class DuplicateColumn:
    """A second column of the same name (and, when ``vary``, different values)."""

    table: str
    column: str
    vary: bool = False


@dataclasses.dataclass(frozen=True)
class RenameColumn:
    table: str
    column: str
    new: str


@dataclasses.dataclass(frozen=True)
class DuplicateRow:
    """Repeat a row: a duplicated id (and, with ``change``, another value in ``column``)."""

    table: str
    row: int
    column: str | None = None
    change: object = None


@dataclasses.dataclass(frozen=True)
class Orphan:
    """A row whose key points at a parent that does not exist."""

    table: str
    row: int
    key: str
    value: str = "NOPE-404"


@dataclasses.dataclass(frozen=True)
class TwoCounties:
    """A township in two counties: a flat row, or a repeated township row, with another
    county."""

    table: str
    row: int


@dataclasses.dataclass(frozen=True)
class Retype:
    """Store a whole column as another type: ``text`` (numbers as strings), ``padded``
    (``" 12 "``), ``comma`` (decimal commas), ``float``, ``bool``, ``object``, ``date``; and
    types that typed formats keep: ``category`` (a dictionary column), ``tz`` (dates with a
    time zone), ``decimal``, ``uint64``, ``int8``, ``list``, ``null`` (no values),
    ``bytes``, ``timedelta``, ``time``."""

    table: str
    column: str
    how: str


@dataclasses.dataclass(frozen=True)
class NoRows:
    table: str


@dataclasses.dataclass(frozen=True)
class OwnColumn:
    """An extra column of the user's own, filled with ``value``."""

    table: str
    name: str
    value: object


@dataclasses.dataclass(frozen=True)
class MapColumn:
    """Rename a canonical column in every file and map it back in ``[columns]``."""

    canonical: str
    user_name: str


@dataclasses.dataclass(frozen=True)
class Relabel:
    """Write a categorical level under the user's label and map it in ``[categories]``
    (``mapped=False``: forget the mapping entry)."""

    variable: str
    level_index: int
    label: str
    mapped: bool = True


@dataclasses.dataclass(frozen=True)
class Coded:
    """Store a categorical column as numeric codes, with value labels (Stata/SPSS) or a
    ``[categories]`` entry per code."""

    variable: str
    labelled: bool = True


@dataclasses.dataclass(frozen=True)
class ByteDamage:
    """Damage a written file: ``truncate`` at ``fraction``, ``garbage`` (random bytes over a
    slice), ``empty``, ``random`` (the whole file), ``header_only``, ``csv_inside`` (CSV bytes
    under the file's extension); and CSV text damage at the line ``fraction`` of the way
    down: ``extra_field``, ``missing_field``, ``stray_quote``, ``cr_only`` (old Mac line
    ends), ``blank_lines``, ``nul``, ``bom_inside``, ``header_newline`` (a quoted name with a
    line break)."""

    table: str
    how: str
    fraction: float = 0.5
    data: bytes = b""


@dataclasses.dataclass(frozen=True)
class MapSet:
    """Set a key of the mapping file (a dotted ``path``), possibly to a wrong type."""

    path: tuple[str, ...]
    value: object


@dataclasses.dataclass(frozen=True)
class MapDelete:
    path: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class MapText:
    """Replace the mapping file with ``text`` (``append``: add it at the end)."""

    text: str
    append: bool = False


@dataclasses.dataclass(frozen=True)
class MapEncoding:
    """Save the mapping file as ``encoding`` (or cut its bytes at ``fraction``)."""

    encoding: str
    fraction: float = 1.0


@dataclasses.dataclass(frozen=True)
class Case:
    """One generated input.

    Attributes
    ----------
    base
        ``"simulated"`` or ``"template"`` (see :func:`base_tables`).
    tables
        The tables written: ``("flat",)`` or a subset of counties/townships/projects.
    formats, encodings, separators
        Per table: file extension; for CSV, text encoding and field separator.
    mutations
        Applied in order to the tables before writing.
    damage
        Applied to the written files' bytes.
    mapping
        ``None`` (no mapping file), ``"source"`` (the mapping file is the source and lists the
        files) or ``"option"`` (data given directly, mapping as ``mapping=``).
    mapping_edits
        Applied to the mapping file.
    levels, options
        ``[levels] groups`` and ``[options]`` of the mapping file (when there is one).
    extra_files
        More files in the data folder: copies of the first table under other names (a second
        projects table, a flat table beside the tables), or stray files.
    """

    base: str
    tables: tuple[str, ...]
    formats: dict[str, str]
    encodings: dict[str, str]
    separators: dict[str, str]
    mutations: tuple[object, ...]
    damage: tuple[ByteDamage, ...]
    mapping: str | None
    mapping_edits: tuple[object, ...]
    levels: tuple[str, ...] | None = None
    options: dict[str, object] = dataclasses.field(default_factory=dict)
    extra_files: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------

_rows = st.integers(min_value=0, max_value=40)


@functools.cache
def _columns_of(table: str) -> list[str]:
    if table == "flat":
        return list(dict.fromkeys(c for t in TABLES for c in _base("simulated")[t].columns))
    return list(_base("simulated")[table].columns)


@functools.cache  # built once per set of tables: building strategies is not free
def _mutation(tables: tuple[str, ...]) -> st.SearchStrategy[object]:
    table = st.sampled_from(tables)
    project_table = "flat" if "flat" in tables else "projects"
    rating = st.sampled_from([0, 6, 2.5, -1, 100, "5分", "five", 1e308, math.inf, math.nan])

    def column_of(t: str) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(_columns_of(t)), column_names)

    def any_table(build: Callable[[str], st.SearchStrategy[object]]) -> st.SearchStrategy:
        return table.flatmap(build)

    options: list[st.SearchStrategy[object]] = [
        any_table(lambda t: st.builds(SetCell, st.just(t), _rows, column_of(t), cell_values)),
        any_table(lambda t: st.builds(SetCell, st.just(t), _rows, column_of(t), cell_values)),
        st.builds(
            SetCell,
            st.just(project_table),
            _rows,
            st.just("months"),
            st.sampled_from([-1, -0.5, -1e308, -math.inf]),
        ),
        st.builds(SetCell, st.just(project_table), _rows, st.just("demand_fit"), rating),
        st.builds(SetCell, st.just(project_table), _rows, st.just("discontinued"), rating),
        any_table(lambda t: st.builds(DropColumn, st.just(t), column_of(t))),
        any_table(  # a required column: an id, months or discontinued
            lambda t: st.builds(
                DropColumn, st.just(t), st.sampled_from([*ID_COLUMNS, "months", "discontinued"])
            )
        ),
        any_table(lambda t: st.builds(DuplicateColumn, st.just(t), column_of(t), st.booleans())),
        any_table(lambda t: st.builds(RenameColumn, st.just(t), column_of(t), column_names)),
        any_table(
            lambda t: st.builds(
                DuplicateRow, st.just(t), _rows, st.none() | column_of(t), cell_values
            )
        ),
        any_table(
            lambda t: st.builds(
                Retype,
                st.just(t),
                column_of(t),
                st.sampled_from(
                    [
                        "text",
                        "padded",
                        "comma",
                        "float",
                        "bool",
                        "object",
                        "date",
                        "category",
                        "tz",
                        "decimal",
                        "uint64",
                        "int8",
                        "list",
                        "null",
                        "bytes",
                        "timedelta",
                        "time",
                    ]
                ),
            )
        ),
        any_table(lambda t: st.builds(NoRows, st.just(t))),
        any_table(lambda t: st.builds(OwnColumn, st.just(t), column_names, cell_values)),
        st.builds(MapColumn, st.sampled_from(CANONICAL), column_names),
        st.builds(
            Relabel,
            st.sampled_from(CATEGORICAL),
            st.integers(0, 4),
            st.sampled_from(["东部", "镇", "小程序", "专项资金", "其他", "Other", "1", " x "])
            | st.text(min_size=1, max_size=6).filter(_no_surrogates),
            st.booleans(),
        ),
        st.builds(Coded, st.sampled_from(CATEGORICAL), st.booleans()),
    ]
    if "flat" in tables:
        options.append(st.builds(Orphan, st.just("flat"), _rows, st.just("township_id")))
        options.append(st.builds(TwoCounties, st.just("flat"), _rows))
    else:
        for child, key in (("projects", "township_id"), ("townships", "county_id")):
            if child in tables:
                options.append(st.builds(Orphan, st.just(child), _rows, st.just(key)))
        if "townships" in tables:
            options.append(st.builds(TwoCounties, st.just("townships"), _rows))
    return st.one_of(options)


@functools.cache
def _damage(tables: tuple[str, ...]) -> st.SearchStrategy[ByteDamage]:
    return st.builds(
        ByteDamage,
        st.sampled_from(tables),
        st.sampled_from(
            [
                "truncate",
                "garbage",
                "empty",
                "random",
                "header_only",
                "csv_inside",
                "extra_field",
                "missing_field",
                "stray_quote",
                "cr_only",
                "blank_lines",
                "nul",
                "bom_inside",
                "header_newline",
            ]
        ),
        st.floats(0.0, 1.0),
        st.binary(min_size=1, max_size=64),
    )


@functools.cache
def _mapping_edit() -> st.SearchStrategy[object]:
    sections = ["files", "levels", "columns", "categories", "options", "colums", "extra"]
    keys = [
        "projects",
        "townships",
        "counties",
        "flat",
        "sheet",
        "groups",
        "months",
        "project_id",
        "region",
        "drop_rows_with_missing_predictors",
        "survey_date",
        "unknown",
        "东部",
    ]
    path = st.lists(st.sampled_from(sections), min_size=1, max_size=1).flatmap(
        lambda s: st.tuples(st.just(s[0]), st.sampled_from(keys)).map(tuple) | st.just((s[0],))
    )
    bad_toml = st.sampled_from(
        [
            "[files\nprojects = 'x.csv'",
            "months = 存续月数",
            "[columns]\nmonths = ",
            "= 1",
            "[[columns]]\nx = 1",
            "[columns]\nmonths = 'a'\nmonths = 'b'",
            "[options]\nsurvey_date = 2025-02-30",
            "\x00\x01",
            '[levels]\ngroups = ["county",',
            "[columns]\n'\\u0000' = 'x'",
            "a = 1\n" * 3,
            "[categories.region]\n东部 = 'east'",
            '[categories]\nregion = "east"',
            "[files]\nprojects = 42",
        ]
    )
    return st.one_of(
        st.builds(MapSet, path, toml_values),
        st.builds(MapDelete, path),
        st.builds(MapText, bad_toml | st.text(max_size=40).filter(_no_surrogates), st.booleans()),
        st.builds(
            MapEncoding,
            st.sampled_from(["gb18030", "utf-16", "latin-1", "utf-8-sig", "cut"]),
            st.floats(0.0, 1.0),
        ),
    )


_rare = st.integers(0, 9).map(lambda n: n < 2)  # true one time in five


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A generated input: valid tables, mutated, written in some format, maybe damaged, with a
    mapping file or none."""
    base = draw(st.sampled_from(["simulated", "simulated", "simulated", "template"]))
    tables: tuple[str, ...] = draw(
        st.sampled_from(
            [
                ("counties", "townships", "projects"),
                ("counties", "townships", "projects"),
                ("townships", "projects"),
                ("projects",),
                ("flat",),
                ("flat",),
            ]
        )
    )
    formats = {t: draw(st.sampled_from(FORMATS)) for t in tables}
    encodings = {
        t: draw(st.sampled_from(("utf-8", "utf-8", *ENCODINGS)))
        for t in tables
        if formats[t] == ".csv"
    }
    separators = {t: draw(st.sampled_from([","] * 8 + [";", "\t"])) for t in encodings}
    # Most inputs carry at least one mutation; a fifth are left whole (the valid path).
    mutations = tuple(
        draw(st.lists(_mutation(tables), min_size=0 if draw(_rare) else 1, max_size=5))
    )
    # Damaged bytes stop the reader: keep them rare so that most inputs reach validation.
    damage = tuple(draw(st.lists(_damage(tables), max_size=1))) if draw(_rare) else ()
    mapping = draw(st.sampled_from([None, None, "source", "option"]))
    if any(isinstance(m, MapColumn | Relabel | Coded) for m in mutations) and mapping is None:
        mapping = draw(st.sampled_from([None, "source", "option", "option"]))
    edits = tuple(draw(st.lists(_mapping_edit(), max_size=2))) if mapping and draw(_rare) else ()
    levels = draw(
        st.sampled_from([None, None, ("county", "township"), ("township",), ("county",), ()])
    )
    options: dict[str, object] = {}
    if draw(st.booleans()):
        options["drop_rows_with_missing_predictors"] = draw(st.booleans())
    if draw(st.booleans()):
        options["survey_date"] = draw(st.sampled_from(["2025-06-30", "2020-01-01"]))
    extra = tuple(draw(st.lists(st.sampled_from(EXTRA_FILES), max_size=2))) if draw(_rare) else ()
    return Case(
        base,
        tables,
        formats,
        encodings,
        separators,
        mutations,
        damage,
        mapping,
        edits,
        levels,
        options,
        extra,
    )


# ----------------------------------------------------------------------------------------------
# Applying mutations: a table is a list of (name, column) pairs, so names may repeat
# ----------------------------------------------------------------------------------------------

Columns = list[tuple[str, pd.Series]]


def _as_columns(frame: pd.DataFrame) -> Columns:
    return [(str(name), frame[name].astype(object).reset_index(drop=True)) for name in frame]


def _find(columns: Columns, name: str) -> int | None:
    return next((i for i, (n, _) in enumerate(columns) if n == name), None)


def _n_rows(columns: Columns) -> int:
    return len(columns[0][1]) if columns else 0


def _retyped(series: pd.Series, how: str) -> pd.Series:
    def each(function: Callable[[object], object]) -> pd.Series:
        return series.map(lambda v: None if _missing(v) else function(v))

    if how == "text":
        return each(str)
    if how == "padded":
        return each(lambda v: f"  {v} ")
    if how == "comma":
        return each(lambda v: str(v).replace(".", ","))
    if how == "float":
        return pd.Series(pd.to_numeric(series, errors="coerce"), dtype=object)
    if how == "bool":
        return each(bool)
    if how == "date":
        return each(lambda v: dt.datetime(2024, 1, 1) + dt.timedelta(days=len(str(v)) * 37))
    numbers = pd.to_numeric(series, errors="coerce")
    if how == "category":
        return series.map(lambda v: None if _missing(v) else str(v)).astype("category")
    if how == "tz":
        dates = pd.to_datetime(series.map(_cell_text), errors="coerce", format="mixed")
        return dates.dt.tz_localize("Asia/Shanghai", ambiguous="NaT", nonexistent="NaT")
    if how == "decimal":
        return each(lambda v: decimal.Decimal(_cell_text(v)) if _is_number(v) else str(v))
    if how == "uint64" and numbers.notna().all() and (numbers >= 0).all():
        return numbers.astype("uint64")
    if how == "int8" and numbers.notna().all() and numbers.between(-128, 127).all():
        return numbers.astype("int8")
    if how == "list":
        return each(lambda v: [v])
    if how == "null":
        return pd.Series([None] * len(series), dtype=object)
    if how == "bytes":
        return each(lambda v: _cell_text(v).encode("utf-8"))
    if how == "timedelta":
        return pd.to_timedelta(numbers.where(numbers.abs() < 1e5), unit="D")
    if how == "time":
        return each(lambda v: dt.time(len(str(v)) % 24, 30))
    return each(lambda v: v)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _set(columns: Columns, name: str, row: int, value: object) -> None:
    i = _find(columns, name)
    if i is None or _n_rows(columns) == 0:
        return
    series = columns[i][1].astype(object)  # a copy that takes any value
    series.iat[row % len(series)] = value
    columns[i] = (name, series)


def _append_row(columns: Columns, row: int) -> int:
    n = _n_rows(columns)
    if n == 0:
        return -1
    for i, (name, series) in enumerate(columns):
        columns[i] = (name, pd.concat([series, series.iloc[[row % n]]], ignore_index=True))
    return n


def apply_mutations(
    case: Case,
) -> tuple[dict[str, Columns], dict[str, Any], dict[str, dict[str, dict[object, str]]]]:
    """The tables to write, the mapping document's ``[columns]``/``[categories]``, and the
    Stata/SPSS value labels per table and column."""
    frames = base_tables(case.base)
    if "flat" in case.tables:
        tables = {"flat": _as_columns(flat_table(frames))}
    else:
        tables = {t: _as_columns(frames[t]) for t in case.tables}
    mapped_columns: dict[str, str] = {}
    categories: dict[str, dict[str, str]] = {}
    labels: dict[str, dict[str, dict[object, str]]] = {t: {} for t in tables}
    for mutation in case.mutations:
        target = tables.get(getattr(mutation, "table", ""), [])
        match mutation:
            case SetCell(_, row, column, value):
                _set(target, column, row, value)
            case DropColumn(_, column):
                if (i := _find(target, column)) is not None:
                    del target[i]
            case DuplicateColumn(_, column, vary):
                if (i := _find(target, column)) is not None:
                    copy = target[i][1].copy()
                    if vary and len(copy):
                        copy = copy.iloc[::-1].reset_index(drop=True)
                    target.insert(i + 1, (column, copy))
            case RenameColumn(_, column, new):
                if (i := _find(target, column)) is not None:
                    target[i] = (new, target[i][1])
            case DuplicateRow(_, row, column, change):
                new_row = _append_row(target, row)
                if new_row >= 0 and column is not None:
                    _set(target, column, new_row, change)
            case Orphan(_, row, key, value):
                _set(target, key, row, value)
            case TwoCounties(_, row):
                county_ids = list(frames["counties"]["county_id"]) + ["C999"]
                i = _find(target, "county_id")
                if i is not None and _n_rows(target):
                    current = target[i][1].iat[row % _n_rows(target)]
                    other = next(c for c in county_ids if c != current)
                    if mutation.table == "townships":
                        row = _append_row(target, row)
                    _set(target, "county_id", row, other)
            case Retype(_, column, how):
                if (i := _find(target, column)) is not None:
                    target[i] = (column, _retyped(target[i][1], how))
            case NoRows():
                for i, (name, series) in enumerate(target):
                    target[i] = (name, series.iloc[:0])
            case OwnColumn(_, name, value):
                target.append((name, pd.Series([value] * _n_rows(target), dtype=object)))
            case MapColumn(canonical, user_name):
                if canonical in mapped_columns:
                    continue
                mapped_columns[canonical] = user_name
                for columns in tables.values():
                    if (i := _find(columns, canonical)) is not None:
                        columns[i] = (user_name, columns[i][1])
            case Relabel(variable, level_index, label, mapped):
                allowed = schema.variable(variable).allowed or ()
                level = allowed[level_index % len(allowed)]
                for columns in tables.values():
                    name = mapped_columns.get(variable, variable)
                    if (i := _find(columns, name)) is not None:
                        columns[i] = (name, columns[i][1].replace(level, label))
                if mapped:
                    categories.setdefault(variable, {})[label] = level
            case Coded(variable, labelled):
                allowed = schema.variable(variable).allowed or ()
                codes = {level: code for code, level in enumerate(allowed, start=1)}
                for table, columns in tables.items():
                    name = mapped_columns.get(variable, variable)
                    if (i := _find(columns, name)) is not None:
                        columns[i] = (name, columns[i][1].map(lambda v, c=codes: c.get(v, v)))
                        labels[table][name] = {code: level for level, code in codes.items()}
                if labelled:
                    categories.setdefault(variable, {}).update(
                        {str(code): level for level, code in codes.items()}
                    )
    document: dict[str, Any] = {}
    if mapped_columns:
        document["columns"] = mapped_columns
    if categories:
        document["categories"] = categories
    return tables, document, labels


# ----------------------------------------------------------------------------------------------
# Writing files
# ----------------------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if _missing(value) and not isinstance(value, str):
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time | pd.Timestamp):
        return value.isoformat()
    return str(value)


def csv_bytes(columns: Columns, encoding: str, separator: str) -> bytes:
    """The table as CSV text in ``encoding`` (``"mixed"``: each line in another one)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    for row in range(_n_rows(columns)):
        writer.writerow([_cell_text(series.iat[row]) for _, series in columns])
    text = buffer.getvalue()
    if encoding == "mixed":
        lines = text.splitlines(keepends=True)
        cycle = ("utf-8", "gb18030", "latin-1")
        return b"".join(line.encode(cycle[i % 3], errors="replace") for i, line in enumerate(lines))
    return text.encode(encoding, errors="replace")


def _arrow_column(series: pd.Series):
    import pyarrow as pa

    try:
        if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype != object:
            return pa.array(series, from_pandas=True)  # dictionary, tz, uint64, ...
        return pa.array(series.to_numpy(dtype=object), from_pandas=True)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return pa.array([None if _missing(v) else _cell_text(v) for v in series], pa.string())


def write_parquet(columns: Columns, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [_arrow_column(series) for _, series in columns]
    pq.write_table(pa.Table.from_arrays(arrays, names=[n for n, _ in columns]), path)


def write_xlsx(columns: Columns, path: Path) -> None:
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell(value: object) -> object:
        if _missing(value) and not isinstance(value, str):
            return None
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        if isinstance(value, str):
            return ILLEGAL_CHARACTERS_RE.sub("", value)
        if isinstance(value, int | float | bool | dt.date | dt.datetime | dt.time):
            return value
        return str(value)

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("数据")
    sheet.append([cell(name) for name, _ in columns])
    for row in range(_n_rows(columns)):
        sheet.append([cell(series.iat[row]) for _, series in columns])
    workbook.save(path)


def write_readstat(
    columns: Columns, path: Path, value_labels: dict[str, dict[object, str]]
) -> None:
    """Stata or SPSS via pyreadstat; text columns as text, numbers as numbers."""
    import pyreadstat

    names = [name for name, _ in columns]
    if len(set(names)) < len(names):
        raise ValueError("duplicate names")
    data = {}
    for name, series in columns:
        present = [v for v in series if not _missing(v)]
        if present and all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in present
        ):
            data[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif present and all(isinstance(v, dt.date | pd.Timestamp) for v in present):
            # Stata/SPSS dates; pyreadstat writes Python dates of any year.
            data[name] = series.map(
                lambda v: (
                    None
                    if _missing(v)
                    else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
                )
            )
        else:
            data[name] = series.map(lambda v: None if _missing(v) else _cell_text(v))
    frame = pd.DataFrame(data, index=range(_n_rows(columns)))
    labels = {
        k: {float(c): lab for c, lab in v.items()}
        for k, v in value_labels.items()
        if k in frame and frame[k].dtype == "float64"
    }
    writer = pyreadstat.write_dta if path.suffix == ".dta" else pyreadstat.write_sav
    writer(frame, str(path), variable_value_labels=labels or None)


def write_table(
    columns: Columns,
    path: Path,
    *,
    encoding: str = "utf-8",
    separator: str = ",",
    value_labels: dict[str, dict[object, str]] | None = None,
) -> Path:
    """Write one table in the format of ``path``'s extension; a table that format cannot hold
    (a repeated column name in Stata, say) is written as CSV instead. Returns the path used."""
    try:
        if path.suffix == ".csv":
            path.write_bytes(csv_bytes(columns, encoding, separator))
        elif path.suffix == ".parquet":
            write_parquet(columns, path)
        elif path.suffix == ".xlsx":
            write_xlsx(columns, path)
        else:
            write_readstat(columns, path, value_labels or {})
        return path
    except Exception:  # the generator's limit, not the package's: fall back to CSV
        path.unlink(missing_ok=True)
        fallback = path.with_suffix(".csv")
        fallback.write_bytes(csv_bytes(columns, "utf-8", ","))
        return fallback


def damage_file(path: Path, damage: ByteDamage, columns: Columns) -> None:
    data = path.read_bytes()
    cut = int(len(data) * damage.fraction)
    if damage.how == "truncate":
        data = data[:cut]
    elif damage.how == "garbage":
        data = data[:cut] + damage.data + data[cut + len(damage.data) :]
    elif damage.how == "empty":
        data = b""
    elif damage.how == "random":
        data = damage.data
    elif damage.how == "header_only":
        data = csv_bytes([(name, series.iloc[:0]) for name, series in columns], "utf-8", ",")
    elif damage.how == "csv_inside":
        data = csv_bytes(columns, "utf-8", ",")
    elif damage.how == "header_newline":
        data = b'"project\nid",' + data
    else:  # damage to one line of the text
        lines = data.split(b"\n")
        at = min(int(len(lines) * damage.fraction), len(lines) - 1)
        line = lines[at]
        lines[at] = {
            "extra_field": line + b",extra,",
            "missing_field": line.rpartition(b",")[0],
            "stray_quote": line[: len(line) // 2] + b'"' + line[len(line) // 2 :],
            "blank_lines": b"\n\n" + line,
            "nul": line + b"\x00",
            "bom_inside": b"\xef\xbb\xbf" + line,
            "cr_only": line,
        }[damage.how]
        data = (b"\r" if damage.how == "cr_only" else b"\n").join(lines)
    path.write_bytes(data)


# ----------------------------------------------------------------------------------------------
# The mapping file
# ----------------------------------------------------------------------------------------------


def _toml_key(key: str) -> str:
    return json.dumps(str(key), ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: object) -> str:
    """A TOML literal for a Python value (``None`` has none: callers leave the key out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}"
    return _toml_key(str(value))


def to_toml(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """A TOML document: scalars first, then one ``[section]`` per nested dict."""
    lines = []
    tables = []
    for key, value in document.items():
        if isinstance(value, dict) and (prefix or value is not None):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{_toml_key(key)} = {toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        header = ".".join(_toml_key(k) for k in (*prefix, key))
        text += f"\n[{header}]\n" + to_toml(value, (*prefix, key))
    return text


def _edit(document: dict[str, Any], path: tuple[str, ...], value: object, delete: bool) -> None:
    node = document
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            if delete:
                return
            child = node[key] = {}
        node = child
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def mapping_bytes(document: dict[str, Any], edits: tuple[object, ...]) -> bytes:
    """The mapping file's bytes after the case's edits."""
    document = json.loads(json.dumps(document, default=str))  # a deep copy
    text_edits = []
    for edit in edits:
        match edit:
            case MapSet(path, value):
                _edit(document, path, value, delete=False)
            case MapDelete(path):
                _edit(document, path, None, delete=True)
            case _:
                text_edits.append(edit)
    text = to_toml(document)
    encoding, cut = "utf-8", 1.0
    for edit in text_edits:
        match edit:
            case MapText(new, append):
                text = text + "\n" + new if append else new
            case MapEncoding(name, fraction):
                if name == "cut":
                    cut = fraction
                else:
                    encoding = name
    data = text.encode(encoding, errors="replace")
    return data[: int(len(data) * cut)] if cut < 1.0 else data


# ----------------------------------------------------------------------------------------------
# A case on disk
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Written:
    """What to pass to ``load_study`` (and to ``grassroots validate``)."""

    source: Path
    mapping: Path | None


def materialise(case: Case, folder: Path) -> Written:
    """Write the case's files into ``folder`` (which should be empty)."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    tables, document, labels = apply_mutations(case)
    stem = "survey_" if case.mapping == "source" else ""
    paths: dict[str, Path] = {}
    for table, columns in tables.items():
        path = data / f"{stem}{table}{case.formats[table]}"
        paths[table] = write_table(
            columns,
            path,
            encoding=case.encodings.get(table, "utf-8"),
            separator=case.separators.get(table, ","),
            value_labels=labels[table],
        )
    for damage in case.damage:
        damage_file(paths[damage.table], damage, tables[damage.table])
    first = next(iter(paths.values()))
    for name in case.extra_files:
        if not (data / name).exists():
            (data / name).write_bytes(first.read_bytes())
    if case.mapping is None:
        source = paths["flat"] if "flat" in paths else data
        return Written(source, None)
    if case.mapping == "source":
        document = {"files": {t: f"data/{p.name}" for t, p in paths.items()}, **document}
    if case.levels is not None:
        document["levels"] = {"groups": list(case.levels)}
    if case.options:
        document["options"] = dict(case.options)
    mapping = folder / "mapping.toml"
    mapping.write_bytes(mapping_bytes(document, case.mapping_edits))
    if case.mapping == "source":
        return Written(mapping, None)
    source = paths["flat"] if "flat" in paths and len(paths) == 1 else data
    return Written(source, mapping)


# ----------------------------------------------------------------------------------------------
# The property
# ----------------------------------------------------------------------------------------------


def classify(problems: pd.DataFrame) -> str:
    """Where an input was stopped: ``"mapping"`` (only the mapping file's problems),
    ``"validation"`` (a problem with a row or a codebook column of a data file) or
    ``"reader"`` (the data files could not be read as tables)."""
    files = problems["file"].astype(str)
    in_data = problems[~(files.str.endswith(".toml") | files.eq("mapping"))]
    if in_data.empty:
        return "mapping"
    header = in_data["problem"].astype(str).str.startswith("the header has")
    deep = (in_data["row"].notna() | in_data["column"].isin(CANONICAL)) & ~header
    return "validation" if deep.any() else "reader"


_PROBLEM_KINDS = {
    "appears more than once": "duplicate id",
    "not found in": "orphan",
    "differs within": "varies within a level",
    "must lie in": "out of range",
    "must be a number": "not a number",
    "must be finite": "not finite",
    "must be one of": "not in set",
    "unknown": "unknown level or key",
    "the header has": "duplicate header",
    "required column": "required column",
    "is missing": "missing value",
    "neither UTF-8": "encoding",
    "not UTF-8": "encoding",
    "not utf-8": "encoding",
    "not valid TOML": "not TOML",
    "is not a date": "not a date",
    "is not before survey_date": "launch after survey",
    "months is longer": "months too long",
    "cannot be read": "unreadable file",
    "the file is empty": "empty file",
    "has no data rows": "no rows",
    "does not exist": "missing file",
    "must be a": "wrong type in mapping",
}


def problem_kind(text: str) -> str:
    """A short name for the kind of a problem message (for the coverage counts)."""
    return next((kind for key, kind in _PROBLEM_KINDS.items() if key in text), "other")


def assert_valid_study(study) -> None:
    """The promises of a loaded :class:`~grassroots.data.Study`, checked on its values."""
    projects = study.projects
    for column in ("project_id", "months", "discontinued"):
        assert column in projects, f"{column} missing from a loaded study"
    frames = {"projects": projects, "townships": study.townships, "counties": study.counties}
    for table, frame in frames.items():
        if frame is None:
            continue
        ids = frame[schema.ID_COLUMN[table]]
        assert ids.notna().all() and ids.map(type).eq(str).all(), f"{table}: ids not text"
        assert ids.is_unique, f"{table}: repeated ids"
        for column in frame.columns:
            if column not in CANONICAL or column in ID_COLUMNS:
                continue
            var = schema.variable(column)
            values = frame[column]
            if not var.missing_allowed:
                assert values.notna().all(), f"{table}.{column}: missing values in a study"
            present = values.dropna()
            if var.type in ("continuous", "duration"):
                assert values.dtype == "float64", f"{column}: dtype {values.dtype}"
                assert np.isfinite(present.to_numpy()).all(), f"{column}: not finite"
            if var.interval is not None:  # continuous ranges too (issue 13)
                assert var.interval.contains(present).all(), f"{column}: out of {var.interval}"
            if var.type in ("binary", "ordinal"):
                allowed = {float(level) for level in var.allowed or ()}
                assert present.astype("float64").isin(allowed).all(), f"{column}: not in set"
            if var.type == "categorical":
                assert isinstance(values.dtype, pd.CategoricalDtype), f"{column}: not categorical"
                assert list(values.cat.categories) == list(var.allowed or ())
            if var.type == "date":
                assert pd.api.types.is_datetime64_any_dtype(values.dtype), f"{column}: dtype"
    links = (("projects", "townships", "township_id"), ("townships", "counties", "county_id"))
    for child, parent, key in links:
        if frames[parent] is not None and frames[child] is not None and key in frames[child]:
            assert frames[child][key].isin(set(frames[parent][key])).all(), f"orphan {key}"
    if {"launch_date", "survey_date"} <= set(projects.columns):
        assert (projects["launch_date"] < projects["survey_date"]).all(), "launch after survey"
        window = (projects["survey_date"] - projects["launch_date"]).dt.days / DAYS_PER_MONTH
        assert (projects["months"] <= window + MONTHS_TOLERANCE + 1e-9).all(), "months too long"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How ``load_study`` answered one input: its :data:`OUTCOMES` kind, and warnings that
    were not :class:`~grassroots.data.DataValidationWarning` (as ``"Category: message"``)."""

    kind: str
    stray_warnings: tuple[str, ...] = ()
    problems: pd.DataFrame | None = None


def check_load(case: Case, folder: Path) -> Outcome:
    """Write the case and load it; any exception but ``DataValidationError`` propagates."""
    from grassroots.data import DataValidationWarning

    written = materialise(case, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            study = load_study(written.source, mapping=written.mapping)
        except DataValidationError as error:
            problems = error.problems
            assert len(problems) > 0, "a DataValidationError without problems"
            assert str(error).strip(), "a DataValidationError without a message"
            kind = classify(problems)
        else:
            assert_valid_study(study)
            problems, kind = None, "valid"
    stray = tuple(
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, DataValidationWarning)
    )
    return Outcome(kind, stray, problems)


def cli_args(written: Written) -> list[str]:
    """Arguments that name the data for ``grassroots validate`` / ``describe``."""
    args = [str(written.source)]
    if written.mapping is not None:
        args += ["--mapping", str(written.mapping)]
    return args


@dataclasses.dataclass(frozen=True)
class CliResult:
    """The exit codes of ``grassroots validate`` and ``grassroots describe --out`` for a case."""

    validate: int
    describe: int


def check_cli(case: Case, folder: Path, expected: Outcome | None = None) -> CliResult:
    """Run ``grassroots validate`` and ``grassroots describe --out`` in process (typer's
    ``CliRunner``) on the case; assert exit 0 or 2, no traceback, nothing written on exit 2,
    and (given the ``load_study`` outcome) exit 0 exactly when the data are valid."""
    from typer.testing import CliRunner

    from grassroots.cli import app

    written = materialise(case, folder)
    out = folder / "out"
    runner = CliRunner()
    codes = []
    for command in (["validate"], ["describe", "--out", str(out)]):
        result = runner.invoke(app, [*command, *cli_args(written)])
        output = result.output
        if result.exit_code not in (0, 2):
            exc = result.exception
            raise AssertionError(
                f"grassroots {command[0]} exited {result.exit_code}: {output[-2000:]}"
            ) from exc
        assert "Traceback" not in output, f"grassroots {command[0]} printed a traceback"
        if result.exit_code == 2:
            written_files = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
            assert not written_files, f"exit 2 but wrote {written_files}"
            assert "problem" in output, "exit 2 without saying what is wrong"
        if expected is not None:
            assert (result.exit_code == 0) == (expected.kind == "valid"), (
                f"grassroots {command[0]} exited {result.exit_code}, load_study: {expected.kind}"
            )
        codes.append(result.exit_code)
    if codes[1] == 0:
        names = {p.name for p in (out / "tables").iterdir()}
        assert {"table1_descriptives.csv", "table1_descriptives.md"} <= names, names
        assert not any(name.startswith(".tmp-") for name in names), names
    return CliResult(*codes)
