"""Contrasts within groups, baseline weakness and the targeting list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _fakes import fake_fit, make_spec

from grassroots.estimands import (
    EstimandError,
    EstimandSettings,
    Grouping,
    Scenario,
    ScenarioError,
    SetValue,
    Shift,
    baseline_weakness,
    heterogeneity,
    targeting,
    weakness_tercile,
)
from grassroots.estimands.heterogeneity import decision_level, rank_summary

UP = Scenario("up", (Shift("resources", 1.0),))
TECH = Scenario("tech", (Shift("tech_capacity", 1.0),))
COLLAB = Scenario("collab", (SetValue("collaboration", 1),))


@pytest.fixture(scope="module")
def fit(frame):
    spec = make_spec(
        {
            "survival": {
                "family": "survival",
                "time": "months",
                "event": "discontinued",
                "predictors": ["resources", "tech_capacity", "collaboration"],
                "baseline": {"kind": "weibull"},
            },
            "extensive": {
                "family": "logistic",
                "column": "extensive",
                "predictors": ["resources", "tech_capacity"],
            },
        },
        correlated="township",
    )
    rng = np.random.default_rng(9)
    n_c, n_t = frame["county_id"].nunique(), frame["township_id"].nunique()
    return fake_fit(
        spec,
        frame,
        {
            "survival_shape": 1.2,
            "survival_scale": 60.0,
            "survival_beta": rng.normal([-0.3, -0.2, -0.2], 0.1, (2, 5, 3)),
            "extensive_intercept": -0.4,
            "extensive_beta": rng.normal([-0.5, -0.3], 0.1, (2, 5, 2)),
            "township_effect": rng.normal(0, 0.4, (2, 5, n_t, 2)),
            "township_sd": [0.4, 0.4],
            "township_corr": [[1.0, 0.3], [0.3, 1.0]],
            "survival_effect_county": rng.normal(0, 0.3, (2, 5, n_c)),
            "extensive_effect_county": rng.normal(0, 0.3, (2, 5, n_c)),
            "survival_sd_county": 0.3,
            "extensive_sd_county": 0.3,
        },
        draws=5,
    )


def test_weakness_by_hand(frame):
    weakness = baseline_weakness(frame)
    townships = frame.drop_duplicates("township_id").set_index("township_id")
    z = [
        (townships[c] - townships[c].mean()) / townships[c].std(ddof=1)
        for c in ("authority", "resources", "tech_capacity")
    ]
    expected = -(z[0] + z[1] + z[2]) / 3
    assert weakness.name == "weakness"
    np.testing.assert_allclose(weakness, expected.loc[frame["township_id"]].to_numpy())
    tercile = weakness_tercile(frame)
    per_township = tercile.groupby(frame["township_id"]).first()
    assert list(per_township.value_counts().sort_index()) == [4, 4, 4]  # 12 townships
    # The weakest third has the highest scores.
    scores = expected.loc[per_township.index]
    assert scores[per_township == "high"].min() > scores[per_township == "middle"].max()
    assert scores[per_township == "middle"].min() > scores[per_township == "low"].max()


def test_weakness_needs_township_columns(frame):
    with pytest.raises(EstimandError, match="'outsourced' varies within townships"):
        baseline_weakness(frame, ["outsourced"])
    with pytest.raises(EstimandError, match="needs the column 'capital'"):
        baseline_weakness(frame, ["capital"])


def test_groups_add_up_to_the_overall_contrast(fit, frame):
    result = heterogeneity(
        fit, frame, [UP, TECH], group_effects="new", settings=EstimandSettings(seed=1)
    )
    draws = result.draws["fake"]
    overall = draws.sel(group="all")
    for by in ("region", "weakness"):
        groups = draws.isel(group=draws["group_by"].to_numpy() == by)
        n = groups["n_rows"]
        assert int(n.sum()) == len(frame)
        weighted = (groups * n).sum("group") / n.sum()
        np.testing.assert_allclose(weighted, overall, rtol=0, atol=1e-12)
    table = result.table
    assert list(table.query("scenario == 'up' and quantity == 'S(24)'")["group"]) == [
        "all",
        "east",
        "central",
        "west",
        "low",
        "middle",
        "high",
    ]


def test_group_by_a_custom_grouping(fit, frame):
    halves = Grouping.from_values("half", np.arange(len(frame)) % 2)
    result = heterogeneity(fit, frame, [UP], by=[halves])
    assert set(result.table["group_by"]) == {"all", "half"}
    with pytest.raises(EstimandError, match="given twice"):
        heterogeneity(fit, frame, [UP], by=["region", "region"])


def test_targeting_ranks_townships_by_their_average_gain(fit, frame):
    result = targeting(fit, frame, [UP, TECH], quantity="S(24)")
    table = result.table
    up = table[table["scenario"] == "up"]
    assert len(up) == frame["township_id"].nunique()
    assert list(up["rank"]) == list(range(1, len(up) + 1))
    assert up["mean"].is_monotonic_decreasing
    assert {"county_id", "township_id", "n_rows", "weakness", "weakness_tercile", "region"} <= set(
        table.columns
    )
    # A township's gain is the average over its projects (by hand from the row-level levels).
    overall = heterogeneity(fit, frame, [UP]).draws["fake"].sel(scenario="up", group="all")
    weights = up.set_index("township_id")["n_rows"]
    township_draws = result.draws.sel(scenario="up")
    labels = [u.split("/")[-1] for u in township_draws["unit"].to_numpy()]
    weighted = (township_draws * weights.loc[labels].to_numpy()[:, None, None]).sum("unit")
    np.testing.assert_allclose(
        weighted / len(frame), overall.sel(estimand="survival:S(24)"), atol=1e-12
    )
    assert result.top(3)["rank"].tolist() == [1, 2, 3]
    with pytest.raises(EstimandError, match="has no quantity"):
        targeting(fit, frame, [UP], quantity="S(25)")
    lowest = targeting(fit, frame, [UP], outcome="extensive", quantity="P", descending=False)
    assert lowest.table["mean"].is_monotonic_increasing


def test_targeting_reports_the_posterior_of_the_ranks(fit, frame):
    result = targeting(fit, frame, [UP], quantity="S(24)", top=5)
    up = result.table.set_index("township_id")
    draws = result.draws.sel(scenario="up").stack(sample=("chain", "draw"))
    labels = [u.split("/")[-1] for u in draws["unit"].to_numpy()]
    values = draws.to_numpy()  # (unit, sample)
    # By hand: per draw, how many townships gain more (+1) is the rank; P(rank <= 5).
    ranks = (values[None, :, :] > values[:, None, :]).sum(axis=1) + 1
    expected = dict(zip(labels, (ranks <= 5).mean(axis=1), strict=True))
    assert up["pr_top"].to_dict() == pytest.approx(expected)
    assert (up["top_k"] == 5).all()
    assert ((up["rank_lower"] <= up["rank_median"]) & (up["rank_median"] <= up["rank_upper"])).all()
    assert set(up["rank_lower"]) <= set(range(1, len(up) + 1))
    assert up["pr_top"].sum() == pytest.approx(5.0)  # five places in the top five, every draw


def test_rank_summary_ranks_the_largest_gain_first():
    samples = np.array([[[0.3, 0.1], [0.2, 0.2], [0.1, 0.3]]])  # 1 scenario, 3 units, 2 draws
    ranks = rank_summary(samples, prob=0.5, top=1)
    assert ranks["pr_top"].tolist() == [[0.5, 0.0, 0.5]]
    lowest = rank_summary(samples, prob=0.5, top=1, descending=False)
    assert lowest["pr_top"].tolist() == [[0.5, 0.0, 0.5]]
    assert rank_summary(samples, top=2)["pr_top"].tolist() == [[0.5, 1.0, 0.5]]


def test_targeting_counties(fit, frame):
    result = targeting(fit, frame, [UP], level="county")
    assert len(result.table) == frame["county_id"].nunique()
    assert "weakness" not in result.table.columns
    with pytest.raises(EstimandError, match="level 'province' is not a grouping level"):
        targeting(fit, frame, [UP], level="province")


def test_weakness_tercile_is_categorical(frame):
    tercile = weakness_tercile(frame)
    assert isinstance(tercile.dtype, pd.CategoricalDtype)
    assert list(tercile.cat.categories) == ["low", "middle", "high"]


def test_both_averaging_paths_agree():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 20, 200)
    array, weight = rng.normal(size=(3, 200, 2)), rng.uniform(size=(3, 200))
    many = Grouping.from_values("many", codes)  # 20 groups: sorted sums
    expected = np.stack(
        [(array * weight[..., None])[:, codes == g].mean(axis=1) for g in range(20)], axis=1
    )
    np.testing.assert_allclose(many.average(array, weight), expected, atol=1e-12)
    few = Grouping.from_values("few", codes % 4)  # 4 groups: one matrix product
    expected_few = np.stack(
        [(array * weight[..., None])[:, codes % 4 == g].mean(axis=1) for g in range(4)], axis=1
    )
    np.testing.assert_allclose(few.average(array, weight), expected_few, atol=1e-12)
    unweighted = np.stack([array[:, codes % 4 == g].mean(axis=1) for g in range(4)], axis=1)
    np.testing.assert_allclose(few.average(array), unweighted, atol=1e-12)


def test_groups_with_many_members_add_up(fit, frame):
    rows = Grouping.from_values("row", np.arange(len(frame)))  # more than 16 groups
    result = heterogeneity(fit, frame, [UP], by=[rows, "weakness"])
    draws = result.draws["fake"]
    per_row = draws.isel(group=draws["group_by"].to_numpy() == "row")
    np.testing.assert_allclose(per_row.mean("group"), draws.sel(group="all"), atol=1e-12)


def test_decision_level_is_the_outermost_level_of_the_remedy(fit, frame):
    assert decision_level(UP, frame) == "township"
    assert decision_level(COLLAB, frame) == "county"
    assert decision_level(Scenario.combine("both", UP, COLLAB), frame) == "county"
    outsourced = Scenario("vendor", (SetValue("outsourced", 1),))
    assert decision_level(outsourced, frame) == "township"
    # A column the data lack: the scenario's own error, which names it.
    missing = Scenario("missing", (Shift("capital", 1.0),))
    with (
        pytest.warns(UserWarning, match="none of which model 'fake' uses"),
        pytest.raises(ScenarioError, match="the data have no column 'capital'"),
    ):
        targeting(fit, frame, [missing])


def test_targeting_ranks_each_remedy_where_it_is_decided(fit, frame):
    result = targeting(fit, frame, [UP, COLLAB], quantity="S(24)", top=1)
    table = result.table
    assert list(dict.fromkeys(table["scenario"])) == ["up", "collab"]
    up, collab = table[table["scenario"] == "up"], table[table["scenario"] == "collab"]
    assert set(up["level"]) == {"township"} and len(up) == frame["township_id"].nunique()
    # Counties for collaboration, and only those without the mechanism: the others cannot gain.
    counties = frame.drop_duplicates("county_id").set_index("county_id")
    untreated = sorted(counties.index[counties["collaboration"] == 0])
    assert set(collab["level"]) == {"county"}
    assert sorted(collab["county_id"]) == untreated
    assert set(collab["n_units"]) == {len(counties)}
    assert collab["township_id"].isna().all()
    assert list(collab["rank"]) == list(range(1, len(untreated) + 1))
    assert collab["pr_top"].sum() == pytest.approx(1.0)  # one place in the top one, every draw
    # A county's gain is the average over its projects' contrasts.
    by_county = heterogeneity(fit, frame, [COLLAB], by=["county_id"]).draws["fake"]
    for county in untreated:
        np.testing.assert_allclose(
            result.draws.sel(scenario="collab", unit=county),
            by_county.sel(
                scenario="collab", estimand="survival:S(24)", group=f"county_id={county}"
            ),
            rtol=0,
            atol=1e-12,
        )
    # Treated counties and the other level's units have no draws.
    treated = sorted(set(counties.index) - set(untreated))
    assert result.draws.sel(scenario="collab", unit=treated).isnull().all()
    assert (
        result.draws.sel(scenario="collab", unit=list(up["county_id"] + "/" + up["township_id"]))
        .isnull()
        .all()
    )
    assert result.draws.sel(scenario="up", unit=untreated).isnull().all()
    # Stated level: every scenario at it.
    townships = targeting(fit, frame, [COLLAB], level="township")
    assert set(townships.table["level"]) == {"township"}
    assert set(townships.table["county_id"]) == set(untreated)


def test_allocation_funds_the_largest_expected_gains_within_the_budget(fit, frame):
    from grassroots.estimands.heterogeneity import allocate

    result = targeting(fit, frame, [UP], quantity="S(24)")
    allocation = allocate(result, "up", budget=3, random_orders=4000, seed=5)
    table = allocation.table.set_index("allocation")
    ranked = result.table
    # Each township's gain: its projects times its average contrast (expected extra projects).
    gains = result.draws.sel(scenario="up", unit=list(ranked["unit"])) * xr.DataArray(
        ranked["n_rows"].to_numpy(float), dims="unit"
    )
    expected = gains.mean(("chain", "draw")).to_series()
    best = list(expected[expected > 0].sort_values(ascending=False).index[:3])
    assert list(allocation.units.loc[allocation.units["funded"], "unit"]) == best
    np.testing.assert_allclose(
        allocation.draws.sel(allocation="targeted"), gains.sel(unit=best).sum("unit"), atol=1e-12
    )
    assert table.loc["targeted", "n_units"] == 3 and table.loc["targeted", "spent"] == 3
    # Every township is equally likely in a random choice of three: 3/n of the total gain.
    share = 3 / len(ranked)
    np.testing.assert_allclose(
        allocation.draws.sel(allocation="random"), share * gains.sum("unit"), rtol=0.1
    )
    np.testing.assert_allclose(
        allocation.draws.sel(allocation="difference"),
        allocation.draws.sel(allocation="targeted") - allocation.draws.sel(allocation="random"),
    )
    assert table.loc["difference", "mean"] > 0
    assert set(table["budget"]) == {3.0} and set(table["n_candidates"]) == {len(ranked)}
    again = allocate(result, "up", budget=3, random_orders=4000, seed=5)
    pd.testing.assert_frame_equal(again.table, allocation.table)
    with pytest.raises(EstimandError, match="budget must be a positive number"):
        allocate(result, "up", budget=0)
    with pytest.raises(EstimandError, match="no ranked units of scenario 'down'"):
        allocate(result, "down", budget=3)


def test_allocation_in_natural_costs(fit, frame):
    from grassroots.estimands.heterogeneity import _fill, allocate, remedy_costs

    assert _fill(np.array([0, 1, 2]), np.array([5.0, 10.0, 3.0]), 9.0).tolist() == [0, 2]
    people = frame.assign(population=frame.groupby("township_id")["resources"].transform("size"))
    costs = remedy_costs(people, UP, "resources", per="population", factor=1000.0)
    sd = frame["resources"].std(ddof=1)
    townships = people.drop_duplicates("township_id")
    by_hand = np.expm1(sd) * np.exp(townships["resources"]) * townships["population"] * 1000
    np.testing.assert_allclose(costs.to_numpy(), by_hand.to_numpy())
    assert list(costs.index) == list(townships["county_id"] + "/" + townships["township_id"])
    result = targeting(fit, people, [UP], quantity="S(24)")
    budget = float(costs.sum()) / 3
    allocation = allocate(result, "up", budget, costs=costs, cost_unit="CNY")
    units = allocation.units
    funded = units[units["funded"]]
    assert funded["cost"].sum() <= budget
    assert allocation.table.set_index("allocation").loc["targeted", "spent"] == pytest.approx(
        funded["cost"].sum()
    )
    # Greedy by gain per CNY: the funded units come first in that order, skipping misfits only.
    assert units["gain_per_cost"].is_monotonic_decreasing
    assert (units["cumulative_cost"] <= budget).all()
    with pytest.raises(EstimandError, match="costs lack"):
        allocate(result, "up", budget, costs=costs.iloc[1:])
    with pytest.raises(EstimandError, match="varies within townships"):
        remedy_costs(frame, UP, "resources", per="months")
