"""Fixtures shared by every test folder."""

from __future__ import annotations

import collections
import json
import os

# Figures are drawn off-screen in tests, whatever the machine has.
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from grassroots.inference.sampling import SamplingResult, StartedSampling


def fake_sample(model, settings, *, seed, progress=True, cores=None, initial_points=None):
    """Prior draws reshaped to (chain, draw) plus well-behaved sampler statistics."""
    chains, draws = settings.chains, settings.draws
    names = [v.name for v in model.free_RVs + model.deterministics]
    with model:
        prior = pm.sample_prior_predictive(draws=chains * draws, var_names=names, random_seed=seed)
    stacked = prior["prior"].to_dataset().isel(chain=0).drop_vars("chain")
    # Forward draws ignore the ordered transform: sort cut points (their ordered prior).
    stacked = stacked.assign(
        {
            name: var.copy(data=np.sort(var.to_numpy(), axis=-1))
            for name, var in stacked.data_vars.items()
            if name.endswith(("_cutpoints", "_cutpoints_centred"))
        }
    )
    posterior = xr.Dataset(
        {
            name: (
                ("chain", "draw", *var.dims[1:]),
                var.to_numpy().reshape(chains, draws, *var.shape[1:]),
            )
            for name, var in stacked.data_vars.items()
        },
        coords={
            **{k: v for k, v in stacked.coords.items() if k != "draw"},
            "chain": np.arange(chains),
            "draw": np.arange(draws),
        },
    )
    rng = np.random.default_rng(seed)
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros((chains, draws), bool)),
            "maxdepth_reached": (("chain", "draw"), np.zeros((chains, draws), bool)),
            "energy": (("chain", "draw"), rng.normal(size=(chains, draws))),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(draws)},
    )
    trace = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})
    return SamplingResult(trace, "fake", 0.0, 0.0)


class _CallLog(collections.UserList):
    """A list whose items are lines of a file, so that forked children can append to it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.write_text("")

    @property
    def data(self) -> list:  # type: ignore[override]
        return [json.loads(line) for line in self._path.read_text().splitlines()]

    def append(self, item: object) -> None:
        with self._path.open("a") as log:
            log.write(json.dumps(item, default=int) + "\n")


@pytest.fixture
def fake_sampler(monkeypatch, tmp_path_factory):
    """Replace MCMC with prior draws in fit(); records the seed of each call, made in this
    process or in a child forked from it (``reproduce`` fits in one)."""
    calls = _CallLog(tmp_path_factory.mktemp("sampler_calls") / "seeds.jsonl")

    def recorder(*args, **kwargs):
        calls.append(kwargs.get("seed"))
        return StartedSampling.finished(fake_sample(*args, **kwargs))

    monkeypatch.setattr("grassroots.inference.fitting.start_sampling", recorder)
    return calls
