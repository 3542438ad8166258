"""A validated study: projects, and the townships and counties they are grouped in.

:func:`load_study` reads the user's files (three linked tables or one flat table, in any format
that :func:`~grassroots.data.readers.read_table` reads), applies the column mapping, checks every
value (:mod:`grassroots.data.validation`) and returns a :class:`Study` whose tables carry the
canonical columns of ``data/codebook.csv`` with canonical types. :func:`load_dataset` loads a
study bundled with the package.

How the tables are arranged, whatever the input:

* one table per grouping level (``levels``, outer to inner, from ``county`` and ``township``)
  plus ``projects``; each holds its own id, the id of the next level out, its codebook columns
  and the user's own columns from its file;
* a variable whose codebook table is not a level of the study moves to the next level inside it
  (e.g. with ``levels = ("township",)`` the county columns are township columns); a flat table
  is split into levels by the level ids, after checking that each level's columns are constant
  within it;
* types: ids ``str``; binary columns ``int64``; ``demand_fit`` pandas ``Int64`` (missing
  allowed); continuous columns and ``months`` ``float64``; dates ``datetime64[ns]``;
  categorical columns ``pandas.Categorical`` with the codebook's levels; the user's own columns
  as read.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from grassroots._paths import bundled_data_dir
from grassroots.data import schema
from grassroots.data.identity import CANONICAL_ORDER, data_hash
from grassroots.data.mapping import Mapping, load_mapping
from grassroots.data.readers import SUPPORTED_SUFFIXES, read_table
from grassroots.data.validation import (
    DEFAULT_MAX_PROBLEMS,
    ColumnContext,
    DataValidationError,
    DataValidationWarning,
    Parsed,
    ProblemLog,
    check_constant_within,
    check_dates,
    check_parent_exists,
    check_unique_ids,
    did_you_mean,
    missing_cells,
    parse_column,
)

TableName = schema.TableName
TABLES = schema.TABLES
ID_COLUMN = schema.ID_COLUMN
# The table whose codebook row describes an id column used as a key to the next level out.
KEY_TABLE: dict[str, TableName] = {"county_id": "townships", "township_id": "projects"}
LEVEL_OF_TABLE: dict[TableName, str] = {"counties": "county", "townships": "township"}
#: The columns :func:`load_study` requires unless told otherwise: column -> why. A model fit
#: asks for its spec's outcome columns instead.
DEFAULT_REQUIRED_COLUMNS: dict[str, str] = {
    "project_id": "it identifies the rows of the projects table",
    "months": "the survival outcome needs it",
    "discontinued": "the survival outcome needs it",
}
_ROW_NAME: dict[TableName, str] = {
    "counties": "county",
    "townships": "township",
    "projects": "project",
}
SUFFIX: dict[TableName, str] = {"counties": "_county", "townships": "_township", "projects": ""}


# ----------------------------------------------------------------------------------------------
# The Study
# ----------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Study:
    """Validated study data in canonical form.

    Attributes
    ----------
    projects
        One row per project: ``project_id``, the id of the innermost grouping level (if any),
        project columns, and the user's own project-level columns.
    townships
        One row per township (``township_id``, ``county_id`` when counties are a level,
        township columns), or ``None`` when township is not a grouping level.
    counties
        One row per county, or ``None`` when county is not a grouping level.
    levels
        Grouping levels, outer to inner: ``("county", "township")``, ``("township",)``,
        ``("county",)`` or ``()``.
    sources
        Where the data came from: table name (or ``"flat"``, ``"mapping"``) -> path.
    dropped_rows
        Project rows dropped because of missing predictor values (only when the mapping sets
        ``drop_rows_with_missing_predictors = true``).
    """

    projects: pd.DataFrame
    townships: pd.DataFrame | None = None
    counties: pd.DataFrame | None = None
    levels: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    dropped_rows: int = 0

    def __post_init__(self) -> None:
        self.levels = tuple(self.levels)
        if self.levels != tuple(level for level in schema.LEVELS if level in self.levels):
            raise ValueError(
                f"levels {self.levels} must be a subset of {schema.LEVELS}, outer to inner"
            )
        for level in schema.LEVELS:
            table = getattr(self, schema.LEVEL_TABLE[level])
            if (level in self.levels) != (table is not None):
                raise ValueError(
                    f"the {schema.LEVEL_TABLE[level]} table must be given exactly when "
                    f"{level!r} is one of the levels {self.levels}"
                )

    @classmethod
    def from_frames(
        cls,
        projects: pd.DataFrame,
        townships: pd.DataFrame | None = None,
        counties: pd.DataFrame | None = None,
        *,
        mapping: Mapping | str | os.PathLike[str] | None = None,
        max_problems: int = DEFAULT_MAX_PROBLEMS,
    ) -> Study:
        """Validate in-memory tables (e.g. a simulator's output) as :func:`load_study` would.

        Problems name the tables ``<projects>``, ``<townships>``, ``<counties>`` and count rows
        from 1.
        """
        frames = {"counties": counties, "townships": townships, "projects": projects}
        inputs = {}
        for table, frame in frames.items():
            if frame is None:
                continue
            frame = frame.reset_index(drop=True)
            frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
            frame.columns = [str(column).strip() for column in frame.columns]
            inputs[table] = _Input(table, f"<{table}>", frame, {})
        resolved = _as_mapping(mapping)
        return _build_study(inputs, resolved, {}, max_problems)

    @property
    def n(self) -> dict[str, int]:
        """Number of rows at each level: ``{"county": ..., "township": ..., "project": ...}``."""
        counts = {level: len(getattr(self, schema.LEVEL_TABLE[level])) for level in self.levels}
        counts["project"] = len(self.projects)
        return counts

    def flat(self) -> pd.DataFrame:
        """Projects joined with their township's and county's columns, in project order.

        Ids first, then codebook columns (county, township, project, in codebook order), then
        the user's own columns (project, township, county). The user's own columns that share a
        name across tables get the suffix ``_township`` or ``_county``.
        """
        frame = self.projects
        for table in ("townships", "counties"):
            other = getattr(self, table)
            if other is None:
                continue
            frame = frame.merge(
                other,
                on=ID_COLUMN[table],
                how="left",
                suffixes=("", SUFFIX[table]),
                validate="many_to_one",
            )
        canonical = [c for c in CANONICAL_ORDER if c in frame.columns]
        own = [c for c in frame.columns if c not in set(canonical)]
        return frame[canonical + own].reset_index(drop=True)

    def data_hash(self) -> str:
        """SHA-256 of a canonical serialisation of :meth:`flat`
        (:func:`grassroots.data.identity.data_hash`): stable across runs, machines and input
        formats. Row order counts."""
        return data_hash(self)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.n.items())
        dropped = f", dropped_rows={self.dropped_rows}" if self.dropped_rows else ""
        return f"Study(levels={self.levels}, {counts}{dropped})"


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def load_study(
    source: str | os.PathLike[str],
    *,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    encoding: str | None = None,
    header_row: int | None = None,
    required_columns: dict[str, str] | None = None,
    allow_outside_files: bool = False,
) -> Study:
    """Read, map and validate a study.

    Parameters
    ----------
    source
        One of: a folder holding ``counties.*``, ``townships.*`` and ``projects.*`` (the outer
        tables are optional), or ``flat.*``, or a single data file; a single flat data file; an
        ``.xlsx`` workbook whose sheets are named ``counties``, ``townships`` and ``projects``
        (the three tables); a ``.toml`` mapping file whose ``[files]`` name the data (one
        workbook for several tables: ``sheets`` in ``[files]``).
    mapping
        A :class:`~grassroots.data.mapping.Mapping` or the path of a ``.toml`` mapping file.
        Without one, columns carry canonical names and the levels follow the tables and id
        columns present. When ``source`` is a data folder or file, it replaces the mapping's
        ``[files]``.
    max_problems
        How many causes of problems the error message lists (the ``problems`` table has
        every problem).
    encoding
        The text encoding of the CSV files when they are wholly in one other than UTF-8
        (``"gbk"``); overrides the mapping's ``[files] encoding``.
    header_row
        The row of the column names in ``.xlsx`` sheets (default: row 1, or the first row
        below title rows); overrides the mapping's ``[files] header_row``.
    required_columns
        The columns the data must have, canonical name -> why (the reason is part of the
        message when one is missing); each is looked for in the file of its codebook table, a
        column not in the codebook in the projects (or flat) table. Default
        (:data:`DEFAULT_REQUIRED_COLUMNS`): ``project_id`` and the survival outcome. A fit
        passes the outcome columns of its spec, so that a table for an ordinal spec needs no
        survival columns; when ``project_id`` is not required and absent, the projects are
        numbered by their row in the file (``"2"`` for the first data row under the header).
    allow_outside_files
        Accept a mapping file's ``[files]`` outside its folder (refused by default:
        :mod:`grassroots.data.mapping`).

    Returns
    -------
    Study

    Raises
    ------
    DataValidationError
        With every problem found in the files and the mapping.

    Warns
    -----
    DataValidationWarning
        When rows with missing predictor values are dropped (on request).

    Examples
    --------
    >>> study = load_study("my_survey/mapping.toml")  # doctest: +SKIP
    >>> study.n  # doctest: +SKIP
    {'county': 12, 'township': 96, 'project': 1480}
    """
    source = Path(source)
    if source.suffix.lower() == ".toml":
        if mapping is not None:
            raise DataValidationError.single(
                str(source),
                "a mapping file was given both as the source and as mapping=",
                "give the mapping once: load_study('mapping.toml'), or "
                "load_study('data_folder', mapping='mapping.toml')",
            )
        resolved = load_mapping(source, allow_outside_files=allow_outside_files)
        if not resolved.files:
            raise DataValidationError.single(
                str(source),
                "the mapping file has no [files] section, so there are no data to load",
                'list your tables under [files] (projects = "projects.csv", ...), or pass the '
                "data folder as the source and this file as mapping=",
                column="files",
            )
        files = dict(resolved.files)
    else:
        resolved = _as_mapping(mapping, allow_outside_files=allow_outside_files)
        files = _resolve_source(source)
        workbook_sheets = _table_sheets(files)
        if workbook_sheets:  # one workbook with a sheet per table
            files = dict.fromkeys(workbook_sheets, files["flat"])
            resolved = dataclasses.replace(resolved, sheets={**workbook_sheets, **resolved.sheets})
        if resolved.files:
            warnings.warn(
                f"{resolved.name}: [files] is ignored because the data source {source} was "
                "given directly",
                DataValidationWarning,
                stacklevel=2,
            )
    if encoding is not None:
        resolved = dataclasses.replace(resolved, encoding=encoding)
    if header_row is not None:
        resolved = dataclasses.replace(resolved, header_row=header_row)
    inputs = _read_inputs(files, resolved, max_problems)
    sources = {name: str(path) for name, path in files.items()}
    if resolved.path is not None:
        sources["mapping"] = str(resolved.path)
    return _build_study(inputs, resolved, sources, max_problems, required_columns)


def load_dataset(name: str = "synthetic_study") -> Study:
    """Load and validate a study bundled with the package (``data/<name>/``).

    Parameters
    ----------
    name
        The bundled data set: a folder of the package data holding its tables.
    """
    root = bundled_data_dir()
    folder = root / name
    if not folder.is_dir():
        available = sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and any(f.suffix.lower() in SUPPORTED_SUFFIXES for f in p.iterdir())
        )
        raise DataValidationError.single(
            str(folder),
            f"there is no bundled data set {name!r}",
            f"use one of: {', '.join(available) if available else '(none installed)'}",
        )
    return load_study(folder)


def _as_mapping(
    mapping: Mapping | str | os.PathLike[str] | None, *, allow_outside_files: bool = False
) -> Mapping:
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    return load_mapping(mapping, allow_outside_files=allow_outside_files)


def _table_sheets(files: dict[str, Path]) -> dict[str, str]:
    """For a single .xlsx source whose sheets are named after the tables (``counties``,
    ``townships``, ``projects``, any case): table -> sheet name; else empty (a flat sheet)."""
    path = files.get("flat")
    if path is None or len(files) != 1 or path.suffix.lower() != ".xlsx":
        return {}
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True)
    except Exception:  # a damaged workbook: read_table reports it
        return {}
    try:
        names = {name.strip().lower(): name for name in workbook.sheetnames}
    finally:
        workbook.close()
    sheets = {table: names[table] for table in TABLES if table in names}
    return sheets if "projects" in sheets else {}


def _resolve_source(source: Path) -> dict[str, Path]:
    if not source.exists():
        raise DataValidationError.single(
            str(source),
            "no such file or folder",
            "give a data folder, a data file or a .toml mapping file",
        )
    if source.is_file():
        return {"flat": source}
    data_files = sorted(
        p
        for p in source.iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not p.name.startswith(".")
    )
    by_stem: dict[str, list[Path]] = {}
    for path in data_files:
        by_stem.setdefault(path.stem.lower(), []).append(path)
    named = {stem: paths for stem, paths in by_stem.items() if stem in (*TABLES, "flat")}
    for stem, paths in named.items():
        if len(paths) > 1:
            raise DataValidationError.single(
                str(source),
                f"the folder holds more than one {stem} table: {', '.join(p.name for p in paths)}",
                "keep one file per table in the folder, or name the files in a mapping file",
            )
    tables = {stem: paths[0] for stem, paths in named.items() if stem in TABLES}
    if tables:
        if "flat" in named:
            raise DataValidationError.single(
                str(source),
                f"the folder holds both separate tables and a flat table ({named['flat'][0].name})",
                "pass the flat file itself as the source, or move it out of the folder",
            )
        if "projects" not in tables:
            raise DataValidationError.single(
                str(source),
                "the folder has no projects table",
                "add projects.csv (or .xlsx, .parquet, .dta, .sav) with one row per project",
            )
        return {table: tables[table] for table in TABLES if table in tables}
    if "flat" in named:
        return {"flat": named["flat"][0]}
    if len(data_files) == 1:
        return {"flat": data_files[0]}
    found = ", ".join(p.name for p in data_files) or "no data files"
    raise DataValidationError.single(
        str(source),
        f"cannot tell which files hold the data (found: {found})",
        "name the tables counties.*, townships.*, projects.* (or one flat.*), or list them "
        "under [files] in a mapping file",
    )


@dataclass
class _Input:
    """One input table: canonical column names, values as read, user row numbers as index."""

    table: TableName
    file: str
    frame: pd.DataFrame
    value_labels: dict[str, dict[object, str]]
    # Canonical name -> the column's name in the user's file, for the columns the mapping
    # renamed: problems name columns as the user knows them.
    user_names: dict[str, str] = field(default_factory=dict)


def _read_inputs(files: dict[str, Path], mapping: Mapping, max_problems: int) -> dict[str, _Input]:
    ids = [*ID_COLUMN.values()]
    text_columns = set(ids) | {mapping.columns[c] for c in ids if c in mapping.columns}
    expected = set(schema.canonical_columns()) | set(mapping.columns.values())
    shared = {path for path in files.values() if list(files.values()).count(path) > 1}
    inputs: dict[str, _Input] = {}
    log = ProblemLog()
    for name, path in files.items():
        sheet = mapping.sheets.get(name, mapping.sheet)
        try:
            frame = read_table(
                path,
                sheet=sheet,
                text_columns=text_columns,
                encoding=mapping.encoding,
                header_row=mapping.header_row,
                expected_columns=expected,
            )
        except DataValidationError as error:
            log.extend(error.problems)
            continue
        table: TableName = "projects" if name == "flat" else name  # type: ignore[assignment]
        # Tables of one workbook are told apart by their sheet in every problem.
        label = f"{path} [sheet {sheet}]" if path in shared and sheet else str(path)
        inputs[table] = _Input(table, label, frame, frame.attrs.get("value_labels", {}))
    log.raise_if_any(max_problems)
    return inputs


# ----------------------------------------------------------------------------------------------
# The plan: which tables the files hold, which are levels, where each column belongs
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    present: tuple[TableName, ...]  # tables with a file (a flat table counts as projects)
    declared: tuple[TableName, ...]  # the levels' tables, and projects

    @property
    def chain(self) -> tuple[TableName, ...]:
        """Tables linked outer to inner: those with a file or a level."""
        return tuple(t for t in TABLES if t in self.present or t in self.declared)

    def source(self, table: TableName) -> TableName:
        """The file a table's rows come from: its own, or the next one inside it."""
        return next(t for t in TABLES[TABLES.index(table) :] if t in self.present)

    def declared_home(self, table: TableName) -> TableName:
        """The Study table that holds a codebook table's columns."""
        return next(t for t in TABLES[TABLES.index(table) :] if t in self.declared)

    def outer(self, table: TableName) -> TableName | None:
        """The next table out in the chain."""
        chain = self.chain
        position = chain.index(table)
        return chain[position - 1] if position > 0 else None


