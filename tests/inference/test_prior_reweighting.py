"""Importance reweighting of a fit to another prior (PSIS): exact answers of a conjugate model,
agreement with a real refit, and the Pareto k that says when not to trust it."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy import stats

from grassroots.inference import fit
from grassroots.inference.prior_reweighting import psis_threshold, reweight_draws, reweight_prior
from grassroots.models import load_spec

CHAINS, DRAWS = 4, 1000
# Five observations of a unit-variance normal: the prior's scale moves the posterior visibly.
Y = np.array([2.1, 1.4, 2.9, 1.2, 2.4])


def _normal_mean(prior_sd: float) -> pm.Model:
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, prior_sd)
        # A second free variable whose prior never changes: it must not enter the weights.
        noise = pm.HalfNormal("noise", 1.0)
        pm.Normal("y", mu, 1.0, observed=Y)
        pm.Normal("z", 0.0, noise, observed=np.zeros(3))
    return model


def _exact_posterior(prior_sd: float) -> tuple[float, float]:
    """Mean and SD of mu's posterior: normal prior, normal likelihood with known variance."""
    precision = 1 / prior_sd**2 + len(Y)
    return Y.sum() / precision, precision**-0.5


def _exact_draws(prior_sd: float, seed: int) -> xr.Dataset:
    """Independent draws of the exact posterior of :func:`_normal_mean` (in place of MCMC)."""
    rng = np.random.default_rng(seed)
    mean, sd = _exact_posterior(prior_sd)
    shape = (CHAINS, DRAWS)
    return xr.Dataset(
        {
            "mu": (("chain", "draw"), rng.normal(mean, sd, shape)),
            "noise": (("chain", "draw"), np.abs(rng.normal(0, 1, shape))),
        },
        coords={"chain": np.arange(CHAINS), "draw": np.arange(DRAWS)},
    )


@pytest.mark.parametrize("target_sd", [0.5, 2.0])
def test_reweighting_recovers_the_exact_posterior_of_a_conjugate_model(target_sd):
    draws = _exact_draws(1.0, seed=1)
    result = reweight_draws(_normal_mean(1.0), _normal_mean(target_sd), draws, name="target")

    assert result.changed == ("mu",)
    assert result.reliable and result.threshold == pytest.approx(0.7)
    weights = result.weights
    assert weights.shape == (CHAINS * DRAWS,) and weights.sum() == pytest.approx(1.0)
    mu = draws["mu"].to_numpy().reshape(-1)
    mean, sd = _exact_posterior(target_sd)
    # Four Monte Carlo standard errors of a weighted estimate with the weights' effective
    # sample size: SD / sqrt(n) for the mean, sqrt(q (1 - q)) / density / sqrt(n) for a quantile.
    n_eff = 1 / np.sum(weights**2)
    tolerance = 4 * sd / np.sqrt(n_eff)
    base_mean, _ = _exact_posterior(1.0)
    assert abs(base_mean - mean) > 3 * tolerance, "the prior change must show in the test"
    assert np.sum(weights * mu) == pytest.approx(mean, abs=tolerance)
    for q in (0.025, 0.5, 0.975):
        exact = stats.norm.ppf(q, mean, sd)
        error = np.sqrt(q * (1 - q)) / stats.norm.pdf(exact, mean, sd) / np.sqrt(n_eff)
        weighted = np.quantile(mu, q, weights=weights, method="inverted_cdf")
        assert weighted == pytest.approx(exact, abs=4 * error)


def test_a_prior_far_from_the_posterior_gives_a_high_pareto_k():
    # Draws under a prior that pins mu near 0 say nothing about a posterior near the data's mean.
    draws = _exact_draws(0.05, seed=2)
    result = reweight_draws(_normal_mean(0.05), _normal_mean(10.0), draws)
    assert result.pareto_k > result.threshold
    assert not result.reliable


def test_the_threshold_follows_the_number_of_draws():
    assert psis_threshold(4000) == 0.7
    assert psis_threshold(100) == pytest.approx(0.5)


def test_models_with_other_variables_cannot_be_reweighted():
    with pm.Model() as other:
        pm.Normal("theta", 0.0, 1.0)
        pm.Normal("y", other["theta"], 1.0, observed=Y)
    with pytest.raises(ValueError, match="different free variables"):
        reweight_draws(_normal_mean(1.0), other, _exact_draws(1.0, seed=3))


@pytest.fixture(scope="module")
def small_study_frame():
    from grassroots.data import Study
    from grassroots.data.simulate import SimulationConfig, simulate

    sim = simulate(seed=3, config=SimulationConfig(n_counties=6, townships_per_county=5,
                                                   projects_per_township=4))  # fmt: skip
    return Study.from_frames(sim.projects, sim.townships, sim.counties).flat()


