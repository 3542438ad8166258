"""Simulate a study from the paper's causal structure, with every true parameter recorded.

The simulator draws the three canonical tables of :mod:`grassroots.data.schema` (``counties`` >
``townships`` > ``projects``) from the directions argued by Li Yang (2025), as the project's
design note "From the paper to the models" maps them:

* county context: region, fiscal capacity (log-normal, higher in the east) and a
  cross-department collaboration mechanism (more likely where fiscal capacity is high);
* township capacities (authority, resources, tech_capacity) and strengths (proximity,
  homogeneity, flexibility), correlated, and raised by county fiscal capacity;
* strategies: ``extensive`` rises with scarce resources, high flexibility and weak technical
  capacity; ``expedient`` rises with weak authority and falls with collaboration;
* dilemmas: ``short_sighted`` rises with expedient governance and scarce resources; the hazard of
  discontinuation (Weibull proportional hazards, right-censored at the survey date) falls with
  authority, resources, tech capacity and collaboration, rises with the strategies, rises with
  short-sightedness after the first year, and collaboration flattens the authority slope;
  demand fit (cumulative logit, 1-5) rises with tech capacity, proximity and homogeneity, falls
  with the strategies and outsourcing, and weak tech capacity hurts outsourced projects most.

Every linear predictor is computed from the values **as written to the CSV files** (rounded
first) with coefficients per natural unit applied to ``x - mean(x)``, the mean taken over the
simulated projects. ``truth.json`` records each coefficient per natural unit, the mean and SD of
its predictor and the coefficient per SD, so that a model fitted on standardised predictors can
be compared with the truth directly.

Examples
--------
>>> from grassroots.data.simulate import SimulationConfig, simulate
>>> sim = simulate(seed=1, config=SimulationConfig(n_counties=5))
>>> sorted(sim.tables)
['counties', 'projects', 'townships']
>>> sim.truth["seed"]
1
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from grassroots._io import atomic_directory
from grassroots._paths import bundled_data_dir
from grassroots.data.schema import TableName, table_variables, variable

__all__ = [
    "BUNDLED_SEED",
    "DAYS_PER_MONTH",
    "OUTCOMES",
    "SimulatedStudy",
    "SimulationConfig",
    "SimulationConfigError",
    "config_from_overrides",
    "event_times",
    "national_config",
    "parameter_table",
    "regenerate_bundled_study",
    "simulate",
    "truth_json",
    "write_simulation",
]

#: Seed of the bundled study in ``data/synthetic_study`` (drawn with the default config).
BUNDLED_SEED = 20250325
#: Length of a month in days (the Julian year / 12); ``months`` = days / DAYS_PER_MONTH.
DAYS_PER_MONTH = 30.4375
#: The five project-level outcomes, in the order of the township-effect correlation matrix.
OUTCOMES: tuple[str, ...] = ("survival", "demand_fit", "extensive", "expedient", "short_sighted")
#: The six township capacities and strengths, in the order of ``capacity_correlation``.
CAPACITIES: tuple[str, ...] = (
    "authority",
    "resources",
    "tech_capacity",
    "proximity",
    "homogeneity",
    "flexibility",
)
TRUTH_FILE = "truth.json"
TRUTH_SCHEMA_VERSION = 1

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
# Significant digits of the other floats in truth.json: hides last-ulp differences of summations
# between platforms, so the file is stable wherever the draws are.
_TRUTH_SIGNIFICANT = 12
# Minimum id widths (C001, T0001, P000001); wider when the size needs more digits.
_ID_WIDTH = {"county": 3, "township": 4, "project": 6}
# Which columns each outcome may use, by stage of the causal order: strategies see the context,
# short-sightedness also sees the strategies, survival and demand fit see everything before them.
_CONTEXT_COLUMNS = (
    "fiscal_capacity",
    "collaboration",
    "region",
    "population",
    *CAPACITIES,
    "township_type",
    "project_type",
    "funding_source",
    "outsourced",
)
_AVAILABLE: dict[str, tuple[str, ...]] = {
    "extensive": _CONTEXT_COLUMNS,
    "expedient": _CONTEXT_COLUMNS,
    "short_sighted": (*_CONTEXT_COLUMNS, "extensive", "expedient"),
    "survival": (*_CONTEXT_COLUMNS, "extensive", "expedient", "short_sighted"),
    "demand_fit": (*_CONTEXT_COLUMNS, "extensive", "expedient", "short_sighted"),
    "outsourced": tuple(column for column in _CONTEXT_COLUMNS if column != "outsourced"),
}
_CATEGORICAL = ("region", "township_type", "project_type", "funding_source")
_STAGES = (
    "counties",
    "township_counts",
    "townships",
    "project_counts",
    "projects",
    "group_effects",
    "strategies",
    "short_sighted",
    "survival",
    "demand_fit",
    "missing",
)


class SimulationConfigError(ValueError):
    """A simulation setting is out of its domain; the message names the field and the fix."""


def _levels(name: str) -> tuple[str, ...]:
    allowed = variable(name).allowed
    assert allowed is not None, name
    return allowed


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy, nested mappings included, so a frozen config cannot be mutated."""
    return MappingProxyType(
        {k: _frozen(v) if isinstance(v, Mapping) else v for k, v in mapping.items()}
    )


def _default(mapping: Mapping[str, Any]) -> Any:
    return field(default_factory=lambda: _frozen(mapping))


# Correlation of the township effects across outcomes, in OUTCOMES order. A township whose projects
# die early (positive survival frailty) tends to rate poorly (demand fit), and to lean on the
# strategies; the strategies go together.
_TOWNSHIP_CORRELATION = (
    (1.0, -0.4, 0.3, 0.2, 0.3),
    (-0.4, 1.0, -0.3, -0.2, -0.2),
    (0.3, -0.3, 1.0, 0.3, 0.3),
    (0.2, -0.2, 0.3, 1.0, 0.3),
    (0.3, -0.2, 0.3, 0.3, 1.0),
)
# Within-county correlation of the six capacities (CAPACITIES order), before fiscal capacity and
# township type are added: the three weaknesses move together, the strengths only loosely.
_CAPACITY_CORRELATION = (
    (1.0, 0.3, 0.2, 0.1, 0.0, 0.15),
    (0.3, 1.0, 0.4, 0.15, 0.0, 0.0),
    (0.2, 0.4, 1.0, 0.1, 0.0, 0.1),
    (0.1, 0.15, 0.1, 1.0, 0.2, 0.1),
    (0.0, 0.0, 0.0, 0.2, 1.0, 0.1),
    (0.15, 0.0, 0.1, 0.1, 0.1, 1.0),
)


