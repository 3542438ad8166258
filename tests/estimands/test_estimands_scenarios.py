"""Scenarios: shift, floor, set and combine on the flat table; config validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grassroots.estimands import (
    Floor,
    Scenario,
    ScenarioError,
    SetValue,
    Shift,
    builtin_scenarios,
    load_scenarios,
    scenarios_from_dict,
    variable_level,
)
from grassroots.models import Scaling


def _scenario(*steps, name="s"):
    return Scenario(name, tuple(steps))


def test_builtin_scenarios_are_the_paper_remedies():
    scenarios = builtin_scenarios()
    assert scenarios.default == (
        "resources_plus_1sd",
        "collaboration_everywhere",
        "tech_capacity_plus_1sd",
        "all_three",
    )
    assert scenarios["resources_plus_1sd"].steps == (Shift("resources", 1.0, "sd"),)
    assert scenarios["collaboration_everywhere"].steps == (SetValue("collaboration", 1),)
    assert scenarios["all_three"].variables == ("resources", "collaboration", "tech_capacity")
    assert scenarios["resources_floor_p25"].steps == (Floor("resources", 25.0, "county"),)
    assert [s.name for s in scenarios] == list(scenarios.default)
    assert scenarios["all_three"].label_zh == "三项措施并举"
    assert scenarios["resources_plus_20_cny"].steps == (
        Shift("resources", 20.0, "CNY per resident"),
    )


def test_variable_levels(frame):
    assert variable_level(frame, "collaboration") == "county"
    assert variable_level(frame, "resources") == "township"
    assert variable_level(frame, "outsourced") == "row"


def test_shift_in_sd_and_natural_units(frame):
    sd = frame["resources"].std(ddof=1)
    shifted = _scenario(Shift("resources", 1.0)).apply(frame)
    np.testing.assert_allclose(shifted["resources"], frame["resources"] + sd, rtol=0, atol=1e-12)
    natural = _scenario(Shift("tech_capacity", -5.0, "natural")).apply(frame)
    np.testing.assert_allclose(natural["tech_capacity"], frame["tech_capacity"] - 5.0)
    # Everything else untouched, and the status quo is not modified in place.
    pd.testing.assert_frame_equal(
        shifted.drop(columns="resources"), frame.drop(columns="resources")
    )
    assert not frame["resources"].equals(shifted["resources"])
    # A township column stays constant within townships.
    assert (shifted.groupby("township_id")["resources"].nunique() == 1).all()


def test_shift_uses_the_fitted_scaling_and_caps(frame):
    scaling = Scaling.learn(frame.iloc[:10], ["tech_capacity"])
    shifted = _scenario(Shift("tech_capacity", 2.0)).apply(frame, scaling=scaling)
    expected = frame["tech_capacity"] + 2.0 * scaling.predictors["tech_capacity"].sd
    np.testing.assert_allclose(shifted["tech_capacity"], expected)
    capped = _scenario(Shift("tech_capacity", 100.0, "natural", maximum=100.0)).apply(frame)
    assert capped["tech_capacity"].max() == 100.0


def test_shift_in_the_natural_unit_of_a_log_column(frame):
    # resources holds log CNY per resident (codebook): +10 CNY per resident before the log.
    shifted = _scenario(Shift("resources", 10.0, "CNY per resident")).apply(frame)
    np.testing.assert_allclose(np.exp(shifted["resources"]), np.exp(frame["resources"]) + 10.0)
    # The column's own unit is the log: the same as "natural".
    logged = _scenario(Shift("resources", 0.5, "log CNY per resident")).apply(frame)
    np.testing.assert_allclose(logged["resources"], frame["resources"] + 0.5)
    with pytest.raises(ScenarioError, match=r"would leave \d+ row\(s\) with no CNY per resident"):
        _scenario(Shift("resources", -1e6, "CNY per resident")).apply(frame)
    with pytest.raises(ScenarioError, match=r"cannot be shifted in 'CNY per resident'"):
        _scenario(Shift("tech_capacity", 1.0, "CNY per resident")).apply(frame)


def test_shifts_are_capped_to_the_codebook_range(frame):
    # tech_capacity is an index in [0, 100] (codebook): no cap given, the codebook's applies.
    up = _scenario(Shift("tech_capacity", 60.0, "natural"))
    shifted = up.apply(frame)
    expected = np.minimum(frame["tech_capacity"] + 60.0, 100.0)
    np.testing.assert_allclose(shifted["tech_capacity"], expected)
    townships = frame.drop_duplicates("township_id")
    changes = up.changes(frame)
    (row,) = changes.to_dict("records")
    assert (row["cap_low"], row["cap_high"]) == (0.0, 100.0)
    assert row["n_capped"] == int((townships["tech_capacity"] + 60.0 > 100.0).sum()) > 0
    assert row["n_units"] == row["n_changed"] == len(townships)
    down = _scenario(Shift("tech_capacity", -60.0, "natural")).apply(frame)
    assert down["tech_capacity"].min() == 0.0
    # An explicit cap narrows the codebook's.
    narrow = Shift("tech_capacity", 60.0, "natural", maximum=90.0)
    assert narrow.bounds() == (0.0, 90.0)
    # A column outside the codebook has no cap.
    assert Shift("capital", 1.0).bounds() == (-np.inf, np.inf)


def test_changes_state_a_shift_in_sds_and_natural_units(frame):
    sd = frame["resources"].std(ddof=1)
    scenario = Scenario.combine(
        "both",
        _scenario(Shift("resources", 1.0)),
        _scenario(SetValue("collaboration", 1)),
    )
    changes = scenario.changes(frame).set_index("variable")
    resources = changes.loc["resources"]
    townships = frame.drop_duplicates("township_id")["resources"].to_numpy()
    assert resources["sd"] == pytest.approx(sd)
    assert resources["change"] == pytest.approx(sd)
    assert resources["change_sd"] == pytest.approx(1.0)
    assert resources["step_size"] == pytest.approx(sd)
    # Budget per resident in CNY: exp(x + sd) - exp(x), median over townships.
    assert resources["change_natural"] == pytest.approx(np.median(np.exp(townships) * np.expm1(sd)))
    assert resources["ratio"] == pytest.approx(np.exp(sd))
    assert (resources["unit"], resources["natural_unit"]) == (
        "log CNY per resident",
        "CNY per resident",
    )
    assert resources["natural_unit_zh"] == "元/人"
    collaboration = changes.loc["collaboration"]
    counties = frame.drop_duplicates("county_id")
    assert collaboration["level"] == "county"
    assert collaboration["n_units"] == len(counties)
    assert collaboration["n_changed"] == int((counties["collaboration"] == 0).sum())
    assert np.isnan(collaboration["sd"])
    assert collaboration["value"] == "1"
    # Per row, in CNY per resident.
    per_row = scenario.natural_change(frame, "resources")
    np.testing.assert_allclose(per_row, np.exp(frame["resources"]) * np.expm1(sd))
    with pytest.raises(ScenarioError, match="does not change 'tech_capacity'"):
        scenario.natural_change(frame, "tech_capacity")


def test_floor_within_county_by_hand(frame):
    floored = _scenario(Floor("resources", 25.0, "county")).apply(frame)
    county = frame["county_id"] == "C1"
    # C1's townships, each once: the 25th percentile (linear interpolation) of their values.
    townships = frame[county].drop_duplicates("township_id")["resources"].to_numpy()
    q = np.percentile(townships, 25)
    expected = np.maximum(frame.loc[county, "resources"].to_numpy(), q)
    np.testing.assert_allclose(floored.loc[county, "resources"], expected)
    assert (floored.loc[county, "resources"] >= q - 1e-12).all()
    assert (floored["resources"] >= frame["resources"]).all()
    # Counties are floored at their own percentile, not C1's.
    for _, rows in frame.groupby("county_id"):
        values = rows.drop_duplicates("township_id")["resources"].to_numpy()
        assert floored.loc[rows.index, "resources"].min() >= np.percentile(values, 25) - 1e-12


def test_floor_overall_counts_each_township_once(frame):
    floored = _scenario(Floor("resources", 50.0)).apply(frame)
    median = np.median(frame.drop_duplicates("township_id")["resources"])
    np.testing.assert_allclose(floored["resources"], np.maximum(frame["resources"], median))


def test_set_keeps_dtypes(frame):
    result = _scenario(SetValue("collaboration", 1)).apply(frame)
    assert (result["collaboration"] == 1).all()
    assert result["collaboration"].dtype == frame["collaboration"].dtype
    region = _scenario(SetValue("region", "west")).apply(frame)
    assert (region["region"] == "west").all()
    assert list(region["region"].cat.categories) == ["east", "central", "west"]


def test_combine_applies_in_order_with_status_quo_references(frame):
    sd = frame["resources"].std(ddof=1)
    both = Scenario.combine(
        "both", _scenario(Shift("resources", 1.0)), _scenario(SetValue("collaboration", 1))
    )
    result = both.apply(frame)
    np.testing.assert_allclose(result["resources"], frame["resources"] + sd)
    assert (result["collaboration"] == 1).all()
    # Two shifts: both in SDs of the status quo, not of the shifted copy.
    twice = _scenario(Shift("resources", 1.0), Shift("resources", 1.0)).apply(frame)
    np.testing.assert_allclose(twice["resources"], frame["resources"] + 2 * sd)
    assert both.label == "resources +1 SD + collaboration = 1"


def test_builtin_all_three_equals_the_three_in_sequence(bundled):
    scenarios = builtin_scenarios()
    combined = scenarios["all_three"].apply(bundled)
    step = bundled
    for name in ("resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd"):
        # Each from the status quo's SDs: apply to the running copy with the original scaling.
        scaling = Scaling.learn(bundled, ["resources", "tech_capacity"])
        step = scenarios[name].apply(step, scaling=scaling)
    pd.testing.assert_frame_equal(combined, step)


def _write(tmp_path, text: str):
    path = tmp_path / "scenarios.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_a_file(tmp_path):
    path = _write(
        tmp_path,
        """
