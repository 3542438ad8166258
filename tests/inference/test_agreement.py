"""Agreement with maximum likelihood (slow: real sampling).

With group effects switched off and weak priors, posterior means lie within 0.2 standard errors
of the maximum-likelihood estimates of statsmodels or lifelines on the same data (rstanarm holds
its survival models to 0.5 Cox SEs; this is stricter).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import WeibullAFTFitter
from statsmodels.miscmodels.ordinal_model import OrderedModel

from grassroots.inference import ConvergenceWarning, fit
from grassroots.models import design_matrix, spec_from_dict
from grassroots.models.survival import piecewise_exposure

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from _simulate import simulate_flat

pytestmark = pytest.mark.slow
TOLERANCE = 0.2  # in MLE standard errors
WEAK = {"dist": "Normal", "mu": 0, "sigma": 10}
SAMPLER = {"chains": 4, "draws": 1000, "tune": 1000}
CUTS = [6, 12, 24, 48]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data, _ = simulate_flat(
        seed=2024,
        n_counties=10,
        townships_per_county=10,
        projects_per_township=20,
        group_effects=False,
    )
    return data


def _fit(frame, outcome: dict, priors: dict, family: str):
    spec = spec_from_dict(
        {
            "name": f"agreement_{family}",
            "family": "structural",
            "spec_family": family,
            "groups": [],
            "categorical": {"region": "east"},
            "priors": priors,
            "sampler": SAMPLER,
            "outcomes": {"y": outcome},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fitted = fit(frame, spec, seed=99, save=False, reuse=False, progress=False)
    terms, matrix = design_matrix(frame, spec.outcomes[0], fitted.scaling)
    return fitted, pd.DataFrame(matrix, columns=list(terms))


def _assert_close(posterior_mean: pd.Series, mle: pd.Series, se: pd.Series):
    gap = ((posterior_mean - mle[posterior_mean.index]) / se[posterior_mean.index]).abs()
    assert (gap < TOLERANCE).all(), f"posterior mean vs MLE, in SEs:\n{gap}"


def _beta_means(fitted, terms) -> pd.Series:
    draws = fitted.posterior["y_beta"].mean(("chain", "draw"))
    return pd.Series(draws.to_numpy(), index=list(terms))


def test_piecewise_survival_agrees_with_poisson_glm(frame):
    outcome = {
        "family": "survival",
        "time": "months",
        "event": "discontinued",
        "predictors": ["authority", "resources", "extensive", "region"],
        "baseline": {"kind": "piecewise", "cuts": CUTS},
    }
    priors = {
        "beta": WEAK,
        "log_hazard": {"dist": "Normal", "mu": -4, "sigma": 10},
        "log_hazard_step": WEAK,
    }
    fitted, X = _fit(frame, outcome, priors, "survival")
    # The piecewise-exponential likelihood is a Poisson likelihood on (row, interval) pieces.
    exposure, interval = piecewise_exposure(frame["months"].to_numpy(), CUTS)
    rows, pieces = np.nonzero(exposure > 0)
    events = (frame["discontinued"].to_numpy()[rows] == 1) & (interval[rows] == pieces)
    dummies = pd.get_dummies(pieces).astype(float).add_prefix("interval_")
    design = pd.concat(
        [dummies.reset_index(drop=True), X.iloc[rows].reset_index(drop=True)], axis=1
    )
    glm = sm.GLM(
        events.astype(float),
        design,
        family=sm.families.Poisson(),
        offset=np.log(exposure[rows, pieces]),
    ).fit()
    _assert_close(_beta_means(fitted, X.columns), glm.params, glm.bse)
    log_hazard = fitted.posterior["y_log_hazard"].mean(("chain", "draw")).to_numpy()
    baseline = pd.Series(log_hazard, index=dummies.columns)
    _assert_close(baseline, glm.params, glm.bse)


def test_weibull_survival_agrees_with_lifelines(frame):
    outcome = {
        "family": "survival",
        "time": "months",
        "event": "discontinued",
        "predictors": ["authority", "resources", "extensive", "region"],
        "baseline": {"kind": "weibull"},
    }
    priors = {
        "beta": WEAK,
        "weibull_shape": {"dist": "LogNormal", "mu": 0, "sigma": 3},
        "weibull_scale": {"dist": "LogNormal", "mu": 4, "sigma": 5},
    }
    fitted, X = _fit(frame, outcome, priors, "survival")
    data = X.assign(T=frame["months"].clip(lower=1e-3), E=frame["discontinued"])
    aft = WeibullAFTFitter().fit(data, duration_col="T", event_col="E")
    post = fitted.posterior
    shape = post["y_shape"]
    # PH coefficient beta = -shape * AFT coefficient; compare on lifelines' scale, draw by draw.
    aft_terms = (-post["y_beta"] / shape).mean(("chain", "draw")).to_numpy()
    ours = pd.Series(aft_terms, index=X.columns)
    ours["Intercept"] = float(np.log(post["y_scale"]).mean())
    mle = aft.params_["lambda_"]
    se = aft.standard_errors_["lambda_"]
    _assert_close(ours, mle, se)
    log_shape = pd.Series({"Intercept": float(np.log(shape).mean())})
    _assert_close(log_shape, aft.params_["rho_"], aft.standard_errors_["rho_"])


def test_ordinal_agrees_with_statsmodels(frame):
    outcome = {
        "family": "ordinal",
        "column": "demand_fit",
        "levels": [1, 2, 3, 4, 5],
        "predictors": ["tech_capacity", "proximity", "extensive", "region"],
    }
    priors = {"beta": WEAK, "cutpoints": WEAK}
    rated = frame[frame["demand_fit"].notna()].reset_index(drop=True)
    fitted, X = _fit(rated, outcome, priors, "ordinal")
    result = OrderedModel(rated["demand_fit"].astype(int), X, distr="logit").fit(
        method="bfgs", disp=False, maxiter=2000
    )
    _assert_close(_beta_means(fitted, X.columns), result.params, result.bse)
    first_cut = float(fitted.posterior["y_cutpoints"].isel(y_cut=0).mean())
    _assert_close(pd.Series({"1/2": first_cut}), result.params, result.bse)


def test_logistic_agrees_with_statsmodels(frame):
    outcome = {
        "family": "logistic",
        "column": "extensive",
        "predictors": ["resources", "flexibility", "outsourced", "region"],
    }
    priors = {"beta": WEAK, "intercept": WEAK}
    fitted, X = _fit(frame, outcome, priors, "logistic")
    result = sm.Logit(frame["extensive"], sm.add_constant(X)).fit(disp=False)
    ours = _beta_means(fitted, X.columns)
    ours["const"] = float(fitted.posterior["y_intercept"].mean())
    _assert_close(ours, result.params, result.bse)