def _codebook_table(column: str) -> TableName | None:
    """The codebook table a column belongs to, ids as keys to the next level out."""
    if column in KEY_TABLE:
        return KEY_TABLE[column]
    if column == "project_id":
        return "projects"
    try:
        return schema.variable(column).table
    except KeyError:
        return None


def _variable_for(column: str, table: TableName) -> schema.Variable:
    if column == ID_COLUMN[table]:
        return schema.variable(column, table)
    codebook_table = _codebook_table(column)
    assert codebook_table is not None
    return schema.variable(column, codebook_table)


def _infer_levels(inputs: dict[str, _Input]) -> tuple[str, ...]:
    present = [t for t in TABLES if t in inputs]
    levels = []
    for level, table in schema.LEVEL_TABLE.items():
        if table in inputs:
            levels.append(level)
            continue
        # The level's id in the next file inside it makes the level (a flat table's ids).
        inner = [t for t in present if TABLES.index(t) > TABLES.index(table)]
        if inner and ID_COLUMN[table] in inputs[inner[0]].frame.columns:
            levels.append(level)
    return tuple(level for level in schema.LEVELS if level in levels)


# ----------------------------------------------------------------------------------------------
# Building: rename, check, drop, split and join
# ----------------------------------------------------------------------------------------------


def _build_study(
    inputs: dict[str, _Input],
    mapping: Mapping,
    sources: dict[str, str],
    max_problems: int,
    required_columns: dict[str, str] | None = None,
) -> Study:
    log = ProblemLog()
    _apply_mapping_names(inputs, mapping, log)
    required = DEFAULT_REQUIRED_COLUMNS if required_columns is None else required_columns
    projects = inputs["projects"]
    if "project_id" not in required and "project_id" not in projects.frame.columns:
        projects.frame = projects.frame.assign(project_id=projects.frame.index.astype(str))
    levels = mapping.levels if mapping.levels is not None else _infer_levels(inputs)
    plan = _Plan(
        present=tuple(t for t in TABLES if t in inputs),
        declared=tuple(schema.LEVEL_TABLE[level] for level in levels) + ("projects",),
    )
    if mapping.survey_date is not None:
        _fill_survey_date(inputs["projects"], mapping.survey_date)

    _check_structure(inputs, plan, mapping, log, required)
    parsed = {table: _parse_table(item, plan, mapping, log) for table, item in inputs.items()}
    typed = {table: frame for table, (frame, _, _) in parsed.items()}
    invalid = {table: masks for table, (_, masks, _) in parsed.items()}
    drop = {table: rows for table, (_, _, rows) in parsed.items()}

    for table, item in inputs.items():
        if item.frame.empty:
            log.add(item.file, "the table has no data rows", f"add one row per {_ROW_NAME[table]}")
        if ID_COLUMN[table] in typed[table]:
            id_column = ID_COLUMN[table]
            check_unique_ids(
                typed[table][id_column], item.file, item.user_names.get(id_column, id_column), log
            )
    drop = _cascade_drops(typed, drop, plan)
    kept = {table: frame.loc[~drop[table].to_numpy()] for table, frame in typed.items()}
    _check_relations(kept, inputs, plan, log)
    _check_derived_constant(kept, inputs, invalid, plan, log)
    projects_file = inputs["projects"].file
    check_dates(
        kept["projects"],
        file=projects_file,
        log=log,
        invalid=invalid["projects"],
        names=inputs["projects"].user_names,
    )
    if len(log):
        raise DataValidationError(_in_user_names(log.frame(), inputs), max_problems)

    dropped_rows = int(drop["projects"].sum())
    if any(mask.any() for mask in drop.values()):
        _warn_dropped(inputs, drop, dropped_rows)
    tables = _assemble(kept, inputs, plan)
    return Study(
        projects=tables["projects"],
        townships=tables.get("townships"),
        counties=tables.get("counties"),
        levels=tuple(levels),
        sources=sources,
        dropped_rows=dropped_rows,
    )


