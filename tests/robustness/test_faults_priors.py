"""Bad or ambiguous predictor codings and prior declarations, and what the package does with each.

Issue 13: a 0/1 or dummy term must get a prior per unit change (autoscaled), and a column coded
1/2 must never silently become "per SD". Each row of :data:`FAULTS` names a fault, says what it
is and the expected outcome; the test runs it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from grassroots.models import ModelDataError, Scaling, SpecError, spec_from_dict
from grassroots.models.design import PredictorCodingWarning

#: (id, description, expected outcome)
FAULTS: list[tuple[str, str, str]] = [
    ("one_two_coded", "numeric column coded 1/2 (sex)",
     "warns PredictorCodingWarning; contrast sex[2] vs 1, not standardised"),
    ("nine_ten_coded", "numeric column coded 9/10",
     "warns; reference is the lower number 9 (numeric, not string order)"),
    ("declared_one_two", "1/2 column declared in [categorical] with reference 2",
     "no warning; contrast sex[1] vs 2"),
    ("yes_no_strings", "text column yes/no",
     "categorical: contrast x[yes] vs no, its prior SD 1/sd(dummy)"),
    ("bool_column", "boolean column True/False", "binary 0/1, prior SD 1/sd(x)"),
    ("rare_zero_one", "0/1 column with 10% ones", "binary; prior SD per unit 1/sd(x) > 3"),
    ("constant_column", "numeric column with one value", "raises ModelDataError naming it"),
    ("constant_text", "text column with one level", "raises ModelDataError naming it"),
    ("three_valued", "numeric column with three values 1/2/3",
     "continuous (a score, per SD), no warning"),
    ("missing_in_binary", "0/1 column with a missing value", "raises ModelDataError (impute)"),
    ("negative_sigma", "beta prior Normal with sigma = -1", "raises SpecError: must be positive"),
    ("zero_rate", "sd prior Exponential with lam = 0", "raises SpecError: must be positive"),
    ("beta_not_location_scale", "beta prior LogNormal",
     "raises SpecError: coefficients need a location-scale distribution"),
    ("dirichlet_on_intercept", "intercept prior InducedDirichlet",
     "raises SpecError: cut points only"),
    ("uniform_reversed", "intercept prior Uniform(lower=2, upper=1)",
     "raises SpecError: lower < upper"),
]  # fmt: skip


def _scaling(values, column="x", categorical=None) -> Scaling:
    frame = pd.DataFrame({column: values})
    return Scaling.learn(frame, [column], categorical)


def _spec(priors):
    return spec_from_dict(
        {
            "name": "faults",
            "family": "logistic",
            "predictors": ["x"],
            "outcome": {"column": "y"},
            "priors": priors,
        },
        source="faults.toml",
    )


def _quiet(function):
    """Run ``function`` and fail on any PredictorCodingWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PredictorCodingWarning)
        return function()


def run_case(case: str) -> None:
    if case == "one_two_coded":
        with pytest.warns(PredictorCodingWarning, match=r"'sex' takes two values.*sex\[2\] vs 1"):
            scaling = _scaling([1, 2, 2, 1, 2], "sex")
        sex = scaling.predictors["sex"]
        assert sex.kind == "categorical" and sex.reference == "1" and sex.terms == ("sex[2]",)
        assert scaling.term_sd("sex[2]") == pytest.approx(np.std([0, 1, 1, 0, 1], ddof=1))
    elif case == "nine_ten_coded":
        with pytest.warns(PredictorCodingWarning):
            scaling = _scaling([9, 10, 10, 9])
        assert scaling.predictors["x"].reference == "9"
        assert scaling.predictors["x"].terms == ("x[10]",)
    elif case == "declared_one_two":
        scaling = _quiet(lambda: _scaling([1, 2, 2, 1], "sex", {"sex": "2"}))
        assert scaling.predictors["sex"].terms == ("sex[1]",)
    elif case == "yes_no_strings":
        scaling = _quiet(lambda: _scaling(["yes", "no", "no", "no"]))
        assert scaling.predictors["x"].terms == ("x[yes]",)
        assert scaling.term_sd("x[yes]") == pytest.approx(0.5)
    elif case == "bool_column":
        scaling = _quiet(lambda: _scaling([True, False, True, False]))
        assert scaling.predictors["x"].kind == "binary"
        assert scaling.term_sd("x") == pytest.approx(np.std([1, 0, 1, 0], ddof=1))
    elif case == "rare_zero_one":
        values = np.r_[np.ones(10), np.zeros(90)]
        scaling = _quiet(lambda: _scaling(values))
        assert scaling.predictors["x"].kind == "binary"
        assert 1 / scaling.term_sd("x") == pytest.approx(1 / values.std(ddof=1))
        assert 1 / scaling.term_sd("x") > 3
    elif case == "constant_column":
        with pytest.raises(ModelDataError, match=r"predictor 'x' is constant.*drop it"):
            _scaling([3.0, 3.0, 3.0])
    elif case == "constant_text":
        with pytest.raises(ModelDataError, match=r"'x' has a single level"):
            _scaling(["a", "a"])
    elif case == "three_valued":
        scaling = _quiet(lambda: _scaling([1, 2, 3, 2]))
        assert scaling.predictors["x"].kind == "continuous"
        assert scaling.term_sd("x") == 1.0
    elif case == "missing_in_binary":
        with pytest.raises(ModelDataError, match=r"'x' has 1 missing.*impute"):
            _scaling([0.0, 1.0, np.nan])
    elif case == "negative_sigma":
        with pytest.raises(SpecError, match=r"faults.toml: key 'priors.beta'.*'sigma'.*positive"):
            _spec({"beta": {"dist": "Normal", "mu": 0, "sigma": -1}})
    elif case == "zero_rate":
        with pytest.raises(SpecError, match=r"priors.sd'.*'lam'.*positive"):
            _spec({"sd": {"dist": "Exponential", "lam": 0}})
    elif case == "beta_not_location_scale":
        with pytest.raises(SpecError, match=r"location-scale distribution.*not LogNormal"):
            _spec({"beta": {"dist": "LogNormal", "mu": 0, "sigma": 1}})
    elif case == "dirichlet_on_intercept":
        with pytest.raises(SpecError, match=r"intercept.*InducedDirichlet is a prior for cut"):
            _spec({"intercept": {"dist": "InducedDirichlet", "alpha": 1}})
    elif case == "uniform_reversed":
        with pytest.raises(SpecError, match=r"priors.intercept'.*lower < upper"):
            _spec({"intercept": {"dist": "Uniform", "lower": 2, "upper": 1}})
    else:  # pragma: no cover - the table and the cases must match
        raise AssertionError(f"no test for case {case!r}")


@pytest.mark.parametrize(("case", "description", "expected"), FAULTS, ids=[c[0] for c in FAULTS])
def test_fault(case: str, description: str, expected: str) -> None:
    run_case(case)
