"""A small known-parameter generator of flat project tables, for tests only.

It mirrors the codebook's columns (counties > townships > projects) so the shipped specs can run
on it, and returns the true coefficients so recovery can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TRUE_CUTS = (6.0, 12.0, 24.0, 48.0)
TRUE_LOG_HAZARD = np.log([0.010, 0.015, 0.020, 0.015, 0.010])


@dataclass
class Truth:
    survival_beta: dict[str, float] = field(
        default_factory=lambda: {"authority": -0.3, "resources": -0.4, "extensive": 0.5}
    )
    demand_beta: dict[str, float] = field(
        default_factory=lambda: {"tech_capacity": 0.5, "proximity": 0.3, "extensive": -0.6}
    )
    extensive_beta: dict[str, float] = field(
        default_factory=lambda: {"resources": -0.5, "flexibility": 0.4}
    )
    expedient_beta: dict[str, float] = field(default_factory=lambda: {"authority": -0.6})
    cutpoints: tuple[float, ...] = (-2.0, -0.7, 0.5, 1.8)
    extensive_intercept: float = -0.3
    expedient_intercept: float = -0.5
    sd_county: float = 0.3
    sd_township: float = 0.4


def simulate_flat(
    seed: int,
    n_counties: int = 8,
    townships_per_county: int = 5,
    projects_per_township: int = 5,
    truth: Truth | None = None,
    group_effects: bool = True,
) -> tuple[pd.DataFrame, Truth]:
    """Simulate a flat table with known parameters (standardised predictors)."""
    truth = truth or Truth()
    rng = np.random.default_rng(seed)
    n_t = n_counties * townships_per_county
    n = n_t * projects_per_township
    county_of_t = np.repeat(np.arange(n_counties), townships_per_county)
    town = np.repeat(np.arange(n_t), projects_per_township)
    county = county_of_t[town]

    def township_level(loc: float, scale: float) -> np.ndarray:
        return (loc + scale * rng.standard_normal(n_t))[town]

    frame = pd.DataFrame(
        {
            "county_id": [f"C{c:02d}" for c in county],
            "township_id": [f"T{t:03d}" for t in town],
            "project_id": [f"P{i:04d}" for i in range(n)],
            "region": np.array(["east", "central", "west"])[county % 3],
            "fiscal_capacity": np.exp(rng.normal(1.5, 0.4, n_counties))[county],
            "collaboration": (rng.random(n_counties) < 0.5).astype(int)[county],
            "township_type": np.array(["township", "town", "subdistrict"])[rng.integers(0, 3, n_t)][
                town
            ],
            "population": np.exp(rng.normal(3.5, 0.5, n_t))[town],
            "authority": np.clip(township_level(50, 15), 0, 100),
            "resources": township_level(3.0, 0.8),
            "tech_capacity": np.clip(township_level(50, 15), 0, 100),
            "proximity": np.abs(township_level(2.0, 0.7)),
            "homogeneity": np.clip(township_level(0.6, 0.15), 0, 1),
            "flexibility": np.clip(township_level(50, 15), 0, 100),
            "project_type": rng.choice(
                ["mini_program", "smart_community", "grid_management", "elderly_care", "other"], n
            ),
            "funding_source": rng.choice(
                ["special_fund", "regular_budget", "enterprise_cobuilt"], n
            ),
            "outsourced": (rng.random(n) < 0.5).astype(int),
        }
    )

    def z(column: str) -> np.ndarray:
        values = frame[column].to_numpy(dtype=float)
        return (values - values.mean()) / values.std(ddof=1)

    def effects(sd_c: float, sd_t: float) -> np.ndarray:
        if not group_effects:
            return np.zeros(n)
        return (sd_c * rng.standard_normal(n_counties))[county] + (sd_t * rng.standard_normal(n_t))[
            town
        ]

    eta_ext = truth.extensive_intercept + sum(b * z(c) for c, b in truth.extensive_beta.items())
    eta_ext = eta_ext + effects(truth.sd_county, truth.sd_township)
    frame["extensive"] = (rng.random(n) < 1 / (1 + np.exp(-eta_ext))).astype(int)
    eta_exp = truth.expedient_intercept + sum(b * z(c) for c, b in truth.expedient_beta.items())
    eta_exp = eta_exp + effects(truth.sd_county, truth.sd_township)
    frame["expedient"] = (rng.random(n) < 1 / (1 + np.exp(-eta_exp))).astype(int)
    frame["short_sighted"] = (rng.random(n) < 1 / (1 + np.exp(-(frame["expedient"] - 0.5)))).astype(
        int
    )

    def linear(betas: dict[str, float]) -> np.ndarray:
        # Binary predictors enter as 0/1 (as the package does), continuous ones standardised.
        return sum(
            b * (frame[c].to_numpy(float) if c in ("extensive", "expedient") else z(c))
            for c, b in betas.items()
        )

    eta_s = linear(truth.survival_beta) + effects(truth.sd_county, truth.sd_township)
    frame["months"], frame["discontinued"] = _piecewise_times(rng, eta_s)
    eta_d = linear(truth.demand_beta) + effects(truth.sd_county, truth.sd_township)
    latent = eta_d + rng.logistic(size=n)
    rating = 1 + np.searchsorted(np.asarray(truth.cutpoints), latent)
    demand = rating.astype(float)
    demand[rng.random(n) < 0.1] = np.nan
    frame["demand_fit"] = demand
    return frame, truth


def _piecewise_times(rng: np.random.Generator, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invert the piecewise cumulative hazard; censor uniformly between 12 and 120 months."""
    starts = np.concatenate([[0.0], TRUE_CUTS])
    rates = np.exp(TRUE_LOG_HAZARD)
    knots = np.concatenate([[0.0], np.cumsum(rates[:-1] * np.diff(starts))])
    target = rng.exponential(size=eta.size) / np.exp(eta)
    piece = np.searchsorted(knots, target, side="right") - 1
    times = starts[piece] + (target - knots[piece]) / rates[piece]
    censor = rng.uniform(12, 120, eta.size)
    observed = np.minimum(times, censor)
    return np.round(observed, 2), (times <= censor).astype(int)
