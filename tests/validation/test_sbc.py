"""Simulation-based calibration (``grassroots.validation.sbc``).

The fast tests cover the pieces that need no sampling (thinning, PIT values, the Holm
correction, the uniformity test, chunk seeding, event-time inversion, output writing); the slow
test runs a few simulations of two families on a LocalCluster.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from statsmodels.stats.multitest import multipletests

from grassroots.validation import sbc
from grassroots.validation.sbc import (
    ALL_FAMILIES,
    FAMILY_DESIGNS,
    FamilyResult,
    SBCResult,
    chunk_seeds,
    data_seed,
    holm,
    kept_size,
    piecewise_event_times,
    pit_values,
    plan_chunks,
    run_sbc,
    thin_draws,
    uniformity_tests,
    write_results,
)


def fake_posterior(chains: int, draws: int) -> xr.Dataset:
    """Draw ``d`` of chain ``c`` holds ``100 * c + d``, so kept positions are readable."""
    values = 100 * np.arange(chains)[:, None] + np.arange(draws)[None, :]
    return xr.Dataset(
        {"theta": (("chain", "draw"), values.astype(float))},
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
    )


def test_thin_draws_keeps_equally_spaced_draws_of_every_chain():
    kept = thin_draws(fake_posterior(2, 10), 4)
    assert kept["theta"].values.tolist() == [[4.0, 9.0], [104.0, 109.0]]
    assert thin_draws(fake_posterior(1, 600), 100)["draw"].values[[0, 1, -1]].tolist() == [
        5,
        11,
        599,
    ]
    assert thin_draws(fake_posterior(1, 600), 37).sizes["draw"] == 37


@pytest.mark.parametrize("kept", [0, 3, 22])
def test_thin_draws_rejects_impossible_sizes(kept):
    with pytest.raises(ValueError):
        thin_draws(fake_posterior(2, 10), kept)


@pytest.mark.parametrize(
    ("ess", "chains", "expected"),
    [(57.9, 1, 57), (5.0, 1, 20), (850.0, 1, 100), (float("nan"), 1, 20), (57.9, 2, 56)],
)
def test_kept_size_follows_the_ess_within_bounds(ess, chains, expected):
    assert kept_size(ess, chains, 600, 20, 100) == expected


def test_kept_size_never_exceeds_the_draws():
    assert kept_size(500.0, 1, 30, 20, 100) == 30


def test_holm_matches_statsmodels_and_keeps_nan():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    expected = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(holm(p), expected)
    with_nan = holm([0.02, np.nan, 0.01])
    np.testing.assert_allclose(with_nan, [0.02, np.nan, 0.02])
    assert np.isnan(holm([np.nan])).all()


def test_holm_matches_a_hand_computed_example_with_nan():
    # Finite p-values sorted: 0.005, 0.01, 0.03, 0.04, 0.5 (m = 5), times 5, 4, 3, 2, 1:
    # 0.025, 0.04, 0.09, 0.08, 0.5; the running maximum lifts 0.08 to 0.09. NaN is skipped.
    p = [0.01, np.nan, 0.04, 0.03, 0.005, 0.5]
    np.testing.assert_allclose(holm(p), [0.04, np.nan, 0.09, 0.09, 0.025, 0.5])
    # 0.6 * 2 = 1.2 is capped at 1, and 0.7 * 1 cannot step below it.
    np.testing.assert_allclose(holm([0.6, np.nan, 0.7]), [1.0, np.nan, 1.0])
    assert holm([]).shape == (0,)


def test_pit_values_are_uniform_within_each_simulations_rank_range():
    rng = np.random.default_rng(1)
    kept = np.array([20, 100, 50])
    ranks = np.array([[0, 20], [100, 0], [25, 50]])
    pit = pit_values(ranks, kept, rng)
    assert pit.shape == (3, 2)
    assert ((pit > 0) & (pit < 1)).all()
    # Rank r of L lands in [r / (L + 1), (r + 1) / (L + 1)).
    lower = ranks / (kept[:, None] + 1)
    assert ((pit >= lower) & (pit < lower + 1 / (kept[:, None] + 1))).all()
    with pytest.raises(ValueError):
        pit_values(np.array([[21]]), np.array([20]), rng)


def test_uniformity_test_passes_uniform_ranks_and_fails_piled_up_ones():
    rng = np.random.default_rng(2)
    n = 200
    uniform = rng.integers(0, 101, n)
    # An overconfident posterior: the reference falls in the tails far too often.
    piled = np.where(rng.random(n) < 0.5, rng.integers(0, 5, n), rng.integers(96, 101, n))
    pit = pd.DataFrame(
        pit_values(np.column_stack([uniform, piled]), 100, rng), columns=["good", "bad"]
    )
    table = uniformity_tests(pit, "fake", alpha=0.01)
    assert table["quantity"].tolist() == ["good", "bad"]
    assert table["p_value"].between(0, 1).all()
    assert (table["p_adjusted"] >= table["p_value"]).all()
    assert table["passed"].tolist() == [True, False]
    assert (table["n_sims"] == n).all()


def test_chunk_seeds_are_distinct_stable_and_independent_of_the_chunk_count():
    seeds, jitter = chunk_seeds(7, "ordinal", 5)
    assert len(set(seeds)) == 5 and jitter not in seeds
    assert chunk_seeds(7, "ordinal", 5) == (seeds, jitter)
    assert chunk_seeds(7, "ordinal", 2)[0] == seeds[:2]
    assert chunk_seeds(8, "ordinal", 5)[0] != seeds
    assert chunk_seeds(7, "logistic", 5)[0] != seeds
    all_families = {s for f in ALL_FAMILIES for s in chunk_seeds(7, f, 3)[0]}
    assert len(all_families) == 3 * len(ALL_FAMILIES)
    assert data_seed(7) == data_seed(7) != data_seed(8)
    with pytest.raises(ValueError):
        chunk_seeds(7, "poisson", 1)


def test_plan_chunks_covers_every_simulation_once():
    tasks = plan_chunks("logistic", 23, 7, 10)
    assert [t.n_simulations for t in tasks] == [10, 10, 3]
    assert [t.chunk for t in tasks] == [0, 1, 2]
    assert [t.seed for t in tasks] == chunk_seeds(7, "logistic", 3)[0]
    assert {t.data_seed for t in tasks} == {data_seed(7)}
    assert tasks[0].design is FAMILY_DESIGNS["logistic"]
    with pytest.raises(ValueError):
        plan_chunks("logistic", 0, 7, 10)


def test_piecewise_event_times_invert_the_cumulative_hazard():
    rng = np.random.default_rng(3)
    n, cuts, onset = 500, [6.0, 12.0, 24.0], 12.0
    exponential = rng.standard_exponential(n)
    eta, late_eta = rng.normal(0, 0.5, n), rng.normal(0, 0.5, n)
    log_hazard = np.log([0.05, 0.02, 0.04, 0.01])
    times = piecewise_event_times(exponential, eta, late_eta, log_hazard, cuts, onset)
    starts = np.array([0.0, *cuts])
    ends = np.array([*cuts, np.inf])
    exposure = np.clip(times[:, None] - starts, 0, ends - starts)
    rate = np.exp(log_hazard + eta[:, None] + late_eta[:, None] * (starts >= onset))
    np.testing.assert_allclose((exposure * rate).sum(axis=1), exponential, rtol=1e-10)
    # A constant hazard without late effects gives exponential times.
    flat = piecewise_event_times(
        exponential, np.zeros(n), np.zeros(n), np.full(4, np.log(0.1)), cuts, None
    )
    np.testing.assert_allclose(flat, exponential / 0.1)


def test_structural_outcomes_are_drawn_mediators_first():
    order = [o.name for o in sbc._causal_order(FAMILY_DESIGNS["structural"].spec())]
    assert order.index("extensive") < order.index("short_sighted") < order.index("survival")
    assert order.index("expedient") < order.index("demand_fit")


def fake_family(name: str, quantities: list[str], n: int, rng) -> FamilyResult:
    kept = np.full(n, 50)
    ranks = pd.DataFrame(rng.integers(0, 51, (n, len(quantities))), columns=quantities)
    pit = pd.DataFrame(pit_values(ranks.to_numpy(), kept, rng), columns=quantities)
    fits = pd.DataFrame(
        {
            "chunk": 0,
            "simulation": np.arange(n),
            "seed": np.arange(n),
            "min_ess_bulk": 80.0,
            "min_ess_quantity": quantities[0],
            "divergences": 0,
            "mean_tree_size": 15.0,
            "kept_draws": kept,
            "seconds": 1.0,
            "cpu_seconds": 0.9,
        }
    )
    ranks.insert(0, "simulation", np.arange(n))
    ranks.insert(0, "chunk", 0)
    return FamilyResult(
        family=name,
        ranks=ranks,
        pit=pit,
        fits=fits,
        tests=uniformity_tests(pit, name),
        n_chunks=1,
        worker_seconds=float(n),
        span_seconds=float(n),
    )


def test_write_results_writes_tables_ranks_fits_and_plots(tmp_path):
    rng = np.random.default_rng(4)
    result = SBCResult(
        {
            "logistic": fake_family("logistic", ["a_beta[x]", "log_lik"], 30, rng),
            "ordinal": fake_family("ordinal", ["b_sd", "c[1|2]", "log_lik"], 30, rng),
        },
        seed=5,
        settings={"alpha": 0.01},
        wall_seconds=12.0,
    )
    written = write_results(result, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in written)
    assert {"sbc_results.csv", "sbc_results.md", "sbc_logistic_ecdf.png"} <= set(names)
    assert not [n for n in names if n.startswith(".tmp-")]
    table = pd.read_csv(tmp_path / "sbc_results.csv")
    assert table.columns.tolist() == [
        "family",
        "quantity",
        "n_sims",
        "p_value",
        "p_adjusted",
        "passed",
    ]
    assert len(table) == 5 and table["p_value"].between(0, 1).all()
    markdown = (tmp_path / "sbc_results.md").read_text()
    assert "`c[1|2]`" in markdown and "| ordinal |" in markdown
    # The campaign's span and worker time, not the report's own seconds.
    assert "worker-hours in all" in markdown and "wall time" not in markdown
    ranks = pd.read_csv(tmp_path / "sbc_ordinal_ranks.csv")
    assert ranks.shape == (30, 5)
    assert (tmp_path / "sbc_ordinal_ecdf.png").read_bytes()[:4] == b"\x89PNG"


def test_saved_chunks_resume_only_the_same_task(tmp_path):
    rng = np.random.default_rng(6)
    fake = fake_family("logistic", ["a_beta[x]", "log_lik"], 4, rng)
    task = plan_chunks("logistic", 8, 7, 4)[1]
    result = sbc.ChunkResult("logistic", 1, task.seed, fake.ranks, fake.fits, 10.0, 3.5)
    sbc.save_chunk(tmp_path, task, result)
    loaded = sbc.load_chunk(tmp_path, task)
    assert loaded is not None and loaded.error is None
    pd.testing.assert_frame_equal(loaded.ranks, fake.ranks)
    pd.testing.assert_frame_equal(loaded.fits, fake.fits)
    assert (loaded.started, loaded.seconds) == (10.0, 3.5)
    # Another seed, size or design is another task: not resumed.
    assert sbc.load_chunk(tmp_path, plan_chunks("logistic", 8, 8, 4)[1]) is None
    assert sbc.load_chunk(tmp_path, plan_chunks("logistic", 6, 7, 5)[1]) is None
    other = dataclasses.replace(task, design=small_design("logistic"))
    assert sbc.load_chunk(tmp_path, other) is None
    sbc.chunk_path(tmp_path, task).write_text("{not json")
    assert sbc.load_chunk(tmp_path, task) is None


def small_design(family: str) -> sbc.FamilyDesign:
    design = FAMILY_DESIGNS[family]
    sampler = {**design.table["sampler"], "tune": 150, "draws": 150}
    return dataclasses.replace(design, table={**design.table, "sampler": sampler}, max_kept=30)


@pytest.mark.slow
def test_run_sbc_on_a_local_cluster(tmp_path):
    families = ["logistic", "survival_piecewise"]
    result = run_sbc(
        families,
        8,
        seed=11,
        chunk_size=4,
        workers=2,
        designs={f: small_design(f) for f in families},
        checkpoints=tmp_path / "chunks",
        progress=None,
    )
    assert len(list((tmp_path / "chunks").glob("*.json"))) == 4
    for family in families:
        family_res = result.families[family]
        assert not family_res.failures, family_res.failures
        assert len(family_res.ranks) == 8 and family_res.n_chunks == 2
        assert (family_res.fits["kept_draws"] <= 30).all()
        assert "log_lik" in family_res.pit.columns
    table = result.table
    assert table["p_value"].between(0, 1).all() and table["p_adjusted"].between(0, 1).all()
    write_results(result, tmp_path)
    for name in ("sbc_results.csv", "sbc_results.md", "sbc_logistic_ecdf.png"):
        assert (tmp_path / name).is_file()
