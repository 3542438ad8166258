"""Diagnostics and the ConvergenceWarning, on hand-made traces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from grassroots.inference import ConvergenceWarning, Diagnostics, compute_diagnostics


def trace(posterior: dict, stats: dict | None = None, chains: int = 4, draws: int = 500):
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    groups = {"posterior": xr.Dataset(posterior, coords=coords)}
    if stats is not None:
        groups["sample_stats"] = xr.Dataset(stats, coords=coords)
    return xr.DataTree.from_dict(groups)


def good_stats(rng, chains=4, draws=500):
    return {
        "diverging": (("chain", "draw"), np.zeros((chains, draws), bool)),
        "maxdepth_reached": (("chain", "draw"), np.zeros((chains, draws), bool)),
        "energy": (("chain", "draw"), rng.normal(size=(chains, draws))),
    }


def test_well_mixed_chains_pass_silently():
    rng = np.random.default_rng(0)
    t = trace(
        {
            "mu": (("chain", "draw"), rng.normal(size=(4, 500))),
            "b": (("chain", "draw", "term"), rng.normal(size=(4, 500, 2))),
            "corr": (("chain", "draw", "k", "k2"), np.broadcast_to(np.eye(2), (4, 500, 2, 2))),
        },
        good_stats(rng),
    )
    diagnostics = compute_diagnostics(t)
    assert diagnostics.converged and diagnostics.problems() == []
    assert set(diagnostics.table.index) >= {"mu", "b[0]", "b[1]", "corr[0, 1]"}
    assert np.isnan(diagnostics.table.loc["corr[0, 0]", "r_hat"])  # constant element
    assert diagnostics.max_rhat < 1.01 and diagnostics.min_ess_bulk > 400
    assert diagnostics.n_samples == 2000 and len(diagnostics.ebfmi) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagnostics.warn("m")
    again = Diagnostics.from_dict(diagnostics.to_dict())
    assert again.overview() == pytest.approx(diagnostics.overview(), nan_ok=True)


def test_stuck_chain_divergences_and_low_ess_warn():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(4, 500))
    mu[0] += 3.0  # one chain elsewhere: R-hat far above 1.01
    sticky = np.cumsum(rng.normal(size=(4, 500)), axis=1)  # random walk: tiny ESS
    stats = good_stats(rng)
    stats["diverging"][1][0, :3] = True
    stats["maxdepth_reached"][1][2, :5] = True
    stats["energy"] = (("chain", "draw"), np.cumsum(rng.normal(size=(4, 500)), axis=1))
    diagnostics = compute_diagnostics(
        trace({"mu": (("chain", "draw"), mu), "walk": (("chain", "draw"), sticky)}, stats)
    )
    assert not diagnostics.converged
    assert diagnostics.n_divergent == 3 and diagnostics.treedepth_hits == 5
    text = " ".join(diagnostics.problems())
    for fragment in ("R-hat > 1.01", "ESS < 400", "3 divergent", "E-BFMI < 0.3", "tree depth"):
        assert fragment in text
    with pytest.warns(ConvergenceWarning, match="spec_x: R-hat > 1.01 .* 3 divergent"):
        diagnostics.warn("spec_x")


def test_pymc_stat_names_and_missing_stats():
    rng = np.random.default_rng(2)
    stats = good_stats(rng)
    stats["reached_max_treedepth"] = stats.pop("maxdepth_reached")
    stats["reached_max_treedepth"][1][0, 0] = True
    posterior = {"mu": (("chain", "draw"), rng.normal(size=(4, 500)))}
    assert compute_diagnostics(trace(posterior, stats)).treedepth_hits == 1
    bare = compute_diagnostics(trace(posterior))
    assert bare.n_divergent == 0 and bare.ebfmi == ()


def test_one_chain_is_not_converged():
    # Split R-hat compares chains: with one, it is NaN, and a NaN must not pass the check.
    rng = np.random.default_rng(3)
    one_chain = trace(
        {"mu": (("chain", "draw"), rng.normal(size=(1, 2000)))},
        good_stats(rng, chains=1, draws=2000),
        chains=1,
        draws=2000,
    )
    diagnostics = compute_diagnostics(one_chain)
    assert np.isnan(diagnostics.table.loc["mu", "r_hat"])
    assert not diagnostics.converged
    assert not diagnostics.overview()["converged"]
    assert "R-hat cannot be computed from one chain; run >= 2 chains" in diagnostics.problems()
    with pytest.warns(ConvergenceWarning, match="one chain; run >= 2 chains"):
        diagnostics.warn("m")
    assert not Diagnostics.from_dict(diagnostics.to_dict()).converged


def test_nan_rhat_or_ess_of_a_varying_element_is_not_converged():
    rng = np.random.default_rng(4)
    mu = rng.normal(size=(4, 500))
    mu[2, 10] = np.nan  # a NaN draw: R-hat and ESS are NaN, yet the element is not constant
    posterior = {
        "mu": (("chain", "draw"), mu),
        "corr": (("chain", "draw", "k", "k2"), np.broadcast_to(np.eye(2), (4, 500, 2, 2))),
    }
    diagnostics = compute_diagnostics(trace(posterior, good_stats(rng)))
    assert not diagnostics.converged
    assert list(diagnostics.not_assessed()) == ["mu"]  # the constant diagonal is not flagged
    assert "R-hat or ESS is NaN for 1 varying element(s)" in " ".join(diagnostics.problems())
