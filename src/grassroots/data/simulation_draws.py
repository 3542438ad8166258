"""The random draws of the simulator, stage by stage: counties, townships, projects, effects.

Each stage draws from its own generator (see :func:`grassroots.data.simulate.simulate`). Values
are rounded to the decimals written to the CSV files (:data:`DECIMALS`) before any linear
predictor uses them, and every term is centred on the simulated projects (:class:`TermDesign`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from grassroots.data.schema import DAYS_PER_MONTH, variable
from grassroots.data.simulation_config import SimulationConfig
from grassroots.data.simulation_rules import CAPACITIES, OUTCOMES, categorical_levels, parse_term
from grassroots.data.simulation_truth import row_correlation

# Decimals written to the CSV files. Values are rounded to these *before* any linear predictor
# is computed, so a reader that parses the CSV sees exactly the values the simulator used.
DECIMALS: dict[str, int] = {
    "fiscal_capacity": 2,
    "population": 1,
    "authority": 1,
    "resources": 2,
    "tech_capacity": 1,
    "proximity": 2,
    "homogeneity": 3,
    "flexibility": 1,
    "months": 2,
}
# Group effects are rounded before use, so the values in truth.json are exact.
_EFFECT_DECIMALS = 6


# Minimum id widths (C001, T0001, P000001); wider when the size needs more digits.
_ID_WIDTH = {"county": 3, "township": 4, "project": 6}


def round_to_decimals(values: np.ndarray, decimals: int) -> np.ndarray:
    # k / 10**d is the double nearest the decimal string "k/10**d", so the CSV round-trips to the
    # very value used here; + 0.0 turns -0.0 into 0.0 so that no "-0.00" is ever written.
    scale = 10.0**decimals
    return np.rint(values * scale) / scale + 0.0


def _categorical(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """Codes drawn from one probability vector, or one row of ``probs`` per unit."""
    u = rng.random(size)
    cum = np.cumsum(probs, axis=-1)
    if cum.ndim == 1:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)


def _counts(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    # At least one child each: a county without townships or a township without projects has
    # nothing to contribute to project-level models.
    return 1 + rng.poisson(mean - 1.0, size)


def _ids(prefix: str, n: int, level: str) -> np.ndarray:
    width = max(_ID_WIDTH[level], len(str(n)))
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class TermDesign:
    """Evaluates centred terms on project-level columns and records them for ``truth.json``."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    def _centred(self, column: str) -> tuple[np.ndarray, float, float]:
        x = self.columns[column].astype(float)
        return x - x.mean(), float(x.mean()), float(x.std())

    def term(self, term: str) -> tuple[np.ndarray, dict[str, Any]]:
        parsed = parse_term(term)
        kind = parsed["kind"]
        if kind == "interaction":
            parts = [self._centred(c) for c in parsed["columns"]]
            value = parts[0][0] * parts[1][0]
            record = {
                "kind": kind,
                "components": {
                    c: {"mean": m, "sd": s}
                    for c, (_, m, s) in zip(parsed["columns"], parts, strict=True)
                },
                "sd_scale": parts[0][2] * parts[1][2],
                "product_mean": float(value.mean()),
            }
            return value, record
        column = parsed["columns"][0]
        if kind == "contrast":
            raw = (self.columns[column] == parsed["level"]).astype(float)
            mean, sd = float(raw.mean()), float(raw.std())
            record = {
                "kind": kind,
                "column": column,
                "level": parsed["level"],
                "reference": parsed["reference"],
            }
            return raw - mean, record | {"mean": mean, "sd": sd, "sd_scale": sd}
        value, mean, sd = self._centred(column)
        record = {"kind": kind, "column": column, "unit": variable(column).unit}
        return value, record | {"mean": mean, "sd": sd, "sd_scale": sd}

    def linear_predictor(
        self, terms: Mapping[str, float], intercept: float = 0.0
    ) -> tuple[np.ndarray, dict[str, Any]]:
        n = len(next(iter(self.columns.values())))
        eta = np.full(n, float(intercept))
        records: dict[str, Any] = {}
        for term, coef in terms.items():
            value, record = self.term(term)
            eta += coef * value
            scale = record.pop("sd_scale")
            records[term] = record | {
                "coef": float(coef),
                "coef_per_sd": float(coef) * scale,
                "exp_coef_per_sd": math.exp(float(coef) * scale),
            }
        return eta, records


@dataclass(frozen=True)
class _CountyDraw:
    ids: np.ndarray
    region: np.ndarray
    region_code: np.ndarray
    fiscal_capacity: np.ndarray
    z_log_fiscal: np.ndarray
    collaboration: np.ndarray
    truth: dict[str, Any]


