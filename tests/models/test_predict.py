"""Derived quantities (S(t), P(Y >= k), E[Y], P(Y = 1)) and predictions from posterior draws."""

from __future__ import annotations

import numpy as np
import pytest
from _model_helpers import make_spec, prior_posterior
from lifelines import PiecewiseExponentialFitter, WeibullFitter
from scipy import special, stats

from grassroots.models import predict_draws
from grassroots.models.ordinal import category_probabilities, expected_value, prob_at_least
from grassroots.models.survival import (
    piecewise_cumulative_hazard,
    survival_from_total,
    survival_function,
    total_hazard,
    weibull_cumulative_hazard,
)

TIMES = np.array([0.0, 3.0, 6.0, 12.5, 40.0, 200.0])


def test_piecewise_cumulative_hazard_matches_lifelines():
    cuts = [6.0, 12.0, 24.0]
    log_h = np.log([[0.01, 0.02, 0.03, 0.015], [0.05, 0.01, 0.02, 0.04]])
    ours = piecewise_cumulative_hazard(log_h, cuts, TIMES)
    for draw in range(2):
        fitter = PiecewiseExponentialFitter(breakpoints=cuts)
        # lifelines parameterises each interval by its mean time, 1 / rate.
        theirs = fitter._cumulative_hazard(1 / np.exp(log_h[draw]), TIMES)
        np.testing.assert_allclose(ours[draw], theirs, rtol=1e-12)


def test_weibull_cumulative_hazard_matches_lifelines():
    shape, scale = np.array([0.8, 1.5]), np.array([30.0, 70.0])
    ours = weibull_cumulative_hazard(shape, scale, TIMES[1:])
    for draw in range(2):
        theirs = WeibullFitter()._cumulative_hazard([scale[draw], shape[draw]], TIMES[1:])
        np.testing.assert_allclose(ours[draw], theirs, rtol=1e-12)


def test_survival_function_is_ph():
    cumulative = np.array([[0.1, 0.5, 1.0]])
    eta = np.array([[0.0, np.log(2.0)]])
    s = survival_function(cumulative, eta)
    assert s.shape == (1, 2, 3)
    np.testing.assert_allclose(s[0, 1], s[0, 0] ** 2)  # hazard ratio 2 squares S(t)


@pytest.mark.parametrize("late_effects", [False, True])
def test_survival_function_equals_the_estimands_path_bit_for_bit(late_effects):
    """``survival_function`` computes in a rows-last layout; its values must still be the
    estimands' (``total_hazard`` then ``survival_from_total``) operation for operation."""
    rng = np.random.default_rng(3)
    draws, rows, times = 7, 50, 61
    cumulative = np.cumsum(rng.exponential(0.05, size=(draws, times)), axis=1)
    eta = rng.normal(size=(draws, rows))
    early = np.minimum(cumulative, cumulative[:, [20]]) if late_effects else None
    late_eta = rng.normal(size=(draws, rows)) if late_effects else None
    ours = survival_function(cumulative, eta, early=early, late_eta=late_eta)
    theirs = survival_from_total(eta, total_hazard(cumulative, early, late_eta))
    assert ours.shape == (draws, rows, times)
    np.testing.assert_array_equal(ours, theirs)
    if late_effects:  # the late effect acts after the onset only
        assert not np.array_equal(ours[..., 25:], survival_function(cumulative, eta)[..., 25:])
        np.testing.assert_array_equal(ours[..., :21], survival_function(cumulative, eta)[..., :21])


def test_ordinal_quantities_match_scipy():
    cuts = np.array([[-1.5, -0.2, 0.9, 2.0]])
    eta = np.array([[-1.0, 0.0, 3.0]])
    probs = category_probabilities(cuts, eta)
    np.testing.assert_allclose(probs.sum(-1), 1.0)
    padded = np.concatenate([[-np.inf], cuts[0], [np.inf]])
    for i, e in enumerate(eta[0]):
        want = np.diff(stats.logistic.cdf(padded - e))
        np.testing.assert_allclose(probs[0, i], want, rtol=1e-12)
        np.testing.assert_allclose(prob_at_least(probs)[0, i, 3], stats.logistic.sf(cuts[0, 2] - e))
    assert np.allclose(prob_at_least(probs)[..., 0], 1.0)
    levels = np.arange(1, 6)
    np.testing.assert_allclose(expected_value(probs, levels), (probs * levels).sum(-1))


@pytest.fixture(scope="module")
def joint(flat):
    spec = make_spec(
        survival={
            "family": "survival",
            "time": "months",
            "event": "discontinued",
            "predictors": ["authority", "region", "extensive"],
        },
        demand_fit={
            "family": "ordinal",
            "column": "demand_fit",
            "predictors": ["tech_capacity", "outsourced"],
            "interactions": ["tech_capacity:outsourced"],
        },
        extensive={"family": "logistic", "column": "extensive", "predictors": ["resources"]},
        groups=["county_id", "township_id"],
        categorical={"region": "east"},
    )
    built, posterior = prior_posterior(spec, flat)
    return spec, built, posterior


def _predict(joint, frame, **kwargs):
    spec, built, posterior = joint
    return predict_draws(
        spec,
        built.inputs.scaling,
        posterior,
        frame,
        composite=built.inputs.groups.composite,
        model_coords=built.inputs.coords(),
        **kwargs,
    )