@dataclass(frozen=True)
class SimulationConfig:
    """Every setting of the simulator, with defaults that give a study like the bundled one.

    Frozen: derive variants with :func:`dataclasses.replace` or :func:`config_from_overrides`
    (which merges partial mappings into the defaults). Mapping fields are read-only.

    Terms (keys of ``coefficients`` and ``outsourced_coefficients``) are a column name
    (continuous or 0/1), a contrast ``column[level]`` of a categorical column against its
    reference level (the first level in the codebook), or an interaction ``a:b`` of two
    numeric columns. Each term enters as ``coef * (x - mean(x))``, the mean over the simulated
    projects; an interaction enters as ``coef * (a - mean(a)) * (b - mean(b))``, so a main effect
    is the slope at the mean of the other factor. Coefficients are per natural unit of the
    column as the codebook defines it (index point, log CNY, grid worker per 1000 residents,
    share, thousand CNY per resident, 0/1).

    Attributes
    ----------
    n_counties : int
        Number of counties (48).
    townships_per_county : float
        Mean townships per county (12.5); counts are ``1 + Poisson(mean - 1)``, so ~600 in all.
    projects_per_township : float
        Mean projects per township (4.5); counts are ``1 + Poisson(mean - 1)``, ~2,700 in all.
    survey_date : str
        Date of the survey, YYYY-MM-DD (2025-06-30); survival is right-censored there.
    launch_start, launch_end : str
        Launch dates are uniform over these days, inclusive (2016-01-01 to 2025-03-31), so
        follow-up runs from ~3 to ~114 months.
    region_shares : mapping
        Probability of each region for a county (east 0.40, central 0.35, west 0.25).
    fiscal_capacity_median : mapping
        Median county fiscal capacity by region, thousand CNY per resident (east 6.0, central
        3.5, west 3.0); budget revenue per resident is markedly higher in the east.
    fiscal_capacity_log_sd : float
        SD of log fiscal capacity within a region (0.45).
    collaboration_intercept : float
        Log-odds of a collaboration mechanism at the mean log fiscal capacity (-0.4, ~40%).
    collaboration_fiscal_slope : float
        Log-odds per unit of log fiscal capacity (1.0): richer counties set up standing
        mechanisms more often.
    township_type_shares : mapping
        Probability of township / town / subdistrict by region; the east is more urban.
    population_median : mapping
        Median population by township type, thousand residents (township 15, town 35,
        subdistrict 60).
    population_log_sd : float
        SD of log population within a type (0.5).
    capacity_location : mapping
        Location of each capacity: mean for ``authority`` (50), ``resources`` (3.0 log CNY per
        resident, i.e. ~20 CNY), ``tech_capacity`` (45), ``flexibility`` (55); median for
        ``proximity`` (1.8 grid workers per 1000, log-normal) and ``homogeneity`` (0.62,
        logit-normal).
    capacity_scale : mapping
        Scale of each capacity: SD on the natural scale for the normal ones (authority 15,
        resources 0.6, tech_capacity 15, flexibility 15), SD of the log for proximity (0.35) and
        of the logit for homogeneity (0.5). Index values are clipped to [0, 100] (<0.1% of them).
    capacity_correlation : tuple of tuples
        Within-county correlation of the six capacities' latent normals (order: authority,
        resources, tech_capacity, proximity, homogeneity, flexibility).
    capacity_fiscal_loading : mapping
        Correlation of each capacity's latent normal with the county's standardised log fiscal
        capacity (authority 0.2, resources 0.45, tech_capacity 0.35, proximity 0.1, others 0);
        the latent normal keeps unit variance.
    capacity_subdistrict_shift : mapping
        Shift of the latent normal (in SDs) for urban sub-districts (tech_capacity +0.3,
        resources +0.2, proximity +0.3, homogeneity -0.3, authority -0.1).
    project_type_shares, funding_source_shares : mapping
        Probability of each project type (mini_program 0.30, smart_community 0.20,
        grid_management 0.20, elderly_care 0.15, other 0.15) and funding source (special_fund
        0.45, regular_budget 0.35, enterprise_cobuilt 0.20).
    outsourced_intercept : float
        Log-odds of outsourcing at the means (0.2, ~55%).
    outsourced_coefficients : mapping
        Terms of the outsourcing logit: weak tech capacity (-0.03 per point) and enterprise
        co-building (+1.0) make outsourcing likelier.
    intercepts : mapping
        Log-odds at the predictor means with zero group effects: extensive -0.6 (~35%),
        expedient -0.85 (~30%), short_sighted -0.6 (~35%).
    coefficients : mapping of mappings
        Terms per outcome, per natural unit (per SD in brackets, at the default SDs):

        * ``extensive`` (logit): resources -0.8 (-0.48), flexibility +0.03 (+0.45),
          tech_capacity -0.02 (-0.30).
        * ``expedient`` (logit): authority -0.035 (-0.52), collaboration -0.6 (-0.30).
        * ``short_sighted`` (logit): expedient +0.9, extensive +0.4, resources -0.7 (-0.42),
          funding_source[regular_budget] -0.5 (a regular budget line does fund upkeep).
        * ``survival`` (log hazard ratio): authority -0.02 (-0.30) at mean collaboration,
          collaboration -0.35, collaboration:authority +0.02 (authority slope ~-0.029 without
          and ~-0.009 with a mechanism), resources -0.35 (-0.21), tech_capacity -0.012 (-0.18),
          extensive +0.45, expedient +0.35, funding_source[regular_budget] -0.2,
          project_type[grid_management] -0.2 (mandated systems persist).
        * ``demand_fit`` (cumulative logit, higher is better): tech_capacity +0.025 (+0.37) at
          mean outsourcing, outsourced -0.3, tech_capacity:outsourced +0.02 (tech slope ~0.014
          in-house, ~0.034 outsourced), proximity +0.5 (+0.33), homogeneity +2.5 (+0.28),
          extensive -0.5, expedient -0.4.
    weibull_shape : float
        Shape of the Weibull baseline (1.2: the hazard rises slowly as funding dries up).
    weibull_scale : float
        Scale of the Weibull baseline in months (60), tuned so ~40% of projects are censored.
        The hazard is ``h(t) = shape / scale * (t / scale) ** (shape - 1) * exp(eta(t))``.
    short_sighted_log_hr : float
        Log hazard ratio of ``short_sighted`` after the onset (0.6; HR 1.8); zero before it. The
        term is not centred: a centred time-varying term would kink the baseline at the onset.
    short_sighted_onset_months : float
        Onset of the short-sighted effect, months after launch (12: funding for the first year
        runs out).
    cutpoints : tuple of 4 floats
        Cut points of the cumulative logit, ``P(fit <= k) = logistic(c_k - eta)``
        (-2.4, -1.2, 0.15, 1.6: ~8/15/30/29/18% at eta = 0).
    county_effect_sd : mapping
        SD of the county effects per outcome, independent across outcomes (survival 0.3,
        demand_fit 0.3, extensive 0.4, expedient 0.5, short_sighted 0.3): assessment campaigns
        are run by counties, hence the larger county share for ``expedient``.
    township_effect_sd : mapping
        SD of the township effects per outcome (survival 0.4, demand_fit 0.5, extensive 0.5,
        expedient 0.4, short_sighted 0.4).
    township_effect_correlation : tuple of tuples
        Correlation of the township effects across outcomes (order of ``OUTCOMES``): survival
        frailty -0.4 with demand fit, +0.2..0.3 with the strategies and short-sightedness; the
        strategies +0.3 with each other.
    missing_rate_running, missing_rate_discontinued : float
        Probability that a project's rating is missing if it still ran at the survey (0.09) or
        was discontinued (0.18): missing at random given ``discontinued``, ~14% overall.
    """

    n_counties: int = 48
    townships_per_county: float = 12.5
    projects_per_township: float = 4.5
    survey_date: str = "2025-06-30"
    launch_start: str = "2016-01-01"
    launch_end: str = "2025-03-31"
    region_shares: Mapping[str, float] = _default({"east": 0.40, "central": 0.35, "west": 0.25})
    fiscal_capacity_median: Mapping[str, float] = _default(
        {"east": 6.0, "central": 3.5, "west": 3.0}
    )
    fiscal_capacity_log_sd: float = 0.45
    collaboration_intercept: float = -0.4
    collaboration_fiscal_slope: float = 1.0
    township_type_shares: Mapping[str, Mapping[str, float]] = _default(
        {
            "east": {"township": 0.20, "town": 0.50, "subdistrict": 0.30},
            "central": {"township": 0.30, "town": 0.50, "subdistrict": 0.20},
            "west": {"township": 0.45, "town": 0.42, "subdistrict": 0.13},
        }
    )
    population_median: Mapping[str, float] = _default(
        {"township": 15.0, "town": 35.0, "subdistrict": 60.0}
    )
    population_log_sd: float = 0.5
    capacity_location: Mapping[str, float] = _default(
        {
            "authority": 50.0,
            "resources": 3.0,
            "tech_capacity": 45.0,
            "proximity": 1.8,
            "homogeneity": 0.62,
            "flexibility": 55.0,
        }
    )
    capacity_scale: Mapping[str, float] = _default(
        {
            "authority": 15.0,
            "resources": 0.6,
            "tech_capacity": 15.0,
            "proximity": 0.35,
            "homogeneity": 0.5,
            "flexibility": 15.0,
        }
    )
    capacity_correlation: tuple[tuple[float, ...], ...] = _CAPACITY_CORRELATION
    capacity_fiscal_loading: Mapping[str, float] = _default(
        {
            "authority": 0.2,
            "resources": 0.45,
            "tech_capacity": 0.35,
            "proximity": 0.1,
            "homogeneity": 0.0,
            "flexibility": 0.0,
        }
    )
    capacity_subdistrict_shift: Mapping[str, float] = _default(
        {
            "authority": -0.1,
            "resources": 0.2,
            "tech_capacity": 0.3,
            "proximity": 0.3,
            "homogeneity": -0.3,
            "flexibility": 0.0,
        }
    )
    project_type_shares: Mapping[str, float] = _default(
        {
            "mini_program": 0.30,
            "smart_community": 0.20,
            "grid_management": 0.20,
            "elderly_care": 0.15,
            "other": 0.15,
        }
    )
    funding_source_shares: Mapping[str, float] = _default(
        {"special_fund": 0.45, "regular_budget": 0.35, "enterprise_cobuilt": 0.20}
    )
    outsourced_intercept: float = 0.2
    outsourced_coefficients: Mapping[str, float] = _default(
        {"tech_capacity": -0.03, "funding_source[enterprise_cobuilt]": 1.0}
    )
    intercepts: Mapping[str, float] = _default(
        {"extensive": -0.6, "expedient": -0.85, "short_sighted": -0.6}
    )
    coefficients: Mapping[str, Mapping[str, float]] = _default(
        {
            "extensive": {"resources": -0.8, "flexibility": 0.03, "tech_capacity": -0.02},
            "expedient": {"authority": -0.035, "collaboration": -0.6},
            "short_sighted": {
                "expedient": 0.9,
                "extensive": 0.4,
                "resources": -0.7,
                "funding_source[regular_budget]": -0.5,
            },
            "survival": {
                "authority": -0.02,
                "collaboration": -0.35,
                "collaboration:authority": 0.02,
                "resources": -0.35,
                "tech_capacity": -0.012,
                "extensive": 0.45,
                "expedient": 0.35,
                "funding_source[regular_budget]": -0.2,
                "project_type[grid_management]": -0.2,
            },
            "demand_fit": {
                "tech_capacity": 0.025,
                "outsourced": -0.3,
                "tech_capacity:outsourced": 0.02,
                "proximity": 0.5,
                "homogeneity": 2.5,
                "extensive": -0.5,
                "expedient": -0.4,
            },
        }
    )
    weibull_shape: float = 1.2
    weibull_scale: float = 60.0
    short_sighted_log_hr: float = 0.6
    short_sighted_onset_months: float = 12.0
    cutpoints: tuple[float, float, float, float] = (-2.4, -1.2, 0.15, 1.6)
    county_effect_sd: Mapping[str, float] = _default(
        {
            "survival": 0.3,
            "demand_fit": 0.3,
            "extensive": 0.4,
            "expedient": 0.5,
            "short_sighted": 0.3,
        }
    )
    township_effect_sd: Mapping[str, float] = _default(
        {
            "survival": 0.4,
            "demand_fit": 0.5,
            "extensive": 0.5,
            "expedient": 0.4,
            "short_sighted": 0.4,
        }
    )
    township_effect_correlation: tuple[tuple[float, ...], ...] = _TOWNSHIP_CORRELATION
    missing_rate_running: float = 0.09
    missing_rate_discontinued: float = 0.18

    def __post_init__(self) -> None:
        # Freeze mappings (nested ones too) and matrices handed in as lists, so that replace()
        # with ordinary Python values still gives an immutable config.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                object.__setattr__(self, f.name, _frozen(value))
            elif isinstance(value, list):
                object.__setattr__(
                    self,
                    f.name,
                    tuple(tuple(row) if isinstance(row, list | tuple) else row for row in value),
                )
        _validate(self)

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with some fields replaced whole (:func:`dataclasses.replace`), validated."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (dicts and lists), field order kept."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SimulationConfig:
        """Rebuild a config from :meth:`to_dict` output (e.g. ``truth.json["config"]``)."""
        return config_from_overrides(merge=False, **dict(values))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _fail(name: str, message: str) -> None:
    raise SimulationConfigError(f"SimulationConfig.{name}: {message}")