@dataclass(frozen=True)
class _TownshipDraw:
    ids: np.ndarray
    county_of: np.ndarray
    columns: dict[str, np.ndarray]  # township_type, population and the six capacities
    truth: dict[str, Any]


@dataclass(frozen=True)
class _ProjectDraw:
    ids: np.ndarray
    township_of: np.ndarray
    follow_up: np.ndarray  # months from launch to the survey date, unrounded
    columns: dict[str, np.ndarray]  # project_type, funding_source, launch_date, survey_date


def draw_counties(cfg: SimulationConfig, r: np.random.Generator) -> _CountyDraw:
    """Region, fiscal capacity (log-normal by region) and collaboration (logit on log capacity)."""
    n = cfg.n_counties
    regions = categorical_levels("region")
    code = _categorical(r, np.array([cfg.region_shares[x] for x in regions]), n)
    log_median = np.log([cfg.fiscal_capacity_median[x] for x in regions])[code]
    fiscal = np.maximum(
        round_to_decimals(
            np.exp(log_median + cfg.fiscal_capacity_log_sd * r.standard_normal(n)), 2
        ),
        0.01,
    )
    log_fiscal = np.log(fiscal)
    mean = float(log_fiscal.mean())
    sd = float(log_fiscal.std()) or 1.0  # one county: no spread to standardise by
    eta = cfg.collaboration_intercept + cfg.collaboration_fiscal_slope * (log_fiscal - mean)
    collaboration = (r.random(n) < logistic(eta)).astype(np.int64)
    truth = {
        "level": "county",
        "formula": "logit P(collaboration = 1) = intercept + slope * (log(fiscal_capacity) - mean)",
        "intercept": float(cfg.collaboration_intercept),
        "slope_per_log_fiscal_capacity": float(cfg.collaboration_fiscal_slope),
        "log_fiscal_capacity_mean": mean,
        "log_fiscal_capacity_sd": sd,
    }
    return _CountyDraw(
        ids=_ids("C", n, "county"),
        region=np.asarray(regions, dtype=object)[code],
        region_code=code,
        fiscal_capacity=fiscal,
        z_log_fiscal=(log_fiscal - mean) / sd,
        collaboration=collaboration,
        truth=truth,
    )


def draw_townships(
    cfg: SimulationConfig,
    r_counts: np.random.Generator,
    r: np.random.Generator,
    counties: _CountyDraw,
) -> _TownshipDraw:
    """Township type (by region), population (by type) and the six correlated capacities."""
    county_of = np.repeat(
        np.arange(len(counties.ids)), _counts(r_counts, cfg.townships_per_county, len(counties.ids))
    )
    n = len(county_of)
    regions, types = categorical_levels("region"), categorical_levels("township_type")
    type_probs = np.array([[cfg.township_type_shares[reg][t] for t in types] for reg in regions])
    type_code = _categorical(r, type_probs[counties.region_code[county_of]], n)
    log_median = np.log([cfg.population_median[t] for t in types])[type_code]
    population = np.maximum(
        round_to_decimals(np.exp(log_median + cfg.population_log_sd * r.standard_normal(n)), 1), 0.1
    )
    # Unit-variance latent normals: a share explained by the county's fiscal capacity, the rest
    # correlated within the county; urban sub-districts are shifted (more IT, less homogeneity).
    loading = np.array([cfg.capacity_fiscal_loading[c] for c in CAPACITIES])
    chol = np.linalg.cholesky(np.asarray(cfg.capacity_correlation, dtype=float))
    residual = r.standard_normal((n, len(CAPACITIES))) @ chol.T
    latent = counties.z_log_fiscal[county_of, None] * loading + residual * np.sqrt(1 - loading**2)
    shift = np.array([cfg.capacity_subdistrict_shift[c] for c in CAPACITIES])
    latent += (type_code == types.index("subdistrict"))[:, None] * shift
    loc, scale = cfg.capacity_location, cfg.capacity_scale
    columns: dict[str, np.ndarray] = {
        "township_type": np.asarray(types, dtype=object)[type_code],
        "population": population,
    }
    for j, name in enumerate(CAPACITIES):
        z = latent[:, j]
        if name == "proximity":
            value = np.exp(math.log(loc[name]) + scale[name] * z)
        elif name == "homogeneity":
            value = logistic(math.log(loc[name] / (1.0 - loc[name])) + scale[name] * z)
        else:
            value = loc[name] + scale[name] * z
        if name in ("authority", "tech_capacity", "flexibility"):
            value = np.clip(value, 0.0, 100.0)
        columns[name] = round_to_decimals(value, DECIMALS[name])
    truth = {
        "latent": "z = loading * std(log fiscal_capacity of the county) + "
        "sqrt(1 - loading**2) * e + subdistrict_shift, e ~ MVN(0, capacity_correlation)",
        "transforms": {
            "authority": "location + scale * z, clipped to [0, 100]",
            "resources": "location + scale * z",
            "tech_capacity": "location + scale * z, clipped to [0, 100]",
            "proximity": "exp(log(location) + scale * z)",
            "homogeneity": "logistic(logit(location) + scale * z)",
            "flexibility": "location + scale * z, clipped to [0, 100]",
        },
        "realised_correlation": {
            "names": list(CAPACITIES),
            "matrix": row_correlation(np.vstack([columns[c] for c in CAPACITIES])),
        },
    }
    return _TownshipDraw(_ids("T", n, "township"), county_of, columns, truth)


