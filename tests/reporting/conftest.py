"""Fixtures for the paper tables and figures: a small simulated study and fake fits of the
shipped specs (known posteriors, no sampling; see ``_paper_fakes.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _paper_fakes import DEMAND_FIT, STRATEGIES, SURVIVAL, fits_of, small_study

from grassroots.inference import Fit


@pytest.fixture(scope="session")
def study_frame() -> pd.DataFrame:
    """~150 projects in ~33 townships in 8 counties, every codebook column."""
    return small_study()


@pytest.fixture(scope="session")
def survival_fits(study_frame: pd.DataFrame) -> dict[str, Fit]:
    """M0-M4 of the survival specs; M2 stores a pointwise log-likelihood (for LOO)."""
    return fits_of(SURVIVAL, study_frame, M2={"log_likelihood": True})


@pytest.fixture(scope="session")
def demand_fits(study_frame: pd.DataFrame) -> dict[str, Fit]:
    return fits_of(DEMAND_FIT, study_frame)


@pytest.fixture(scope="session")
def strategy_fits(study_frame: pd.DataFrame) -> dict[str, Fit]:
    return fits_of(STRATEGIES, study_frame)
