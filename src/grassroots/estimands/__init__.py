"""Estimands: intervention contrasts, mediation and heterogeneity by g-computation.

* :mod:`.settings`: :class:`EstimandSettings`, how every estimand is computed and summarised
  (interval mass, survival times, seed, thinning, chunk size, threads);
* :mod:`.scenarios`: counterfactual scenarios declared in ``models/scenarios.toml`` (shift, floor,
  set, combine) and applied to the flat table;
* :mod:`.contrasts`: contrasts against the status quo over the posterior (ΔS(t), ΔP(fit >= 4),
  Δ expected rating, ΔP(strategy)), with fitted or new group effects;
* :mod:`.mediation`: total, natural direct and natural indirect effects through the strategies,
  per mediator, from the structural fit, by exact averaging over the mediators' values;
* :mod:`.weakness`: baseline weakness of the townships and its terciles;
* :mod:`.heterogeneity`: contrasts by region and by tercile of baseline weakness; a ranked
  targeting list of townships;
* :mod:`.survival_curves`: posterior predictive survival averaged over each group's projects
  (what a group's Kaplan-Meier curve estimates);
* :mod:`.store`: :func:`estimand_reused` and :func:`result_reused`, a result kept in the fitted
  folder and read back while its fit, data, scenarios, settings and code are unchanged;
* :mod:`.truth`: the same computations on the simulator's true parameters, and the coverage
  check of estimated against true contrasts.

Examples
--------
>>> from grassroots.estimands import builtin_scenarios, true_contrasts
>>> [s.name for s in builtin_scenarios()]
['resources_plus_1sd', 'collaboration_everywhere', 'tech_capacity_plus_1sd', 'all_three']
"""

from __future__ import annotations

from grassroots.estimands._engine import EstimandError, FitModel, Grouping
from grassroots.estimands.contrasts import ContrastResult, contrasts
from grassroots.estimands.heterogeneity import TargetingResult, heterogeneity, targeting
from grassroots.estimands.mediation import MediationResult, mediation
from grassroots.estimands.scenarios import (
    Floor,
    Scenario,
    ScenarioError,
    ScenarioSet,
    SetValue,
    Shift,
    builtin_scenarios,
    load_scenarios,
    scenarios_from_dict,
    variable_level,
)
from grassroots.estimands.settings import (
    DEFAULT_MAX_CELLS,
    DEFAULT_PROB,
    DEFAULT_THRESHOLD,
    DEFAULT_TIMES,
    DEFAULT_WORKERS,
    EstimandSettings,
)
from grassroots.estimands.store import estimand_reused, result_reused
from grassroots.estimands.survival_curves import SurvivalByGroup, survival_by_group
from grassroots.estimands.truth import (
    TruthModel,
    coverage,
    load_truth,
    true_contrasts,
    true_mediation,
)
from grassroots.estimands.weakness import baseline_weakness, weakness_tercile

__all__ = [
    "DEFAULT_MAX_CELLS",
    "DEFAULT_PROB",
    "DEFAULT_THRESHOLD",
    "DEFAULT_TIMES",
    "DEFAULT_WORKERS",
    "ContrastResult",
    "EstimandError",
    "EstimandSettings",
    "FitModel",
    "Floor",
    "Grouping",
    "MediationResult",
    "Scenario",
    "ScenarioError",
    "ScenarioSet",
    "SetValue",
    "Shift",
    "SurvivalByGroup",
    "TargetingResult",
    "TruthModel",
    "baseline_weakness",
    "builtin_scenarios",
    "contrasts",
    "coverage",
    "estimand_reused",
    "heterogeneity",
    "load_scenarios",
    "load_truth",
    "mediation",
    "result_reused",
    "scenarios_from_dict",
    "survival_by_group",
    "targeting",
    "true_contrasts",
    "true_mediation",
    "variable_level",
    "weakness_tercile",
]
