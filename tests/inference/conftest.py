"""Small data sets for the inference tests (the fake sampler lives in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 120
    frame = pd.DataFrame(
        {
            "hospital": rng.choice(["h1", "h2", "h3", "h4"], n),
            "age": rng.normal(60, 10, n),
            "sex": rng.choice(["f", "m"], n),
            "treated": rng.integers(0, 2, n),
            "days": rng.exponential(40, n).round(1) + 0.5,
            "died": rng.integers(0, 2, n),
            "score": rng.integers(1, 4, n).astype(float),
            "readmitted": rng.integers(0, 2, n),
        }
    )
    frame.loc[:9, "score"] = np.nan
    return frame


def simulated_study(seed: int, counties: int, townships_per_county: int, projects: int):
    """A simulated study of ``counties`` x ``townships_per_county`` townships, ``projects`` a
    township on average."""
    from grassroots.data import Study
    from grassroots.data.simulate import SimulationConfig, simulate

    config = SimulationConfig(
        n_counties=counties,
        townships_per_county=townships_per_county,
        projects_per_township=projects,
    )
    sim = simulate(seed=seed, config=config)
    return Study.from_frames(sim.projects, sim.townships, sim.counties)
