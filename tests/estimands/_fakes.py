"""Fits with a fake posterior of known values (no sampling), and a small nested study."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from grassroots.inference import Diagnostics, Fit
from grassroots.models import prepare_inputs, spec_from_dict


def small_frame(seed: int = 0, counties: int = 4, townships: int = 3) -> pd.DataFrame:
    """Projects in townships in counties, with the columns of the paper's models."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(counties):
        region = ["east", "central", "west"][c % 3]
        collaboration = int(c % 2)
        for t in range(townships):
            township = {
                "county_id": f"C{c}",
                "township_id": f"T{c}{t}",
                "region": region,
                "collaboration": collaboration,
                "authority": round(float(rng.normal(50, 15)), 1),
                "resources": round(float(rng.normal(3, 0.6)), 2),
                "tech_capacity": round(float(rng.normal(45, 15)), 1),
                "flexibility": round(float(rng.normal(55, 15)), 1),
            }
            for _ in range(int(rng.integers(1, 5))):
                rows.append(
                    township
                    | {
                        "outsourced": int(rng.integers(0, 2)),
                        "project_type": str(rng.choice(["mini_program", "grid_management"])),
                        "extensive": int(rng.integers(0, 2)),
                        "expedient": int(rng.integers(0, 2)),
                        "short_sighted": int(rng.integers(0, 2)),
                        "months": round(float(rng.exponential(30)) + 0.5, 2),
                        "discontinued": int(rng.integers(0, 2)),
                        "demand_fit": int(rng.integers(1, 6)),
                    }
                )
    frame = pd.DataFrame(rows)
    frame["region"] = pd.Categorical(frame["region"], categories=["east", "central", "west"])
    return frame


def make_spec(
    outcomes: Mapping[str, Mapping[str, Any]],
    groups=("county_id", "township_id"),
    correlated: str | bool = False,
    name: str = "fake",
):
    """A spec (structural form) from outcome tables; one outcome gives a single-family spec."""
    table: dict[str, Any] = {
        "name": name,
        "family": "structural",
        "groups": list(groups),
        "outcomes": {k: dict(v) for k, v in outcomes.items()},
        "correlated": correlated,
    }
    if len(outcomes) == 1:
        (only,) = outcomes.values()
        table["spec_family"] = only["family"]
    return spec_from_dict(table)


def _dims(name: str, spec) -> tuple[str, ...]:
    for outcome in spec.outcomes:
        o = outcome.name
        simple = {
            f"{o}_beta": (f"{o}_term",),
            f"{o}_beta_late": (f"{o}_late_term",),
            f"{o}_log_hazard": (f"{o}_interval",),
            f"{o}_cutpoints": (f"{o}_cut",),
        }
        if name in simple:
            return simple[name]
        for level in spec.groups:
            if name == f"{o}_effect_{level.name}":
                return (level.name,)
    for level in spec.groups:
        if name == f"{level.name}_effect":
            return (level.name, "outcome")
        if name == f"{level.name}_sd":
            return ("outcome",)
        if name == f"{level.name}_corr":
            return ("outcome", "outcome2")
    return ()


def fake_fit(
    spec,
    frame: pd.DataFrame,
    values: Mapping[str, Any],
    *,
    chains: int = 2,
    draws: int = 3,
    seed: int = 11,
) -> Fit:
    """A :class:`Fit` whose posterior holds exactly ``values``.

    ``values`` maps a posterior variable to an array of its own shape (the same for every draw)
    or of shape ``(chains, draws, *shape)`` (one value per draw). Group effects and SDs that are
    not given are zero.
    """
    inputs = prepare_inputs(spec, frame)
    coords = {k: v for k, v in inputs.coords().items() if not k.endswith("_obs")}
    full = dict(values)
    for outcome in spec.outcomes:
        for level in spec.groups:
            if level.name == spec.correlated:
                continue
            full.setdefault(
                f"{outcome.name}_effect_{level.name}", np.zeros(len(coords[level.name]))
            )
            full.setdefault(f"{outcome.name}_sd_{level.name}", 0.0)
    if spec.correlated is not None:
        level, k = spec.correlated, len(spec.outcomes)
        full.setdefault(f"{level}_effect", np.zeros((len(coords[level]), k)))
        full.setdefault(f"{level}_sd", np.zeros(k))
        full.setdefault(f"{level}_corr", np.eye(k))
    data = {}
    for name, value in full.items():
        dims = _dims(name, spec)
        array = np.asarray(value, dtype=float)
        if array.ndim == len(dims):
            array = np.broadcast_to(array, (chains, draws, *array.shape)).copy()
        assert array.shape[:2] == (chains, draws), name
        data[name] = (("chain", "draw", *dims), array)
    used = {d for dims, _ in data.values() for d in dims}
    posterior = xr.Dataset(
        data,
        coords={
            **{k: v for k, v in coords.items() if k in used},
            "chain": np.arange(chains),
            "draw": np.arange(draws),
        },
    )
    diagnostics = Diagnostics(
        pd.DataFrame({"r_hat": [1.0], "ess_bulk": [1000.0], "ess_tail": [1000.0]}, index=["x"]),
        0,
        chains * draws,
        0,
    )
    return Fit(
        spec=spec,
        trace=xr.DataTree.from_dict({"posterior": posterior}),
        scaling=inputs.scaling,
        composite=inputs.groups.composite,
        data_hash="fake",
        seed=seed,
        diagnostics=diagnostics,
        model_coords=coords,
    )


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))
