"""SBC test quantities, the thinning of each fit to its ESS, and the log-likelihood."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from grassroots.models import ModelSpec

LOG_LIK = "log_lik"


@dataclass(frozen=True)
class Quantity:
    """One scalar test quantity: element ``index`` of model variable ``variable``."""

    label: str
    variable: str
    index: tuple[int, ...] = ()


def _elements(model: pm.Model, name: str, only_first: bool = False) -> list[Quantity]:
    dims = model.named_vars_to_dims.get(name, ())
    if not dims:
        return [Quantity(name, name)]
    labels = [list(model.coords[dim]) for dim in dims]
    indices = [tuple(0 for _ in dims)] if only_first else np.ndindex(*map(len, labels))
    return [
        Quantity(
            f"{name}[{', '.join(str(labels[k][i]) for k, i in enumerate(index))}]", name, index
        )
        for index in indices
    ]


def test_quantities(spec: ModelSpec, model: pm.Model) -> list[Quantity]:
    """The parameters whose ranks are tested (see the module notes); ``log_lik`` not included."""
    latent: set[str] = set()
    derived: list[Quantity] = []
    for level in spec.groups:
        name = level.name
        if name == spec.correlated:
            # The effects are checked through their first group below, whether they are
            # sampled (centred) or derived from z (non-centred).
            latent |= {f"{name}_z", f"{name}_chol", f"{name}_effect"}
            derived += _elements(model, f"{name}_sd")
            corr = _elements(model, f"{name}_corr")
            derived += [q for q in corr if q.index[0] < q.index[1]]
            derived += [
                q for q in _elements(model, f"{name}_effect") if q.index[0] == 0
            ]  # the first group, every outcome
        else:
            for outcome in spec.outcomes:
                latent |= {f"{outcome.name}_z_{name}", f"{outcome.name}_effect_{name}"}
                derived += _elements(model, f"{outcome.name}_effect_{name}", only_first=True)
    sampled = [
        q for rv in model.free_RVs if rv.name not in latent for q in _elements(model, rv.name)
    ]
    return sampled + derived


def log_lik_quantities(spec: ModelSpec) -> list[Quantity]:
    """``log_lik`` (all outcomes) and, for a joint model, one per outcome."""
    quantities = [Quantity(LOG_LIK, LOG_LIK)]
    if len(spec.outcomes) > 1:
        quantities += [Quantity(f"{LOG_LIK}[{o}]", f"{LOG_LIK}__{o}") for o in spec.outcome_names]
    return quantities


def kept_size(min_ess: float, chains: int, draws: int, low: int, high: int) -> int:
    """Draws to keep from a fit: its min bulk ESS, within ``[low, high]`` and the draws there
    are, rounded down to a multiple of the chains (at least one draw per chain)."""
    ess = math.floor(min_ess) if math.isfinite(min_ess) else low
    kept = min(max(ess, low), high, chains * draws)
    return max(chains, kept - kept % chains)


def thin_draws(posterior: xr.Dataset, kept: int) -> xr.Dataset:
    """Keep ``kept`` draws in all, equally spaced within each chain (the last draw kept).

    Parameters
    ----------
    posterior : Dataset
        Dims ``chain`` and ``draw``.
    kept : int
        Must be a multiple of the number of chains, at most all draws.
    """
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if kept < chains or kept % chains:
        raise ValueError(
            f"kept draws ({kept}) must be a positive multiple of the chains ({chains})"
        )
    per_chain = kept // chains
    if per_chain > draws:
        raise ValueError(f"cannot keep {per_chain} of {draws} draws per chain")
    step = draws // per_chain
    return posterior.isel(draw=np.arange(per_chain) * step + (draws - 1 - (per_chain - 1) * step))


def fit_diagnostics(trace: xr.DataTree, quantities: Sequence[Quantity]) -> dict[str, Any]:
    """Smallest bulk ESS over the test quantities (and which), R-hat, divergences, tree size."""
    from arviz_stats import ess, rhat

    posterior = trace["posterior"].to_dataset()[sorted({q.variable for q in quantities})]
    ess_bulk = ess(posterior, method="bulk")
    per_quantity = pd.Series(
        {q.label: float(ess_bulk[q.variable].to_numpy()[q.index]) for q in quantities}
    ).dropna()  # a correlation's constant diagonal has none
    stats = trace["sample_stats"].to_dataset()
    result: dict[str, Any] = {
        "min_ess_bulk": float(per_quantity.min()) if len(per_quantity) else math.nan,
        "min_ess_quantity": str(per_quantity.idxmin()) if len(per_quantity) else "",
        "divergences": int(stats["diverging"].sum()),
        "mean_tree_size": float(stats["n_steps"].mean()) if "n_steps" in stats else math.nan,
    }
    if posterior.sizes["chain"] > 1:
        r_hat = rhat(posterior)
        result["max_rhat"] = float(
            np.nanmax(np.concatenate([v.to_numpy().ravel() for v in r_hat.values()]))
        )
    return result


def point_log_lik(model: pm.Model, draws: xr.Dataset) -> dict[str, np.ndarray]:
    """Log-likelihood of the model's data at every draw (dim ``sample``), total and per outcome."""
    tree = xr.DataTree.from_dict({"posterior": draws})
    result = pm.compute_log_likelihood(
        tree, model=model, sample_dims=("sample",), extend_inferencedata=False, progressbar=False
    )
    pointwise = result["log_likelihood"] if "log_likelihood" in result else result
    totals = {
        name: var.sum(dim=[d for d in var.dims if d != "sample"]).to_numpy()
        for name, var in pointwise.data_vars.items()
    }
    totals[LOG_LIK] = np.sum(list(totals.values()), axis=0)
    return totals


def as_samples(dataset: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """The variables ``names`` with one plain ``sample`` dim first (no chain/draw coords)."""
    plain = {}
    for name in names:
        var = dataset[name]
        extra = [d for d in var.dims if d not in ("chain", "draw", "sample")]
        values = var.transpose(..., *extra).to_numpy().reshape(-1, *[var.sizes[d] for d in extra])
        plain[name] = (("sample", *extra), values)
    return xr.Dataset(plain)