def draw_project_context(
    cfg: SimulationConfig,
    r_counts: np.random.Generator,
    r: np.random.Generator,
    townships: _TownshipDraw,
) -> _ProjectDraw:
    """Project type, funding source and launch date (uniform over the launch window)."""
    township_of = np.repeat(
        np.arange(len(townships.ids)),
        _counts(r_counts, cfg.projects_per_township, len(townships.ids)),
    )
    n = len(township_of)
    project_types, funding_sources = (
        categorical_levels("project_type"),
        categorical_levels("funding_source"),
    )
    ptype = _categorical(r, np.array([cfg.project_type_shares[x] for x in project_types]), n)
    fund = _categorical(r, np.array([cfg.funding_source_shares[x] for x in funding_sources]), n)
    start = np.datetime64(cfg.launch_start, "D")
    survey = np.datetime64(cfg.survey_date, "D")
    window = int((np.datetime64(cfg.launch_end, "D") - start).astype(int))
    launch = start + r.integers(0, window + 1, n).astype("timedelta64[D]")
    columns = {
        "project_type": np.asarray(project_types, dtype=object)[ptype],
        "funding_source": np.asarray(funding_sources, dtype=object)[fund],
        "launch_date": launch.astype(str).astype(object),
        "survey_date": np.full(n, str(survey), dtype=object),
    }
    follow_up = (survey - launch).astype(np.int64) / DAYS_PER_MONTH
    return _ProjectDraw(_ids("P", n, "project"), township_of, follow_up, columns)


def draw_group_effects(
    cfg: SimulationConfig, r: np.random.Generator, n_counties: int, n_townships: int
) -> tuple[np.ndarray, np.ndarray]:
    """County effects (independent per outcome) and township effects (correlated across them).

    Both are rounded to fixed decimals before use, so that truth.json holds them exactly.
    """
    county_sd = np.array([cfg.county_effect_sd[o] for o in OUTCOMES])
    township_sd = np.array([cfg.township_effect_sd[o] for o in OUTCOMES])
    u_county = round_to_decimals(
        r.standard_normal((n_counties, len(OUTCOMES))) * county_sd, _EFFECT_DECIMALS
    )
    chol = np.linalg.cholesky(np.asarray(cfg.township_effect_correlation, dtype=float))
    u_township = round_to_decimals(
        (r.standard_normal((n_townships, len(OUTCOMES))) @ chol.T) * township_sd, _EFFECT_DECIMALS
    )
    return u_county, u_township


def event_times(
    exponential: np.ndarray,
    eta: np.ndarray,
    late_indicator: np.ndarray,
    *,
    shape: float,
    scale: float,
    log_hr_late: float,
    onset: float,
) -> np.ndarray:
    """Event times of a Weibull PH model whose covariate acts only after ``onset``, exactly.

    The hazard is ``h(t) = shape/scale * (t/scale)**(shape-1) * exp(eta + log_hr_late * x *
    1[t > onset])``. With ``H0(t) = (t/scale)**shape`` the cumulative hazard is
    ``exp(eta) * H0(t)`` up to the onset and
    ``exp(eta) * (H0(onset) + exp(log_hr_late * x) * (H0(t) - H0(onset)))`` after it; setting it
    equal to a unit exponential draw and solving for ``t`` inverts it exactly.

    Parameters
    ----------
    exponential : ndarray
        Unit exponential draws, one per project.
    eta : ndarray
        Time-constant linear predictor (group effects included).
    late_indicator : ndarray
        The covariate that acts after the onset (``short_sighted``, 0/1).
    shape, scale : float
        Weibull baseline; ``scale`` in months.
    log_hr_late : float
        Log hazard ratio of ``late_indicator`` after the onset.
    onset : float
        Months after which the time-varying effect applies.

    Returns
    -------
    ndarray
        Event times in months.
    """
    target = exponential * np.exp(-eta)  # the baseline cumulative hazard reached at the event
    at_onset = (onset / scale) ** shape
    baseline = np.where(
        target <= at_onset,
        target,
        at_onset + (target - at_onset) * np.exp(-log_hr_late * late_indicator),
    )
    return scale * baseline ** (1.0 / shape)
