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
:class:`~grassroots.data.validation.DataValidationError` naming the file, the key (as its
``column``, e.g. ``files.sheets.project``) and the key's line (as its ``row``). The structure of
the file (sections, keys, types) is declared in :mod:`grassroots._toml_schema`
(:class:`~grassroots._toml_schema.MappingFile`); this module checks what depends on the codebook
and on the files on disk.
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

from grassroots._toml_schema import (
    FilesTable,
    KeyPath,
    KeyProblem,
    MappingFile,
    TomlSource,
    render_key_path,
    validate_table,
)
from grassroots.data import schema
from grassroots.data.validation import DataValidationError, ProblemLog, did_you_mean

# Adds one problem: (key path, problem, hint, value=None).
_Report = Callable[..., None]
# The keys of [files] that name a data file.
_TABLE_FILES = ("counties", "townships", "projects", "flat")


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


def load_mapping(path: str | os.PathLike[str], *, allow_outside_files: bool = False) -> Mapping:
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
        text = path.read_bytes().decode("utf-8-sig")
        document = tomllib.loads(text)
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
    return _mapping_from_document(
        document, TomlSource(name, text), path=path, allow_outside_files=allow_outside_files
    )


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
    name = str(path) if path is not None else "mapping"
    return _mapping_from_document(
        document, TomlSource(name), path=path, allow_outside_files=allow_outside_files
    )


def _mapping_from_document(
    document: dict[str, Any], file: TomlSource, *, path: Path | None, allow_outside_files: bool
) -> Mapping:
    log = ProblemLog()
    base = path.parent if path is not None else Path.cwd()

    def problem(keys: KeyPath | list[KeyPath], text: str, hint: str, value: object = None) -> None:
        # Several keys (a clash between them) are one problem, at the line of the first.
        keys = keys if isinstance(keys, list) else [keys]
        line = file.line(keys[0])
        log.add(
            file.name,
            text,
            hint,
            column=", ".join(render_key_path(key, quote=False) for key in keys),
            rows=None if line is None else [line],
            values=None if value is None else [value],
        )

    checked, problems = validate_table(MappingFile, document)
    if problems:
        for structural in problems:
            problem(*_words(structural, file))
        # The codebook and file checks still run on every key that is well formed, so that
        # every problem is reported at once.
        checked, _ = validate_table(MappingFile, _without(document, problems))
        if checked is None:  # a key _without cannot remove (not a TOML key): report what we have
            log.raise_if_any()

    files, sheets = _check_files(checked.files, base, problem, allow_outside_files)
    levels = _check_levels(checked.levels.groups, problem)
    columns = _check_columns(checked.columns, problem)
    categories = _check_categories(checked.categories, problem)
    log.raise_if_any()
    return Mapping(
        path=path,
        files=files,
        sheet=checked.files.sheet,
        sheets=sheets,
        encoding=checked.files.encoding.strip() if checked.files.encoding else None,
        header_row=checked.files.header_row,
        levels=levels,
        columns=columns,
        categories=categories,
        drop_rows_with_missing_predictors=checked.options.drop_rows_with_missing_predictors,
        survey_date=checked.options.survey_date,
    )


def _words(problem: KeyProblem, file: TomlSource) -> tuple[KeyPath, str, str, object]:
    """A structural problem as (key path, problem, hint, value) in the mapping's own words."""
    key = str(problem.path[-1])
    if problem.kind == "unknown":
        table = problem.path[:-1]
        choices = problem.allowed
        if problem.key_noun == "section":
            return (
                problem.path,
                f"unknown section [{key}]{did_you_mean(key, choices)}",
                f"use only {', '.join(f'[{section}]' for section in choices)}",
                None,
            )
        return (
            problem.path,
            f"unknown {problem.key_noun}{did_you_mean(key, choices)}",
            f"{file.display(table)} takes {', '.join(choices)}",
            None,
        )
    return problem.path, f"must be {problem.must}", problem.fix, problem.value


