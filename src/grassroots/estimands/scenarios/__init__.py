"""Counterfactual scenarios: declared in TOML, applied to a flat table as a modified copy.

A scenario is a sequence of steps, each changing one column of the flat (one row per project)
table:

* :class:`Shift` adds ``by`` SDs (``unit = "sd"``) or ``by`` units of the column
  (``unit = "natural"``, or the codebook's unit by name); for a column holding a log (codebook
  unit ``log CNY per resident``), ``unit = "CNY per resident"`` adds CNY before the log. The
  result is capped to the codebook's valid range (``[0, 100]`` for an index), and to optional
  ``min``/``max``;
* :class:`Floor` raises every value below a percentile to that percentile, the percentile taken
  over the whole study (``within = "overall"``) or within each group of an outer level
  (``within = "county"``);
* :class:`SetValue` sets every row to one value (``collaboration = 1``);
* combining scenarios concatenates their steps (applied in order).

**Levels.** A column is measured at the outermost grouping level within whose groups it is
constant (``resources`` is a township column, ``collaboration`` a county column, ``project_type``
a project column); it can be stated with ``level = "..."``. Percentiles are taken over the units
of that level, each unit once (a township with nine projects counts as much as one with two), so
"the county's 25th percentile of resources" is the 25th percentile of its townships' values.
Shifts and set values are the same for every row of a unit, so a township column stays constant
within townships.

**Reference values.** SDs and percentiles are those of the status-quo data (the table handed to
:meth:`Scenario.apply`), never of a partly modified copy, so the steps of a combined scenario do
not depend on each other's order through their reference values. The SD of a column is the SD
over the rows of the fitted data (``ddof = 1``), the one that standardises the predictor in the
models (:class:`grassroots.models.Scaling`): "+1 SD" moves the linear predictor by exactly the
coefficient per SD. Pass the fit's ``scaling`` to use its stored SD.

:meth:`Scenario.changes` states what a scenario does in SDs and natural units, and how many
units the caps held back ("+1 SD of resources = +0.61 log CNY per resident, i.e. the budget per
resident x1.84"), for the tables' notes.

The shipped scenarios (``models/scenarios.toml``) are the paper's three remedies and their
combination::

    groups = ["county_id", "township_id"]      # outer -> inner, as in the model specs
    default = ["resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd",
               "all_three"]

    [scenarios.resources_plus_1sd]
    label = "Resources +1 SD"
    shift = { variable = "resources", by = 1, unit = "sd" }

    [scenarios.collaboration_everywhere]
    set = { variable = "collaboration", value = 1 }

    [scenarios.all_three]
    combine = ["resources_plus_1sd", "collaboration_everywhere", "tech_capacity_plus_1sd"]

    [scenarios.resources_floor_p25]
    floor = { variable = "resources", percentile = 25, within = "county" }

Examples
--------
>>> scenarios = builtin_scenarios()
>>> scenarios.default
('resources_plus_1sd', 'collaboration_everywhere', 'tech_capacity_plus_1sd', 'all_three')
>>> scenarios["all_three"].variables
('resources', 'collaboration', 'tech_capacity')
"""

from __future__ import annotations

from grassroots.estimands.scenarios._levels import (
    DEFAULT_GROUPS,
    OVERALL,
    ROW_LEVEL,
    ScenarioError,
    unit_codes,
    variable_level,
)
from grassroots.estimands.scenarios._loading import (
    SCENARIO_FILE,
    builtin_scenarios,
    load_scenarios,
    scenarios_from_dict,
)
from grassroots.estimands.scenarios._scenario import Scenario, ScenarioSet
from grassroots.estimands.scenarios._steps import Floor, Measure, SetValue, Shift, codebook_measure

__all__ = [
    "DEFAULT_GROUPS",
    "OVERALL",
    "ROW_LEVEL",
    "SCENARIO_FILE",
    "Floor",
    "Measure",
    "Scenario",
    "ScenarioError",
    "ScenarioSet",
    "SetValue",
    "Shift",
    "builtin_scenarios",
    "codebook_measure",
    "load_scenarios",
    "scenarios_from_dict",
    "unit_codes",
    "variable_level",
]
