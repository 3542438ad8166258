"""Mediation through a structural fit with known parameters: identities and a brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _fakes import expit, fake_fit, make_spec

from grassroots.estimands import (
    EstimandError,
    Scenario,
    SetValue,
    Shift,
    contrasts,
    mediation,
)

CUTS = [6.0, 12.0, 24.0]
CHAINS, DRAWS = 2, 3
SURVIVAL = ["resources", "tech_capacity", "extensive", "expedient", "short_sighted"]
DEMAND = ["resources", "tech_capacity", "extensive", "expedient"]
EXTENSIVE = ["resources", "flexibility"]
EXPEDIENT = ["resources", "authority"]
SHORT = ["resources", "extensive", "expedient"]
OUTCOMES = ("survival", "demand_fit", "extensive", "expedient", "short_sighted")


def _spec():
    return make_spec(
        {
            "survival": {
                "family": "survival",
                "time": "months",
                "event": "discontinued",
                "predictors": SURVIVAL,
                "time_varying": {"short_sighted": 12},
                "baseline": {"kind": "piecewise", "cuts": CUTS},
            },
            "demand_fit": {
                "family": "ordinal",
                "column": "demand_fit",
                "levels": [1, 2, 3, 4, 5],
                "predictors": DEMAND,
            },
            "extensive": {"family": "logistic", "column": "extensive", "predictors": EXTENSIVE},
            "expedient": {"family": "logistic", "column": "expedient", "predictors": EXPEDIENT},
            "short_sighted": {
                "family": "logistic",
                "column": "short_sighted",
                "predictors": SHORT,
            },
        },
        correlated="township",
        name="structural",
    )


def _values(frame, seed=0, *, mediator_coefs=True):
    rng = np.random.default_rng(seed)
    n_c, n_t = frame["county_id"].nunique(), frame["township_id"].nunique()

    def draw(base, scale, shape=()):
        return base + scale * rng.standard_normal((CHAINS, DRAWS, *shape))

    survival_beta = draw(np.array([-0.3, -0.2, 0.45, 0.35, 0.1]), 0.05, (5,))
    demand_beta = draw(np.array([0.1, 0.4, -0.5, -0.4]), 0.05, (4,))
    late = draw(0.6, 0.05, (1,))
    if not mediator_coefs:
        survival_beta[..., 2:] = 0.0
        demand_beta[..., 2:] = 0.0
        late[...] = 0.0
    values = {
        "survival_log_hazard": draw(-3.5, 0.1, (4,)),
        "survival_beta": survival_beta,
        "survival_beta_late": late,
        "demand_fit_cutpoints": np.sort(draw(0.0, 1.5, (4,)), axis=-1),
        "demand_fit_beta": demand_beta,
        "extensive_intercept": draw(-0.5, 0.1),
        "extensive_beta": draw(np.array([-0.5, 0.45]), 0.05, (2,)),
        "expedient_intercept": draw(-0.8, 0.1),
        "expedient_beta": draw(np.array([0.2, -0.5]), 0.05, (2,)),
        "short_sighted_intercept": draw(-0.6, 0.1),
        "short_sighted_beta": draw(np.array([-0.4, 0.4, 0.9]), 0.05, (3,)),
        "township_effect": draw(0.0, 0.4, (n_t, 5)),
        "township_sd": np.full(5, 0.4),
        "township_corr": np.eye(5),
    }
    for o in OUTCOMES:
        values[f"{o}_effect_county"] = draw(0.0, 0.3, (n_c,))
        values[f"{o}_sd_county"] = 0.3
    return values


@pytest.fixture(scope="module")
def structural(frame):
    values = _values(frame)
    return fake_fit(_spec(), frame, values, chains=CHAINS, draws=DRAWS), values


UP = Scenario("up", (Shift("resources", 1.0),))
TECH = Scenario("tech", (Shift("tech_capacity", 1.0),))
FLEX = Scenario("flex", (Shift("flexibility", 1.0),))
COLLAB = Scenario("authority_down", (Shift("authority", -1.0),))


def _component(result, scenario, estimand, component):
    return result.draws.sel(scenario=scenario, estimand=estimand, component=component).to_numpy()


def test_total_is_direct_plus_indirect(structural, frame):
    fit, _ = structural
    result = mediation(fit, frame, [UP, COLLAB])
    total_contrasts = contrasts(fit, frame, [UP, COLLAB])
    for scenario in ("up", "authority_down"):
        for estimand in result.draws.coords["estimand"].values:
            total = _component(result, scenario, estimand, "total")
            direct = _component(result, scenario, estimand, "direct")
            indirect = _component(result, scenario, estimand, "indirect")
            np.testing.assert_allclose(total, direct + indirect, rtol=0, atol=1e-12)
            outcome = estimand.split(":")[0]
            parts = [
                _component(result, scenario, estimand, f"via {m}")
                for m in ("extensive", "expedient", "short_sighted")
                if not (outcome != "survival" and m == "short_sighted")
            ]
            np.testing.assert_allclose(sum(parts), indirect, rtol=0, atol=1e-12)
            # The total effect is the contrast of contrasts() with responding mediators.
            same = total_contrasts.draws["structural"].sel(
                scenario=scenario, estimand=estimand, group="all"
            )
            np.testing.assert_allclose(total, same, rtol=0, atol=1e-12)
    # Only upstream mediators appear: demand fit has no short-sighted part.
    table = result.table
    assert set(table.query("outcome == 'demand_fit'")["via"]) == {
        "",
        "all",
        "extensive",
        "expedient",
    }
    assert set(table.query("outcome == 'survival'")["via"]) == {
        "",
        "all",
        "extensive",
        "expedient",
        "short_sighted",
    }
    assert set(table["outcome"]) == {"survival", "demand_fit", "short_sighted"}
    assert set(table["order"]) == {"extensive > expedient > short_sighted"}
    assert "direct" in str(result)


def _brute_force_levels(values, frame, cf, c, d, t=24.0):
    """E[S(t)], P(fit >= 4) and P(short_sighted) averaged over rows, by explicit loops."""
    reference = frame

    def std(table, column):
        x = reference[column].to_numpy(float)
        return (table[column].to_numpy(float) - x.mean()) / x.std(ddof=1)

    county = np.unique(frame["county_id"], return_inverse=True)[1]
    township = np.unique(frame["township_id"], return_inverse=True)[1]
    v = {k: a[c, d] for k, a in values.items() if np.shape(a)[:2] == (CHAINS, DRAWS)}
    starts = np.array([0.0, *CUTS])
    widths = np.diff(np.append(starts, np.inf))

    def h0(time):
        return float((np.exp(v["survival_log_hazard"]) * np.clip(time - starts, 0, widths)).sum())

    h_t, h_early = h0(t), h0(min(t, 12.0))
    res, tech = std(cf, "resources"), std(cf, "tech_capacity")
    flex, auth = std(cf, "flexibility"), std(cf, "authority")
    survival = demand = short = 0.0
    for i in range(len(frame)):

        def u(o, i=i):
            k = OUTCOMES.index(o)
            return v[f"{o}_effect_county"][county[i]] + v["township_effect"][township[i], k]

        p_e = expit(
            v["extensive_intercept"] + v["extensive_beta"] @ [res[i], flex[i]] + u("extensive")
        )
        p_x = expit(
            v["expedient_intercept"] + v["expedient_beta"] @ [res[i], auth[i]] + u("expedient")
        )
        for e, x, q in itertools.product((0, 1), repeat=3):
            p_q = expit(
                v["short_sighted_intercept"]
                + v["short_sighted_beta"] @ [res[i], e, x]
                + u("short_sighted")
            )
            w = (p_e if e else 1 - p_e) * (p_x if x else 1 - p_x) * (p_q if q else 1 - p_q)
            eta = v["survival_beta"] @ [res[i], tech[i], e, x, q] + u("survival")
            late = h_early + np.exp(v["survival_beta_late"][0] * q) * (h_t - h_early)
            survival += w * np.exp(-np.exp(eta) * late)
            eta_d = v["demand_fit_beta"] @ [res[i], tech[i], e, x] + u("demand_fit")
            demand += w * (1 - expit(v["demand_fit_cutpoints"][2] - eta_d))
            short += w * q
    n = len(frame)
    return survival / n, demand / n, short / n


def test_exact_averaging_equals_explicit_loops(structural, frame):
    fit, values = structural
    result = contrasts(fit, frame, [UP])
    levels = result.levels["structural"].sel(group="all")
    for c, d in [(0, 0), (1, 2)]:
        for table, cf in (("status_quo", frame), ("up", UP.apply(frame))):
            expected = _brute_force_levels(values, frame, cf, c, d)
            got = [
                float(levels.sel(table=table, estimand=e, chain=c, draw=d))
                for e in ("survival:S(24)", "demand_fit:P(>=4)", "short_sighted:P")
            ]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_indirect_is_zero_without_mediator_coefficients(frame):
    fit = fake_fit(_spec(), frame, _values(frame, 1, mediator_coefs=False), draws=DRAWS)
    result = mediation(fit, frame, [UP], outcomes=["survival", "demand_fit"])
    indirect = result.draws.sel(component="indirect").to_numpy()
    np.testing.assert_allclose(indirect, 0.0, atol=1e-12)
    np.testing.assert_allclose(
        result.draws.sel(component="direct"), result.draws.sel(component="total"), atol=1e-12
    )
    # ... but the strategies do respond to resources.
    assert (
        np.abs(contrasts(fit, frame, [UP], outcomes=["extensive"]).draws["structural"]) > 0
    ).all()


def test_indirect_is_zero_when_the_mediators_do_not_respond(structural, frame):
    fit, _ = structural
    # tech_capacity enters survival and demand fit only.
    result = mediation(fit, frame, [TECH])
    np.testing.assert_array_equal(result.draws.sel(component="indirect").fillna(0), 0.0)
    for via in ("extensive", "expedient"):
        np.testing.assert_array_equal(result.draws.sel(component=f"via {via}"), 0.0)
    assert (result.table.query("effect == 'total'")["median"].abs() > 0).any()


def test_direct_is_zero_without_a_direct_path(structural, frame):
    fit, _ = structural
    # flexibility enters extensive only.
    result = mediation(fit, frame, [FLEX])
    np.testing.assert_array_equal(result.draws.sel(component="direct"), 0.0)
    np.testing.assert_allclose(
        result.draws.sel(component="indirect"), result.draws.sel(component="total"), atol=1e-15
    )
    np.testing.assert_array_equal(result.draws.sel(component="via expedient"), 0.0)
    survival = result.draws.sel(estimand="survival:S(24)")
    np.testing.assert_array_equal(survival.sel(component="via short_sighted"), 0.0)
    np.testing.assert_allclose(
        survival.sel(component="via extensive"), survival.sel(component="total"), atol=1e-15
    )
    assert (survival.sel(component="total") > 0).all() or (
        survival.sel(component="total") < 0
    ).all()


def test_order_changes_the_split_not_the_sum(structural, frame):
    fit, _ = structural
    forward = mediation(fit, frame, [UP], outcomes=["survival"])
    backward = mediation(
        fit, frame, [UP], outcomes=["survival"], order=["short_sighted", "expedient", "extensive"]
    )
    for component in ("total", "direct", "indirect"):
        np.testing.assert_allclose(
            forward.draws.sel(component=component),
            backward.draws.sel(component=component),
            atol=1e-12,
        )
    assert set(backward.table["order"]) == {"short_sighted > expedient > extensive"}


def test_contrasts_report_the_responding_mediators(structural, frame):
    fit, _ = structural
    table = contrasts(fit, frame, [UP]).table.set_index("outcome")["mediators"]
    assert table["survival"].iloc[0] == "extensive, expedient, short_sighted"
    assert table["demand_fit"].iloc[0] == "extensive, expedient"
    assert table["extensive"] == ""
    observed = contrasts(fit, frame, [UP], mediators="observed").table
    assert set(observed["mediators"]) == {""}


def test_mediation_errors(structural, frame):
    fit, _ = structural
    single = fake_fit(
        make_spec(
            {
                "extensive": {
                    "family": "logistic",
                    "column": "extensive",
                    "predictors": ["resources"],
                }
            },
            groups=(),
        ),
        frame,
        {"extensive_intercept": 0.0, "extensive_beta": [1.0]},
    )
    with pytest.raises(EstimandError, match="predicts no mediator"):
        mediation(single, frame, [UP])
    with pytest.raises(EstimandError, match="must list each mediator"):
        mediation(fit, frame, [UP], order=["extensive"])
    with pytest.raises(EstimandError, match="have no mediator upstream"):
        mediation(fit, frame, [UP], outcomes=["extensive"])
    set_mediator = Scenario("no_extensive", (SetValue("extensive", 0),))
    with pytest.raises(EstimandError, match="changes the mediator"):
        mediation(fit, frame, [set_mediator])
    with pytest.raises(EstimandError, match="predicts as mediators; use mediators='observed'"):
        contrasts(fit, frame, [set_mediator])
    # Held at set values, a mediator can be intervened on.
    controlled = contrasts(fit, frame, [set_mediator], mediators="observed", outcomes=["survival"])
    assert (controlled.table["median"] > 0).all()  # no extensive innovation: longer survival


def test_closed_forms_match_the_families_predictions(structural, frame):
    """With mediators held at their observed values, each row is a plain Fit.predict row."""
    fit, _ = structural
    levels = contrasts(fit, frame, [UP], mediators="observed").levels["structural"]
    status_quo = levels.sel(table="status_quo", group="all")
    predicted = fit.predict(frame, average=True)
    pairs = {
        "demand_fit:P(>=4)": predicted["demand_fit_prob_at_least"].sel(demand_fit_level=4),
        "demand_fit:E": predicted["demand_fit_expected"],
        "extensive:P": predicted["extensive_prob"],
        "short_sighted:P": predicted["short_sighted_prob"],
        "survival:S(36)": predicted["survival_S"].sel(survival_time=36.0),
    }
    for estimand, expected in pairs.items():
        np.testing.assert_allclose(status_quo.sel(estimand=estimand), expected, atol=1e-12)


def test_mediators_in_interactions_equal_explicit_sums(frame):
    """A mediator that enters an interaction moves each row's linear predictor differently
    (no per-draw shift): the engine then encodes every mediator value's design."""
    spec = make_spec(
        {
            "survival": {
                "family": "survival",
                "time": "months",
                "event": "discontinued",
                "predictors": ["resources", "extensive"],
                "interactions": ["resources:extensive"],
                "time_varying": {"extensive": 12},
                "baseline": {"kind": "piecewise", "cuts": CUTS},
            },
            "demand_fit": {
                "family": "ordinal",
                "column": "demand_fit",
                "levels": [1, 2, 3, 4, 5],
                "predictors": ["resources", "extensive"],
                "interactions": ["resources:extensive"],
            },
            "extensive": {"family": "logistic", "column": "extensive", "predictors": ["resources"]},
        },
        groups=(),
    )
    rng = np.random.default_rng(7)

    def draw(base, scale, shape=()):
        return base + scale * rng.standard_normal((CHAINS, DRAWS, *shape))

    values = {
        "survival_log_hazard": draw(-3.5, 0.1, (4,)),
        "survival_beta": draw(np.array([-0.3, 0.4, -0.5]), 0.05, (3,)),
        "survival_beta_late": draw(0.6, 0.05, (1,)),
        "demand_fit_cutpoints": np.sort(draw(0.0, 1.5, (4,)), axis=-1),
        "demand_fit_beta": draw(np.array([0.3, -0.4, 0.6]), 0.05, (3,)),
        "extensive_intercept": draw(-0.5, 0.1),
        "extensive_beta": draw(np.array([0.8]), 0.05, (1,)),
    }
    fit = fake_fit(spec, frame, values, chains=CHAINS, draws=DRAWS)
    levels = contrasts(fit, frame, [UP]).levels["fake"].sel(group="all")
    reference = frame["resources"].to_numpy(float)
    starts = np.array([0.0, *CUTS])
    widths = np.diff(np.append(starts, np.inf))

    def h0(time):
        exposure = np.clip(time - starts, 0, widths)
        return (np.exp(values["survival_log_hazard"]) * exposure).sum(-1)[..., None]

    for table, cf in (("status_quo", frame), ("up", UP.apply(frame))):
        x = (cf["resources"].to_numpy(float) - reference.mean()) / reference.std(ddof=1)
        p_e = expit(values["extensive_intercept"][..., None] + values["extensive_beta"] * x)
        survival = at_least = expected = 0.0
        for e in (0, 1):
            weight = p_e if e else 1.0 - p_e
            b = values["survival_beta"]
            eta = b[..., :1] * x + b[..., 1:2] * e + b[..., 2:] * x * e
            late = h0(12.0) + np.exp(values["survival_beta_late"] * e) * (h0(24.0) - h0(12.0))
            survival = survival + weight * np.exp(-np.exp(eta) * late)
            d = values["demand_fit_beta"]
            eta_d = d[..., :1] * x + d[..., 1:2] * e + d[..., 2:] * x * e
            above = expit(eta_d[..., None] - values["demand_fit_cutpoints"][..., None, :])
            at_least = at_least + weight * above[..., 2]
            expected = expected + weight * (1.0 + above.sum(-1))
        for estimand, want in (
            ("survival:S(24)", survival),
            ("demand_fit:P(>=4)", at_least),
            ("demand_fit:E", expected),
        ):
            got = levels.sel(table=table, estimand=estimand).to_numpy()
            np.testing.assert_allclose(got, want.mean(-1), rtol=0, atol=1e-12)
