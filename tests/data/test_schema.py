"""The codebook parser: ranges, labels, and the one source of names."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from grassroots.data import schema


@pytest.mark.parametrize(
    ("text", "allowed", "interval"),
    [
        ("{0, 1}", ("0", "1"), None),
        ("{east, central, west}", ("east", "central", "west"), None),
        ("[0, 100]", None, (0.0, 100.0, True, True)),
        ("(0, inf)", None, (0.0, math.inf, False, False)),
        ("[0, inf)", None, (0.0, math.inf, True, False)),
        ("", None, None),
    ],
)
def test_parse_range(text, allowed, interval) -> None:
    parsed_allowed, parsed_interval = schema.parse_range(text)
    assert parsed_allowed == allowed
    if interval is None:
        assert parsed_interval is None
    else:
        low, high, low_closed, high_closed = interval
        assert parsed_interval == schema.Interval(low, high, low_closed, high_closed)


def test_parse_range_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="neither"):
        schema.parse_range("0 to 5")


def test_interval_contains_respects_open_ends() -> None:
    _, interval = schema.parse_range("(0, 1]")
    assert interval.contains(pd.Series([0.0, 0.5, 1.0, 1.5])).tolist() == [
        False, True, True, False
    ]


def test_every_categorical_level_has_labels_in_both_languages() -> None:
    for var in schema.variables().values():
        if var.type == "categorical":
            for level in var.allowed:
                assert var.level_label(level, "en") != level or level == "other"
                assert var.level_label(level, "zh") != level


def test_labels_and_units_in_both_languages() -> None:
    authority = schema.variable("authority")
    assert (authority.label("en"), authority.label("zh")) == ("Authority", "权力")
    assert (authority.unit_label("en"), authority.unit_label("zh")) == ("index", "指数")
    assert schema.label("not_in_codebook") == "not_in_codebook"


def test_id_columns_belong_to_their_own_table() -> None:
    assert schema.table_of("county_id") == "counties"
    assert schema.table_of("authority") == "townships"
    assert schema.variable("county_id", "townships").definition.startswith("County the")


def test_predictors_exclude_ids_outcomes_and_dates() -> None:
    predictors = schema.predictor_columns()
    assert {"authority", "collaboration", "extensive"} <= set(predictors)
    assert not {"county_id", "months", "demand_fit", "launch_date", "survey_date"} & set(
        predictors
    )
