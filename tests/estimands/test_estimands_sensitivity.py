"""E-values of the contrasts: the closed form, the frontier, and per-draw ratios of fake fits."""

from __future__ import annotations

import numpy as np
import pytest
from _fakes import fake_fit, make_spec

from grassroots.estimands import EstimandError, Scenario, SetValue, Shift, contrasts
from grassroots.estimands.sensitivity import (
    SMD_TO_LOG_RR,
    bounding_factor,
    confounder_frontier,
    e_value,
    sensitivity,
)

CHAINS, DRAWS = 2, 40
UP = Scenario("up", (Shift("resources", 1.0),))
DOWN = Scenario("down", (Shift("resources", -1.0),))
COLLAB = Scenario("collab", (SetValue("collaboration", 1),))


def test_e_value_of_the_published_example():
    # VanderWeele & Ding (2017): an observed risk ratio of 3.9 has E-value 7.26.
    assert float(e_value(3.9)) == pytest.approx(7.26, abs=0.005)
    assert float(e_value(1.0)) == 1.0
    # A protective ratio is inverted first.
    assert float(e_value(0.8)) == pytest.approx(float(e_value(1.25)))
    assert float(e_value(1.25)) == pytest.approx(1.25 + np.sqrt(1.25 * 0.25))
    with pytest.raises(ValueError, match="positive and finite"):
        e_value(np.array([1.2, 0.0]))


@pytest.mark.parametrize("rr", [1.3, 2.0, 3.9, 0.6])
def test_the_frontier_just_explains_the_ratio_away(rr):
    target = max(rr, 1 / rr)
    exposure = np.linspace(target + 0.01, 20, 50)
    outcome = confounder_frontier(rr, exposure)
    np.testing.assert_allclose(bounding_factor(exposure, outcome), target, rtol=1e-12)
    # Its point on the diagonal is the E-value.
    e = float(e_value(rr))
    assert float(confounder_frontier(rr, np.array([e]))[0]) == pytest.approx(e)
    # Too weak a remedy-confounder association cannot explain it away at any strength.
    assert np.isnan(confounder_frontier(rr, np.array([target * 0.99, 1.0]))).all()


def _logistic_fit(frame, slope_mean, slope_sd, seed=0):
    spec = make_spec(
        {
            "extensive": {
                "family": "logistic",
                "column": "extensive",
                "predictors": ["resources", "collaboration"],
            }
        },
        groups=(),
    )
    rng = np.random.default_rng(seed)
    values = {
        "extensive_intercept": -0.4 + 0.1 * rng.standard_normal((CHAINS, DRAWS)),
        "extensive_beta": np.stack(
            [
                slope_mean + slope_sd * rng.standard_normal((CHAINS, DRAWS)),
                0.05 * rng.standard_normal((CHAINS, DRAWS)),
            ],
            axis=-1,
        ),
    }
    return fake_fit(spec, frame, values, chains=CHAINS, draws=DRAWS)


def test_e_values_come_from_the_per_draw_ratio_of_the_g_computed_risks(frame):
    result = contrasts(_logistic_fit(frame, -0.8, 0.1), frame, [UP, DOWN, COLLAB])
    table = sensitivity(result).table.set_index("scenario")
    assert list(table.index) == ["up", "down", "collab"]
    levels = result.levels["fake"].sel(group="all", estimand="extensive:P")
    for scenario in ("up", "down"):
        ratio = (levels.sel(table=scenario) / levels.sel(table="status_quo")).to_numpy().ravel()
        row = table.loc[scenario]
        assert row.rr == pytest.approx(np.median(ratio))
        assert row.e_value == pytest.approx(float(e_value(np.median(ratio))))
        assert row.rr_lower == pytest.approx(np.quantile(ratio, 0.025))
        assert row.rr_upper == pytest.approx(np.quantile(ratio, 0.975))
        assert row.rr_scale == "ratio"
    # More resources lower P(extensive): protective ratio, the upper limit is closer to 1.
    up, down = table.loc["up"], table.loc["down"]
    assert up.rr < 1 and up.limit == "upper" and up["median"] < 0
    assert up.e_value_limit == pytest.approx(float(e_value(up.rr_upper)))
    assert down.rr > 1 and down.limit == "lower"
    assert down.e_value_limit == pytest.approx(float(e_value(down.rr_lower)))
    assert 1 < up.e_value_limit < up.e_value
    # The contrast columns are Table 5's.
    row = result.table.set_index("scenario").loc["up"]
    assert (up["median"], up.lower, up.upper) == pytest.approx(
        (row["median"], row.lower, row.upper)
    )


def test_an_interval_that_includes_no_change_has_limit_e_value_one(frame):
    # The collaboration coefficient is centred on 0: its ratio's interval straddles 1.
    result = contrasts(_logistic_fit(frame, -0.8, 0.1), frame, [COLLAB])
    row = sensitivity(result).table.iloc[0]
    assert row.rr_lower < 1 < row.rr_upper
    assert row.e_value_limit == 1.0
    assert row.e_value >= 1.0


def test_prob_changes_only_the_interval_columns(frame):
    result = contrasts(_logistic_fit(frame, -0.8, 0.3, seed=4), frame, [UP])
    wide = sensitivity(result).table.iloc[0]
    narrow = sensitivity(result, prob=0.5).table.iloc[0]
    assert narrow.e_value == wide.e_value
    assert narrow.e_value_limit > wide.e_value_limit
    with pytest.raises(EstimandError, match="prob"):
        sensitivity(result, prob=1.0)


def _ordinal_fit(frame):
    spec = make_spec(
        {
            "demand_fit": {
                "family": "ordinal",
                "column": "demand_fit",
                "levels": [1, 2, 3, 4, 5],
                "predictors": ["resources"],
            }
        },
        groups=(),
    )
    rng = np.random.default_rng(5)
    values = {
        "demand_fit_cutpoints": np.array([-1.5, -0.5, 0.5, 1.5]),
        "demand_fit_beta": 0.6 + 0.05 * rng.standard_normal((CHAINS, DRAWS, 1)),
    }
    return fake_fit(spec, frame, values, chains=CHAINS, draws=DRAWS)


def test_the_expected_rating_uses_the_standardised_difference(frame):
    result = contrasts(_ordinal_fit(frame), frame, [UP])
    with pytest.raises(EstimandError, match=r"outcome_sd=\{'demand_fit'"):
        sensitivity(result)
    sd = float(frame["demand_fit"].std())
    table = sensitivity(result, outcome_sd={"demand_fit": sd}).table.set_index("quantity")
    delta = result.draws["fake"].sel(group="all", scenario="up", estimand="demand_fit:E")
    expected = np.exp(SMD_TO_LOG_RR * delta.to_numpy().ravel() / sd)
    assert table.loc["E"].rr_scale == "smd"
    assert table.loc["E"].rr == pytest.approx(np.median(expected))
    assert table.loc["E"].e_value == pytest.approx(float(e_value(np.median(expected))))
    # P(fit >= 4) is a probability: its own ratio, no SD needed.
    assert table.loc["P(>=4)"].rr_scale == "ratio"


def test_same_input_same_numbers(frame):
    result = contrasts(_logistic_fit(frame, -0.8, 0.1), frame, [UP, COLLAB])
    first, second = sensitivity(result).table, sensitivity(result).table
    assert first.equals(second)


def test_module_doctests():
    import doctest

    from grassroots.estimands import sensitivity as sensitivity_module

    result = doctest.testmod(sensitivity_module)
    assert result.attempted > 0 and result.failed == 0