default = ["up", "both"]
[scenarios.up]
shift = { variable = "resources", by = 0.5, unit = "natural", max = 9 }
[scenarios.floor]
floor = { variable = "resources", percentile = 10 }
[scenarios.both]
label = "Both"
combine = ["up", "floor"]
""",
    )
    scenarios = load_scenarios(path)
    assert scenarios.default == ("up", "both")
    assert scenarios["up"].steps == (Shift("resources", 0.5, "natural", maximum=9.0),)
    assert len(scenarios["both"].steps) == 2
    assert scenarios["both"].label == "Both"
    assert scenarios["both"].source == str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[scenarios.a]\nshift = { variable = 'x', by = 1, unti = 'sd' }",
            r"unknown key 'scenarios\.a\.shift\.unti'; did you mean 'scenarios\.a\.shift\.unit'",
        ),
        (
            "[scenarios.a]\nshift = { variable = 'x', by = 1, unit = 'sds' }",
            r"key 'scenarios\.a\.shift\.unit': must be one of \['sd', 'natural'\] for 'x'",
        ),
        (
            "[scenarios.a]\nshift = { variable = 'resources', by = 50, unit = 'yuan' }",
            r"key 'scenarios\.a\.shift\.unit': must be one of \['sd', 'natural', "
            r"'log CNY per resident', 'CNY per resident'\] for 'resources', not 'yuan'",
        ),
        ("[scenarios.a]\nshift = { variable = 'x' }", r"key 'scenarios\.a\.shift\.by': missing"),
        (
            "[scenarios.a]\nshift = { variable = 'x', by = 'one' }",
            r"key 'scenarios\.a\.shift\.by': must be a finite number",
        ),
        (
            "[scenarios.a]\nfloor = { variable = 'x', percentile = 120 }",
            r"key 'scenarios\.a\.floor\.percentile': must lie in \[0, 100\]",
        ),
        (
            "[scenarios.a]\nfloor = { variable = 'x', percentile = 20, within = 'province' }",
            r"key 'scenarios\.a\.floor\.within': must be one of "
            r"\['overall', 'county', 'township'\]",
        ),
        (
            "[scenarios.a]\nset = { variable = 'x', value = 1 }\n"
            "shift = { variable = 'x', by = 1 }",
            r"key 'scenarios\.a' needs exactly one of",
        ),
        ("[scenarios.a]\ncombine = ['b']", r"key 'scenarios\.a\.combine': no scenario 'b'"),
        (
            "[scenarios.a]\ncombine = ['b']\n[scenarios.b]\ncombine = ['a']",
            r"key 'scenarios\.\w\.combine': scenarios combine each other in a cycle",
        ),
        (
            "default = ['resource']\n[scenarios.resources]\nset = { variable = 'x', value = 1 }",
            r"key 'default': no scenario 'resource'; did you mean 'resources'",
        ),
        (
            "[scenarios.a]\nset = { variable = 'township_id', value = 1 }",
            r"key 'scenarios\.a\.set\.variable': 'township_id' is a grouping column",
        ),
        ("scenario = 1", r"unknown key 'scenario'; did you mean 'scenarios'"),
        (
            "[scenarios.a]\nset = { variable = 'x', value = 1 }\nlable = 'A'",
            r"unknown key 'scenarios\.a\.lable'; did you mean 'scenarios\.a\.label'",
        ),
        ("[scenarios]", r"key 'scenarios' must hold one"),
        ("[scenarios.a\n", r"not valid TOML"),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenarios(path)
    assert str(path) in str(info.value)


def test_missing_file():
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenarios("no/such/scenarios.toml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"shift": {"variable": "resourcez", "by": 1}},
            r"x\.toml: key 'scenarios\.a\.shift\.variable': the data have no column 'resourcez'; "
            r"did you mean 'resources'",
        ),
        (
            {"shift": {"variable": "collaboration", "by": 1}},
            r"'collaboration' is a 0/1 column.*use 'set'",
        ),
        ({"shift": {"variable": "project_type", "by": 1}}, r"'project_type' is not numeric"),
        (
            {"floor": {"variable": "resources", "percentile": 25, "within": "township"}},
            r"key 'scenarios\.a\.floor\.within': 'resources' is a township-level column",
        ),
        (
            {"set": {"variable": "collaboration", "value": "yes"}},
            r"key 'scenarios\.a\.set\.value': 'collaboration' is numeric",
        ),
        (
            {"set": {"variable": "region", "value": "north"}},
            r"key 'scenarios\.a\.set\.value': 'north' is not a level of 'region'",
        ),
    ],
)
def test_application_errors_name_the_file_and_key(frame, body, message):
    scenarios = scenarios_from_dict({"scenarios": {"a": body}}, source="x.toml")
    with pytest.raises(ScenarioError, match=message):
        scenarios["a"].apply(frame)


def test_unknown_scenario_name_suggests():
    with pytest.raises(KeyError, match="did you mean 'all_three'"):
        builtin_scenarios()["all_tree"]
