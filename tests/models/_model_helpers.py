"""Helpers for the model tests: specs from keyword tables and a fake posterior from priors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from grassroots.models import build_model, spec_from_dict
from grassroots.models.prior_predictive import order_cutpoints


def make_spec(**outcomes_and_options) -> object:
    """A structural-form spec from keyword outcome tables (test helper)."""
    options = {
        key: outcomes_and_options.pop(key)
        for key in list(outcomes_and_options)
        if key in ("groups", "priors", "categorical", "sampler", "correlated")
    }
    table = {"name": "test", "family": "structural", "outcomes": outcomes_and_options, **options}
    table.setdefault("groups", [])
    if len(outcomes_and_options) == 1:
        (only,) = outcomes_and_options.values()
        table["spec_family"] = only["family"]
    return spec_from_dict(table)


def prior_posterior(spec, frame: pd.DataFrame, *, chains: int = 2, draws: int = 25, seed: int = 0):
    """A fake posterior: prior draws of every free variable and deterministic (no MCMC)."""
    built = build_model(spec, frame)
    names = [v.name for v in built.model.free_RVs + built.model.deterministics]
    with built.model:
        prior = pm.sample_prior_predictive(draws=chains * draws, var_names=names, random_seed=seed)
    dataset = prior["prior"].to_dataset()
    stacked = order_cutpoints(dataset, spec).isel(chain=0).drop_vars("chain")
    reshaped = {
        name: (
            ("chain", "draw", *var.dims[1:]),
            var.to_numpy().reshape(chains, draws, *var.shape[1:]),
        )
        for name, var in stacked.data_vars.items()
    }
    coords = {k: v for k, v in stacked.coords.items() if k != "draw"}
    posterior = xr.Dataset(
        reshaped, coords={**coords, "chain": np.arange(chains), "draw": np.arange(draws)}
    )
    return built, posterior
