"""Fixtures for the model tests: known-parameter data (see ``_simulate.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _simulate import simulate_flat


@pytest.fixture(scope="session")
def flat() -> pd.DataFrame:
    """200 projects in 40 townships in 8 counties, every codebook column, known parameters."""
    frame, _ = simulate_flat(seed=101)
    return frame