def _apply_mapping_names(inputs: dict[str, _Input], mapping: Mapping, log: ProblemLog) -> None:
    rename = mapping.rename_map()
    found: set[str] = set()
    for item in inputs.values():
        columns = list(item.frame.columns)
        renames = {}
        for user_name, canonical in rename.items():
            if user_name not in columns:
                continue
            found.add(user_name)
            if canonical in columns and canonical != user_name:
                log.add(
                    item.file,
                    f"the file has both {canonical!r} and {user_name!r}, which the mapping also "
                    f"maps to {canonical}",
                    f"remove or rename one of the two columns, or the {canonical} entry of "
                    f"[columns] in {mapping.name}",
                    column=canonical,
                )
                continue
            renames[user_name] = canonical
        item.frame = item.frame.rename(columns=renames)
        item.user_names = {canonical: user for user, canonical in renames.items()}
        item.value_labels = {renames.get(k, k): v for k, v in item.value_labels.items()}
    all_columns = [c for item in inputs.values() for c in item.frame.columns]
    for canonical, user_name in mapping.columns.items():
        if user_name not in found:
            files = ", ".join(Path(item.file).name for item in inputs.values())
            log.add(
                mapping.name,
                f"column {user_name!r}, mapped to {canonical}, is in none of the data files "
                f"({files}){did_you_mean(user_name, all_columns)}",
                "correct the column name on the right of [columns] to match your file's header "
                "exactly",
                column=f"columns.{canonical}",
                values=[user_name],
            )


