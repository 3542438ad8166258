"""g-computation contrasts from fake posteriors of known values, checked by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _fakes import expit, fake_fit, make_spec

from grassroots.estimands import (
    ContrastResult,
    EstimandError,
    EstimandSettings,
    Scenario,
    SetValue,
    Shift,
    contrasts,
)

CHAINS, DRAWS = 2, 3
SHIFT = Scenario("up", (Shift("resources", 1.0),))
SET = Scenario("collab", (SetValue("collaboration", 1),))


def _per_draw(rng, base, scale, shape=(), draws=DRAWS):
    """Known values that differ between draws (so per-draw alignment is tested)."""
    return base + scale * rng.standard_normal((CHAINS, draws, *shape))


def _std(frame, column):
    x = frame[column].to_numpy(float)
    return (x - x.mean()) / x.std(ddof=1)


def _draws(result, scenario, estimand, model="fake", group="all"):
    return result.draws[model].sel(scenario=scenario, estimand=estimand, group=group).to_numpy()


def test_logistic_one_predictor_equals_the_hand_computation(frame):
    spec = make_spec(
        {"extensive": {"family": "logistic", "column": "extensive", "predictors": ["resources"]}},
        groups=(),
    )
    rng = np.random.default_rng(1)
    a = _per_draw(rng, -0.3, 0.2)
    b = _per_draw(rng, -0.8, 0.2, (1,))
    fit = fake_fit(spec, frame, {"extensive_intercept": a, "extensive_beta": b})
    result = contrasts(fit, frame, [SHIFT])
    x = _std(frame, "resources")
    expected = expit(a[..., None] + b * (x + 1.0)).mean(-1) - expit(a[..., None] + b * x).mean(-1)
    np.testing.assert_allclose(_draws(result, "up", "extensive:P"), expected, rtol=0, atol=1e-10)
    row = result.table.iloc[0]
    assert (row.scenario, row.outcome, row.quantity, row.group_effects) == (
        "up",
        "extensive",
        "P",
        "fitted",
    )
    assert row["median"] == pytest.approx(np.median(expected), abs=1e-12)
    assert row.pr_positive == 0.0  # resources lower the chance of extensive innovation here
    assert row.mediators == ""


def test_fitted_group_effects_enter_every_row(frame):
    spec = make_spec(
        {"expedient": {"family": "logistic", "column": "expedient", "predictors": ["resources"]}}
    )
    rng = np.random.default_rng(2)
    n_c, n_t = frame["county_id"].nunique(), frame["township_id"].nunique()
    u_c = _per_draw(rng, 0.0, 0.5, (n_c,))
    u_t = _per_draw(rng, 0.0, 0.5, (n_t,))
    a, b = -0.5, _per_draw(rng, 0.7, 0.1, (1,))
    fit = fake_fit(
        spec,
        frame,
        {
            "expedient_intercept": a,
            "expedient_beta": b,
            "expedient_effect_county": u_c,
            "expedient_effect_township": u_t,
            "expedient_sd_county": 0.5,
            "expedient_sd_township": 0.5,
        },
    )
    county = np.unique(frame["county_id"], return_inverse=True)[1]
    township = np.unique(frame["township_id"], return_inverse=True)[1]
    u = u_c[..., county] + u_t[..., township]
    x = _std(frame, "resources")
    expected = (expit(a + b * (x + 1) + u) - expit(a + b * x + u)).mean(-1)
    result = contrasts(fit, frame, [SHIFT])
    np.testing.assert_allclose(_draws(result, "up", "expedient:P"), expected, atol=1e-10)
    # Without group effects: the typical group.
    none = contrasts(fit, frame, [SHIFT], group_effects="none")
    expected_none = (expit(a + b * (x + 1)) - expit(a + b * x)).mean(-1)
    np.testing.assert_allclose(_draws(none, "up", "expedient:P"), expected_none, atol=1e-10)
    assert set(none.table["group_effects"]) == {"none"}


def _piecewise_h0(log_hazard, cuts, t):
    starts = np.concatenate([[0.0], cuts])
    widths = np.diff(np.append(starts, np.inf))
    exposure = np.clip(t - starts, 0.0, widths)
    return (np.exp(log_hazard) * exposure).sum(-1)


def test_survival_with_a_late_effect_equals_the_hand_computation(frame):
    cuts = [6.0, 12.0, 24.0]
    spec = make_spec(
        {
            "survival": {
                "family": "survival",
                "time": "months",
                "event": "discontinued",
                "predictors": ["collaboration", "resources"],
                "time_varying": {"short_sighted": 12},
                "baseline": {"kind": "piecewise", "cuts": cuts},
            }
        },
        groups=(),
    )
    rng = np.random.default_rng(3)
    log_hazard = _per_draw(rng, -3.5, 0.2, (4,))
    beta = _per_draw(rng, -0.3, 0.1, (2,))
    late = _per_draw(rng, 0.6, 0.1, (1,))
    fit = fake_fit(
        spec,
        frame,
        {"survival_log_hazard": log_hazard, "survival_beta": beta, "survival_beta_late": late},
    )
    result = contrasts(fit, frame, [SET, SHIFT])
    x = _std(frame, "resources")
    collab = frame["collaboration"].to_numpy(float)
    q = frame["short_sighted"].to_numpy(float)

    def survival(c, r, t):
        eta = beta[..., :1] * c + beta[..., 1:] * r  # (chains, draws, rows)
        h_t = _piecewise_h0(log_hazard, cuts, t)[..., None]
        h_early = _piecewise_h0(log_hazard, cuts, min(t, 12.0))[..., None]
        total = h_early + np.exp(late * q) * (h_t - h_early)
        return np.exp(-np.exp(eta) * total).mean(-1)

    for t in (12.0, 24.0, 36.0):
        expected_set = survival(np.ones_like(collab), x, t) - survival(collab, x, t)
        expected_up = survival(collab, x + 1, t) - survival(collab, x, t)
        label = f"survival:S({t:g})"
        np.testing.assert_allclose(_draws(result, "collab", label), expected_set, atol=1e-10)
        np.testing.assert_allclose(_draws(result, "up", label), expected_up, atol=1e-10)
    status_quo = result.levels["fake"].sel(table="status_quo", estimand="survival:S(24)")
    np.testing.assert_allclose(status_quo.sel(group="all"), survival(collab, x, 24.0), atol=1e-12)


def test_ordinal_probability_and_expected_rating(frame):
    spec = make_spec(
        {
            "demand_fit": {
                "family": "ordinal",
                "column": "demand_fit",
                "levels": [1, 2, 3, 4, 5],
                "predictors": ["tech_capacity"],
            }
        },
        groups=(),
    )
    rng = np.random.default_rng(4)
    cuts = np.sort(_per_draw(rng, 0.0, 1.5, (4,)), axis=-1)
    b = _per_draw(rng, 0.4, 0.1, (1,))
    fit = fake_fit(spec, frame, {"demand_fit_cutpoints": cuts, "demand_fit_beta": b})
    scenario = Scenario("tech", (Shift("tech_capacity", 1.0),))
    result = contrasts(fit, frame, [scenario])
    x = _std(frame, "tech_capacity")

    def levels(z):
        eta = b * z  # (chains, draws, rows)
        cumulative = expit(cuts[..., None, :] - eta[..., None])  # P(Y <= k), k = 1..4
        padded = np.concatenate(
            [np.zeros((*eta.shape, 1)), cumulative, np.ones((*eta.shape, 1))], -1
        )
        p = np.diff(padded, axis=-1)
        return p[..., 3:].sum(-1).mean(-1), (p * np.arange(1, 6)).sum(-1).mean(-1)

    (p1, e1), (p0, e0) = levels(x + 1), levels(x)
    np.testing.assert_allclose(_draws(result, "tech", "demand_fit:P(>=4)"), p1 - p0, atol=1e-10)
    np.testing.assert_allclose(_draws(result, "tech", "demand_fit:E"), e1 - e0, atol=1e-10)
    three = contrasts(fit, frame, [scenario], settings=EstimandSettings(threshold=3))
    assert "P(>=3)" in set(three.table["quantity"])
    with pytest.raises(EstimandError, match="threshold 7 is not a level"):
        contrasts(fit, frame, [scenario], settings=EstimandSettings(threshold=7))


@pytest.fixture(scope="module")
def grouped_fit(frame):
    """Survival with county and township frailties and non-zero group SDs."""
    spec = make_spec(
        {
            "survival": {
                "family": "survival",
                "time": "months",
                "event": "discontinued",
                "predictors": ["resources", "tech_capacity"],
                "baseline": {"kind": "weibull"},
            }
        }
    )
    rng = np.random.default_rng(5)
    n_c, n_t = frame["county_id"].nunique(), frame["township_id"].nunique()
    return fake_fit(
        spec,
        frame,
        {
            "survival_shape": _per_draw(rng, 1.2, 0.05, draws=40),
            "survival_scale": _per_draw(rng, 60.0, 3.0, draws=40),
            "survival_beta": _per_draw(rng, -0.3, 0.05, (2,), draws=40),
            "survival_effect_county": _per_draw(rng, 0.0, 0.3, (n_c,), draws=40),
            "survival_effect_township": _per_draw(rng, 0.0, 0.4, (n_t,), draws=40),
            "survival_sd_county": 0.3,
            "survival_sd_township": 0.4,
        },
        chains=2,
        draws=40,
    )


def test_status_quo_matches_fit_predict(grouped_fit, frame):
    result = contrasts(grouped_fit, frame, [SHIFT])
    predicted = grouped_fit.predict(frame, average=True)["survival_S"]
    levels = result.levels["fake"].sel(table="status_quo", group="all")
    for t in (12.0, 24.0, 36.0):
        np.testing.assert_allclose(
            levels.sel(estimand=f"survival:S({t:g})"),
            predicted.sel(survival_time=t),
            rtol=0,
            atol=1e-12,
        )


def test_summary_matches_the_draws(grouped_fit, frame):
    result = contrasts(grouped_fit, frame, [SHIFT])
    values = result.values("up", "survival", "S(24)")
    row = result.table.query("quantity == 'S(24)'").iloc[0]
    assert row["median"] == pytest.approx(np.median(values))
    assert row.lower == pytest.approx(np.quantile(values, 0.025))
    assert row.upper == pytest.approx(np.quantile(values, 0.975))
    assert row["mean"] == pytest.approx(values.mean())
    assert row.pr_positive == pytest.approx((values > 0).mean())
    assert row.n_rows == len(frame)
    narrow = result.summary(0.9).query("quantity == 'S(24)'").iloc[0]
    assert narrow["lower"] == pytest.approx(np.quantile(values, 0.05))
    assert narrow["lower"] >= row.lower and narrow["upper"] <= row.upper
    long = result.draws_frame()
    assert len(long) == 3 * values.size
    assert list(long.columns) == [
        "model",
        "scenario",
        "outcome",
        "quantity",
        "chain",
        "draw",
        "value",
    ]
    assert "S(24)" in str(result)


def test_new_group_effects_are_deterministic_with_a_seed(grouped_fit, frame):
    first = contrasts(
        grouped_fit, frame, [SHIFT], group_effects="new", settings=EstimandSettings(seed=7)
    )
    again = contrasts(
        grouped_fit, frame, [SHIFT], group_effects="new", settings=EstimandSettings(seed=7)
    )
    other = contrasts(
        grouped_fit, frame, [SHIFT], group_effects="new", settings=EstimandSettings(seed=8)
    )
    fitted = contrasts(grouped_fit, frame, [SHIFT])
    np.testing.assert_array_equal(first.draws["fake"], again.draws["fake"])
    np.testing.assert_array_equal(first.levels["fake"], again.levels["fake"])
    assert not np.allclose(first.draws["fake"], other.draws["fake"])
    assert not np.allclose(first.draws["fake"], fitted.draws["fake"])
    assert set(first.table["group_effects"]) == {"new"}
    # The default seed is the fit's.
    default = contrasts(grouped_fit, frame, [SHIFT], group_effects="new")
    by_fit_seed = contrasts(
        grouped_fit,
        frame,
        [SHIFT],
        group_effects="new",
        settings=EstimandSettings(seed=grouped_fit.seed),
    )
    np.testing.assert_array_equal(default.draws["fake"], by_fit_seed.draws["fake"])


def test_chunking_does_not_change_the_result(grouped_fit, frame):
    tech = Scenario("tech", (Shift("tech_capacity", 1.0),))
    whole = contrasts(grouped_fit, frame, [SHIFT, tech])
    # One draw per chunk.
    pieces = contrasts(grouped_fit, frame, [SHIFT, tech], settings=EstimandSettings(max_cells=1))
    np.testing.assert_allclose(whole.draws["fake"], pieces.draws["fake"], rtol=0, atol=1e-14)
    thinned = contrasts(grouped_fit, frame, [SHIFT], settings=EstimandSettings(thin=4))
    assert thinned.draws["fake"].sizes["draw"] == 10
    np.testing.assert_allclose(
        thinned.draws["fake"].isel(scenario=0),
        whole.draws["fake"].isel(scenario=0, draw=slice(None, None, 4)),
        atol=1e-14,
    )


def test_lazy_bundles_and_worker_threads_give_identical_draws(
    grouped_fit, frame, tmp_path, monkeypatch
):
    import grassroots.estimands._engine.fit_model as fit_model
    from grassroots.inference import Fit

    tech = Scenario("tech", (Shift("tech_capacity", 1.0),))
    alone = contrasts(
        grouped_fit, frame, [SHIFT, tech], settings=EstimandSettings(max_cells=1, workers=1)
    )
    threads = contrasts(
        grouped_fit, frame, [SHIFT, tech], settings=EstimandSettings(max_cells=1, workers=3)
    )
    np.testing.assert_array_equal(alone.levels["fake"], threads.levels["fake"])
    # Read from the bundle chunk by chunk, every variable lazily.
    monkeypatch.setattr(fit_model, "_EAGER_BYTES", 0)
    lazy = Fit.load(grouped_fit.save(tmp_path / "bundle"), lazy=True)
    from_disk = contrasts(lazy, frame, [SHIFT, tech], settings=EstimandSettings(max_cells=1))
    np.testing.assert_array_equal(alone.levels["fake"], from_disk.levels["fake"])


def test_several_fits_and_outcome_selection(grouped_fit, frame):
    spec = make_spec(
        {"extensive": {"family": "logistic", "column": "extensive", "predictors": ["resources"]}},
        groups=(),
        name="strategy",
    )
    other = fake_fit(spec, frame, {"extensive_intercept": 0.1, "extensive_beta": [0.5]})
    both = contrasts([grouped_fit, other], frame, [SHIFT])
    assert set(both.table["model"]) == {"fake", "strategy"}
    assert set(both.draws) == {"fake", "strategy"}
    only = contrasts([grouped_fit, other], frame, [SHIFT], outcomes=["extensive"])
    assert set(only.table["outcome"]) == {"extensive"}
    with pytest.raises(EstimandError, match="given twice"):
        ContrastResult.concat([both, both])
    with pytest.raises(EstimandError, match="no fit has the outcome"):
        contrasts(other, frame, [SHIFT], outcomes=["survival"])


def test_unused_scenario_warns_and_gives_zero(grouped_fit, frame):
    with pytest.warns(UserWarning, match="none of which model 'fake' uses: its contrasts are 0"):
        result = contrasts(grouped_fit, frame, [SET])
    assert (result.table["median"] == 0).all()


def test_bad_arguments(grouped_fit, frame):
    with pytest.raises(EstimandError, match="group_effects must be one of"):
        contrasts(grouped_fit, frame, [SHIFT], group_effects="random")
    with pytest.raises(EstimandError, match="thin must be a positive integer"):
        contrasts(grouped_fit, frame, [SHIFT], settings=EstimandSettings(thin=0))
    with pytest.raises(EstimandError, match="must be distinct"):
        contrasts(grouped_fit, frame, [SHIFT, SHIFT])
    with pytest.raises(EstimandError, match="cannot group by 'province'"):
        contrasts(grouped_fit, frame, [SHIFT], by=["province"])
    with pytest.raises(EstimandError, match="prob must lie strictly between 0 and 1"):
        contrasts(grouped_fit, frame, [SHIFT], settings=EstimandSettings(prob=1.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = contrasts(grouped_fit, frame, "resources_plus_1sd")
    assert set(result.table["scenario"]) == {"resources_plus_1sd"}


@pytest.mark.parametrize("group_effects", ["fitted", "new"])
def test_binary_remedy_effect_among_the_not_yet_treated(frame, group_effects):
    spec = make_spec(
        {
            "survival": {
                "family": "survival",
                "time": "months",
                "event": "discontinued",
                "predictors": ["collaboration", "resources"],
                "baseline": {"kind": "weibull"},
            }
        }
    )
    rng = np.random.default_rng(6)
    n_c, n_t = frame["county_id"].nunique(), frame["township_id"].nunique()
    fit = fake_fit(
        spec,
        frame,
        {
            "survival_shape": _per_draw(rng, 1.2, 0.05),
            "survival_scale": _per_draw(rng, 60.0, 3.0),
            "survival_beta": _per_draw(rng, -0.4, 0.2, (2,)),
            "survival_effect_county": _per_draw(rng, 0.0, 0.3, (n_c,)),
            "survival_effect_township": _per_draw(rng, 0.0, 0.4, (n_t,)),
            "survival_sd_county": 0.3,
            "survival_sd_township": 0.4,
        },
    )
    result = contrasts(
        fit, frame, [SET, SHIFT], group_effects=group_effects, settings=EstimandSettings(seed=3)
    )
    untreated = (frame["collaboration"] == 0).to_numpy()
    assert 0 < untreated.sum() < len(frame)
    rows = result.table[result.table["group_by"] == "untreated:collaboration"]
    # Only the binary remedy has the row, only for the counties that lack the mechanism.
    assert set(rows["scenario"]) == {"collab"}
    assert set(rows["group"]) == {"untreated"}
    assert set(rows["n_rows"]) == {int(untreated.sum())}
    for quantity in ("S(12)", "S(24)"):
        estimand = f"survival:{quantity}"
        among = _draws(result, "collab", estimand, group="untreated:collaboration=untreated")
        treated = _draws(result, "collab", estimand, group="untreated:collaboration=treated")
        overall = _draws(result, "collab", estimand)
        # Treated projects do not change, so the overall effect is the ATU times their share.
        np.testing.assert_array_equal(treated, 0.0)
        np.testing.assert_allclose(overall, among * untreated.mean(), rtol=0, atol=1e-12)
        row = rows[rows["quantity"] == quantity].iloc[0]
        assert row["median"] == pytest.approx(np.median(among))
        assert abs(row["median"]) > abs(np.median(overall))
    without = contrasts(
        fit,
        frame,
        [SET],
        group_effects=group_effects,
        untreated=False,
        settings=EstimandSettings(seed=3),
    )
    assert set(without.table["group_by"]) == {"all"}
    # Once every county has the mechanism, no one is left to treat.
    everywhere = frame.assign(collaboration=1)
    assert "untreated:collaboration" not in set(
        contrasts(
            fit, everywhere, [SET], group_effects=group_effects, settings=EstimandSettings(seed=3)
        ).table["group_by"]
    )
