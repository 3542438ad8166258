"""EstimandSettings: defaults in one place, every option checked when the settings are made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grassroots.estimands import (
    DEFAULT_PROB,
    DEFAULT_TIMES,
    DEFAULT_WORKERS,
    EstimandError,
    EstimandSettings,
)


def test_defaults_and_normalised_times():
    settings = EstimandSettings()
    assert settings.prob == DEFAULT_PROB == 0.95
    assert settings.times == DEFAULT_TIMES
    assert settings.seed is None
    assert settings.workers == DEFAULT_WORKERS >= 1
    assert EstimandSettings(times=np.array([6, 24])).times == (6.0, 24.0)
    assert EstimandSettings(seed=np.int64(3), thin=np.int32(2)).seed == 3


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EstimandSettings().prob = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prob": 1.0}, r"prob must lie strictly between 0 and 1 .* not 1\.0"),
        ({"prob": 95}, r"prob must lie strictly between 0 and 1 .* not 95"),
        ({"prob": True}, "prob must lie strictly between 0 and 1"),
        ({"times": ()}, "times must be a non-empty sequence of months"),
        ({"times": "24"}, "times must be a non-empty sequence of months"),
        ({"times": (12, -1)}, r"times must be positive, finite months, not \[12, -1\]"),
        ({"times": (12, float("nan"))}, "times must be positive, finite months"),
        ({"times": (24, 24.0)}, "times has a month twice"),
        ({"threshold": "4"}, "threshold must be a finite number"),
        ({"seed": -1}, "seed must be a non-negative integer or None, not -1"),
        ({"seed": 1.5}, "seed must be a non-negative integer or None"),
        ({"thin": 0}, "thin must be a positive integer, not 0"),
        ({"thin": 2.0}, "thin must be a positive integer"),
        ({"truth_draws": 0}, "truth_draws must be a positive integer"),
        ({"max_cells": -5}, "max_cells must be a positive integer, not -5"),
        ({"workers": 0}, "workers must be a positive integer, not 0"),
        ({"workers": True}, "workers must be a positive integer"),
    ],
)
def test_bad_settings_name_the_option(options, message):
    with pytest.raises(EstimandError, match=f"EstimandSettings.{message}"):
        EstimandSettings(**options)
