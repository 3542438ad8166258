"""The simulator's settings: :class:`SimulationConfig`, its defaults, and variants of it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from grassroots.data.simulation_rules import (
    SimulationConfigError,
    validate_config,
)


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
        validate_config(self)

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