def _in_user_names(problems: pd.DataFrame, inputs: dict[str, _Input]) -> pd.DataFrame:
    """The problems with each data file's columns named as in that file (``存续月数``, not
    ``months``)."""
    problems = problems.copy()
    for item in inputs.values():
        if not item.user_names:
            continue
        in_file = (problems["file"] == item.file).to_numpy()
        names = item.user_names
        problems.loc[in_file, "column"] = problems.loc[in_file, "column"].replace(names)
    return problems


def _fill_survey_date(item: _Input, survey_date) -> None:
    stamp = pd.Timestamp(survey_date)
    frame = item.frame.copy()
    if "survey_date" not in frame.columns:
        frame["survey_date"] = stamp
    else:
        column = frame["survey_date"].astype(object)
        frame["survey_date"] = column.where(~missing_cells(frame["survey_date"]), stamp)
    item.frame = frame


def _required_columns(plan: _Plan, columns: dict[str, str]) -> dict[TableName, dict[str, str]]:
    """Per file: required column -> why it is required."""
    required: dict[TableName, dict[str, str]] = {t: {} for t in plan.present}
    for table in plan.present:
        if table != "projects":
            required[table][ID_COLUMN[table]] = f"it identifies the rows of the {table} table"
    for column, why in columns.items():
        # A codebook column is required in the file of its table (collaboration: counties.csv).
        required[plan.source(_codebook_table(column) or "projects")][column] = why
    for table in plan.chain:
        outer = plan.outer(table)
        if outer is not None:
            key = ID_COLUMN[outer]
            why = (
                f"the grouping level {LEVEL_OF_TABLE[outer]!r} is one of the study's levels"
                if outer in plan.declared
                else f"it links to the {outer} table"
            )
            required[plan.source(table)].setdefault(key, why)
        if table not in plan.present:  # a level made from the ids of the file inside it
            required[plan.source(table)].setdefault(
                ID_COLUMN[table],
                f"the grouping level {LEVEL_OF_TABLE[table]!r} is one of the study's levels",
            )
    return required


