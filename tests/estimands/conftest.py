"""Fixtures for the estimand tests: a small nested study and fits with known posteriors."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _fakes import small_frame


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    """About 30 projects in 12 townships in 4 counties."""
    return small_frame(seed=3)


@pytest.fixture(scope="session")
def bundled():
    """The bundled synthetic study's flat table."""
    from grassroots.data.study import load_dataset

    return load_dataset().flat()
