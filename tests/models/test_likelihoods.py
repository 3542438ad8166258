"""Each family's log-likelihood against a closed form, on a grid of parameter values.

In the manner of ``pymc.testing.check_logp``: the model's observed-variable log density is
compiled, evaluated at fixed parameter values, and compared element by element with an
independent scipy/numpy computation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from _model_helpers import make_spec
from scipy import special, stats

from grassroots.models import build_model

GRID = (-1.0, 0.0, 0.7)


# Keyed by id(model) but holding the model too: a collected model's id can be reused by the
# next one built, and a stale compiled logp would then be looked up for a different model.
_COMPILED: dict[tuple[int, str], tuple] = {}


def observed_logp(built, name: str, values: dict[str, np.ndarray]) -> np.ndarray:
    """Elementwise log density of observed variable ``name`` at constrained parameter values."""
    model = built.model
    key = (id(model), name)
    if key not in _COMPILED or _COMPILED[key][0] is not model:
        # Compile once per model: the logp, and constrained -> unconstrained maps of the values.
        logp = model.compile_logp(vars=[model[name]], sum=False, jacobian=False)
        forward = {}
        for rv in model.free_RVs:
            transform = model.rvs_to_transforms.get(rv)
            if transform is not None:
                x = pt.tensor(shape=(None,) * rv.ndim, dtype="float64")
                forward[rv.name] = pytensor.function(
                    [x], transform.forward(x, *rv.owner.inputs), on_unused_input="ignore"
                )
        _COMPILED[key] = (model, logp, forward)
    _, logp, forward = _COMPILED[key]
    point = {}
    for rv in model.free_RVs:
        value = np.asarray(values[rv.name], dtype=float)
        if rv.name in forward:
            value = forward[rv.name](value)
        point[model.rvs_to_values[rv].name] = value
    return np.asarray(logp(point)[0])


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 60
    frame = pd.DataFrame(
        {
            "x1": rng.normal(3, 2, n),
            "x2": rng.integers(0, 2, n),
            "time": rng.exponential(30, n),
            "event": rng.integers(0, 2, n),
            "rating": rng.integers(1, 5, n).astype(float),
            "y": rng.integers(0, 2, n),
            "g": rng.choice(["a", "b", "c"], n),
        }
    )
    frame.loc[0, ["time", "event"]] = [0.0, 0]  # censored at time 0
    frame.loc[[3, 8], "rating"] = np.nan
    return frame


def standardised_eta(
    frame: pd.DataFrame, b1: float, b2: float, rows: np.ndarray | None = None
) -> np.ndarray:
    """The model's centred linear predictor: x1 standardised on all rows, then every design
    column centred over the rows that enter the likelihood (the model samples its baseline at
    the average profile)."""
    rows = np.ones(len(frame), bool) if rows is None else rows
    x1 = frame["x1"].to_numpy()
    z1 = ((x1 - x1.mean()) / x1.std(ddof=1))[rows]
    x2 = frame["x2"].to_numpy(float)[rows]
    return b1 * (z1 - z1.mean()) + b2 * (x2 - x2.mean())


def survival_spec(**baseline):
    return make_spec(
        survival={
            "family": "survival",
            "time": "time",
            "event": "event",
            "predictors": ["x1", "x2"],
            "baseline": baseline,
        }
    )


def test_piecewise_single_interval_is_exponential(data):
    built = build_model(survival_spec(kind="piecewise", cuts=[1e6]), data)
    t, d = data["time"].to_numpy(), data["event"].to_numpy()
    for b1, b2, log_rate in itertools.product(GRID, GRID, (-4.0, -2.5)):
        got = observed_logp(
            built,
            "survival",
            {
                "survival_beta": [b1, b2],
                "survival_log_hazard_start_centred": log_rate,
                "survival_log_hazard_steps": [0.0],
            },
        )
        scale = 1 / np.exp(log_rate + standardised_eta(data, b1, b2))
        want = np.where(
            d == 1, stats.expon.logpdf(t, scale=scale), stats.expon.logsf(t, scale=scale)
        )
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_piecewise_matches_cumulative_hazard_formula(data):
    cuts = np.array([6.0, 12.0, 24.0, 48.0])
    built = build_model(survival_spec(kind="piecewise", cuts=cuts.tolist()), data)
    t, d = data["time"].to_numpy(), data["event"].to_numpy()
    starts = np.concatenate([[0.0], cuts])
    rng = np.random.default_rng(3)
    for b1, b2 in itertools.product(GRID, GRID):
        log_h = rng.normal(-3.5, 0.5, starts.size)
        got = observed_logp(
            built,
            "survival",
            {
                "survival_beta": [b1, b2],
                "survival_log_hazard_start_centred": log_h[0],
                "survival_log_hazard_steps": np.diff(log_h),
            },
        )
        # Independent route: cumulative hazard at each knot, then linear within the interval.
        rate = np.exp(log_h)
        knots = np.concatenate([[0.0], np.cumsum(rate[:-1] * np.diff(starts))])
        piece = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)
        cumulative = knots[piece] + rate[piece] * (t - starts[piece])
        eta = standardised_eta(data, b1, b2)
        want = d * (np.log(rate[piece]) + eta) - np.exp(eta) * cumulative
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_weibull_matches_scipy(data):
    built = build_model(survival_spec(kind="weibull"), data)
    t, d = data["time"].to_numpy(), data["event"].to_numpy()
    for b1, b2, shape, scale in itertools.product(GRID, GRID, (0.7, 1.0, 1.6), (20.0, 60.0)):
        got = observed_logp(
            built,
            "survival",
            {"survival_beta": [b1, b2], "survival_shape": shape, "survival_scale_centred": scale},
        )
        # PH Weibull = Weibull with the scale shrunk by exp(-eta / shape).
        row_scale = scale * np.exp(-standardised_eta(data, b1, b2) / shape)
        dist = stats.weibull_min(c=shape, scale=row_scale)
        want = np.where(d == 1, dist.logpdf(t), dist.logsf(t))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_ordinal_matches_logistic_cdf_and_skips_missing(data):
    spec = make_spec(
        rating={
            "family": "ordinal",
            "column": "rating",
            "predictors": ["x1", "x2"],
            "levels": [1, 2, 3, 4, 5],
        }
    )
    built = build_model(spec, data)
    observed = data["rating"].notna().to_numpy()
    assert built.model.coords["rating_obs"] == tuple(np.flatnonzero(observed))
    y = data["rating"].to_numpy()[observed].astype(int)
    for b1, b2, shift in itertools.product(GRID, GRID, (-0.5, 0.4)):
        cuts = np.array([-2.0, -0.5, 0.6, 2.2]) + shift
        got = observed_logp(
            built, "rating", {"rating_beta": [b1, b2], "rating_cutpoints_centred": cuts}
        )
        eta = standardised_eta(data, b1, b2, observed)
        padded = np.concatenate([[-np.inf], cuts, [np.inf]])
        want = np.log(stats.logistic.cdf(padded[y] - eta) - stats.logistic.cdf(padded[y - 1] - eta))
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


def test_logistic_matches_bernoulli(data):
    spec = make_spec(y={"family": "logistic", "column": "y", "predictors": ["x1", "x2"]})
    built = build_model(spec, data)
    y = data["y"].to_numpy()
    for b1, b2, a in itertools.product(GRID, GRID, (-1.5, 0.3)):
        got = observed_logp(built, "y", {"y_beta": [b1, b2], "y_intercept_centred": a})
        p = special.expit(a + standardised_eta(data, b1, b2))
        np.testing.assert_allclose(got, stats.bernoulli.logpmf(y, p), rtol=1e-10)


def test_reference_profile_parameters(data):
    """Public intercept / baseline / cut points = centred ones moved to all-zero design columns."""
    spec = make_spec(
        y={"family": "logistic", "column": "y", "predictors": ["x1", "x2"]},
        s={
            "family": "survival",
            "time": "time",
            "event": "event",
            "predictors": ["x2"],
            "baseline": {"kind": "weibull"},
        },
        rating={"family": "ordinal", "column": "rating", "predictors": ["x2"]},
    )
    model = build_model(spec, data).model
    names = ["y_intercept", "s_scale", "rating_cutpoints"]
    fn = model.compile_fn(
        model.replace_rvs_by_values([model[n] for n in names]),
        inputs=model.value_vars,
        on_unused_input="ignore",
    )
    point = model.initial_point()
    point |= {
        "y_beta": np.array([0.4, -0.8]),
        "y_intercept_centred": np.array(0.3),
        "s_beta": np.array([0.5]),
        "s_shape_log__": np.log(1.5),
        "s_scale_centred_log__": np.log(40.0),
        "rating_beta": np.array([0.7]),
    }
    intercept, scale, cuts = fn(point)
    m2 = data["x2"].mean()
    assert intercept == pytest.approx(0.3 + 0.8 * m2)  # x1 is standardised: mean 0
    assert scale == pytest.approx(40.0 * np.exp(0.5 * m2 / 1.5))
    centred = (
        model.rvs_to_transforms[model["rating_cutpoints_centred"]]
        .backward(point["rating_cutpoints_centred_ordered__"])
        .eval()
    )
    m2_rated = data.loc[data["rating"].notna(), "x2"].mean()
    np.testing.assert_allclose(cuts, centred + 0.7 * m2_rated)


@pytest.mark.parametrize("parameterization", ["non_centred", "centred"])
def test_group_effects_enter_the_linear_predictor(data, parameterization):
    spec = make_spec(
        y={"family": "logistic", "column": "y", "predictors": ["x1"]},
        groups=[{"column": "g", "parameterization": parameterization}],
    )
    built = build_model(spec, data)
    assert built.model.coords["g"] == ("a", "b", "c")
    z = np.array([0.5, -1.5, 1.0])  # zero-sum, as the model's z
    # Non-centred, the model samples z; centred, the effects sd * z themselves.
    effects = {"y_z_g": z} if parameterization == "non_centred" else {"y_effect_g": 0.8 * z}
    got = observed_logp(
        built, "y", {"y_beta": [0.3], "y_intercept_centred": -0.2, "y_sd_g": 0.8, **effects}
    )
    code = pd.Categorical(data["g"], categories=["a", "b", "c"]).codes
    x1 = data["x1"].to_numpy()
    eta = -0.2 + 0.3 * (x1 - x1.mean()) / x1.std(ddof=1) + 0.8 * z[code]
    np.testing.assert_allclose(got, stats.bernoulli.logpmf(data["y"], special.expit(eta)))


def test_structural_wires_correlated_effects(flat):
    spec = make_spec(
        survival={
            "family": "survival",
            "time": "months",
            "event": "discontinued",
            "predictors": ["authority", "extensive"],
        },
        extensive={"family": "logistic", "column": "extensive", "predictors": ["resources"]},
        groups=["county_id", "township_id"],
    )
    built = build_model(spec, flat)
    model = built.model
    assert spec.correlated == "township"
    assert model.named_vars_to_dims["township_effect"] == ("township", "outcome")
    assert model.named_vars_to_dims["survival_effect_county"] == ("county",)
    rng = np.random.default_rng(0)
    point = {
        name: value + rng.normal(0, 0.3, np.shape(value))
        for name, value in model.initial_point().items()
        if "cutpoints" not in name
    }
    names = (
        "township_effect",
        "township_sd",
        "township_corr",
        "extensive_effect_county",
        "extensive_beta",
        "extensive_intercept",
        "township_z",
    )
    outputs = model.replace_rvs_by_values([model[n] for n in names])
    det = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    effect, sds, corr, county, beta, intercept, z = det
    # effect = (chol @ z).T with chol the Cholesky factor of diag(sd) corr diag(sd).
    chol = np.linalg.cholesky(sds[:, None] * corr * sds[None, :])
    np.testing.assert_allclose(effect, (chol @ z).T, atol=1e-10)
    np.testing.assert_allclose(z.sum(axis=1), 0.0, atol=1e-10)
    logp = model.compile_logp(vars=[model["extensive"]], sum=False)(point)[0]
    town = pd.Categorical(flat["township_id"], categories=model.coords["township"]).codes
    cnty = pd.Categorical(flat["county_id"], categories=model.coords["county"]).codes
    r = flat["resources"].to_numpy()
    eta = intercept + beta[0] * (r - r.mean()) / r.std(ddof=1) + county[cnty] + effect[town, 1]
    np.testing.assert_allclose(logp, stats.bernoulli.logpmf(flat["extensive"], special.expit(eta)))


def _integrated_loglik(log_h0, eta, late_eta, onset, t, d, breaks=()):
    """Independent reference: integrate the hazard numerically, row by row."""
    from scipy import integrate

    def hazard(u, e, z):
        return np.exp(log_h0(u) + e + z * (u > onset))

    out = []
    for ti, di, e, z in zip(t, d, eta, late_eta, strict=True):
        points = [p for p in (onset, *breaks) if 0 < p < ti] or None
        cumulative = integrate.quad(hazard, 0, ti, args=(e, z), points=points, limit=200)[0]
        out.append(di * np.log(hazard(ti, e, z)) - cumulative if ti > 0 else 0.0)
    return np.array(out)


@pytest.mark.parametrize("kind", ["piecewise", "weibull"])
def test_late_effects_match_integrated_hazard(data, kind):
    cuts = [6.0, 12.0, 24.0]
    baseline = {"kind": kind, "cuts": cuts} if kind == "piecewise" else {"kind": kind}
    spec = make_spec(
        survival={
            "family": "survival",
            "time": "time",
            "event": "event",
            "predictors": ["x1"],
            "time_varying": {"x2": 12},
            "baseline": baseline,
        }
    )
    built = build_model(spec, data)
    assert built.model.coords["survival_late_term"] == ("x2",)
    t, d = data["time"].to_numpy(), data["event"].to_numpy()
    x2 = data["x2"].to_numpy(float)
    for b1, gamma in itertools.product((-0.5, 0.8), (-1.0, 0.9)):
        eta = standardised_eta(data, b1, 0.0)
        values = {"survival_beta": [b1], "survival_beta_late": [gamma]}
        if kind == "piecewise":
            log_h = np.log([0.02, 0.03, 0.015, 0.01])
            values |= {
                "survival_log_hazard_start_centred": log_h[0],
                "survival_log_hazard_steps": np.diff(log_h),
            }

            def log_h0(u, log_h=log_h):
                return log_h[np.searchsorted(cuts, u, side="left")]
        else:
            shape, scale = 1.3, 45.0
            values |= {"survival_shape": shape, "survival_scale_centred": scale}

            def log_h0(u, shape=shape, scale=scale):
                return np.log(shape / scale) + (shape - 1) * np.log(u / scale)

        got = observed_logp(built, "survival", values)
        want = _integrated_loglik(log_h0, eta, gamma * x2, 12.0, t, d, breaks=cuts)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