def _check_structure(
    inputs: dict[str, _Input],
    plan: _Plan,
    mapping: Mapping,
    log: ProblemLog,
    required: dict[str, str],
) -> None:
    """Required columns, and each codebook column in the file of its table."""
    inverse = mapping.columns
    for table, needed in _required_columns(plan, required).items():
        item = inputs[table]
        columns = list(item.frame.columns)
        missing = {c for c in needed if c not in columns}
        for column in sorted(missing, key=list(needed).index):
            mapped = f" (the mapping maps it to {inverse[column]!r})" if column in inverse else ""
            hint = (
                "rename the column or map it in [columns] of your mapping file"
                f"{did_you_mean(column, columns)}"
            )
            if column in (ID_COLUMN["counties"], ID_COLUMN["townships"]) and table not in (
                "counties",
                "townships",
            ):
                level = "county" if column == "county_id" else "township"
                hint += f"; or leave {level!r} out of [levels] groups"
            log.add(
                item.file,
                f"required column {column!r} is missing{mapped}: {needed[column]}",
                hint,
                column=column,
            )
    for table, item in inputs.items():
        for column in item.frame.columns:
            codebook_table = _codebook_table(column)
            if codebook_table is None or column == ID_COLUMN[table]:
                continue
            home = plan.source(codebook_table)
            if home != table:
                log.add(
                    item.file,
                    f"{column!r} is a column of the {codebook_table} table (data/codebook.csv) "
                    f"and belongs in {Path(inputs[home].file).name}",
                    f"move the column to {Path(inputs[home].file).name}, or rename it (e.g. "
                    f"my_{column}) to keep it as your own column",
                    column=column,
                )


