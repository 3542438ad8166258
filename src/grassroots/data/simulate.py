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

This module draws the study stage by stage and re-exports the simulator's public names; the
parts live beside it: :mod:`~grassroots.data.simulation_rules` (outcomes, terms and their
domains), :mod:`~grassroots.data.simulation_config` (the settings),
:mod:`~grassroots.data.simulation_draws` (the random draws),
:mod:`~grassroots.data.simulation_truth` (``truth.json``) and
:mod:`~grassroots.data.simulated_study` (the study and its files).

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grassroots._paths import bundled_data_dir
from grassroots._seeds import BUNDLED_SEED
from grassroots.data.schema import DAYS_PER_MONTH, table_variables
from grassroots.data.simulated_study import (
    TRUTH_FILE,
    SimulatedStudy,
    truth_json,
    write_simulation,
)
from grassroots.data.simulation_config import (
    SimulationConfig,
    config_from_overrides,
    national_config,
)
from grassroots.data.simulation_draws import (
    DECIMALS,
    TermDesign,
    draw_counties,
    draw_group_effects,
    draw_project_context,
    draw_townships,
    event_times,
    logistic,
    round_to_decimals,
)
from grassroots.data.simulation_rules import (
    CAPACITIES,
    OUTCOMES,
    SimulationConfigError,
)
from grassroots.data.simulation_truth import (
    TRUTH_CONVENTIONS,
    TRUTH_SCHEMA_VERSION,
    demand_fit_truth,
    logit_truth,
    stable_values,
    study_summary,
    survival_truth,
)

__all__ = [
    "BUNDLED_SEED",
    "CAPACITIES",
    "DAYS_PER_MONTH",
    "DECIMALS",
    "OUTCOMES",
    "TRUTH_FILE",
    "TRUTH_SCHEMA_VERSION",
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

    counties = draw_counties(cfg, rng["counties"])
    townships = draw_townships(cfg, rng["township_counts"], rng["townships"], counties)
    projects = draw_project_context(cfg, rng["project_counts"], rng["projects"], townships)
    county_of_p = townships.county_of[projects.township_of]
    columns = {
        "fiscal_capacity": counties.fiscal_capacity[county_of_p],
        "collaboration": counties.collaboration[county_of_p],
        "region": counties.region[county_of_p],
        **{name: values[projects.township_of] for name, values in townships.columns.items()},
        **projects.columns,
    }
    design = TermDesign(columns)
    n_p = len(projects.ids)

    # Outsourcing depends on the township's tech capacity, so it is drawn once the columns exist.
    out_eta, out_terms = design.linear_predictor(
        cfg.outsourced_coefficients, cfg.outsourced_intercept
    )
    columns["outsourced"] = (rng["projects"].random(n_p) < logistic(out_eta)).astype(np.int64)

    u_county, u_township = draw_group_effects(
        cfg, rng["group_effects"], len(counties.ids), len(townships.ids)
    )
    group = {
        o: u_county[county_of_p, j] + u_township[projects.township_of, j]
        for j, o in enumerate(OUTCOMES)
    }

    outcome_truth: dict[str, Any] = {}
    # The strategies come first in the causal order; short-sightedness may use them, and
    # survival and demand fit may use all three (simulation_rules checks the terms).
    for name, stream in (
        ("extensive", "strategies"),
        ("expedient", "strategies"),
        ("short_sighted", "short_sighted"),
    ):
        eta, terms = design.linear_predictor(cfg.coefficients[name], cfg.intercepts[name])
        columns[name] = (rng[stream].random(n_p) < logistic(eta + group[name])).astype(np.int64)
        outcome_truth[name] = logit_truth(cfg.intercepts[name], terms)

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
        round_to_decimals(np.minimum(event_time, projects.follow_up), DECIMALS["months"]), 0.01
    )
    outcome_truth["survival"] = survival_truth(cfg, surv_terms, columns["short_sighted"])

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
    outcome_truth["demand_fit"] = demand_fit_truth(cfg, fit_terms)
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
                f"codebook's {sorted(expected)}: update simulate.py and simulation_draws.py "
                "with data/codebook.csv"
            )
        frames[table] = frame[expected]

    truth: dict[str, Any] = {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "synthetic": True,
        # No package or numpy version here: the bundled study must regenerate byte for byte
        # after a version bump that leaves the draws unchanged.
        "generator": "grassroots.data.simulate",
        "seed": seed,
        "conventions": TRUTH_CONVENTIONS,
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
        "summary": study_summary(
            frames["counties"],
            frames["townships"],
            frames["projects"],
            projects.follow_up,
            np.bincount(townships.county_of, minlength=len(counties.ids)),
            np.bincount(projects.township_of, minlength=len(townships.ids)),
        ),
    }
    truth = stable_values(truth)
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