def _without(document: dict[str, Any], problems: list[KeyProblem]) -> dict[str, Any]:
    """A copy of ``document`` without the keys of ``problems`` (a key in a list: the list)."""
    cleaned = _copy_tables(document)
    for problem in problems:
        table = cleaned
        keys = [part for part in problem.path if isinstance(part, str)]
        for position, key in enumerate(keys):
            last = position == len(keys) - 1 or not isinstance(table.get(key), dict)
            if last:
                table.pop(key, None)
                break
            table = table[key]
    return cleaned


def _copy_tables(value: Any) -> Any:
    return (
        {key: _copy_tables(item) for key, item in value.items()}
        if isinstance(value, dict)
        else value
    )


def _check_files(
    section: FilesTable, base: Path, problem: _Report, allow_outside: bool
) -> tuple[dict[str, Path], dict[str, str]]:
    files: dict[str, Path] = {}
    for key in _TABLE_FILES:
        value = getattr(section, key)
        if value is None:
            continue
        full_key = ("files", key)
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
            ("files", "flat"),
            "both a flat table and separate tables are listed",
            "list either flat, or counties/townships/projects",
        )
    elif files and "flat" not in files and "projects" not in files:
        problem(
            ("files", "projects"),
            "the projects table is missing",
            'add projects = "<file>" to [files] (or give one flat table as flat = "<file>")',
        )
    sheets = section.sheets.model_dump(exclude_none=True)
    if not sheets.keys() <= files.keys():
        unlisted = sorted(sheets.keys() - files.keys())
        problem(
            ("files", "sheets"),
            f"sheets are named for tables without a file: {', '.join(unlisted)}",
            'list the workbook for each of them too (e.g. projects = "survey.xlsx")',
        )
    return files, sheets


def _check_levels(groups: list[str] | None, problem: _Report) -> tuple[str, ...] | None:
    if groups is None:
        return None
    key = ("levels", "groups")
    unknown = [g for g in groups if g not in schema.LEVELS]
    for level in unknown:
        problem(
            key,
            f"unknown level {level!r}{did_you_mean(level, schema.LEVELS)}",
            f"levels are {', '.join(schema.LEVELS)}",
            level,
        )
    repeated = [g for g, count in Counter(groups).items() if count > 1]
    for level in repeated:
        problem(key, f"level {level!r} is listed twice", "list each level once", level)
    if unknown or repeated:
        return None
    if groups != [level for level in schema.LEVELS if level in groups]:
        problem(
            key,
            "levels must go from outer to inner",
            'write groups = ["county", "township"]',
            ", ".join(groups),
        )
        return None
    return tuple(groups)


def _check_columns(section: dict[str, str], problem: _Report) -> dict[str, str]:
    canonical = schema.canonical_columns()
    columns: dict[str, str] = {}
    for key, value in section.items():
        if key not in canonical:
            problem(
                ("columns", key),
                f"{key!r} is not a canonical column name{did_you_mean(key, canonical)}",
                "keys of [columns] are the names in data/codebook.csv; the values are your "
                "column names",
            )
            continue
        columns[key] = value.strip()
    by_user_name: dict[str, list[str]] = {}
    for key, value in columns.items():
        by_user_name.setdefault(value, []).append(key)
    for user_name, keys in by_user_name.items():
        if len(keys) > 1:
            problem(
                [("columns", key) for key in keys],
                f"{len(keys)} canonical names are mapped to the same column {user_name!r}",
                "map each of your columns to one canonical name",
                user_name,
            )
    return columns


def _check_categories(
    section: dict[str, dict[str, Any]], problem: _Report
) -> dict[str, dict[str, str]]:
    recodable = [
        var.name for var in schema.variables().values() if var.type in ("categorical", "binary")
    ]
    categories: dict[str, dict[str, str]] = {}
    for variable_name, recode in section.items():
        key = ("categories", variable_name)
        if variable_name not in recodable:
            problem(
                key,
                f"{variable_name!r} is not a categorical or binary variable"
                f"{did_you_mean(variable_name, recodable)}",
                f"[categories.<name>] sections exist for {', '.join(recodable)}",
            )
            continue
        var = schema.variable(variable_name)
        allowed = var.allowed or ()
        entries: dict[str, str] = {}
        for label, level in recode.items():
            entry_key = (*key, label)
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