def _parse_table(
    item: _Input, plan: _Plan, mapping: Mapping, log: ProblemLog
) -> tuple[pd.DataFrame, dict[str, pd.Series], pd.Series]:
    """Typed canonical columns (the user's own untouched); invalid-cell masks; rows to drop."""
    frame = item.frame.copy()
    predictors = set(schema.predictor_columns())
    invalid: dict[str, pd.Series] = {}
    drop = pd.Series(False, index=frame.index)
    for column in item.frame.columns:
        codebook_table = _codebook_table(column)
        if codebook_table is None:
            continue
        if column != ID_COLUMN[item.table] and plan.source(codebook_table) != item.table:
            continue  # in the wrong file; reported by _check_structure
        var = _variable_for(column, item.table)
        droppable = column in predictors and mapping.drop_rows_with_missing_predictors
        context = ColumnContext(
            file=item.file,
            categories=mapping.categories.get(column),
            value_labels=item.value_labels.get(column),
            mapping_file=str(mapping.path) if mapping.path is not None else None,
            user_name=item.user_names.get(column),
        )
        result: Parsed = parse_column(
            frame[column], var, context, log, missing_ok=var.missing_allowed or droppable
        )
        frame[column] = result.values
        invalid[column] = result.invalid
        if droppable:
            drop |= result.missing
    return frame, invalid, drop