def _check_shares(name: str, shares: Mapping[str, float], levels: tuple[str, ...]) -> None:
    if set(shares) != set(levels):
        _fail(name, f"needs exactly the levels {list(levels)}, got {sorted(shares)}")
    values = np.array([shares[level] for level in levels], dtype=float)
    if np.any(values < 0) or not math.isclose(values.sum(), 1.0, abs_tol=1e-9):
        _fail(name, f"shares must be >= 0 and sum to 1, got {dict(shares)}")


def _check_correlation(name: str, matrix: tuple[tuple[float, ...], ...], size: int) -> None:
    m = np.asarray(matrix, dtype=float)
    if m.shape != (size, size):
        _fail(name, f"must be a {size}x{size} matrix, got shape {m.shape}")
    if not np.allclose(m, m.T) or not np.allclose(np.diag(m), 1.0):
        _fail(name, "must be symmetric with ones on the diagonal")
    if np.linalg.eigvalsh(m).min() <= 1e-10:
        _fail(name, "must be positive definite (its smallest eigenvalue is <= 0)")


def _check_terms(name: str, outcome: str, terms: Mapping[str, float]) -> None:
    available = _AVAILABLE[outcome]
    for term in terms:
        try:
            parsed = _parse_term(term)
        except ValueError as error:
            _fail(name, str(error))
        for column in parsed["columns"]:
            if column not in available:
                _fail(
                    name,
                    f"term {term!r} of {outcome!r} uses {column!r}, which is not available at "
                    f"that stage of the causal order; use one of {list(available)}",
                )
        if not math.isfinite(terms[term]):
            _fail(name, f"coefficient of {term!r} must be finite")


