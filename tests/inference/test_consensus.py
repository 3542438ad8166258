"""Consensus Monte Carlo over county shards: the cut, the prior's fraction, the maps between
scales and the combination of the shards' draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from tests.conftest import fake_sample
from tests.inference.conftest import simulated_study

from grassroots.data import Study
from grassroots.inference.consensus import (
    _ShardModel,
    cholesky_to_sd_cpc,
    combine_draws,
    fit_consensus,
    sd_cpc_to_cholesky,
    shard_rows,
)
from grassroots.inference.preflight import UnfittableDataError
from grassroots.inference.sampling import StartedSampling
from grassroots.models import load_spec
from grassroots.models.builder import build_model


@pytest.fixture(scope="module")
def study() -> Study:
    return simulated_study(seed=3, counties=6, townships_per_county=5, projects=4)


@pytest.fixture
def fake_shards(monkeypatch):
    seeds: list[int] = []

    def recorder(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return StartedSampling.finished(fake_sample(*args, **kwargs))

    monkeypatch.setattr("grassroots.inference.consensus.start_sampling", recorder)
    return seeds


def test_shards_hold_whole_counties_and_about_equal_rows() -> None:
    frame = pd.DataFrame({"county": list("aaaaabbbccddddeeeeeef")})
    parts = shard_rows(frame, "county", 3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(frame)))
    counties = [set(frame["county"].iloc[part]) for part in parts]
    assert all(not (a & b) for i, a in enumerate(counties) for b in counties[i + 1 :])
    # Largest county first to the lightest shard: {e,f}=7, {a,c}=7, {d,b}=7.
    assert sorted(len(part) for part in parts) == [7, 7, 7]
    assert [p.tolist() for p in shard_rows(frame, "county", 3)] == [p.tolist() for p in parts]


def test_more_shards_than_counties_is_refused_with_the_limit() -> None:
    frame = pd.DataFrame({"county": ["a", "b", "a"]})
    with pytest.raises(ValueError, match="use at most 2 shards"):
        shard_rows(frame, "county", 3)


def test_combined_draws_are_the_product_of_gaussian_shards() -> None:
    rng = np.random.default_rng(0)
    means = [np.array([0.0, 1.0]), np.array([2.0, -1.0])]
    covariances = [np.array([[1.0, 0.5], [0.5, 2.0]]), np.array([[0.25, 0.0], [0.0, 0.5]])]
    draws = [
        rng.multivariate_normal(mean, covariance, size=40_000)
        for mean, covariance in zip(means, covariances, strict=True)
    ]
    precisions = [np.linalg.inv(c) for c in covariances]
    covariance = np.linalg.inv(sum(precisions))
    mean = covariance @ sum(p @ m for p, m in zip(precisions, means, strict=True))
    combined = combine_draws(draws)
    # The plain average of the shards' means would be (1, 0): far from the product's centre.
    np.testing.assert_allclose(combined.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(combined, rowvar=False), covariance, atol=0.02)


def test_lkj_factors_are_combined_as_log_sds_and_partial_correlations() -> None:
    rng = np.random.default_rng(1)
    square = rng.normal(size=(6, 4, 4))
    covariance = square @ square.transpose(0, 2, 1) + np.eye(4)
    factor = np.linalg.cholesky(covariance)
    rows, columns = np.tril_indices(4)
    packed = factor[:, rows, columns].copy()
    packed[:, rows == columns] = np.log(packed[:, rows == columns])
    coordinates = cholesky_to_sd_cpc(packed, 4)
    sds = np.sqrt(np.diagonal(covariance, axis1=1, axis2=2))
    np.testing.assert_allclose(coordinates[:, :4], np.log(sds))
    # The first partial correlation of a row is the correlation itself.
    correlation = covariance[:, 1, 0] / (sds[:, 0] * sds[:, 1])
    np.testing.assert_allclose(np.tanh(coordinates[:, 4]), correlation)
    np.testing.assert_allclose(sd_cpc_to_cholesky(coordinates, 4), packed, atol=1e-12)


def test_a_shard_holds_its_shared_parameters_prior_to_the_power_one_over_s(study) -> None:
    spec = load_spec("strategy_expedient")
    whole = build_model(spec, study.flat())
    shard = _ShardModel(build_model(spec, study.flat()), shards=4)
    point = whole.model.initial_point()
    shared = [whole.model[rv.name] for rv in shard.shared]
    shared_prior = whole.model.compile_logp(vars=shared, jacobian=False)(point)
    difference = shard.built.model.compile_logp()(point) - whole.model.compile_logp()(point)
    np.testing.assert_allclose(difference, (1 / 4 - 1) * shared_prior, rtol=1e-10)
    names = {rv.name for rv in shard.shared}
    assert "expedient_sd_county" in names and "expedient_beta" in names
    assert not any("_z_" in name or "_effect_" in name for name in names)


@pytest.mark.filterwarnings("ignore:The effect of Potentials:UserWarning")
def test_draws_map_to_one_vector_and_back_with_what_follows_from_them(study) -> None:
    spec = load_spec("structural").with_sampler(chains=2, draws=15)
    shard = _ShardModel(build_model(spec, study.flat()), shards=2)
    posterior = fake_sample(shard.built.model, spec.sampler, seed=3).trace["posterior"]
    posterior = posterior.to_dataset()
    vectors = shard.unconstrained(posterior)
    assert vectors.shape[0] == 30 and np.isfinite(vectors).all()
    back = shard.constrained(vectors.reshape(2, 15, -1))
    assert {"township_chol", "township_sd", "township_corr", "expedient_intercept"} <= set(back)
    for name in back.data_vars:
        np.testing.assert_allclose(back[name].to_numpy(), posterior[name].to_numpy(),
                                   rtol=1e-7, atol=1e-9, err_msg=name)  # fmt: skip
    assert not {"county", "township"} & set(back.dims)


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:The effect of Potentials:UserWarning")
def test_consensus_fit_reports_each_shard_and_repeats_with_its_seed(study, fake_shards) -> None:
    def run():
        return fit_consensus(study, "strategy_expedient", shards=3, seed=7, chains=2, draws=40,
                             tune=0)  # fmt: skip

    first = run()
    assert len(set(fake_shards)) == 3
    shards = first.shards
    assert shards["rows"].sum() == study.n["project"]
    assert shards["groups"].sum() == study.n["county"]
    assert list(shards["shard"]) == [0, 1, 2]
    assert set(first.posterior.data_vars) >= {"expedient_beta", "expedient_sd_county",
                                              "expedient_intercept"}  # fmt: skip
    assert not {"county", "township"} & set(first.posterior.dims)
    assert first.posterior.sizes["chain"] == 2 and first.posterior.sizes["draw"] == 40
    summary = first.summary()
    assert {"mean", "sd", "r_hat", "ess_bulk"} <= set(summary.columns)
    assert "expedient_sd_county" in summary.index
    again = run()
    assert fake_shards[:3] == fake_shards[3:]
    for name in first.posterior.data_vars:
        assert np.array_equal(first.posterior[name].to_numpy(), again.posterior[name].to_numpy())


def test_consensus_needs_group_levels_and_nuts(study) -> None:
    spec = load_spec("strategy_expedient")
    with pytest.raises(ValueError, match="combines NUTS fits"):
        fit_consensus(study, spec.with_sampler(method="advi"), shards=2, seed=1)


def test_pm_logp_of_an_lkj_factor_is_its_prior() -> None:
    # The prior fraction relies on pm.logp(rv, rv) being the prior density of each shared
    # parameter, the LKJ Cholesky factor (with its SDs' prior) included.
    with pm.Model() as model:
        pm.LKJCholeskyCov("c", n=2, eta=2.0, sd_dist=pm.HalfNormal.dist(1.0),
                          compute_corr=True)  # fmt: skip
    packed = model["c"]
    point = model.initial_point()
    direct = model.compile_logp(jacobian=False)(point)
    graph = model.replace_rvs_by_values([pm.logp(packed, packed).sum()])[0]
    via = model.compile_fn(graph, inputs=model.value_vars)(point)
    np.testing.assert_allclose(via, direct, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:The effect of Potentials:UserWarning")
def test_shards_fitted_on_dask_combine_to_the_same_draws(study, fake_shards) -> None:
    from dask.distributed import LocalCluster

    settings = {"shards": 2, "seed": 5, "chains": 2, "draws": 30, "tune": 0}
    in_turn = fit_consensus(study, "strategy_extensive", **settings)
    # A worker thread in this process, so that it calls the test's fake sampler; one, as each
    # worker process of a real cluster has (PyTensor's compile flags are process-wide).
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        on_dask = fit_consensus(
            study, "strategy_extensive", scheduler=cluster.scheduler_address, **settings
        )
    assert sorted(fake_shards[:2]) == sorted(fake_shards[2:])
    pd.testing.assert_frame_equal(
        in_turn.shards.drop(columns=["compile_seconds", "sample_seconds", "wall_seconds"]),
        on_dask.shards.drop(columns=["compile_seconds", "sample_seconds", "wall_seconds"]),
    )
    for name in in_turn.posterior.data_vars:
        assert np.array_equal(
            in_turn.posterior[name].to_numpy(), on_dask.posterior[name].to_numpy()
        )


def test_a_shard_the_data_cannot_fit_is_named_before_anything_compiles(study) -> None:
    frame = study.flat().copy()
    shards = shard_rows(frame, "county_id", 3)
    # The first shard's projects never show the strategy: its logistic outcome has one value.
    frame.loc[shards[0], "expedient"] = 0
    with pytest.raises(UnfittableDataError, match=r"shard 1 of 3 .*use fewer shards"):
        fit_consensus(frame, "strategy_expedient", shards=3, seed=1)
