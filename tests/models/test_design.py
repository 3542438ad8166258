"""Scaling, design matrices and group indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _model_helpers import make_spec

from grassroots.models import ModelDataError, Scaling, build_model, design_matrix
from grassroots.models.design import build_group_index
from grassroots.models.spec import GroupLevel


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, 10.0, 4.0],
            "b": [0, 1, 1, 0, 1, 0],
            "region": pd.Categorical(
                ["east", "west", "central", "east", "west", "east"],
                categories=["east", "central", "west"],
            ),
            "kind": ["p", "q", "p", "q", "p", "q"],
            "y": [0, 1, 0, 1, 1, 0],
            "district": ["d1", "d1", "d1", "d2", "d2", "d2"],
            "school": ["1", "2", "2", "1", "1", "3"],
        }
    )


def test_scaling_kinds_and_reference(frame):
    scaling = Scaling.learn(frame, ["x", "b", "region", "kind"], {"region": "central"})
    x, b, region, kind = (scaling.predictors[c] for c in ("x", "b", "region", "kind"))
    assert x.kind == "continuous"
    assert x.mean == pytest.approx(frame["x"].mean())
    assert x.sd == pytest.approx(frame["x"].std(ddof=1))
    # A binary column enters as 0/1; its share of 1s and SD describe it (the SD scales its prior).
    assert b.kind == "binary"
    assert (b.mean, b.sd) == pytest.approx((0.5, frame["b"].std(ddof=1)))
    assert region.level_sds == pytest.approx(
        [(frame["region"] == level).astype(float).std(ddof=1) for level in ("east", "west")]
    )
    assert region.kind == "categorical" and region.reference == "central"
    assert region.levels == ("east", "central", "west")  # the categorical dtype's order
    assert kind.reference == "p"  # first level in sorted order when not stated
    assert region.terms == ("region[east]", "region[west]")
    assert Scaling.from_dict(scaling.to_dict()) == scaling
    assert list(scaling.frame().index) == ["x", "b", "region", "kind"]


def test_design_matrix_with_interactions(frame):
    spec = make_spec(
        y={
            "family": "logistic",
            "column": "y",
            "predictors": ["x", "b", "region"],
            "interactions": ["x:b", "b:region"],
        },
        categorical={"region": "east"},
    )
    outcome = spec.outcomes[0]
    scaling = Scaling.learn(frame, ["x", "b", "region"], spec.categorical)
    terms, matrix = design_matrix(frame, outcome, scaling)
    assert terms == (
        "x",
        "b",
        "region[central]",
        "region[west]",
        "x:b",
        "b:region[central]",
        "b:region[west]",
    )
    z = (frame["x"] - frame["x"].mean()) / frame["x"].std(ddof=1)
    np.testing.assert_allclose(matrix[:, 0], z)
    np.testing.assert_allclose(matrix[:, 4], z * frame["b"])
    np.testing.assert_allclose(matrix[:, 6], frame["b"] * (frame["region"] == "west"))


def test_new_data_use_the_fitted_scaling(frame):
    scaling = Scaling.learn(frame, ["x", "region"])
    new = frame.iloc[:2].assign(x=[0.0, 100.0])
    column = scaling.predictors["x"].transform(new["x"])
    np.testing.assert_allclose(
        column[:, 0], (new["x"] - frame["x"].mean()) / frame["x"].std(ddof=1)
    )
    with pytest.raises(ModelDataError, match="column 'region' has level\\(s\\) \\['north'\\]"):
        scaling.predictors["region"].transform(pd.Series(["north", "east"]))
    with pytest.raises(ModelDataError, match="binary predictor 'b' must be 0 or 1"):
        Scaling.learn(frame, ["b"]).predictors["b"].transform(pd.Series([0, 2]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": [1.0, np.nan, 3, 4, 5, 6]}, "predictor 'x' has 1 missing or infinite value"),
        ({"x": [2.0] * 6}, "predictor 'x' is constant"),
        ({"kind": ["p"] * 6}, "'kind' has a single level"),
        ({"kind": ["p", None, "q", "q", "p", "p"]}, "'kind' has 1 missing value"),
    ],
)
def test_bad_predictors_are_named(frame, change, message):
    with pytest.raises(ModelDataError, match=message):
        Scaling.learn(frame.assign(**change), ["x", "kind"])


def test_unknown_reference_level(frame):
    with pytest.raises(ModelDataError, match="reference level 'north' of categorical"):
        Scaling.learn(frame, ["region"], {"region": "north"})


def test_missing_columns_are_listed(frame):
    spec = make_spec(y={"family": "logistic", "column": "y", "predictors": ["x", "age", "sex"]})
    with pytest.raises(ModelDataError, match="needs column\\(s\\) \\['age', 'sex'\\]"):
        build_model(spec, frame)


def test_repeated_inner_ids_name_distinct_groups(frame):
    levels = (GroupLevel("district", "district"), GroupLevel("school", "school"))
    index = build_group_index(frame, levels)
    # School "1" exists in both districts: two groups, labelled outer/inner.
    assert index.labels[1] == ("d1/1", "d1/2", "d2/1", "d2/3")
    assert index.composite == (False, True)
    assert index.codes[1].tolist() == [0, 1, 1, 2, 2, 3]
    unique = frame.assign(school=["s1", "s2", "s2", "s3", "s3", "s4"])
    index = build_group_index(unique, levels)
    assert index.labels[1] == ("s1", "s2", "s3", "s4") and index.composite == (False, False)


def test_missing_group_id(frame):
    spec = make_spec(
        y={"family": "logistic", "column": "y", "predictors": ["x"]}, groups=["district"]
    )
    with pytest.raises(ModelDataError, match="grouping column 'district' has 1 missing"):
        build_model(spec, frame.assign(district=["d1", None, "d1", "d2", "d2", "d2"]))


@pytest.mark.parametrize(
    ("outcome", "change", "message"),
    [
        ({"family": "logistic", "column": "y"}, {"y": [0, 1, 2, 0, 1, 0]}, "'y' must be 0 or 1"),
        (
            {"family": "ordinal", "column": "y", "levels": [0, 1]},
            {"y": [0, 1, 2, 0, 1, 0]},
            "value\\(s\\) \\[2.0\\] outside its levels",
        ),
        (
            {"family": "survival", "time": "x", "event": "y"},
            {"x": [-1.0, 1, 2, 3, 4, 5]},
            "'x' has 1 negative value",
        ),
        (
            {"family": "survival", "time": "x", "event": "b"},
            {"b": [0, 1, 3, 0, 1, 0]},
            "event column 'b' must be 0 \\(censored\\) or 1",
        ),
        (
            {"family": "survival", "time": "x", "event": "b", "baseline": {"kind": "weibull"}},
            {"x": [0.0, 0, 2, 3, 4, 5]},
            "1 row\\(s\\) have an event at 'x' <= 0",
        ),
    ],
)
def test_bad_outcomes_are_named(frame, outcome, change, message):
    spec = make_spec(o={**outcome, "predictors": ["kind"]})
    with pytest.raises(ModelDataError, match=message):
        build_model(spec, frame.assign(**change))