def _validate(cfg: SimulationConfig) -> None:
    if cfg.n_counties < 1:
        _fail("n_counties", f"must be >= 1, got {cfg.n_counties}")
    for name in ("townships_per_county", "projects_per_township"):
        if not getattr(cfg, name) >= 1:
            _fail(name, f"must be >= 1 (each unit has a child), got {getattr(cfg, name)}")
    try:
        survey, start, end = (
            np.datetime64(cfg.survey_date, "D"),
            np.datetime64(cfg.launch_start, "D"),
            np.datetime64(cfg.launch_end, "D"),
        )
    except ValueError as error:
        raise SimulationConfigError(f"SimulationConfig dates must be YYYY-MM-DD: {error}") from None
    if not start <= end < survey:
        _fail("launch_end", "need launch_start <= launch_end < survey_date")
    _check_shares("region_shares", cfg.region_shares, _levels("region"))
    _check_shares("project_type_shares", cfg.project_type_shares, _levels("project_type"))
    _check_shares("funding_source_shares", cfg.funding_source_shares, _levels("funding_source"))
    if set(cfg.township_type_shares) != set(_levels("region")):
        _fail("township_type_shares", f"needs one entry per region {list(_levels('region'))}")
    for region, shares in cfg.township_type_shares.items():
        _check_shares(f"township_type_shares[{region!r}]", shares, _levels("township_type"))
    for name, keys in (
        ("fiscal_capacity_median", _levels("region")),
        ("population_median", _levels("township_type")),
        ("capacity_location", CAPACITIES),
        ("capacity_scale", CAPACITIES),
        ("capacity_fiscal_loading", CAPACITIES),
        ("capacity_subdistrict_shift", CAPACITIES),
        ("county_effect_sd", OUTCOMES),
        ("township_effect_sd", OUTCOMES),
        ("intercepts", ("extensive", "expedient", "short_sighted")),
        ("coefficients", OUTCOMES),
    ):
        if set(getattr(cfg, name)) != set(keys):
            _fail(name, f"needs exactly the keys {list(keys)}, got {sorted(getattr(cfg, name))}")
    for name in ("fiscal_capacity_median", "population_median"):
        if min(getattr(cfg, name).values()) <= 0:
            _fail(name, "medians must be > 0")
    if min(cfg.capacity_scale.values()) <= 0:
        _fail("capacity_scale", "scales must be > 0")
    for name in ("fiscal_capacity_log_sd", "population_log_sd", "weibull_shape", "weibull_scale"):
        if not getattr(cfg, name) > 0:
            _fail(name, f"must be > 0, got {getattr(cfg, name)}")
    if not 0 < cfg.capacity_location["homogeneity"] < 1:
        _fail("capacity_location", "the homogeneity median is a share in (0, 1)")
    if not cfg.capacity_location["proximity"] > 0:
        _fail("capacity_location", "the proximity median must be > 0")
    if any(abs(v) >= 1 for v in cfg.capacity_fiscal_loading.values()):
        _fail("capacity_fiscal_loading", "loadings are correlations in (-1, 1)")
    for name in ("county_effect_sd", "township_effect_sd"):
        if min(getattr(cfg, name).values()) < 0:
            _fail(name, "SDs must be >= 0")
    _check_correlation("capacity_correlation", cfg.capacity_correlation, len(CAPACITIES))
    _check_correlation(
        "township_effect_correlation", cfg.township_effect_correlation, len(OUTCOMES)
    )
    cut = np.asarray(cfg.cutpoints, dtype=float)
    if cut.shape != (4,) or not np.all(np.diff(cut) > 0):
        _fail("cutpoints", f"needs 4 increasing cut points (ratings 1-5), got {cfg.cutpoints}")
    if cfg.short_sighted_onset_months < 0:
        _fail("short_sighted_onset_months", "must be >= 0")
    for name in ("missing_rate_running", "missing_rate_discontinued"):
        if not 0 <= getattr(cfg, name) < 1:
            _fail(name, f"must be in [0, 1), got {getattr(cfg, name)}")
    for outcome in OUTCOMES:
        _check_terms("coefficients", outcome, cfg.coefficients[outcome])
    _check_terms("outsourced_coefficients", "outsourced", cfg.outsourced_coefficients)


def _parse_term(term: str) -> dict[str, Any]:
    """Split a term name into its kind and the columns it uses."""
    if ":" in term:
        parts = term.split(":")
        if len(parts) != 2 or any(p in _CATEGORICAL or "[" in p for p in parts):
            raise ValueError(
                f"interaction {term!r} must join two numeric columns, e.g. "
                "'collaboration:authority'"
            )
        return {"kind": "interaction", "columns": tuple(parts)}
    if term.endswith("]") and "[" in term:
        column, level = term[:-1].split("[", 1)
        if column not in _CATEGORICAL:
            raise ValueError(f"contrast {term!r}: {column!r} is not categorical")
        levels = _levels(column)
        if level not in levels[1:]:
            raise ValueError(
                f"contrast {term!r}: level must be one of {list(levels[1:])} "
                f"(the reference level is {levels[0]!r})"
            )
        return {"kind": "contrast", "columns": (column,), "level": level, "reference": levels[0]}
    if term in _CATEGORICAL:
        raise ValueError(
            f"categorical {term!r} enters as contrasts '{term}[level]' against {_levels(term)[0]!r}"
        )
    binary = term in ("collaboration", "outsourced", "extensive", "expedient", "short_sighted")
    return {"kind": "binary" if binary else "continuous", "columns": (term,)}


