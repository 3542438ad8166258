"""Fits of the shipped specs with fake posteriors of known values: no sampling.

Every posterior element is ``centre + spread * pattern`` with one fixed standard-normal
``pattern`` over (chain, draw), so a test can recompute any median or interval from the trace
itself and knows roughly what it is (SDs are ``centre * exp(0.2 * pattern)``, so they stay
positive). Diagnostics are set by hand, so a test decides whether a fit "converged".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots.data.identity import data_hash
from grassroots.data.simulate import config_from_overrides, simulate
from grassroots.inference import Diagnostics, Fit
from grassroots.inference.diagnostics import flatten
from grassroots.models import load_spec, prepare_inputs


def small_study(seed: int = 3) -> pd.DataFrame:
    """~150 projects in ~33 townships in 8 counties, every codebook column (package simulator)."""
    config = config_from_overrides(n_counties=8, townships_per_county=4, projects_per_township=4)
    return simulate(seed=seed, config=config).flat()


def _dims(name: str, outcome: str, levels: tuple[str, ...]) -> tuple[str, ...]:
    for level in levels:
        shared = {
            f"{level}_sd": ("outcome",),
            f"{level}_corr": ("outcome", "outcome2"),
            f"{level}_effect": (level, "outcome"),
        }
        if name in shared:
            return shared[name]
    simple = {
        f"{outcome}_beta": (f"{outcome}_term",),
        f"{outcome}_beta_late": (f"{outcome}_late_term",),
        f"{outcome}_log_hazard": (f"{outcome}_interval",),
        f"{outcome}_cutpoints": (f"{outcome}_cut",),
    }
    if name in simple:
        return simple[name]
    for level in levels:
        if name == f"{outcome}_effect_{level}":
            return (level,)
    return ()


def fake_fit(
    spec: Any,
    frame: pd.DataFrame,
    *,
    centres: Mapping[str, Any] | None = None,
    spread: float = 0.1,
    chains: int = 2,
    draws: int = 100,
    seed: int = 0,
    rhat: float = 1.002,
    ess: float = 1500.0,
    divergent: int = 0,
    ebfmi: tuple[float, ...] = (0.9, 0.95),
    treedepth_hits: int = 0,
    log_likelihood: bool = False,
) -> Fit:
    """A :class:`Fit` of ``spec`` (a shipped spec name or a spec) on ``frame``.

    ``centres`` overrides the centre of a posterior variable (an array of its shape). The
    default centres: coefficients ``0.1 * (k + 1) * (-1) ** k`` for the k-th term, log hazards
    ``log(0.02)``, cut points ``(-2, -0.7, 0.5, 1.8)``, intercept ``-0.3``, SD ``0.4`` for the
    outer level and ``0.6`` for the inner one, and group effects drawn once from N(0, SD).
    """
    spec = load_spec(spec)
    inputs = prepare_inputs(spec, frame)
    coords = {k: v for k, v in inputs.coords().items() if not k.endswith("_obs")}
    rng = np.random.default_rng(seed)
    pattern = rng.standard_normal((chains, draws))
    centres = dict(centres or {})
    values: dict[str, np.ndarray] = {}
    levels = spec.levels
    for outcome in spec.outcomes:
        o = outcome.name
        terms = coords[f"{o}_term"]
        defaults: dict[str, np.ndarray] = {}
        if terms:
            k = np.arange(len(terms))
            defaults[f"{o}_beta"] = 0.1 * (k + 1) * (-1.0) ** k
        if outcome.family == "survival":
            defaults[f"{o}_log_hazard"] = np.full(len(coords[f"{o}_interval"]), np.log(0.02))
            if outcome.time_varying:
                defaults[f"{o}_beta_late"] = np.full(len(coords[f"{o}_late_term"]), 0.5)
        elif outcome.family == "ordinal":
            defaults[f"{o}_cutpoints"] = np.array([-2.0, -0.7, 0.5, 1.8])
        else:
            defaults[f"{o}_intercept"] = np.array(-0.3)
        for position, level in enumerate(levels):
            if level == spec.correlated:
                continue
            sd = float(centres.get(f"{o}_sd_{level}", 0.4 if position == 0 else 0.6))
            defaults[f"{o}_sd_{level}"] = np.array(sd)
            defaults[f"{o}_effect_{level}"] = rng.normal(0.0, sd, len(coords[level]))
        for name, default in defaults.items():
            centre = np.asarray(centres.get(name, default), dtype=float)
            extra = (None,) * centre.ndim
            if "_sd_" in name:
                values[name] = centre * np.exp(0.2 * pattern)
            else:
                values[name] = centre[None, None, ...] + spread * pattern[(..., *extra)]
    shared: dict[str, np.ndarray] = {}
    if spec.correlated is not None:
        # One SD per outcome and a correlation matrix at the correlated level (structural spec).
        level, k = spec.correlated, len(spec.outcomes)
        sds = np.linspace(0.5, 0.8, k)
        shared[f"{level}_sd"] = sds[None, None, :] * np.exp(0.2 * pattern)[..., None]
        shared[f"{level}_corr"] = np.broadcast_to(np.eye(k), (chains, draws, k, k)).copy()
        effects = rng.normal(0.0, 1.0, (len(coords[level]), k)) * sds
        shared[f"{level}_effect"] = effects[None, None] + spread * pattern[..., None, None]
    variables = {
        name: (("chain", "draw", *_dims(name, o.name, levels)), array)
        for o in spec.outcomes
        for name, array in values.items()
        if name.startswith(f"{o.name}_")
    }
    variables |= {name: (("chain", "draw", *_dims(name, "", levels)), array)
                  for name, array in shared.items()}  # fmt: skip
    posterior = xr.Dataset(
        variables,
        coords={
            **{k: v for k, v in coords.items() if any(k == d for d in _all_dims(spec, levels))},
            "chain": np.arange(chains),
            "draw": np.arange(draws),
        },
    )
    groups = {"posterior": posterior}
    if log_likelihood:
        # Rows differ in fit (so the elpd has a standard error), draws vary a little.
        pointwise = {}
        for o in spec.outcomes:
            n = int(inputs.outcomes[o.name].observed.sum())
            rows = rng.normal(-1.2, 0.5, n)
            pointwise[o.name] = (
                ("chain", "draw", f"{o.name}_obs"),
                rows[None, None, :] + rng.normal(0.0, 0.05, (chains, draws, n)),
            )
        groups["log_likelihood"] = xr.Dataset(
            pointwise, coords={"chain": np.arange(chains), "draw": np.arange(draws)}
        )
    labels = flatten(posterior.drop_vars([n for n in posterior.data_vars if "_effect_" in n])).index
    table = pd.DataFrame(
        {"r_hat": 1.0005, "ess_bulk": 2000.0, "ess_tail": 2000.0}, index=labels
    )
    # The worst element carries the requested numbers, so overview() reports them exactly.
    table.iloc[0] = [rhat, ess, ess]
    diagnostics = Diagnostics(table, divergent, chains * draws, treedepth_hits, ebfmi)
    return Fit(
        spec=spec,
        trace=xr.DataTree.from_dict(groups),
        scaling=inputs.scaling,
        composite=inputs.groups.composite,
        data_hash=data_hash(frame),
        seed=seed,
        diagnostics=diagnostics,
        counts=inputs.summary_counts(),
        timings={"compile_seconds": 1.5, "sample_seconds": 12.25},
        backend="fake",
        model_coords=coords,
    )


def _all_dims(spec: Any, levels: tuple[str, ...]) -> set[str]:
    dims = set(levels) | ({"outcome", "outcome2"} if spec.correlated is not None else set())
    for outcome in spec.outcomes:
        o = outcome.name
        dims |= {f"{o}_term", f"{o}_late_term", f"{o}_interval", f"{o}_cut"}
    return dims


def fits_of(names: Mapping[str, str], frame: pd.DataFrame, **options: Any) -> dict[str, Fit]:
    """``{"M0": "survival_m0", ...}`` -> fake fits, with distinct seeds per model."""
    return {
        key: fake_fit(spec, frame, seed=position, **options.get(key, {}))
        for position, (key, spec) in enumerate(names.items())
    }


SURVIVAL = {f"M{k}": f"survival_m{k}" for k in range(5)}
DEMAND_FIT = {f"M{k}": f"demand_fit_m{k}" for k in range(5)}
STRATEGIES = {
    "extensive": "strategy_extensive",
    "expedient": "strategy_expedient",
    "short_sighted": "strategy_short_sighted",
}