def _cascade_drops(
    typed: dict[TableName, pd.DataFrame], drop: dict[TableName, pd.Series], plan: _Plan
) -> dict[TableName, pd.Series]:
    """Rows whose parent row was dropped go too: a project of a dropped township."""
    drop = dict(drop)
    for table in plan.chain:
        outer = plan.outer(table)
        if outer is None or outer not in typed:
            continue
        key = ID_COLUMN[outer]
        parent = typed[outer]
        child_table = plan.source(table)
        child = typed[child_table]
        if key not in parent or key not in child or not drop[outer].any():
            continue
        gone = set(parent[key][drop[outer]]) - set(parent[key][~drop[outer]])
        drop[child_table] = drop[child_table] | child[key].isin(gone)
    return drop


def _check_relations(
    kept: dict[TableName, pd.DataFrame],
    inputs: dict[str, _Input],
    plan: _Plan,
    log: ProblemLog,
) -> None:
    """Every key points at an existing row of the next table out (when that table has a file)."""
    for table in plan.chain:
        outer = plan.outer(table)
        if outer is None or outer not in plan.present:
            continue
        key = ID_COLUMN[outer]
        child_table = plan.source(table)
        if key not in kept[child_table] or key not in kept[outer]:
            continue
        check_parent_exists(
            kept[child_table][key],
            kept[outer][key],
            child_file=inputs[child_table].file,
            parent_file=Path(inputs[outer].file).name,
            column=inputs[child_table].user_names.get(key, key),
            log=log,
        )


def _derived_columns(frame: pd.DataFrame, table: TableName, plan: _Plan) -> list[str]:
    """Columns of a level made from the rows of another file: its id and its codebook columns."""
    columns = [ID_COLUMN[table]]
    for column in frame.columns:
        codebook_table = _codebook_table(column)
        if column == ID_COLUMN[table] or codebook_table is None:
            continue
        if plan.source(codebook_table) == plan.source(table) and (
            plan.declared_home(codebook_table) == table
        ):
            columns.append(column)
    return columns


