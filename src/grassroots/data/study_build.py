"""Building a :class:`~grassroots.data.study_tables.Study` from the tables read: rename, check,
drop, split and join.

:func:`build_study` takes the tables as read (:class:`InputTable`) and the mapping, checks every
value and relation, reports every problem at once (:class:`~grassroots.data.validation.
DataValidationError`), and assembles the fields of a study (its tables, levels, sources).
:func:`grassroots.data.study.load_study` and
:meth:`Study.from_frames <grassroots.data.study_tables.Study.from_frames>` call it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grassroots._warnings import warn_caller
from grassroots.data import schema
from grassroots.data.identity import CANONICAL_ORDER
from grassroots.data.mapping import Mapping, load_mapping
from grassroots.data.schema import ID_COLUMN, SUFFIX, TABLES, TableName
from grassroots.data.validation import (
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


@dataclass
class InputTable:
    """One input table: canonical column names, values as read, user row numbers as index."""

    table: TableName
    file: str
    frame: pd.DataFrame
    value_labels: dict[str, dict[object, str]]
    # Canonical name -> the column's name in the user's file, for the columns the mapping
    # renamed: problems name columns as the user knows them.
    user_names: dict[str, str] = field(default_factory=dict)


def as_mapping(
    mapping: Mapping | str | os.PathLike[str] | None, *, allow_outside_files: bool = False
) -> Mapping:
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    return load_mapping(mapping, allow_outside_files=allow_outside_files)


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


def infer_levels(inputs: dict[str, InputTable]) -> tuple[str, ...]:
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


def build_study(
    inputs: dict[str, InputTable],
    mapping: Mapping,
    sources: dict[str, str],
    max_problems: int,
    required_columns: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of a :class:`~grassroots.data.study_tables.Study` built from
    ``inputs``; every problem found is raised at once as a ``DataValidationError``.

    Returns the fields rather than the ``Study``, so that this module needs only the names of
    ``study_tables`` and ``Study`` can call it (``Study.from_frames``) without an import cycle.
    """
    log = ProblemLog()
    _apply_mapping_names(inputs, mapping, log)
    required = DEFAULT_REQUIRED_COLUMNS if required_columns is None else required_columns
    projects = inputs["projects"]
    if "project_id" not in required and "project_id" not in projects.frame.columns:
        projects.frame = projects.frame.assign(project_id=projects.frame.index.astype(str))
    levels = mapping.levels if mapping.levels is not None else infer_levels(inputs)
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
    return {
        "projects": tables["projects"],
        "townships": tables.get("townships"),
        "counties": tables.get("counties"),
        "levels": tuple(levels),
        "sources": sources,
        "dropped_rows": dropped_rows,
    }


def _apply_mapping_names(inputs: dict[str, InputTable], mapping: Mapping, log: ProblemLog) -> None:
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


def _in_user_names(problems: pd.DataFrame, inputs: dict[str, InputTable]) -> pd.DataFrame:
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


def _fill_survey_date(item: InputTable, survey_date) -> None:
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
    inputs: dict[str, InputTable],
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
    item: InputTable, plan: _Plan, mapping: Mapping, log: ProblemLog
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
    inputs: dict[str, InputTable],
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
    inputs: dict[str, InputTable],
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
    kept: dict[TableName, pd.DataFrame], inputs: dict[str, InputTable], plan: _Plan
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
    inputs: dict[str, InputTable],
    drop: dict[TableName, pd.Series],
    dropped_rows: int,
) -> None:
    parts = []
    for table, mask in drop.items():
        if mask.any():
            rows = _row_list(mask.index[mask.to_numpy()])
            parts.append(f"{Path(inputs[table].file).name}: {int(mask.sum())} rows ({rows})")
    warn_caller(
        f"dropped {dropped_rows} project rows with missing predictor values (as the mapping's "
        f"drop_rows_with_missing_predictors asks); rows dropped per file, including those of a "
        f"dropped township or county: {'; '.join(parts)}",
        DataValidationWarning,
    )


def _row_list(rows: Iterable[int], limit: int = 10) -> str:
    rows = list(rows)
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f", ... {len(rows) - limit} more" if len(rows) > limit else "")
