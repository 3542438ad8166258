"""Small valid study tables for the data-layer tests, built from the codebook's levels.

A plain module (not a conftest) so that it cannot clash with other engineers' fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SURVEY_DATE = pd.Timestamp("2025-06-30")


def make_tables(
    n_counties: int = 3, n_townships: int = 6, n_projects: int = 12, seed: int = 1
) -> dict[str, pd.DataFrame]:
    """Valid canonical counties, townships and projects (vectorised, so 150k rows are cheap)."""
    rng = np.random.default_rng(seed)
    counties = pd.DataFrame(
        {
            "county_id": [f"C{i:03d}" for i in range(1, n_counties + 1)],
            "region": rng.choice(["east", "central", "west"], n_counties),
            "fiscal_capacity": rng.gamma(4.0, 3.0, n_counties).round(3),
            "collaboration": rng.integers(0, 2, n_counties),
        }
    )
    townships = pd.DataFrame(
        {
            "township_id": [f"T{i:04d}" for i in range(1, n_townships + 1)],
            "county_id": counties["county_id"].to_numpy()[np.arange(n_townships) % n_counties],
            "township_type": rng.choice(["township", "town", "subdistrict"], n_townships),
            "population": rng.gamma(5.0, 8.0, n_townships).round(2),
            "authority": rng.uniform(0, 100, n_townships).round(2),
            "resources": rng.normal(3.0, 1.0, n_townships).round(3),
            "tech_capacity": rng.uniform(0, 100, n_townships).round(2),
            "proximity": rng.gamma(2.0, 1.0, n_townships).round(3),
            "homogeneity": rng.uniform(0, 1, n_townships).round(3),
            "flexibility": rng.uniform(0, 100, n_townships).round(2),
        }
    )
    launch_days = rng.integers(60, 1500, n_projects)
    launch = SURVEY_DATE - pd.to_timedelta(launch_days, unit="D")
    window = launch_days / 30.4375
    discontinued = rng.integers(0, 2, n_projects)
    months = np.where(
        discontinued == 1, np.floor(window * rng.uniform(0.1, 0.9, n_projects)), np.floor(window)
    )
    demand = pd.array(rng.integers(1, 6, n_projects), dtype="Int64")
    demand[rng.uniform(size=n_projects) < 0.1] = pd.NA
    projects = pd.DataFrame(
        {
            "project_id": [f"P{i:06d}" for i in range(1, n_projects + 1)],
            "township_id": townships["township_id"].to_numpy()[np.arange(n_projects) % n_townships],
            "project_type": rng.choice(
                ["mini_program", "smart_community", "grid_management", "elderly_care", "other"],
                n_projects,
            ),
            "funding_source": rng.choice(
                ["special_fund", "regular_budget", "enterprise_cobuilt"], n_projects
            ),
            "outsourced": rng.integers(0, 2, n_projects),
            "launch_date": launch.strftime("%Y-%m-%d"),
            "survey_date": SURVEY_DATE.strftime("%Y-%m-%d"),
            "extensive": rng.integers(0, 2, n_projects),
            "expedient": rng.integers(0, 2, n_projects),
            "short_sighted": rng.integers(0, 2, n_projects),
            "months": months,
            "discontinued": discontinued,
            "demand_fit": demand,
        }
    )
    return {"counties": counties, "townships": townships, "projects": projects}


def flatten(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The three tables as one flat table, one row per project, in project order."""
    return (
        tables["projects"]
        .merge(tables["townships"], on="township_id", how="left")
        .merge(tables["counties"], on="county_id", how="left")
    )


def write_tables(folder: Path, tables: dict[str, pd.DataFrame], suffix: str = ".csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_frame(frame, folder / f"{name}{suffix}")
    return folder


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        raise ValueError(suffix)
    return path
