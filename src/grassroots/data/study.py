"""A validated study: projects, and the townships and counties they are grouped in.

:func:`load_study` reads the user's files (three linked tables or one flat table, in any format
that :func:`~grassroots.data.readers.read_table` reads), applies the column mapping, checks every
value (:mod:`grassroots.data.validation`) and returns a :class:`Study` whose tables carry the
canonical columns of ``data/codebook.csv`` with canonical types. :func:`load_dataset` loads a
study bundled with the package.

The module reads the files; :mod:`grassroots.data.study_tables` holds the :class:`Study`
container and :mod:`grassroots.data.study_build` checks and assembles its tables (both re-exported
here). How the tables are arranged, whatever the input:

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
from pathlib import Path

from grassroots._paths import bundled_data_dir
from grassroots.data import schema
from grassroots.data.mapping import Mapping, load_mapping
from grassroots.data.readers import SUPPORTED_SUFFIXES, read_table
from grassroots.data.study_build import (
    DEFAULT_REQUIRED_COLUMNS,
    InputTable,
    as_mapping,
    build_study,
)
from grassroots.data.study_tables import ID_COLUMN, SUFFIX, TABLES, Study, TableName
from grassroots.data.validation import (
    DEFAULT_MAX_PROBLEMS,
    DataValidationError,
    DataValidationWarning,
    ProblemLog,
)

__all__ = [
    "DEFAULT_REQUIRED_COLUMNS",
    "ID_COLUMN",
    "SUFFIX",
    "TABLES",
    "Study",
    "TableName",
    "load_dataset",
    "load_study",
]


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
        resolved = as_mapping(mapping, allow_outside_files=allow_outside_files)
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
    return Study(**build_study(inputs, resolved, sources, max_problems, required_columns))


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


def _read_inputs(
    files: dict[str, Path], mapping: Mapping, max_problems: int
) -> dict[str, InputTable]:
    ids = [*ID_COLUMN.values()]
    text_columns = set(ids) | {mapping.columns[c] for c in ids if c in mapping.columns}
    expected = set(schema.canonical_columns()) | set(mapping.columns.values())
    shared = {path for path in files.values() if list(files.values()).count(path) > 1}
    inputs: dict[str, InputTable] = {}
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
        inputs[table] = InputTable(table, label, frame, frame.attrs.get("value_labels", {}))
    log.raise_if_any(max_problems)
    return inputs
