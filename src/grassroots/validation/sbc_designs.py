"""SBC designs: the spec, data size and sampler of every family, its covariates and its seeds.

Seeds: one master seed; ``SeedSequence(seed).spawn`` gives the covariate data, then one child
per family (by its position in :data:`ALL_FAMILIES`, so running a subset gives the same draws);
each family's child spawns one seed per chunk and one for the PIT jitter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grassroots.data.schema import DAYS_PER_MONTH
from grassroots.data.simulate import SimulationConfig, simulate
from grassroots.models import ModelSpec, spec_from_dict

ALL_FAMILIES: tuple[str, ...] = (
    "survival_piecewise",
    "survival_weibull",
    "ordinal",
    "logistic",
    "structural",
)

#: Master seed of an SBC run. Its own constant, not the bundled study's BUNDLED_SEED although
#: the number is the same: SBC draws its covariates from children of this seed, never the
#: bundled study, and a redrawn bundled study must not change the recorded SBC results.
DEFAULT_SEED = 20250325


# Bounds of the draws kept per fit (its min bulk ESS in between): ranks run over 0..L.
MAX_KEPT = 100
MIN_KEPT = 20


@dataclass(frozen=True)
class DataSize:
    """Size of the covariate data set (see :class:`grassroots.data.simulate.SimulationConfig`)."""

    n_counties: int = 4
    townships_per_county: float = 7.5
    projects_per_township: float = 6.0


@dataclass(frozen=True)
class FamilyDesign:
    """One family's SBC set-up.

    Attributes
    ----------
    name : str
    table : Mapping
        The spec as :func:`grassroots.models.spec_from_dict` takes it (the ``[sampler]`` table
        holds chains, draws, tune and target_accept of every fit).
    size : DataSize
    max_kept, min_kept : int
        Bounds of the posterior draws kept per fit (see :func:`kept_size`).
    simulated : bool
        Whether the data come from :class:`OutcomeSimulator` (else from PyMC's prior
        predictive draws).
    """

    name: str
    table: Mapping[str, Any]
    size: DataSize = DataSize()
    max_kept: int = MAX_KEPT
    min_kept: int = MIN_KEPT
    simulated: bool = True

    def spec(self) -> ModelSpec:
        return spec_from_dict(dict(self.table), source=f"sbc:{self.name}")


_GROUPS = ["county_id", "township_id"]
_SURVIVAL_OUTCOME = {"time": "months", "event": "discontinued"}
# Short cuts keep every interval populated in ~170 projects followed for up to ~9 years; 12 is
# a cut because the late effect starts there.
_CUTS = [6, 12, 24, 48]
# One chain: a second would double the tuning for little ESS; each fit is thinned to its ESS.
_SAMPLER = {"chains": 1, "draws": 500, "tune": 300, "target_accept": 0.9, "backend": "pymc"}

FAMILY_DESIGNS: dict[str, FamilyDesign] = {
    "survival_piecewise": FamilyDesign(
        "survival_piecewise",
        {
            "name": "sbc_survival_piecewise",
            "family": "survival",
            "groups": _GROUPS,
            "predictors": [
                "authority",
                "resources",
                "tech_capacity",
                "outsourced",
                "short_sighted",
            ],
            "time_varying": {"short_sighted": 12},
            "outcome": _SURVIVAL_OUTCOME,
            "baseline": {"kind": "piecewise", "cuts": _CUTS},
            "sampler": _SAMPLER,
        },
    ),
    "survival_weibull": FamilyDesign(
        "survival_weibull",
        {
            "name": "sbc_survival_weibull",
            "family": "survival",
            "groups": _GROUPS,
            "predictors": [
                "authority",
                "resources",
                "tech_capacity",
                "outsourced",
                "short_sighted",
            ],
            "interactions": ["tech_capacity:outsourced"],
            "time_varying": {"short_sighted": 12},
            "outcome": _SURVIVAL_OUTCOME,
            "baseline": {"kind": "weibull"},
            "sampler": _SAMPLER,
        },
    ),
    "ordinal": FamilyDesign(
        "ordinal",
        {
            "name": "sbc_ordinal",
            "family": "ordinal",
            "groups": _GROUPS,
            "predictors": ["tech_capacity", "proximity", "homogeneity", "outsourced", "extensive"],
            "outcome": {"column": "demand_fit", "levels": [1, 2, 3, 4, 5]},
            "sampler": _SAMPLER,
        },
    ),
    "logistic": FamilyDesign(
        "logistic",
        {
            "name": "sbc_logistic",
            "family": "logistic",
            "groups": _GROUPS,
            "predictors": ["authority", "resources", "flexibility", "outsourced"],
            "outcome": {"column": "expedient"},
            # As strategy_expedient.toml: a binary outcome's township SD mixes slowly near zero.
            "sampler": {**_SAMPLER, "target_accept": 0.95},
        },
        simulated=False,
    ),
    "structural": FamilyDesign(
        "structural",
        {
            "name": "sbc_structural",
            "family": "structural",
            # One level, the correlated one: county effects of five outcomes on three counties
            # are prior-only funnels that cost far more sampling than they test; the single
            # families test county effects.
            "groups": ["township_id"],
            "correlated": "township",
            "priors": {"lkj_eta": 2},
            "outcomes": {
                "survival": {
                    "family": "survival",
                    **_SURVIVAL_OUTCOME,
                    "predictors": ["authority", "resources", "extensive", "expedient"]
                    + ["short_sighted"],
                    "baseline": {"kind": "piecewise", "cuts": _CUTS},
                    "time_varying": {"short_sighted": 12},
                },
                "demand_fit": {
                    "family": "ordinal",
                    "column": "demand_fit",
                    "levels": [1, 2, 3, 4, 5],
                    "predictors": ["tech_capacity", "proximity", "extensive", "expedient"],
                },
                "extensive": {
                    "family": "logistic",
                    "column": "extensive",
                    "predictors": ["resources", "flexibility", "tech_capacity"],
                },
                "expedient": {
                    "family": "logistic",
                    "column": "expedient",
                    "predictors": ["authority", "outsourced"],
                },
                "short_sighted": {
                    "family": "logistic",
                    "column": "short_sighted",
                    "predictors": ["resources", "extensive", "expedient"],
                },
            },
            # The joint model costs ~5x a single family per fit (compile and gradient): a
            # shorter chain, still thinned to its ESS.
            "sampler": {**_SAMPLER, "draws": 400},
        },
        size=DataSize(n_counties=3, townships_per_county=7.0, projects_per_township=6.0),
    ),
}


def covariate_frame(seed: int, size: DataSize = DataSize()) -> pd.DataFrame:
    """The fixed covariates: a small simulated study, flattened, with each project's follow-up.

    The study's own outcome columns stay in (the models need them to be built) but every SBC
    simulation replaces the outcomes it models. Missing ratings are filled, so that every row
    enters every outcome's likelihood.

    Parameters
    ----------
    seed : int
        Seed of :func:`grassroots.data.simulate.simulate`.
    size : DataSize
    """
    config = SimulationConfig(
        n_counties=size.n_counties,
        townships_per_county=size.townships_per_county,
        projects_per_township=size.projects_per_township,
    )
    frame = simulate(seed, config).flat()
    days = pd.to_datetime(frame["survey_date"]) - pd.to_datetime(frame["launch_date"])
    frame["follow_up"] = days.dt.days.to_numpy(dtype=float) / DAYS_PER_MONTH
    frame["demand_fit"] = frame["demand_fit"].fillna(3).astype("int64")
    return frame


def _seed_int(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _family_sequences(seed: int) -> tuple[np.random.SeedSequence, dict[str, Any]]:
    """The data's and each family's SeedSequence; always spawned in full, so stable by name."""
    data, *families = np.random.SeedSequence(seed).spawn(1 + len(ALL_FAMILIES))
    return data, dict(zip(ALL_FAMILIES, families, strict=True))


def data_seed(seed: int) -> int:
    """Seed of the covariate data set, derived from the master seed."""
    return _seed_int(_family_sequences(seed)[0])


def chunk_seeds(seed: int, family: str, n_chunks: int) -> tuple[list[int], int]:
    """Seeds of a family's chunks and of its PIT jitter, derived from the master seed.

    Chunk ``i``'s seed depends on ``(seed, family, i)`` only, not on ``n_chunks``.

    Returns
    -------
    chunk_seeds : list of int
    jitter_seed : int
    """
    if family not in ALL_FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {ALL_FAMILIES}")
    chunks_parent, jitter = _family_sequences(seed)[1][family].spawn(2)
    seeds = [_seed_int(child) for child in chunks_parent.spawn(n_chunks)]
    return seeds, _seed_int(jitter)


@dataclass(frozen=True)
class ChunkTask:
    """One Dask task: ``n_simulations`` SBC simulations of one family from one seed."""

    family: str
    chunk: int
    n_simulations: int
    seed: int
    data_seed: int
    design: FamilyDesign


def plan_chunks(
    family: str,
    n_simulations: int,
    seed: int,
    chunk_size: int,
    design: FamilyDesign | None = None,
) -> list[ChunkTask]:
    """Split a family's simulations into chunks of at most ``chunk_size``, each with its seed."""
    if n_simulations < 1 or chunk_size < 1:
        raise ValueError("n_simulations and chunk_size must be at least 1")
    design = design if design is not None else FAMILY_DESIGNS[family]
    n_chunks = math.ceil(n_simulations / chunk_size)
    sizes = [chunk_size] * (n_chunks - 1) + [n_simulations - chunk_size * (n_chunks - 1)]
    seeds, _ = chunk_seeds(seed, family, n_chunks)
    return [
        ChunkTask(family, i, size, chunk_seed, data_seed(seed), design)
        for i, (size, chunk_seed) in enumerate(zip(sizes, seeds, strict=True))
    ]