def config_from_overrides(merge: bool = True, **overrides: Any) -> SimulationConfig:
    """The default config with some fields replaced; mappings are merged into the defaults.

    Parameters
    ----------
    merge : bool
        If true (the default), a mapping override updates the default mapping key by key
        (``coefficients`` two levels deep), so ``coefficients={"survival": {"authority": -0.03}}``
        changes one coefficient. A coefficient set to ``None`` removes the term.
    **overrides
        Field names of :class:`SimulationConfig` and their new values.

    Returns
    -------
    SimulationConfig

    Raises
    ------
    SimulationConfigError
        For an unknown field (the message lists the known ones) or a value out of its domain.

    Examples
    --------
    >>> cfg = config_from_overrides(n_counties=10, coefficients={"survival": {"authority": -0.03}})
    >>> cfg.coefficients["survival"]["authority"], cfg.coefficients["survival"]["extensive"]
    (-0.03, 0.45)
    """
    names = [f.name for f in dataclasses.fields(SimulationConfig)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise SimulationConfigError(
            f"unknown simulation setting(s) {unknown}; known settings are {names}"
        )
    base = SimulationConfig()
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        default = getattr(base, name)
        if merge and isinstance(default, Mapping) and isinstance(value, Mapping):
            value = _merge(default, value, depth=2 if name in ("coefficients",) else 1)
        if isinstance(default, tuple) and isinstance(value, list | tuple):
            value = tuple(tuple(v) if isinstance(v, list | tuple) else v for v in value)
        values[name] = value
    return dataclasses.replace(base, **values)


def _merge(default: Mapping[str, Any], update: Mapping[str, Any], depth: int) -> dict[str, Any]:
    result = {k: dict(v) if isinstance(v, Mapping) else v for k, v in default.items()}
    for key, value in update.items():
        if depth > 1 and isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merge(result[key], value, depth - 1)
        elif value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def national_config() -> SimulationConfig:
    """A national-size config: 2,800 counties, ~38,000 townships, ~150,000 projects.

    Only the sizes differ from the defaults (13.57 townships per county, 3.95 projects per
    township); the realised counts vary around 38,000 and 150,000 with the seed.
    """
    return dataclasses.replace(
        SimulationConfig(),
        n_counties=2800,
        townships_per_county=13.57,
        projects_per_township=3.95,
    )


# --------------------------------------------------------------------------- drawing helpers


def _round(values: np.ndarray, decimals: int) -> np.ndarray:
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


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class _Design:
    """Evaluates centred terms on project-level columns and records them for ``truth.json``."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    def _centred(self, column: str) -> tuple[np.ndarray, float, float]:
        x = self.columns[column].astype(float)
        return x - x.mean(), float(x.mean()), float(x.std())

    def term(self, term: str) -> tuple[np.ndarray, dict[str, Any]]:
        parsed = _parse_term(term)
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


# --------------------------------------------------------------------------------- the study


@dataclass
class SimulatedStudy:
    """The three simulated tables and the truth that generated them.

    Attributes
    ----------
    counties, townships, projects : pandas.DataFrame
        The canonical tables, columns in codebook order, values exactly as written to CSV
        (dates as ``YYYY-MM-DD`` strings, ``demand_fit`` as nullable ``Int64``).
    truth : dict
        Everything needed to judge a fit: see :func:`simulate`.
    """

    counties: pd.DataFrame
    townships: pd.DataFrame
    projects: pd.DataFrame
    truth: dict[str, Any]

    @property
    def tables(self) -> dict[TableName, pd.DataFrame]:
        """The three tables keyed by table name."""
        return {"counties": self.counties, "townships": self.townships, "projects": self.projects}

    @property
    def seed(self) -> int:
        return int(self.truth["seed"])

    def flat(self) -> pd.DataFrame:
        """One project-level table with the township and county columns joined on."""
        return self.projects.merge(self.townships, on="township_id", how="left").merge(
            self.counties, on="county_id", how="left"
        )


def simulate(seed: int = BUNDLED_SEED, config: SimulationConfig | None = None) -> SimulatedStudy:
    """Draw a study from the paper's causal structure.

    Parameters
    ----------
    seed : int
        Seeds one :class:`numpy.random.SeedSequence`; each stage (counties, townships, projects,
        group effects, each outcome) draws from its own child, so the same seed gives the same
        study, and changing, say, the project count leaves the counties unchanged.
    config : SimulationConfig, optional
        Settings; the defaults give a study the size of the bundled one.

    Returns
    -------
    SimulatedStudy
        The tables and ``truth``: for every outcome its family and link, intercept, each term's
        coefficient per natural unit with the mean and SD of its predictor and the coefficient
        per SD (the interaction's per-SD coefficient multiplies both components' SDs); the
        Weibull parameterisation, the short-sighted time-varying effect, the cut points; group
        effect SDs, the township-effect correlation matrix and every realised county and township
        effect by id; the auxiliary models (collaboration, outsourcing, capacities); the seed,
        the full config and realised summaries.

    Notes
    -----
    Means and SDs are over the simulated projects (SD with ``ddof=0``), i.e. over the rows that
    the project-level outcome models see; a township-level predictor is weighted by its number
    of projects.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    cfg = config if config is not None else SimulationConfig()
    children = np.random.SeedSequence(seed).spawn(len(_STAGES))
    rng = {s: np.random.default_rng(c) for s, c in zip(_STAGES, children, strict=True)}

    counties = _draw_counties(cfg, rng["counties"])
    townships = _draw_townships(cfg, rng["township_counts"], rng["townships"], counties)
    projects = _draw_project_context(cfg, rng["project_counts"], rng["projects"], townships)
    county_of_p = townships.county_of[projects.township_of]
    columns = {
        "fiscal_capacity": counties.fiscal_capacity[county_of_p],
        "collaboration": counties.collaboration[county_of_p],
        "region": counties.region[county_of_p],
        **{name: values[projects.township_of] for name, values in townships.columns.items()},
        **projects.columns,
    }
    design = _Design(columns)
    n_p = len(projects.ids)

    # Outsourcing depends on the township's tech capacity, so it is drawn once the columns exist.
    out_eta, out_terms = design.linear_predictor(
        cfg.outsourced_coefficients, cfg.outsourced_intercept
    )
    columns["outsourced"] = (rng["projects"].random(n_p) < _logistic(out_eta)).astype(np.int64)

    u_county, u_township = _draw_group_effects(
        cfg, rng["group_effects"], len(counties.ids), len(townships.ids)
    )
    group = {
        o: u_county[county_of_p, j] + u_township[projects.township_of, j]
        for j, o in enumerate(OUTCOMES)
    }

    outcome_truth: dict[str, Any] = {}
    # The strategies come first in the causal order; short-sightedness may use them, and
    # survival and demand fit may use all three (the terms are checked against _AVAILABLE).
    for name, stream in (
        ("extensive", "strategies"),
        ("expedient", "strategies"),
        ("short_sighted", "short_sighted"),
    ):
        eta, terms = design.linear_predictor(cfg.coefficients[name], cfg.intercepts[name])
        columns[name] = (rng[stream].random(n_p) < _logistic(eta + group[name])).astype(np.int64)
        outcome_truth[name] = _logit_truth(cfg.intercepts[name], terms)

    eta_s, surv_terms = design.linear_predictor(cfg.coefficients["survival"])
    event_time = event_times(
        rng["survival"].standard_exponential(n_p),
        eta_s + group["survival"],
        columns["short_sighted"],
        shape=cfg.weibull_shape,
        scale=cfg.weibull_scale,
        log_hr_late=cfg.short_sighted_log_hr,
        onset=cfg.short_sighted_onset_months,
    )
    columns["discontinued"] = (event_time < projects.follow_up).astype(np.int64)
    # Months are floored at 0.01 so that no event sits at t = 0, where log-likelihoods of
    # Weibull and Cox models break down.
    columns["months"] = np.maximum(
        _round(np.minimum(event_time, projects.follow_up), DECIMALS["months"]), 0.01
    )
    outcome_truth["survival"] = _survival_truth(cfg, surv_terms, columns["short_sighted"])

    eta_d, fit_terms = design.linear_predictor(cfg.coefficients["demand_fit"])
    latent_fit = eta_d + group["demand_fit"] + rng["demand_fit"].logistic(size=n_p)
    rating = 1 + (latent_fit[:, None] > np.asarray(cfg.cutpoints)).sum(axis=1)
    # Missing at random given an observed column: discontinued projects are harder to rate.
    p_missing = np.where(
        columns["discontinued"] == 1, cfg.missing_rate_discontinued, cfg.missing_rate_running
    )
    missing = rng["missing"].random(n_p) < p_missing
    columns["demand_fit"] = pd.array(np.where(missing, 0, rating), dtype="Int64")
    columns["demand_fit"][missing] = pd.NA
    outcome_truth["demand_fit"] = _demand_fit_truth(cfg, fit_terms)
    for name in OUTCOMES:
        outcome_truth[name]["county_effect_sd"] = float(cfg.county_effect_sd[name])
        outcome_truth[name]["township_effect_sd"] = float(cfg.township_effect_sd[name])

    tables = {
        "counties": pd.DataFrame(
            {
                "county_id": counties.ids,
                "region": counties.region,
                "fiscal_capacity": counties.fiscal_capacity,
                "collaboration": counties.collaboration,
            }
        ),
        "townships": pd.DataFrame(
            {
                "township_id": townships.ids,
                "county_id": counties.ids[townships.county_of],
                **townships.columns,
            }
        ),
        "projects": pd.DataFrame(
            {
                "project_id": projects.ids,
                "township_id": townships.ids[projects.township_of],
                **{c: columns[c] for c in _PROJECT_COLUMNS_DRAWN},
            }
        ),
    }
    frames: dict[str, pd.DataFrame] = {}
    for table, frame in tables.items():
        expected = [v.name for v in table_variables(table)]  # type: ignore[arg-type]
        if sorted(frame.columns) != sorted(expected):
            raise RuntimeError(
                f"the simulator's {table} columns {sorted(frame.columns)} differ from the "
                f"codebook's {sorted(expected)}: update simulate.py with data/codebook.csv"
            )
        frames[table] = frame[expected]

    truth: dict[str, Any] = {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "synthetic": True,
        # No package or numpy version here: the bundled study must regenerate byte for byte
        # after a version bump that leaves the draws unchanged.
        "generator": "grassroots.data.simulate",
        "seed": seed,
        "conventions": _CONVENTIONS,
        "outcomes": outcome_truth,
        "auxiliary": {
            "collaboration": counties.truth,
            "outsourced": {
                "family": "bernoulli",
                "link": "logit",
                "intercept": float(cfg.outsourced_intercept),
                "terms": out_terms,
            },
            "capacities": townships.truth,
        },
        "group_effects": {
            "sd": {
                "county": {o: float(cfg.county_effect_sd[o]) for o in OUTCOMES},
                "township": {o: float(cfg.township_effect_sd[o]) for o in OUTCOMES},
            },
            "township_correlation": {
                "outcomes": list(OUTCOMES),
                "matrix": [list(map(float, row)) for row in cfg.township_effect_correlation],
            },
            "county_correlation": "independent across outcomes",
            "scale": "log hazard (survival), latent logit (demand_fit, extensive, expedient, "
            "short_sighted)",
            "county": {
                "ids": counties.ids.tolist(),
                "effects": {o: u_county[:, j].tolist() for j, o in enumerate(OUTCOMES)},
            },
            "township": {
                "ids": townships.ids.tolist(),
                "county_ids": counties.ids[townships.county_of].tolist(),
                "effects": {o: u_township[:, j].tolist() for j, o in enumerate(OUTCOMES)},
            },
        },
        "summary": _summary(
            frames["counties"],
            frames["townships"],
            frames["projects"],
            projects.follow_up,
            np.bincount(townships.county_of, minlength=len(counties.ids)),
            np.bincount(projects.township_of, minlength=len(townships.ids)),
        ),
    }
    truth = _stable(truth)
    # The config is kept exact (repr of each float), so that SimulationConfig.from_dict on it
    # redraws the same study; the rest is cut to fixed significant digits.
    truth["config"] = cfg.to_dict()
    return SimulatedStudy(frames["counties"], frames["townships"], frames["projects"], truth)


_PROJECT_COLUMNS_DRAWN = (
    "project_type",
    "funding_source",
    "outsourced",
    "launch_date",
    "survey_date",
    "extensive",
    "expedient",
    "short_sighted",
    "months",
    "discontinued",
    "demand_fit",
)

_CONVENTIONS: dict[str, Any] = {
    "centring": "every term enters as coef * (x - mean(x)); an interaction a:b as "
    "coef * (a - mean(a)) * (b - mean(b)); means over the simulated projects",
    "sd": "population SD (ddof=0) over the simulated projects",
    "coef_per_sd": "coef * sd(x); for a:b, coef * sd(a) * sd(b) (the coefficient on the "
    "product of standardised components)",
    "exp_coef_per_sd": "odds ratio (logit, cumulative logit) or hazard ratio (survival) per SD",
    "values": "linear predictors use the values as written to the CSV files",
    "months": f"days / {DAYS_PER_MONTH}",
    "reference_levels": {c: _levels(c)[0] for c in _CATEGORICAL},
}


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


def _draw_counties(cfg: SimulationConfig, r: np.random.Generator) -> _CountyDraw:
    """Region, fiscal capacity (log-normal by region) and collaboration (logit on log capacity)."""
    n = cfg.n_counties
    regions = _levels("region")
    code = _categorical(r, np.array([cfg.region_shares[x] for x in regions]), n)
    log_median = np.log([cfg.fiscal_capacity_median[x] for x in regions])[code]
    fiscal = np.maximum(
        _round(np.exp(log_median + cfg.fiscal_capacity_log_sd * r.standard_normal(n)), 2), 0.01
    )
    log_fiscal = np.log(fiscal)
    mean = float(log_fiscal.mean())
    sd = float(log_fiscal.std()) or 1.0  # one county: no spread to standardise by
    eta = cfg.collaboration_intercept + cfg.collaboration_fiscal_slope * (log_fiscal - mean)
    collaboration = (r.random(n) < _logistic(eta)).astype(np.int64)
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


def _draw_townships(
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
    regions, types = _levels("region"), _levels("township_type")
    type_probs = np.array([[cfg.township_type_shares[reg][t] for t in types] for reg in regions])
    type_code = _categorical(r, type_probs[counties.region_code[county_of]], n)
    log_median = np.log([cfg.population_median[t] for t in types])[type_code]
    population = np.maximum(
        _round(np.exp(log_median + cfg.population_log_sd * r.standard_normal(n)), 1), 0.1
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
            value = _logistic(math.log(loc[name] / (1.0 - loc[name])) + scale[name] * z)
        else:
            value = loc[name] + scale[name] * z
        if name in ("authority", "tech_capacity", "flexibility"):
            value = np.clip(value, 0.0, 100.0)
        columns[name] = _round(value, DECIMALS[name])
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
            "matrix": _correlation(np.vstack([columns[c] for c in CAPACITIES])),
        },
    }
    return _TownshipDraw(_ids("T", n, "township"), county_of, columns, truth)


def _draw_project_context(
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
    project_types, funding_sources = _levels("project_type"), _levels("funding_source")
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


def _draw_group_effects(
    cfg: SimulationConfig, r: np.random.Generator, n_counties: int, n_townships: int
) -> tuple[np.ndarray, np.ndarray]:
    """County effects (independent per outcome) and township effects (correlated across them).

    Both are rounded to fixed decimals before use, so that truth.json holds them exactly.
    """
    county_sd = np.array([cfg.county_effect_sd[o] for o in OUTCOMES])
    township_sd = np.array([cfg.township_effect_sd[o] for o in OUTCOMES])
    u_county = _round(r.standard_normal((n_counties, len(OUTCOMES))) * county_sd, _EFFECT_DECIMALS)
    chol = np.linalg.cholesky(np.asarray(cfg.township_effect_correlation, dtype=float))
    u_township = _round(
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


def _logit_truth(intercept: float, terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": "bernoulli",
        "link": "logit",
        "formula": "logit P(y = 1) = intercept + sum_j coef_j * term_j + u_county + u_township",
        "intercept": float(intercept),
        "terms": terms,
    }


def _survival_truth(
    cfg: SimulationConfig, terms: dict[str, Any], short_sighted: np.ndarray
) -> dict[str, Any]:
    k, lam = cfg.weibull_shape, cfg.weibull_scale
    return {
        "family": "weibull_proportional_hazards",
        "time_unit": "months",
        "hazard": (
            "h(t) = shape / scale * (t / scale)**(shape - 1) * exp(eta + gamma * short_sighted "
            "* 1[t > onset]), eta = sum_j coef_j * term_j + u_county + u_township; "
            "S(t) = exp(-H(t))"
        ),
        "weibull_shape": float(k),
        "weibull_scale": float(lam),
        "log_baseline_rate": -k * math.log(lam),
        "log_baseline_rate_note": "h0(t) = shape * t**(shape - 1) * exp(log_baseline_rate)",
        "intercept": 0.0,
        "terms": terms,
        "time_varying": {
            "short_sighted": {
                "log_hr": float(cfg.short_sighted_log_hr),
                "hr": math.exp(cfg.short_sighted_log_hr),
                "onset_months": float(cfg.short_sighted_onset_months),
                "centred": False,
                "mean": float(short_sighted.mean()),
                "sd": float(short_sighted.std()),
                "coef_per_sd": float(cfg.short_sighted_log_hr * short_sighted.std()),
                "note": "gamma applies only for t > onset and is not centred (a centred "
                "time-varying term would kink the baseline hazard at the onset)",
            }
        },
        "frailty_sign": "a positive county or township survival effect raises the hazard",
        "censoring": "right-censored at survey_date; months = min(event, follow-up) rounded "
        f"to 0.01, follow-up = (survey_date - launch_date) days / {DAYS_PER_MONTH}",
    }


def _demand_fit_truth(cfg: SimulationConfig, terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "family": "ordinal",
        "link": "cumulative_logit",
        "formula": "P(demand_fit <= k) = logistic(c_k - eta), eta = sum_j coef_j * term_j "
        "+ u_county + u_township (higher eta, higher rating)",
        "intercept": 0.0,
        "cutpoints": [float(c) for c in cfg.cutpoints],
        "terms": terms,
        "missing": {
            "mechanism": "missing at random given discontinued",
            "rate_running": float(cfg.missing_rate_running),
            "rate_discontinued": float(cfg.missing_rate_discontinued),
        },
    }


def _summary(
    counties: pd.DataFrame,
    townships: pd.DataFrame,
    projects: pd.DataFrame,
    follow_up: np.ndarray,
    t_per_c: np.ndarray,
    p_per_t: np.ndarray,
) -> dict[str, Any]:
    def counts(series: pd.Series, levels: tuple[str, ...]) -> dict[str, int]:
        observed = series.value_counts()
        return {level: int(observed.get(level, 0)) for level in levels}

    fit = projects["demand_fit"]
    return {
        "n_counties": len(counties),
        "n_townships": len(townships),
        "n_projects": len(projects),
        "counties_by_region": counts(counties["region"], _levels("region")),
        "townships_by_type": counts(townships["township_type"], _levels("township_type")),
        "projects_by_type": counts(projects["project_type"], _levels("project_type")),
        "projects_by_funding_source": counts(projects["funding_source"], _levels("funding_source")),
        "townships_per_county": {
            "min": int(t_per_c.min()),
            "mean": float(t_per_c.mean()),
            "max": int(t_per_c.max()),
        },
        "projects_per_township": {
            "min": int(p_per_t.min()),
            "mean": float(p_per_t.mean()),
            "max": int(p_per_t.max()),
        },
        "share_counties_collaboration": float(counties["collaboration"].mean()),
        "share_outsourced": float(projects["outsourced"].mean()),
        "share_extensive": float(projects["extensive"].mean()),
        "share_expedient": float(projects["expedient"].mean()),
        "share_short_sighted": float(projects["short_sighted"].mean()),
        "share_discontinued": float(projects["discontinued"].mean()),
        "share_censored": float(1.0 - projects["discontinued"].mean()),
        "share_rating_missing": float(fit.isna().mean()),
        "demand_fit_counts": {str(k): int((fit == k).sum()) for k in range(1, 6)},
        "follow_up_months": {"min": float(follow_up.min()), "max": float(follow_up.max())},
        "months_median": float(projects["months"].median()),
    }


def _stable(value: Any) -> Any:
    """Plain Python values with floats cut to fixed significant digits (deterministic JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _stable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        kinds = {type(v) for v in value}
        if kinds == {float} and all(math.isfinite(v) for v in value):
            # Long lists (group effects by id) are cut in one vectorised pass.
            return _significant(np.asarray(value, dtype=float)).tolist()
        if kinds <= {str, int, bool}:
            return list(value)
        return [_stable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            return None
        return float(f"{value:.{_TRUTH_SIGNIFICANT}g}")
    return value


def _correlation(rows: np.ndarray) -> list[list[float | None]] | None:
    """Correlation matrix of the rows, ``None`` where undefined (constant or too few values)."""
    if rows.shape[1] < 3:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = rows.std(axis=1)
        centred = rows - rows.mean(axis=1, keepdims=True)
        corr = (centred @ centred.T) / rows.shape[1] / np.outer(sd, sd)
    return [[None if not math.isfinite(v) else round(float(v), 6) for v in row] for row in corr]


def _significant(arr: np.ndarray) -> np.ndarray:
    out = np.zeros_like(arr)
    nonzero = arr != 0
    digits = _TRUTH_SIGNIFICANT - 1 - np.floor(np.log10(np.abs(arr[nonzero]))).astype(int)
    scale = 10.0 ** digits.astype(float)
    out[nonzero] = np.rint(arr[nonzero] * scale) / scale
    return out + 0.0


# ---------------------------------------------------------------------------------- writing


def _csv_text(frame: pd.DataFrame) -> str:
    formatted = frame.copy()
    for column, decimals in DECIMALS.items():
        if column in formatted:
            formatted[column] = formatted[column].map(f"{{:.{decimals}f}}".format)
    return formatted.to_csv(index=False, lineterminator="\n", na_rep="")


def truth_json(truth: Mapping[str, Any]) -> str:
    """``truth`` as deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(truth, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_simulation(sim: SimulatedStudy, out_dir: str | Path) -> Path:
    """Write ``counties.csv``, ``townships.csv``, ``projects.csv`` and ``truth.json``.

    The files are written into a temporary folder beside ``out_dir`` that then replaces it, so
    a reader sees all four new files or the old folder; other files already in ``out_dir`` (a
    README) are kept. Bytes are deterministic: fixed decimals per column, ``\\n`` line endings,
    UTF-8, sorted JSON keys.

    Parameters
    ----------
    sim : SimulatedStudy
    out_dir : str or Path

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    texts = {f"{name}.csv": _csv_text(frame) for name, frame in sim.tables.items()}
    texts[TRUTH_FILE] = truth_json(sim.truth)
    with atomic_directory(out_dir) as tmp:
        for name, text in texts.items():
            (tmp / name).write_bytes(text.encode("utf-8"))
    return out_dir


def regenerate_bundled_study(out_dir: str | Path | None = None) -> Path:
    """Redraw the bundled study (:data:`BUNDLED_SEED`, default config) into ``out_dir``.

    Defaults to ``data/synthetic_study`` of the installation.
    """
    target = Path(out_dir) if out_dir is not None else bundled_data_dir() / "synthetic_study"
    return write_simulation(simulate(BUNDLED_SEED), target)


# One line per config field for the parameter table of data/README.md; the class docstring
# gives the reasons behind the magnitudes.
_FIELD_MEANING: dict[str, str] = {
    "n_counties": "number of counties",
    "townships_per_county": "mean townships per county (each count is 1 + Poisson(mean - 1))",
    "projects_per_township": "mean projects per township (each count is 1 + Poisson(mean - 1))",
    "survey_date": "survey date; survival is right-censored here",
    "launch_start": "first possible launch date (launch dates are uniform over the window)",
    "launch_end": "last possible launch date (follow-up is at least ~3 months)",
    "region_shares": "probability of each region for a county",
    "fiscal_capacity_median": "median county fiscal capacity by region, thousand CNY/resident",
    "fiscal_capacity_log_sd": "SD of log fiscal capacity within a region",
    "collaboration_intercept": "log-odds of a collaboration mechanism at mean log fiscal capacity",
    "collaboration_fiscal_slope": "log-odds of collaboration per unit of log fiscal capacity",
    "township_type_shares": "probability of township / town / subdistrict, by region",
    "population_median": "median population by township type, thousand residents",
    "population_log_sd": "SD of log population within a type",
    "capacity_location": "mean (authority, resources, tech_capacity, flexibility) or median "
    "(proximity, homogeneity) of each capacity",
    "capacity_scale": "SD of each capacity (of its log for proximity, of its logit for "
    "homogeneity)",
    "capacity_correlation": "within-county correlation of the capacities' latent normals "
    "(authority, resources, tech_capacity, proximity, homogeneity, flexibility)",
    "capacity_fiscal_loading": "correlation of each capacity with county log fiscal capacity",
    "capacity_subdistrict_shift": "shift of each capacity for sub-districts, in latent SDs",
    "project_type_shares": "probability of each project type",
    "funding_source_shares": "probability of each funding source",
    "outsourced_intercept": "log-odds of outsourcing at the predictor means",
    "outsourced_coefficients": "terms of the outsourcing logit, per natural unit",
    "intercepts": "log-odds of each strategy / short-sightedness at the predictor means",
    "coefficients": "terms of each outcome per natural unit, applied to x - mean(x) "
    "(see the table of coefficients)",
    "weibull_shape": "shape of the Weibull baseline hazard",
    "weibull_scale": "scale of the Weibull baseline hazard, months",
    "short_sighted_log_hr": "log hazard ratio of short_sighted after the onset (0 before)",
    "short_sighted_onset_months": "months after launch at which short_sighted starts to act",
    "cutpoints": "cut points c1..c4 of the cumulative logit, P(fit <= k) = logistic(c_k - eta)",
    "county_effect_sd": "SD of the county effects, per outcome (independent across outcomes)",
    "township_effect_sd": "SD of the township effects, per outcome",
    "township_effect_correlation": "correlation of the township effects across outcomes "
    "(survival, demand_fit, extensive, expedient, short_sighted)",
    "missing_rate_running": "probability a rating is missing for a project still running",
    "missing_rate_discontinued": "probability a rating is missing for a discontinued project",
}


def _cell(value: Any, nested: bool = False) -> str:
    if isinstance(value, Mapping):
        items = [f"{k}: {_cell(v, nested=True)}" for k, v in value.items()]
        return "{" + ", ".join(items) + "}" if nested else "; ".join(items)
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_cell(v, nested=True) for v in value) + ")"
    return str(value)


def parameter_table() -> str:
    """Markdown tables of the config fields and of the default coefficients.

    ``data/README.md`` carries this text verbatim (a test keeps the two in step).
    """
    cfg = SimulationConfig()
    lines = ["| parameter | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(cfg):
        value = "see below" if f.name == "coefficients" else _cell(getattr(cfg, f.name))
        lines.append(f"| `{f.name}` | {value} | {_FIELD_MEANING[f.name]} |")
    lines += [
        "",
        "Default coefficients per natural unit (`coefficients`), with the coefficient per SD of",
        "the predictor in the bundled study; survival coefficients are log hazard ratios,",
        "demand-fit ones cumulative-logit log odds ratios (higher is a better rating), the",
        "others log odds ratios. `a:b` is the interaction (a - mean a)(b - mean b).",
        "",
        "| outcome | term | coefficient | per SD (bundled study) |",
        "|---|---|---|---|",
    ]
    truth = simulate(BUNDLED_SEED, cfg).truth["outcomes"]
    for outcome in OUTCOMES:
        for term, coef in cfg.coefficients[outcome].items():
            per_sd = truth[outcome]["terms"][term]["coef_per_sd"]
            lines.append(f"| {outcome} | `{term}` | {coef:g} | {per_sd:.3f} |")
        if outcome == "survival":
            late = truth["survival"]["time_varying"]["short_sighted"]
            lines.append(
                f"| survival | `short_sighted` (only t > {late['onset_months']:g} months) | "
                f"{late['log_hr']:g} | {late['coef_per_sd']:.3f} |"
            )
    return "\n".join(lines) + "\n"