def _check_derived_constant(
    kept: dict[TableName, pd.DataFrame],
    inputs: dict[str, _Input],
    invalid: dict[TableName, dict[str, pd.Series]],
    plan: _Plan,
    log: ProblemLog,
) -> None:
    """A level made from a flat table: its columns must be the same on all of its rows.

    Inner levels first: when a township's county_id varies, its rows would also make its
    counties' columns look inconsistent, so those rows are left out of the county check.
    """
    skip_rows: dict[TableName, np.ndarray] = {}
    for table in reversed(plan.declared):
        if table in plan.present or table == "projects":
            continue
        source = plan.source(table)
        frame = kept[source]
        if ID_COLUMN[table] not in frame:
            continue
        columns = _derived_columns(frame, table, plan)[1:]
        if not columns:
            continue
        skip = skip_rows.get(source, np.zeros(len(frame), dtype=bool))
        masks = {c: m.loc[frame.index] | skip for c, m in invalid[source].items()}
        varying = check_constant_within(
            frame,
            ID_COLUMN[table],
            columns,
            file=inputs[source].file,
            level_name=LEVEL_OF_TABLE[table],
            log=log,
            ignore=masks,
            names=inputs[source].user_names,
        )
        skip_rows[source] = skip | frame[ID_COLUMN[table]].isin(varying).to_numpy()


def _assemble(
    kept: dict[TableName, pd.DataFrame], inputs: dict[str, _Input], plan: _Plan
) -> dict[TableName, pd.DataFrame]:
    frames: dict[TableName, pd.DataFrame] = dict(kept)
    # Levels without a file of their own: the first row of each id in the file inside them.
    moved: dict[TableName, set[str]] = {t: set() for t in plan.present}
    keys: set[str] = set()
    for table in plan.declared:
        if table in plan.present:
            continue
        source = plan.source(table)
        columns = _derived_columns(kept[source], table, plan)
        frames[table] = kept[source][columns].drop_duplicates(subset=ID_COLUMN[table])
        moved[source] |= set(columns)
        keys.add(ID_COLUMN[table])
    for source, columns in moved.items():
        keep = [
            c
            for c in frames[source].columns
            if c not in columns
            or plan.declared_home(_codebook_table(c) or source) == source
            # A file that is not a level joins the table inside it, which needs the key
            # (townships.csv with groups = ["county"]: county_id goes on to the projects).
            or (c in keys and source not in plan.declared)
        ]
        frames[source] = frames[source][keep]
    # Tables given but not a level: their columns join the next table inside them.
    for table in plan.chain:
        if table in plan.declared:
            continue
        inner = plan.chain[plan.chain.index(table) + 1]
        frames[inner] = frames[inner].merge(
            frames.pop(table),
            on=ID_COLUMN[table],
            how="left",
            suffixes=("", SUFFIX[table]),
            validate="many_to_one",
        )
    result = {}
    for table in plan.declared:
        frame = frames[table]
        outer = [t for t in plan.declared if TABLES.index(t) < TABLES.index(table)]
        first = [ID_COLUMN[table]] + ([ID_COLUMN[outer[-1]]] if outer else [])
        canonical = [c for c in CANONICAL_ORDER if c in frame.columns and c not in first]
        own = [c for c in frame.columns if c not in set(first) | set(canonical)]
        result[table] = frame[first + canonical + own].reset_index(drop=True)
    return result


def _warn_dropped(
    inputs: dict[str, _Input],
    drop: dict[TableName, pd.Series],
    dropped_rows: int,
) -> None:
    parts = []
    for table, mask in drop.items():
        if mask.any():
            rows = _row_list(mask.index[mask.to_numpy()])
            parts.append(f"{Path(inputs[table].file).name}: {int(mask.sum())} rows ({rows})")
    warnings.warn(
        f"dropped {dropped_rows} project rows with missing predictor values (as the mapping's "
        f"drop_rows_with_missing_predictors asks); rows dropped per file, including those of a "
        f"dropped township or county: {'; '.join(parts)}",
        DataValidationWarning,
        stacklevel=4,  # _warn_dropped < _build_study < load_study < the user's call
    )


def _row_list(rows: Iterable[int], limit: int = 10) -> str:
    rows = list(rows)
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f", ... {len(rows) - limit} more" if len(rows) > limit else "")
