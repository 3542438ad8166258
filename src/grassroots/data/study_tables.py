"""The :class:`Study` container: a study's tables in canonical form, its flat table and hash.

How the tables are built from the user's files is :mod:`grassroots.data.study_build`; reading
the files is :mod:`grassroots.data.study` (which re-exports these names).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from grassroots.data import schema
from grassroots.data.identity import CANONICAL_ORDER, data_hash
from grassroots.data.mapping import Mapping
from grassroots.data.validation import DEFAULT_MAX_PROBLEMS

TableName = schema.TableName
TABLES = schema.TABLES
ID_COLUMN = schema.ID_COLUMN
SUFFIX = schema.SUFFIX


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
        # Imported here: the builder needs this module's names, and the import must be one-way.
        from grassroots.data.study_build import InputTable, as_mapping, build_study

        frames = {"counties": counties, "townships": townships, "projects": projects}
        inputs = {}
        for table, frame in frames.items():
            if frame is None:
                continue
            frame = frame.reset_index(drop=True)
            frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
            frame.columns = [str(column).strip() for column in frame.columns]
            inputs[table] = InputTable(table, f"<{table}>", frame, {})
        resolved = as_mapping(mapping)
        return cls(**build_study(inputs, resolved, {}, max_problems))

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
