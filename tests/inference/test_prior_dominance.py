"""The prior-dominance check: posterior SD / prior SD per coefficient (issue 13)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from grassroots.inference import fit
from grassroots.inference.prior_dominance import (
    PRIOR_DOMINANCE_THRESHOLD,
    PriorDominanceWarning,
    prior_dominance,
)
from grassroots.models import spec_from_dict
from grassroots.reporting.convergence import summary_notes


def _spec(draws: int = 400):
    return spec_from_dict(
        {
            "name": "readmission",
            "family": "logistic",
            "groups": ["hospital"],
            "predictors": ["age", "treated", "sex"],
            "interactions": ["age:treated"],
            "outcome": {"column": "readmitted"},
            "sampler": {"chains": 2, "draws": draws, "tune": 10},
        }
    )


@pytest.fixture
def prior_only_fit(fake_sampler, small_frame, tmp_path):
    """The fake sampler returns prior draws: every coefficient's prior dominates (ratio ~1)."""
    with pytest.warns(PriorDominanceWarning, match=r"readmission: the prior dominates 4") as seen:
        fitted = fit(small_frame, _spec(), seed=3, fitted_dir=tmp_path, progress=False)
    assert "treated" in str(seen[0].message) and "sex[m]" in str(seen[0].message)
    return fitted


def test_prior_sds_are_the_priors_the_model_used(prior_only_fit, small_frame):
    """With posterior = prior draws the ratio is ~1 for every term, 0/1 and dummy terms and
    interactions included: the check computes the same autoscaled priors the model built."""
    frame = prior_dominance(prior_only_fit)
    treated_sd = small_frame["treated"].std(ddof=1)
    assert frame.loc["readmitted_beta[age]", "prior_sd"] == pytest.approx(1.0)
    assert frame.loc["readmitted_beta[treated]", "prior_sd"] == pytest.approx(1 / treated_sd)
    assert frame.loc["readmitted_beta[age:treated]", "prior_sd"] == pytest.approx(1 / treated_sd)
    np.testing.assert_allclose(frame["ratio"], 1.0, atol=0.12)
    assert frame["dominated"].all()


def test_summary_shows_ratio_and_note(prior_only_fit):
    summary = prior_only_fit.summary()
    betas = summary[summary["parameter"] == "beta"]
    assert betas["prior_sd_ratio"].notna().all()
    assert summary.loc[summary["parameter"] != "beta", "prior_sd_ratio"].isna().all()
    assert len(summary.attrs["prior_dominated"]) == 4
    note = summary_notes(summary)["prior_dominance_note"]
    assert note.startswith("⚠ Prior dominates") and "readmission age, treated" in note


def test_data_that_dominate_raise_no_flag(prior_only_fit):
    """Draws squeezed to a tenth of their spread (what informative data do): no flag."""
    posterior = prior_only_fit.trace["posterior"].to_dataset()
    beta = posterior["readmitted_beta"]
    squeezed = beta.mean(("chain", "draw")) + 0.1 * (beta - beta.mean(("chain", "draw")))
    prior_only_fit.trace["posterior"] = posterior.assign(readmitted_beta=squeezed)
    frame = prior_dominance(prior_only_fit)
    assert (frame["ratio"] < PRIOR_DOMINANCE_THRESHOLD).all()
    summary = prior_only_fit.summary()
    assert summary.attrs["prior_dominated"] == []
    assert summary_notes(summary)["prior_dominance_note"] == ""


def test_threshold_is_strict(prior_only_fit):
    """A ratio exactly at the threshold passes, just above it is flagged."""
    posterior = prior_only_fit.trace["posterior"].to_dataset()
    beta = posterior["readmitted_beta"]
    centred = beta - beta.mean(("chain", "draw"))
    prior = prior_dominance(prior_only_fit)["prior_sd"].to_numpy()
    unit = centred / centred.std(("chain", "draw"), ddof=1)
    at = unit * (PRIOR_DOMINANCE_THRESHOLD * prior * (1 - 1e-9))
    prior_only_fit.trace["posterior"] = posterior.assign(readmitted_beta=at)
    assert not prior_dominance(prior_only_fit)["dominated"].any()
    above = unit * (PRIOR_DOMINANCE_THRESHOLD * prior * 1.01)
    prior_only_fit.trace["posterior"] = posterior.assign(readmitted_beta=above)
    assert prior_dominance(prior_only_fit)["dominated"].all()


def test_no_warning_when_the_data_decide(fake_sampler, small_frame, tmp_path, monkeypatch):
    """A fit whose coefficients moved far from the prior warns nothing."""
    from grassroots.inference import fitting
    from grassroots.inference.sampling import StartedSampling

    real = fitting.start_sampling

    def narrowed(*args, **kwargs):
        result = real(*args, **kwargs).result()
        posterior = result.trace["posterior"].to_dataset()
        beta = posterior["readmitted_beta"]
        result.trace["posterior"] = posterior.assign(readmitted_beta=0.05 * beta)
        return StartedSampling.finished(result)

    monkeypatch.setattr(fitting, "start_sampling", narrowed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PriorDominanceWarning)
        fit(small_frame, _spec(), seed=4, fitted_dir=tmp_path, progress=False)