def test_predictions_from_draws(joint, flat):
    spec, built, posterior = joint
    out = _predict(joint, flat, times=[12, 24, 36], seed=0)
    assert out["survival_S"].dims == ("chain", "draw", "row", "survival_time")
    assert out["survival_S"].shape == (2, 25, len(flat), 3)
    assert (out["survival_S"].diff("survival_time") <= 0).all()
    assert out["demand_fit_prob"].dims[-1] == "demand_fit_level"
    np.testing.assert_allclose(out["demand_fit_prob"].sum("demand_fit_level"), 1.0)
    assert (
        float(out["demand_fit_expected"].min()) >= 1
        and float(out["demand_fit_expected"].max()) <= 5
    )
    # Logistic probability by hand for the fitted groups, draw (0, 3), row 10.
    p = posterior.isel(chain=0, draw=3)
    row = flat.iloc[10]
    r = flat["resources"]
    eta = (
        float(p["extensive_intercept"])
        + float(p["extensive_beta"][0]) * (row["resources"] - r.mean()) / r.std(ddof=1)
        + float(p["extensive_effect_county"].sel(county=row["county_id"]))
        + float(p["township_effect"].sel(township=row["township_id"], outcome="extensive"))
    )
    assert float(out["extensive_prob"][0, 3, 10]) == pytest.approx(special.expit(eta))


def test_row_averages_in_chunks(joint, flat):
    full = _predict(joint, flat, times=[12, 36], group_effects="none")
    averaged = _predict(
        joint, flat, times=[12, 36], group_effects="none", average_rows=True, max_cells=1000
    )
    assert "row" not in averaged.dims and averaged.sizes["draw"] == 25
    for name in ("survival_S", "demand_fit_prob", "extensive_prob"):
        np.testing.assert_allclose(averaged[name], full[name].mean("row"))


def test_group_effect_modes(joint, flat):
    fitted = _predict(joint, flat, outcomes=["extensive"], seed=0)
    none = _predict(joint, flat, outcomes=["extensive"], group_effects="none")
    new_a = _predict(joint, flat, outcomes=["extensive"], group_effects="new", seed=1)
    new_b = _predict(joint, flat, outcomes=["extensive"], group_effects="new", seed=1)
    assert list(fitted.data_vars) == ["extensive_prob"]
    assert not np.allclose(fitted["extensive_prob"], none["extensive_prob"])
    np.testing.assert_array_equal(new_a["extensive_prob"], new_b["extensive_prob"])  # seeded
    # Rows of one new township share its drawn effect: same predictors -> same probability.
    twin = flat.iloc[[0, 0]]
    same = _predict(joint, twin, group_effects="new", seed=2)
    np.testing.assert_array_equal(same["extensive_prob"][..., 0], same["extensive_prob"][..., 1])
    with pytest.raises(ValueError, match="group_effects must be"):
        _predict(joint, flat, group_effects="sometimes")


def test_new_group_effects_do_not_depend_on_chunks_or_thinning(joint, flat):
    whole = _predict(
        joint, flat, outcomes=["extensive"], group_effects="new", seed=5, average_rows=True
    )
    chunked = _predict(
        joint, flat, outcomes=["extensive"], group_effects="new", seed=5, average_rows=True,
        max_cells=1000,
    )  # fmt: skip
    np.testing.assert_array_equal(whole["extensive_prob"], chunked["extensive_prob"])
    every = _predict(joint, flat, outcomes=["extensive"], group_effects="new", seed=5)
    spec, built, posterior = joint
    thinned = _predict(
        (spec, built, posterior.isel(draw=slice(None, None, 3))), flat, outcomes=["extensive"],
        group_effects="new", seed=5,
    )  # fmt: skip
    np.testing.assert_array_equal(
        thinned["extensive_prob"], every["extensive_prob"].isel(draw=slice(None, None, 3))
    )
    other_seed = _predict(joint, flat, outcomes=["extensive"], group_effects="new", seed=6)
    assert not np.allclose(other_seed["extensive_prob"], every["extensive_prob"])


def test_unseen_groups_warn_and_get_new_effects(joint, flat):
    new = flat.iloc[:3].assign(township_id="T999", county_id="C99")
    with pytest.warns(
        UserWarning, match="1 county group\\(s\\) of the new data were not in the fit"
    ):
        out = _predict(joint, new, seed=0)
    assert np.isfinite(out["survival_S"]).all()


def test_prediction_needs_predictors(joint, flat):
    with pytest.raises(Exception, match="lack column\\(s\\) \\['authority'\\]"):
        _predict(joint, flat.drop(columns="authority"))


def test_survival_prediction_with_late_effects(flat):
    spec = make_spec(
        survival={
            "family": "survival",
            "time": "months",
            "event": "discontinued",
            "predictors": ["authority"],
            "time_varying": {"short_sighted": 12},
            "baseline": {"kind": "weibull"},
        }
    )
    built, posterior = prior_posterior(spec, flat, draws=5)
    out = predict_draws(
        spec, built.inputs.scaling, posterior, flat, times=[6, 12, 30], group_effects="none"
    )["survival_S"]
    p = posterior.isel(chain=1, draw=2)
    shape, scale = float(p["survival_shape"]), float(p["survival_scale"])
    a = flat["authority"]
    for row in (0, 1, 2):
        eta = float(p["survival_beta"][0]) * (a.iloc[row] - a.mean()) / a.std(ddof=1)
        late = float(p["survival_beta_late"][0]) * flat["short_sighted"].iloc[row]
        for k, t in enumerate([6.0, 12.0, 30.0]):
            early = (min(t, 12.0) / scale) ** shape
            total = (t / scale) ** shape
            want = np.exp(-np.exp(eta) * (early + np.exp(late) * (total - early)))
            assert float(out[1, 2, row, k]) == pytest.approx(want)
