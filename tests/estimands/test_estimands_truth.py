"""The simulator's true contrasts on the bundled study: signs, hand checks, consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grassroots.estimands import (
    ContrastResult,
    EstimandError,
    EstimandSettings,
    TruthModel,
    coverage,
    load_truth,
    true_contrasts,
    true_mediation,
)


@pytest.fixture(scope="module")
def truth():
    return load_truth()


@pytest.fixture(scope="module")
def remedies(bundled, truth):
    return true_contrasts(bundled, truth=truth)


def _value(result, scenario, outcome, quantity, group="all"):
    table = result.table
    row = table[
        (table["scenario"] == scenario)
        & (table["outcome"] == outcome)
        & (table["quantity"] == quantity)
        & (table["group"] == group)
    ]
    assert len(row) == 1
    return float(row["mean"].iloc[0])


def test_the_remedies_have_the_expected_signs(remedies):
    for scenario in ("resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd"):
        for t in (12, 24, 36):
            assert _value(remedies, scenario, "survival", f"S({t})") > 0
    combined = _value(remedies, "all_three", "survival", "S(24)")
    singles = [
        _value(remedies, s, "survival", "S(24)")
        for s in ("resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd")
    ]
    assert combined > max(singles)
    # Scarce resources drive extensive innovation; collaboration curbs expedient governance.
    assert _value(remedies, "resources_plus_1sd", "extensive", "P") < 0
    assert _value(remedies, "collaboration_everywhere", "expedient", "P") < 0
    assert _value(remedies, "resources_plus_1sd", "short_sighted", "P") < 0
    # Technical capacity improves demand fit, directly and through less extensive innovation.
    assert _value(remedies, "tech_capacity_plus_1sd", "demand_fit", "P(>=4)") > 0
    assert _value(remedies, "tech_capacity_plus_1sd", "demand_fit", "E") > 0
    # Resources do not enter expedient governance: exactly no change.
    assert _value(remedies, "resources_plus_1sd", "expedient", "P") == 0.0
    table = remedies.table
    assert set(table["model"]) == {"truth"} and set(table["group_effects"]) == {"fitted"}
    assert (table["mean"] == table["median"]).all()


def test_status_quo_matches_the_observed_data(remedies, bundled):
    levels = remedies.levels["truth"].sel(table="status_quo", group="all")

    def level(estimand):
        return float(levels.sel(estimand=estimand).squeeze())

    for outcome in ("extensive", "expedient", "short_sighted"):
        assert level(f"{outcome}:P") == pytest.approx(bundled[outcome].mean(), abs=0.03)
    rated = bundled["demand_fit"].dropna().astype(float)
    assert level("demand_fit:E") == pytest.approx(rated.mean(), abs=0.1)
    assert level("demand_fit:P(>=4)") == pytest.approx((rated >= 4).mean(), abs=0.05)
    # Kaplan-Meier estimate of S(24) from the censored months.
    times = bundled["months"].to_numpy()
    events = bundled["discontinued"].to_numpy()
    survival = 1.0
    for t in np.unique(times[(events == 1) & (times <= 24)]):
        at_risk = (times >= t).sum()
        survival *= 1.0 - ((times == t) & (events == 1)).sum() / at_risk
    assert level("survival:S(24)") == pytest.approx(survival, abs=0.03)


def test_one_row_by_hand(bundled, truth):
    model = TruthModel(truth, group_effects="fitted", mediators="observed")
    row = bundled.iloc[[0]]
    record = truth["outcomes"]["extensive"]
    eta = record["intercept"] + sum(
        term["coef"] * (row[term["column"]].iloc[0] - term["mean"])
        for term in record["terms"].values()
    )
    county = truth["group_effects"]["county"]["ids"].index(row["county_id"].iloc[0])
    township = truth["group_effects"]["township"]["ids"].index(row["township_id"].iloc[0])
    eta += truth["group_effects"]["county"]["effects"]["extensive"][county]
    eta += truth["group_effects"]["township"]["effects"]["extensive"][township]
    chunk = next(model.chunks(row, 1000))
    p = model.predict(chunk, model.prepare(row), "extensive", {})
    assert p.shape == (1, 1, 1)
    assert p[0, 0, 0] == pytest.approx(1 / (1 + np.exp(-eta)), abs=1e-12)
    # Survival at 24 months with the late short-sighted effect.
    record = truth["outcomes"]["survival"]
    eta_s = 0.0
    for term in record["terms"].values():
        if term["kind"] == "interaction":
            value = np.prod(
                [row[c].iloc[0] - comp["mean"] for c, comp in term["components"].items()]
            )
        elif term["kind"] == "contrast":
            value = float(str(row[term["column"]].iloc[0]) == term["level"]) - term["mean"]
        else:
            value = row[term["column"]].iloc[0] - term["mean"]
        eta_s += term["coef"] * value
    eta_s += truth["group_effects"]["county"]["effects"]["survival"][county]
    eta_s += truth["group_effects"]["township"]["effects"]["survival"][township]
    k, lam = record["weibull_shape"], record["weibull_scale"]
    late = record["time_varying"]["short_sighted"]["log_hr"] * row["short_sighted"].iloc[0]
    cumulative = np.exp(eta_s) * (
        (12 / lam) ** k + np.exp(late) * ((24 / lam) ** k - (12 / lam) ** k)
    )
    s = model.predict(chunk, model.prepare(row), "survival", {})
    assert s[0, 0, 1] == pytest.approx(np.exp(-cumulative), abs=1e-12)


def test_true_mediation_identities(bundled, truth):
    result = true_mediation(bundled, "resources_plus_1sd", truth=truth)
    draws = result.draws.sel(scenario="resources_plus_1sd")
    np.testing.assert_allclose(
        draws.sel(component="total"),
        draws.sel(component="direct") + draws.sel(component="indirect"),
        atol=1e-12,
    )
    survival = draws.sel(estimand="survival:S(24)")
    # Resources act on survival directly and through extensive innovation and short-sightedness,
    # not through expedient governance (which they do not move).
    assert survival.sel(component="direct").item() > 0
    assert survival.sel(component="via extensive").item() > 0
    assert survival.sel(component="via short_sighted").item() > 0
    assert survival.sel(component="via expedient").item() == 0.0


def test_new_group_effects_are_seeded(bundled, truth):
    first = true_contrasts(
        bundled,
        "tech_capacity_plus_1sd",
        truth=truth,
        group_effects="new",
        outcomes=["survival"],
        settings=EstimandSettings(truth_draws=8, seed=1),
    )
    again = true_contrasts(
        bundled,
        "tech_capacity_plus_1sd",
        truth=truth,
        group_effects="new",
        outcomes=["survival"],
        settings=EstimandSettings(truth_draws=8, seed=1, max_cells=len(bundled) * 3),
    )
    np.testing.assert_array_equal(first.draws["truth"], again.draws["truth"])
    assert first.draws["truth"].sizes["draw"] == 8
    assert set(first.table["group_effects"]) == {"new"}
    assert (first.table["mean"] > 0).all()


def test_observed_mediators_truth(bundled, truth):
    held = true_contrasts(bundled, "resources_plus_1sd", truth=truth, mediators="observed")
    # With the strategies held, resources do not reach demand fit at all.
    assert _value(held, "resources_plus_1sd", "demand_fit", "E") == 0.0
    assert set(held.table["mediators"]) == {""}


def _as_estimate(truth_result: ContrastResult, shift: float) -> ContrastResult:
    """A fake 'posterior' of 100 draws around the truth plus ``shift``."""
    rng = np.random.default_rng(0)
    draws = truth_result.draws["truth"]
    noise = 0.001 * rng.standard_normal((*draws.shape[:-1], 100))
    values = draws.to_numpy() + shift + noise
    estimate = draws.isel(draw=[0] * 100).copy(data=values).assign_coords(draw=np.arange(100))
    levels = truth_result.levels["truth"].isel(draw=[0] * 100).assign_coords(draw=np.arange(100))
    from grassroots.estimands.contrasts import _table

    table = _table("fake", estimate, levels, 0.95)
    return ContrastResult(table, {"fake": estimate}, {"fake": levels}, 0.95)


def test_coverage(remedies):
    near = coverage(_as_estimate(remedies, 0.0), remedies, prob=0.9)
    assert len(near) == len(remedies.table)
    assert near["covered"].all() and near["comparable"].all()
    far = coverage(_as_estimate(remedies, 0.05), remedies, prob=0.9)
    assert not far["covered"].any()
    assert list(near.columns[:6]) == [
        "model",
        "scenario",
        "outcome",
        "quantity",
        "group_by",
        "group",
    ]


def test_coverage_flags_different_estimands(remedies, bundled, truth):
    held = true_contrasts(bundled, "resources_plus_1sd", truth=truth, mediators="observed")
    # Strategies held at their observed values against a truth where they respond.
    with pytest.warns(UserWarning, match="not the truth's estimand"):
        flagged = coverage(_as_estimate(held, 0.0), remedies).set_index(["outcome", "quantity"])
    assert not flagged.loc[("survival", "S(24)"), "comparable"]
    assert not flagged.loc[("demand_fit", "E"), "comparable"]
    assert flagged.loc[("extensive", "P"), "comparable"]  # no strategy upstream
    # A fit that leaves the strategies out estimates the total effect: comparable.
    estimate = _as_estimate(held, 0.0)
    draws = estimate.draws["fake"]
    without = [
        ", ".join(c for c in p.split(", ") if c not in {"extensive", "expedient", "short_sighted"})
        for p in draws.coords["predictors"].values
    ]
    estimate.draws["fake"] = draws.assign_coords(predictors=("estimand", without))
    with pytest.warns(UserWarning, match="a model without the scenario's columns"):
        total = coverage(estimate, remedies).set_index(["outcome", "quantity"])["comparable"]
    assert total.loc["survival"].all()
    # ... unless the model also lacks the scenario's column (demand fit has no resources).
    assert not total.loc["demand_fit"].any()
    # Against the truth with held strategies, the held estimate is comparable.
    assert coverage(_as_estimate(held, 0.0), held)["comparable"].all()


def test_truth_errors(bundled, truth):
    other = bundled.assign(township_id="T9999")
    with pytest.raises(EstimandError, match="are not in truth.json"):
        true_contrasts(other, truth=truth)
    with pytest.raises(EstimandError, match="no truth.json"):
        load_truth("no/such/folder")
    with pytest.raises(EstimandError, match="threshold 6 is not a rating"):
        true_contrasts(bundled, truth=truth, settings=EstimandSettings(threshold=6))
    none = true_contrasts(other, "resources_plus_1sd", truth=truth, group_effects="none")
    assert isinstance(none.table, pd.DataFrame)
