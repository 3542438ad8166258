"""Baseline weakness of the townships and its terciles.

**Baseline weakness** is a township-level composite of the paper's three weaknesses (weak
authority, scarce resources, weak technical capacity)::

    weakness_t = -(z_authority,t + z_resources,t + z_tech_capacity,t) / 3

with ``z_c,t = (x_c,t - mean_c) / sd_c``, mean and SD (ddof=1) over townships, each township
counted once; higher is weaker. Its **terciles** split the townships (not the projects) into
three equal parts, ``low``, ``middle`` and ``high`` weakness (ties broken by table order), and
each project takes its township's tercile.

Both :mod:`.contrasts` (grouping by ``"weakness"``) and :mod:`.heterogeneity` (the targeting
list) use these definitions, so they live here, below both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from grassroots.estimands._engine import EstimandError
from grassroots.estimands.scenarios import DEFAULT_GROUPS, unit_codes

__all__ = [
    "TERCILE_LABELS",
    "WEAKNESS",
    "WEAKNESS_COLUMNS",
    "baseline_weakness",
    "level_units",
    "weakness_tercile",
]

WEAKNESS = "weakness"
#: The paper's three weaknesses; low values are weak.
WEAKNESS_COLUMNS: tuple[str, ...] = ("authority", "resources", "tech_capacity")
TERCILE_LABELS: tuple[str, ...] = ("low", "middle", "high")


def level_units(
    frame: pd.DataFrame, groups: Sequence[tuple[str, str]], level: str
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's unit code at ``level`` and the first row of every unit."""
    present = [(name, column) for name, column in groups if column in frame.columns]
    names = [name for name, _ in present]
    if level not in names:
        raise EstimandError(
            f"level {level!r} is not a grouping level of the data (levels: {names}; the data "
            f"need the column {dict(groups).get(level, level + '_id')!r})"
        )
    codes = unit_codes(frame, present, names.index(level) + 1)
    first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
    return codes, first


def baseline_weakness(
    frame: pd.DataFrame,
    columns: Sequence[str] = WEAKNESS_COLUMNS,
    *,
    level: str = "township",
    groups: Sequence[tuple[str, str]] = DEFAULT_GROUPS,
) -> pd.Series:
    """Baseline weakness of every row's township (higher is weaker); see the module docstring.

    Parameters
    ----------
    frame : DataFrame
        The flat table (one row per project).
    columns : sequence of str
        Capacities whose low values are weaknesses.
    level : str
        The level whose units are scored (each unit once).
    groups : sequence of (level name, column)

    Returns
    -------
    Series
        Named ``"weakness"``, aligned with ``frame``.
    """
    frame_ = frame.reset_index(drop=True)
    codes, first = level_units(frame_, groups, level)
    scores = []
    for column in columns:
        if column not in frame_.columns:
            raise EstimandError(f"baseline weakness needs the column {column!r}")
        values = frame_[column].to_numpy(dtype=float)
        unit_values = values[first]
        if not np.allclose(values, unit_values[codes], equal_nan=True):
            raise EstimandError(
                f"{column!r} varies within {level}s, so it is not a {level}-level capacity"
            )
        sd = unit_values.std(ddof=1)
        if not np.isfinite(sd) or sd == 0:
            raise EstimandError(f"{column!r} does not vary across {level}s")
        scores.append((unit_values - unit_values.mean()) / sd)
    weakness = -np.mean(scores, axis=0)
    return pd.Series(weakness[codes], index=frame.index, name=WEAKNESS)


def weakness_tercile(
    frame: pd.DataFrame,
    columns: Sequence[str] = WEAKNESS_COLUMNS,
    *,
    level: str = "township",
    groups: Sequence[tuple[str, str]] = DEFAULT_GROUPS,
) -> pd.Series:
    """Tercile (``low``, ``middle``, ``high``) of baseline weakness of every row's township.

    Terciles split the units (townships), each counted once, into three parts of equal size
    (sizes differ by at most one).
    """
    frame_ = frame.reset_index(drop=True)
    codes, first = level_units(frame_, groups, level)
    scores = baseline_weakness(frame_, columns, level=level, groups=groups).to_numpy()[first]
    # Ordinal ranks 0..n-1 (ties by table order), then three equal parts.
    rank = np.empty(scores.size, dtype=np.int64)
    rank[np.argsort(scores, kind="stable")] = np.arange(scores.size)
    tercile = (3 * rank) // scores.size
    return pd.Series(
        pd.Categorical.from_codes(tercile[codes], categories=list(TERCILE_LABELS)),
        index=frame.index,
        name=WEAKNESS,
    )
