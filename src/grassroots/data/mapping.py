"""The column-mapping file: bring your own column names, labels and files.

A mapping is a TOML file. Every section is optional; a mapping with only ``[columns]`` is fine.
Paths in ``[files]`` count from the mapping file's folder. Example (also in
``data/templates/mapping.example.toml``)::

    [files]                       # the three tables, or one flat table
    counties = "counties.csv"
    townships = "townships.csv"
    projects = "projects.csv"
    # flat = "survey.sav"         # instead of the three tables: one row per project
    # sheet = "Sheet1"            # for .xlsx files: the sheet to read (default: the first)
    # sheets = { projects = "项目", townships = "乡镇", counties = "县" }  # one workbook,
    #                             # three sheets (list the workbook under each table)
    # header_row = 3              # .xlsx: the row of the column names (default: found below
    #                             # any title rows, with a warning)
    # encoding = "gbk"            # CSV files wholly in GBK (default: UTF-8)

    [levels]
    groups = ["county", "township"]   # outer to inner; ["township"], ["county"] or [] allowed

    [columns]                     # canonical name = the column's name in your files
    project_id = "项目编号"
    months = "存续月数"

    [categories.region]           # your label (or code) = canonical level
    "东部" = "east"

    [options]
    drop_rows_with_missing_predictors = false
    survey_date = "2025-06-30"    # used when the data have no survey_date column

Rules:

* ``[files]``: ``counties``, ``townships``, ``projects`` (the three tables; ``projects`` is
  required) or ``flat`` (one table); ``sheet`` (for every .xlsx) or ``sheets`` (per table, for
  one workbook holding several tables), ``header_row`` (.xlsx) and ``encoding`` (CSV). Each file
  must exist, in the mapping file's folder or a folder under it: a path that leads elsewhere
  (``../``, an absolute path, a link out) is refused unless the caller allows it
  (``allow_outside_files=True``, or ``--allow-outside-files`` on the command line), so that a
  mapping file from someone else cannot make the package read, and quote in its messages, any
  file of yours. A data source given to :func:`grassroots.data.load_study` directly takes the
  place of ``[files]``.
* ``[levels] groups``: the grouping levels, outer to inner, from ``county`` and ``township``.
  Without it, the levels are the tables given (or, for a flat table, the id columns present).
  A table given for a level not listed is joined onto the next level inside it, so its columns
  are still available (e.g. county columns at township level when ``groups = ["township"]``).
* ``[columns]``: keys are canonical names from ``data/codebook.csv``; values are your column
  names, each used once. Columns not listed keep their names; columns not in the codebook are
  kept untouched as your own.
* ``[categories.<variable>]``: for the categorical variables of the codebook (``region``,
  ``township_type``, ``project_type``, ``funding_source``): your label, or the numeric code of a
  Stata/SPSS file, as the key, a level from the codebook as the value. Labels not listed must
  already be canonical levels. The binary (0/1) variables take the same table with 1 or 0 as
  the value (``[categories.outsourced]`` with ``"是" = 1`` and ``"否" = 0``, or ``"TRUE" = 1``);
  a label that is neither mapped nor 0/1 is reported once per column with its count and rows.
  Spreadsheet booleans (TRUE/FALSE cells of an .xlsx) are 1/0 without a table.
* ``[options]``: ``drop_rows_with_missing_predictors`` (default false: missing predictor values
  are an error; true: such rows are dropped, with a warning and the count in
  ``Study.dropped_rows``) and ``survey_date`` (a date, used for every project when the data have
  no ``survey_date`` column, and for empty cells of that column).

Every problem in a mapping file is reported at once, as a
:class:`~grassroots.data.validation.DataValidationError` naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grassroots.data import schema
from grassroots.data.validation import DataValidationError, ProblemLog, did_you_mean

# Adds one problem: (key, problem, hint, value=None).
_Report = Callable[..., None]

SECTIONS = ("files", "levels", "columns", "categories", "options")
FILE_KEYS = (
    "counties",
    "townships",
    "projects",
    "flat",
    "sheet",
    "sheets",
    "encoding",
    "header_row",
)
OPTION_KEYS = ("drop_rows_with_missing_predictors", "survey_date")


@dataclass(frozen=True)
class Mapping:
    """A parsed, checked column-mapping file (or an empty mapping: canonical names throughout).

    Attributes
    ----------
    path
        The mapping file, or ``None`` for a mapping built in code.
    files
        Data files by table (``counties``, ``townships``, ``projects``) or ``flat``; absolute.
    sheet
        The sheet to read from ``.xlsx`` files, or ``None`` for the first sheet.
    sheets
        Per table (``counties``, ``townships``, ``projects``, ``flat``): the sheet to read,
        when one workbook holds several tables (``sheets = {projects = "项目"}``).
    header_row
        For ``.xlsx`` files: the row of the column names, or ``None`` to find it below any
        title rows.
    encoding
        The text encoding of every CSV file (e.g. ``"gbk"``), or ``None``: UTF-8, or GB18030
        for a file that is consistently GB18030 (:func:`grassroots.data.readers.read_table`).
    levels
        Grouping levels, outer to inner, or ``None`` to infer them from the data.
    columns
        Canonical name -> the user's column name.
    categories
        Canonical categorical or binary variable -> {user label: canonical level}
        (``"1"`` or ``"0"`` for a binary variable).
    drop_rows_with_missing_predictors
        Drop rows with missing predictor values (with a warning) instead of failing.
    survey_date
        The survey date for data without a ``survey_date`` column.
    """

    path: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    sheet: str | None = None
    sheets: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    header_row: int | None = None
    levels: tuple[str, ...] | None = None
    columns: dict[str, str] = field(default_factory=dict)
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    drop_rows_with_missing_predictors: bool = False
    survey_date: dt.date | None = None

    @property
    def name(self) -> str:
        """How problems refer to this mapping: its path, or ``"mapping"``."""
        return str(self.path) if self.path is not None else "mapping"

    def rename_map(self) -> dict[str, str]:
        """User column name -> canonical name."""
        return {user: canonical for canonical, user in self.columns.items()}


def load_mapping(
    path: str | os.PathLike[str], *, allow_outside_files: bool = False
) -> Mapping:
    """Read and check a TOML mapping file.

    Parameters
    ----------
    path
        The ``.toml`` file.
    allow_outside_files
        Accept ``[files]`` outside the mapping file's folder (refused by default).

    Returns
    -------
    Mapping

    Raises
    ------
    DataValidationError
        For every problem in the file at once (TOML syntax with its line, unknown keys with a
        did-you-mean, non-string values, a column mapped twice, unknown levels or category
        targets, files that do not exist).
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise DataValidationError.single(
            name, "mapping file not found", "check the path of the .toml mapping file"
        )
    try:
        document = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataValidationError.single(
            name, "the mapping file is not UTF-8 text", "save it as UTF-8 in your text editor"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        raise DataValidationError.single(
            name,
            f"not valid TOML: {exc}",
            "check the syntax near that line: names with spaces or Chinese characters need "
            'quotes (months = "存续月数"), sections look like [columns]',
            row=line,
        ) from exc
    return mapping_from_dict(document, path=path, allow_outside_files=allow_outside_files)


def _line_from_message(message: str) -> int | None:
    # Python < 3.14 puts the position only in the message: "... (at line 3, column 7)"
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def mapping_from_dict(
    document: dict[str, Any], *, path: Path | None = None, allow_outside_files: bool = False
) -> Mapping:
    """Build a :class:`Mapping` from parsed TOML (or an equivalent dict), checking every key.

    ``[files]`` must lie in the folder of ``path`` (the current folder without one) unless
    ``allow_outside_files``.
    """
    log = ProblemLog()
    name = str(path) if path is not None else "mapping"
    base = path.parent if path is not None else Path.cwd()

    def problem(key: str, text: str, hint: str, value: object = None) -> None:
        log.add(name, text, hint, column=key, values=None if value is None else [value])

    for section in document:
        if section not in SECTIONS:
            problem(
                section,
                f"unknown section [{section}]{did_you_mean(section, SECTIONS)}",
                f"use only {', '.join(f'[{s}]' for s in SECTIONS)}",
            )
    for section in SECTIONS:
        if section in document and not isinstance(document[section], dict):
            problem(section, f"{section} must be a section [{section}]", f"write [{section}]")

    files, sheet, extras = _read_files(
        _section(document, "files"), base, problem, allow_outside_files
    )
    levels = _read_levels(document.get("levels"), problem)
    columns = _read_columns(_section(document, "columns"), problem)
    categories = _read_categories(_section(document, "categories"), problem)
    drop, survey_date = _read_options(_section(document, "options"), problem)
    log.raise_if_any()
    return Mapping(
        path=path,
        files=files,
        sheet=sheet,
        sheets=extras["sheets"],
        encoding=extras["encoding"],
        header_row=extras["header_row"],
        levels=levels,
        columns=columns,
        categories=categories,
        drop_rows_with_missing_predictors=drop,
        survey_date=survey_date,
    )


def _section(document: dict[str, Any], section: str) -> dict[str, Any]:
    value = document.get(section, {})
    return value if isinstance(value, dict) else {}


def _read_files(
    section: dict[str, Any], base: Path, problem: _Report, allow_outside: bool
) -> tuple[dict[str, Path], str | None, dict[str, Any]]:
    files: dict[str, Path] = {}
    sheet: str | None = None
    # sheets, encoding and header_row: how to read the files
    extras: dict[str, Any] = {"sheets": {}, "encoding": None, "header_row": None}
    for key, value in section.items():
        full_key = f"files.{key}"
        if key not in FILE_KEYS:
            problem(
                full_key,
                f"unknown key{did_you_mean(key, FILE_KEYS)}",
                f"[files] takes {', '.join(FILE_KEYS)}",
            )
            continue
        if key in ("sheets", "header_row"):
            _read_sheet_setting(key, value, extras, problem)
            continue
        if not isinstance(value, str):
            problem(full_key, "must be a string", f'write {key} = "your_file.csv"', value)
            continue
        if key == "sheet":
            sheet = value
            continue
        if key == "encoding":
            extras["encoding"] = value.strip()
            continue
        file = (base / value).resolve() if not Path(value).is_absolute() else Path(value)
        if not allow_outside and not file.resolve().is_relative_to(base.resolve()):
            problem(
                full_key,
                f"the path {value!r} leads outside the mapping file's folder {base.resolve()}",
                "put the data in that folder (or a folder under it) and name them from there, "
                "or, if you trust this mapping file, allow it with --allow-outside-files "
                "(allow_outside_files=True in Python)",
                value,
            )
            continue
        if not file.is_file():
            problem(
                full_key,
                f"file {value!r} does not exist (looked for {file})",
                "paths count from the mapping file's folder; check the name and extension",
                value,
            )
        files[key] = file
    if "flat" in files and set(files) & {"counties", "townships", "projects"}:
        problem(
            "files.flat",
            "both a flat table and separate tables are listed",
            "list either flat, or counties/townships/projects",
        )
    elif files and "flat" not in files and "projects" not in files:
        problem(
            "files.projects",
            "the projects table is missing",
            'add projects = "<file>" to [files] (or give one flat table as flat = "<file>")',
        )
    if extras["sheets"] and not extras["sheets"].keys() <= files.keys():
        unlisted = sorted(extras["sheets"].keys() - files.keys())
        problem(
            "files.sheets",
            f"sheets are named for tables without a file: {', '.join(unlisted)}",
            'list the workbook for each of them too (e.g. projects = "survey.xlsx")',
        )
    return files, sheet, extras


def _read_sheet_setting(key: str, value: Any, extras: dict[str, Any], problem: _Report) -> None:
    full_key = f"files.{key}"
    if key == "header_row":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problem(full_key, "must be a whole number from 1", "write header_row = 3", value)
        else:
            extras["header_row"] = value
        return
    tables = ("counties", "townships", "projects", "flat")
    if not isinstance(value, dict):
        problem(full_key, "must be a table", 'write sheets = { projects = "项目" }', value)
        return
    for table, sheet_name in value.items():
        if table not in tables:
            problem(
                f"{full_key}.{table}",
                f"unknown table{did_you_mean(table, tables)}",
                f"sheets takes {', '.join(tables)}",
            )
        elif not isinstance(sheet_name, str) or not sheet_name.strip():
            problem(f"{full_key}.{table}", "must be a sheet name", f'write {table} = "Sheet1"')
        else:
            extras["sheets"][table] = sheet_name


def _read_levels(section: Any, problem: _Report) -> tuple[str, ...] | None:
    if section is None or not isinstance(section, dict):
        return None
    for key in section:
        if key != "groups":
            problem(f"levels.{key}", f"unknown key{did_you_mean(key, ['groups'])}", "use groups")
    if "groups" not in section:
        return None
    groups = section["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        problem(
            "levels.groups",
            "must be a list of level names",
            'write groups = ["county", "township"] (outer to inner), ["township"], ["county"] '
            "or []",
            groups,
        )
        return None
    unknown = [g for g in groups if g not in schema.LEVELS]
    for level in unknown:
        problem(
            "levels.groups",
            f"unknown level {level!r}{did_you_mean(level, schema.LEVELS)}",
            f"levels are {', '.join(schema.LEVELS)}",
            level,
        )
    repeated = [g for g, count in Counter(groups).items() if count > 1]
    for level in repeated:
        problem("levels.groups", f"level {level!r} is listed twice", "list each level once", level)
    if unknown or repeated:
        return None
    if groups != [level for level in schema.LEVELS if level in groups]:
        problem(
            "levels.groups",
            "levels must go from outer to inner",
            'write groups = ["county", "township"]',
            ", ".join(groups),
        )
        return None
    return tuple(groups)


def _read_columns(section: dict[str, Any], problem: _Report) -> dict[str, str]:
    canonical = schema.canonical_columns()
    columns: dict[str, str] = {}
    for key, value in section.items():
        full_key = f"columns.{key}"
        if key not in canonical:
            problem(
                full_key,
                f"{key!r} is not a canonical column name{did_you_mean(key, canonical)}",
                "keys of [columns] are the names in data/codebook.csv; the values are your "
                "column names",
            )
            continue
        if not isinstance(value, str) or not value.strip():
            problem(
                full_key,
                "must be a non-empty string (your column's name)",
                f'write {key} = "your column name"',
                value,
            )
            continue
        columns[key] = value.strip()
    by_user_name: dict[str, list[str]] = {}
    for key, value in columns.items():
        by_user_name.setdefault(value, []).append(key)
    for user_name, keys in by_user_name.items():
        if len(keys) > 1:
            problem(
                "columns." + ", columns.".join(keys),
                f"{len(keys)} canonical names are mapped to the same column {user_name!r}",
                "map each of your columns to one canonical name",
                user_name,
            )
    return columns


def _read_categories(section: dict[str, Any], problem: _Report) -> dict[str, dict[str, str]]:
    recodable = [
        var.name for var in schema.variables().values() if var.type in ("categorical", "binary")
    ]
    categories: dict[str, dict[str, str]] = {}
    for variable_name, recode in section.items():
        full_key = f"categories.{variable_name}"
        if variable_name not in recodable:
            problem(
                full_key,
                f"{variable_name!r} is not a categorical or binary variable"
                f"{did_you_mean(variable_name, recodable)}",
                f"[categories.<name>] sections exist for {', '.join(recodable)}",
            )
            continue
        if not isinstance(recode, dict):
            problem(full_key, "must be a section", f'write [{full_key}] then "label" = "level"')
            continue
        var = schema.variable(variable_name)
        allowed = var.allowed or ()
        entries: dict[str, str] = {}
        for label, level in recode.items():
            entry_key = f"{full_key}.{label}"
            if var.type == "binary":
                # 1, "1" and true all mean 1: a 0/1 column is coded by numbers or booleans.
                level = _binary_level(level)
                if level is None:
                    problem(
                        entry_key,
                        "must be 1 or 0",
                        f'write "{label}" = 1 (yes) or "{label}" = 0 (no)',
                        recode[label],
                    )
                    continue
            elif not isinstance(level, str):
                problem(entry_key, "must be a string (a level)", f"use one of {allowed}", level)
                continue
            if level not in allowed:
                problem(
                    entry_key,
                    f"unknown level {level!r} for {variable_name}{did_you_mean(level, allowed)}",
                    f"map to one of {', '.join(allowed)}",
                    level,
                )
                continue
            entries[str(label).strip()] = level
        categories[variable_name] = entries
    return categories


def _binary_level(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and value in (0, 1):
        return str(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return value.strip()
    return None


def _read_options(section: dict[str, Any], problem: _Report) -> tuple[bool, dt.date | None]:
    drop = False
    survey_date: dt.date | None = None
    for key, value in section.items():
        full_key = f"options.{key}"
        if key not in OPTION_KEYS:
            problem(
                full_key,
                f"unknown option{did_you_mean(key, OPTION_KEYS)}",
                f"[options] takes {', '.join(OPTION_KEYS)}",
            )
        elif key == "drop_rows_with_missing_predictors":
            if isinstance(value, bool):
                drop = value
            else:
                problem(full_key, "must be true or false (no quotes)", f"write {key} = true", value)
        else:
            survey_date = _as_date(value)
            if survey_date is None:
                problem(
                    full_key,
                    "must be a date",
                    'write survey_date = "2025-06-30" (YYYY-MM-DD)',
                    value,
                )
    return drop, survey_date


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
