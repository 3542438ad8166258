"""What a simulation config may say: the outcomes, the terms each may use, and their domains.

A term is a column (continuous or 0/1), a contrast ``column[level]`` of a categorical column
against its reference level (the codebook's first), or an interaction ``a:b`` of two numeric
columns; each outcome may use only the columns drawn before it in the causal order. Every
check raises :class:`SimulationConfigError` naming the field and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from grassroots.data.schema import variable

if TYPE_CHECKING:
    from grassroots.data.simulation_config import SimulationConfig

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
CATEGORICAL_COLUMNS = ("region", "township_type", "project_type", "funding_source")


class SimulationConfigError(ValueError):
    """A simulation setting is out of its domain; the message names the field and the fix."""


def categorical_levels(name: str) -> tuple[str, ...]:
    allowed = variable(name).allowed
    assert allowed is not None, name
    return allowed


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
            parsed = parse_term(term)
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


def validate_config(cfg: SimulationConfig) -> None:
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
    _check_shares("region_shares", cfg.region_shares, categorical_levels("region"))
    _check_shares(
        "project_type_shares", cfg.project_type_shares, categorical_levels("project_type")
    )
    _check_shares(
        "funding_source_shares", cfg.funding_source_shares, categorical_levels("funding_source")
    )
    if set(cfg.township_type_shares) != set(categorical_levels("region")):
        _fail(
            "township_type_shares",
            f"needs one entry per region {list(categorical_levels('region'))}",
        )
    for region, shares in cfg.township_type_shares.items():
        _check_shares(
            f"township_type_shares[{region!r}]", shares, categorical_levels("township_type")
        )
    for name, keys in (
        ("fiscal_capacity_median", categorical_levels("region")),
        ("population_median", categorical_levels("township_type")),
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


def parse_term(term: str) -> dict[str, Any]:
    """Split a term name into its kind and the columns it uses."""
    if ":" in term:
        parts = term.split(":")
        if len(parts) != 2 or any(p in CATEGORICAL_COLUMNS or "[" in p for p in parts):
            raise ValueError(
                f"interaction {term!r} must join two numeric columns, e.g. "
                "'collaboration:authority'"
            )
        return {"kind": "interaction", "columns": tuple(parts)}
    if term.endswith("]") and "[" in term:
        column, level = term[:-1].split("[", 1)
        if column not in CATEGORICAL_COLUMNS:
            raise ValueError(f"contrast {term!r}: {column!r} is not categorical")
        levels = categorical_levels(column)
        if level not in levels[1:]:
            raise ValueError(
                f"contrast {term!r}: level must be one of {list(levels[1:])} "
                f"(the reference level is {levels[0]!r})"
            )
        return {"kind": "contrast", "columns": (column,), "level": level, "reference": levels[0]}
    if term in CATEGORICAL_COLUMNS:
        reference = categorical_levels(term)[0]
        raise ValueError(
            f"categorical {term!r} enters as contrasts '{term}[level]' against {reference!r}"
        )
    binary = term in ("collaboration", "outsourced", "extensive", "expedient", "short_sighted")
    return {"kind": "binary" if binary else "continuous", "columns": (term,)}
