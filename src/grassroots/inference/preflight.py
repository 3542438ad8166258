"""Checks before a fit: problems that would surface only after sampling, found before it.

:func:`fit` runs them before anything is compiled, sampled or written, and the ``grassroots``
command turns them into exit code 2 with the message:

* :func:`check_data`: the spec's columns are in the data; no identifier (a grouping column, a
  codebook id, or a text column with a different value on every row) is used as a predictor; a
  survival outcome has at least one event and a binary outcome both values; every grouping level
  has at least two groups, and an inner level more groups than the level around it (one township
  per county cannot be told apart from its county).
* :func:`check_output_folder`: the folder of fit bundles is a folder (or can be made in one),
  writable, on a disk with room for the bundle (:func:`bundle_bytes`).
"""

from __future__ import annotations

import difflib
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from grassroots.data.schema import ID_COLUMN
from grassroots.models.exceptions import ModelDataError
from grassroots.models.spec import ModelSpec

#: Sampler statistics stored per draw: nutpie stores 19 numeric ones, PyMC fewer.
SAMPLE_STATS_PER_DRAW = 20
#: Room kept on top of the estimate of the draws: zarr chunk headers, the temporary's slack.
SIZE_MARGIN = 1.25
_BYTES_PER_VALUE = 8
# Fixed costs whatever the draws: zarr metadata of each stored variable (a few KB each, measured
# at ~13 KB), and each coordinate label in fit.json and the trace.
_BYTES_PER_VARIABLE = 16 * 2**10
_BYTES_PER_LABEL = 64


class PreflightError(ValueError):
    """A fit that would fail or mean nothing, found before anything is compiled or written."""


class UnfittableDataError(PreflightError, ModelDataError):
    """The data cannot identify the spec's model (no event, one group, an id as predictor)."""


class OutputFolderError(PreflightError):
    """The folder of fit bundles is not a writable folder, or its disk lacks room."""


# ---------------------------------------------------------------------------------------------
# The data


def check_data(spec: ModelSpec, frame: pd.DataFrame) -> None:
    """Raise :class:`UnfittableDataError` for the first problem that would spoil the fit.

    Parameters
    ----------
    spec : ModelSpec
    frame : DataFrame
        One row per unit, the table :func:`fit` gets.
    """
    _check_columns_present(spec, frame)
    _check_no_identifier_predictor(spec, frame)
    for outcome in spec.outcomes:
        if outcome.family == "survival":
            _check_events(outcome.columns["time"], outcome.columns["event"], frame)
        elif outcome.family == "logistic":
            _check_both_values(outcome.columns["column"], frame)
    _check_groups(spec, frame)


def _check_columns_present(spec: ModelSpec, frame: pd.DataFrame) -> None:
    columns = [str(c) for c in frame.columns]
    missing = [column for column in spec.columns() if column not in frame.columns]
    if not missing:
        return
    hints = []
    for column in missing:
        close = difflib.get_close_matches(column, columns, n=1)
        hints.append(f"{column!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise UnfittableDataError(
        f"the data lack column(s) {', '.join(hints)}, which spec {spec.name!r} reads. Add them, "
        "rename your columns to these names, or map them in [columns] of a mapping file "
        "(--mapping)"
    )


def _check_no_identifier_predictor(spec: ModelSpec, frame: pd.DataFrame) -> None:
    group_columns = {level.column for level in spec.groups}
    for outcome in spec.outcomes:
        for column in dict.fromkeys((*outcome.predictors, *outcome.time_varying)):
            values = frame[column]
            if column in group_columns:
                why = "is a grouping column of the spec (its groups already get effects)"
            elif column in ID_COLUMN.values():
                why = "is an id column (data/codebook.csv)"
            elif _every_row_its_own_label(values):
                why = f"holds a different text value on each of its {len(values):,d} rows"
            else:
                continue
            raise UnfittableDataError(
                f"column {column!r}, a predictor of outcome {outcome.name!r} in spec "
                f"{spec.name!r}, {why}: an identifier gives one coefficient per unit and no "
                "estimate. Remove it from 'predictors' (for group effects list it in 'groups')"
            )


