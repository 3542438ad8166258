"""A simulated study (three tables and their truth) and the files it is written to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from grassroots._io import atomic_directory
from grassroots.data.schema import TableName
from grassroots.data.simulation_draws import DECIMALS

TRUTH_FILE = "truth.json"


@dataclass
class SimulatedStudy:
    """The three simulated tables and the truth that generated them.

    Attributes
    ----------
    counties, townships, projects : pandas.DataFrame
        The canonical tables, columns in codebook order, values exactly as written to CSV
        (dates as ``YYYY-MM-DD`` strings, ``demand_fit`` as nullable ``Int64``).
    truth : dict
        Everything needed to judge a fit: see :func:`simulate`.
    """

    counties: pd.DataFrame
    townships: pd.DataFrame
    projects: pd.DataFrame
    truth: dict[str, Any]

    @property
    def tables(self) -> dict[TableName, pd.DataFrame]:
        """The three tables keyed by table name."""
        return {"counties": self.counties, "townships": self.townships, "projects": self.projects}

    @property
    def seed(self) -> int:
        return int(self.truth["seed"])

    def flat(self) -> pd.DataFrame:
        """One project-level table with the township and county columns joined on."""
        return self.projects.merge(self.townships, on="township_id", how="left").merge(
            self.counties, on="county_id", how="left"
        )


def _csv_text(frame: pd.DataFrame) -> str:
    formatted = frame.copy()
    for column, decimals in DECIMALS.items():
        if column in formatted:
            formatted[column] = formatted[column].map(f"{{:.{decimals}f}}".format)
    return formatted.to_csv(index=False, lineterminator="\n", na_rep="")


def truth_json(truth: Mapping[str, Any]) -> str:
    """``truth`` as deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(truth, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_simulation(sim: SimulatedStudy, out_dir: str | Path) -> Path:
    """Write ``counties.csv``, ``townships.csv``, ``projects.csv`` and ``truth.json``.

    The files are written into a temporary folder beside ``out_dir`` that then replaces it, so
    a reader sees all four new files or the old folder; other files already in ``out_dir`` (a
    README) are kept. Bytes are deterministic: fixed decimals per column, ``\\n`` line endings,
    UTF-8, sorted JSON keys.

    Parameters
    ----------
    sim : SimulatedStudy
    out_dir : str or Path

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    texts = {f"{name}.csv": _csv_text(frame) for name, frame in sim.tables.items()}
    texts[TRUTH_FILE] = truth_json(sim.truth)
    with atomic_directory(out_dir) as tmp:
        for name, text in texts.items():
            (tmp / name).write_bytes(text.encode("utf-8"))
    return out_dir