def test_reweighted_estimates_agree_with_a_real_refit(small_study_frame):
    """A quick real fit of a package spec and its refit under priors a fifth as wide: the
    reweighted medians sit near the refit's, much nearer than the unweighted ones, and weights
    turned upside down land far away."""
    from grassroots.reporting.appendix import scale_priors, sensitivity_estimates

    settings = {"seed": 11, "chains": 2, "draws": 1000, "tune": 400, "save": False,
                "progress": False}  # fmt: skip
    narrow = scale_priors(load_spec("survival_m1"), 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = fit(small_study_frame, "survival_m1", **settings)
        refit = fit(small_study_frame, narrow, **settings)
    result = reweight_prior(base, narrow, small_study_frame)
    assert result.reliable, f"Pareto k {result.pareto_k:.2f}"
    assert {"survival_beta", "survival_sd_county"} <= set(result.changed)

    inverted = replace(result, log_weights=-result.log_weights)

    def medians(fitted, reweighted=None):
        estimates = sensitivity_estimates({0.2: {"m": fitted}}, reweighted=reweighted)
        return estimates.set_index("term")["median"], estimates["method"].iloc[0]

    refitted, method = medians(refit)
    assert method == "refitted"
    reweighted, method = medians(base, {0.2: {"m": result}})
    assert method == "reweighted"
    unweighted, _ = medians(base)
    upside_down, _ = medians(base, {0.2: {"m": inverted}})
    off = {name: (values - refitted).abs().sum()
           for name, values in [("reweighted", reweighted), ("unweighted", unweighted),
                                ("inverted", upside_down)]}  # fmt: skip
    # The prior's shrinkage is real (unweighted medians are off), and the weights capture it.
    assert off["reweighted"] < 0.25 * off["unweighted"]
    assert off["inverted"] > off["unweighted"]


@pytest.fixture
def saved_fit(fake_sampler, small_study_frame, tmp_path):
    """survival_m1 fitted (prior draws for speed) and saved under ``tmp_path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(small_study_frame, "survival_m1", seed=5, chains=2, draws=40, tune=0,
                   fitted_dir=tmp_path, progress=False)  # fmt: skip


@pytest.fixture
def computed(monkeypatch):
    """The names of the specs whose weights were computed, not read from a bundle."""
    from grassroots.inference import prior_reweighting

    names = []
    compute = prior_reweighting.reweight_draws

    def counted(base, other, posterior, *, name=""):
        names.append(name)
        return compute(base, other, posterior, name=name)

    monkeypatch.setattr(prior_reweighting, "reweight_draws", counted)
    return names


def _same(first, second) -> bool:
    return (first.log_weights.identical(second.log_weights) and first.changed == second.changed
            and (first.spec_name, first.pareto_k, first.threshold)
            == (second.spec_name, second.pareto_k, second.threshold))  # fmt: skip


def test_reused_weights_are_stored_in_the_bundle_and_read_back_exactly(
    saved_fit, small_study_frame, computed
):
    from grassroots.inference import bundle
    from grassroots.reporting.appendix import scale_priors

    wide = scale_priors(load_spec("survival_m1"), 2.0)
    first = reweight_prior(saved_fit, wide, small_study_frame, reuse=True)
    again = reweight_prior(saved_fit, wide, small_study_frame, reuse=True)
    assert computed == [wide.name] and _same(first, again)
    assert first.log_weights is not again.log_weights
    # Listed in the manifest and checked with the bundle; without reuse nothing is read.
    assert f"reweighting-{wide.name}.json" in bundle.verify_bundle(saved_fit.path)
    assert _same(reweight_prior(saved_fit, wide, small_study_frame), first)
    assert computed == [wide.name] * 2


def test_damaged_or_mis_keyed_weights_are_computed_again(
    saved_fit, small_study_frame, computed, monkeypatch
):
    import json

    from grassroots.inference import bundle, prior_reweighting
    from grassroots.reporting.appendix import scale_priors

    wide = scale_priors(load_spec("survival_m1"), 2.0)
    first = reweight_prior(saved_fit, wide, small_study_frame, reuse=True)
    stored = saved_fit.path / f"reweighting-{wide.name}.json"
    document = json.loads(stored.read_text(encoding="utf-8"))
    document["pareto_k"] = 0.01  # a plausible edit: still JSON, still a number
    stored.write_text(json.dumps(document), encoding="utf-8")
    assert _same(reweight_prior(saved_fit, wide, small_study_frame, reuse=True), first)
    assert computed == [wide.name] * 2
    bundle.verify_bundle(saved_fit.path)  # written over and listed again
    versions = bundle.package_versions()
    monkeypatch.setattr(prior_reweighting, "package_versions",
                        lambda: {**versions, "pytensor": "0.0.1"})  # fmt: skip
    reweight_prior(saved_fit, wide, small_study_frame, reuse=True)
    assert computed == [wide.name] * 3
    narrow = scale_priors(load_spec("survival_m1"), 0.5)
    reweight_prior(saved_fit, narrow, small_study_frame, reuse=True)
    assert computed == [wide.name] * 3 + [narrow.name]