def _every_row_its_own_label(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    present = values.dropna()
    return len(present) > 2 and present.astype(str).nunique() == len(present)


def _check_events(time: str, event: str, frame: pd.DataFrame) -> None:
    observed = frame[[time, event]].dropna()
    events = pd.to_numeric(observed[event], errors="coerce")
    if len(observed) and not (events == 1).any():
        raise UnfittableDataError(
            f"column {event!r} has no event (no 1) on any of its {len(observed):,d} rows: with "
            "every unit censored the baseline hazard and every effect on it are unidentified, and "
            "the sampler would return nonsense. Check that the event column holds 1 for an event "
            "(e.g. a discontinued project) and 0 for a censored unit"
        )


def _check_both_values(column: str, frame: pd.DataFrame) -> None:
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if len(values) and values.nunique() == 1:
        raise UnfittableDataError(
            f"binary outcome {column!r} is {values.iloc[0]:g} on all of its {len(values):,d} "
            "rows: its odds cannot be estimated. Check the column's coding (0 and 1), or fit "
            "another outcome"
        )


def _check_groups(spec: ModelSpec, frame: pd.DataFrame) -> None:
    outer_column: str | None = None
    for level in spec.groups:
        ids = frame[level.column].dropna().astype(str)
        if ids.nunique() < 2:
            found = f"one {level.name} ({ids.iloc[0]!r})" if len(ids) else f"no {level.name}"
            raise UnfittableDataError(
                f"grouping column {level.column!r} holds {found}: the spread of {level.name} "
                f"effects (sd_{level.name}) cannot be estimated from fewer than two groups. "
                f"Remove {level.column!r} from 'groups' in spec {spec.name!r}, or fit data with "
                f"more than one {level.name}"
            )
        if outer_column is not None:
            pairs = frame[[outer_column, level.column]].dropna().astype(str).drop_duplicates()
            if len(pairs) == pairs[outer_column].nunique():
                raise UnfittableDataError(
                    f"every group of {outer_column!r} holds a single {level.name} "
                    f"({level.column!r}): {level.name} and {outer_column!r} effects cannot be "
                    f"told apart. Remove one of the two from 'groups' in spec {spec.name!r}"
                )
        outer_column = level.column


# ---------------------------------------------------------------------------------------------
# The output folder


#: How a user picks the folder of fit bundles, named in the messages.
FITTED_DIR_CHOICE = "--fitted-dir (fitted_dir= in Python, or GRASSROOTS_FITTED_DIR)"


def check_output_folder(
    folder: str | Path,
    needed_bytes: int = 0,
    *,
    holds: str = "fit bundles",
    choice: str = FITTED_DIR_CHOICE,
) -> None:
    """Raise :class:`OutputFolderError` unless ``folder`` can take ``needed_bytes`` of output.

    A folder that does not exist yet is checked through its nearest existing parent, which must
    be a writable folder; nothing is created. ``holds`` (what the folder is for) and ``choice``
    (how to give another folder) go into the message.
    """
    folder = Path(folder).absolute()
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        where = "" if existing == folder else f" (it would hold {folder})"
        raise OutputFolderError(
            f"{existing} is a file, not a folder{where}: {holds} cannot be saved there. Give "
            f"another folder with {choice}, or move the file"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"cannot write in {existing}: {holds} are saved under {folder}. Give a folder you "
            f"can write to with {choice}"
        )
    if needed_bytes > 0:
        free = shutil.disk_usage(existing).free
        if free < needed_bytes:
            raise OutputFolderError(
                f"{holds} need about {_size(needed_bytes)} but the disk of {existing} has "
                f"{_size(free)} free. Free some space, give a folder on another disk with "
                f"{choice}, or fit fewer draws (--draws, --chains)"
            )


def bundle_bytes(model: Any, draw_shape: tuple[int, int], *, log_likelihood: bool = False) -> int:
    """An upper bound of a fit bundle's size in bytes.

    Chains x draws x stored values x 8 bytes (x :data:`SIZE_MARGIN`), where the stored values
    per draw are the model's parameters and deterministics (sizes from their dims), its sampler
    statistics and, with ``log_likelihood``, one value per observed row; plus the fixed costs of
    each variable's metadata and of the coordinate labels. Zarr compresses the draws, so the
    bundle is usually smaller.
    """
    variables: list[Any] = [*model.free_RVs, *model.deterministics]
    if log_likelihood:
        variables += model.observed_RVs
    values = sum(_size_of(model, variable) for variable in variables) + SAMPLE_STATS_PER_DRAW
    chains, draws = draw_shape
    draws_bytes = chains * draws * values * _BYTES_PER_VALUE * SIZE_MARGIN
    fixed = _BYTES_PER_VARIABLE * (len(variables) + SAMPLE_STATS_PER_DRAW) + _BYTES_PER_LABEL * sum(
        len(labels) for labels in model.coords.values()
    )
    return math.ceil(draws_bytes + fixed)


def _size_of(model: Any, variable: Any) -> int:
    dims = model.named_vars_to_dims.get(variable.name)
    if dims:
        return math.prod(len(model.coords[dim]) for dim in dims)
    return math.prod(1 if n is None else n for n in variable.type.shape)


def _size(n_bytes: float) -> str:
    if n_bytes < 2**20:
        return f"{n_bytes / 2**10:,.1f} KB"
    if n_bytes < 2**30:
        return f"{n_bytes / 2**20:,.1f} MB"
    return f"{n_bytes / 2**30:,.1f} GB"
