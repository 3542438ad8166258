"""The assumptions of each contrast: back-door and mediator checks, positivity evidence."""

from __future__ import annotations

import pytest

from grassroots.estimands import EstimandError, Scenario, SetValue, Shift, builtin_scenarios
from grassroots.estimands.identification import assumptions, positivity
from grassroots.models.dag import spec_dag

SCENARIOS = builtin_scenarios().select()
REMEDIES = {v for s in SCENARIOS for v in s.variables}


def test_positivity_of_a_set_value_is_the_share_of_units_already_there(frame):
    evidence = positivity(frame, Scenario("collab", (SetValue("collaboration", 1),)))
    row = evidence.iloc[0]
    counties = frame.groupby("county_id")["collaboration"].first()
    assert (row.variable, row.level, row.kind, row.units) == (
        "collaboration", "county", "set", len(counties),
    )  # fmt: skip
    assert row.share == pytest.approx((counties == 1).mean())


def test_positivity_of_a_shift_is_the_share_of_units_left_in_the_observed_range(frame):
    townships = frame.groupby(["county_id", "township_id"])["resources"].first()
    sd = frame["resources"].std(ddof=1)
    row = positivity(frame, Scenario("up", (Shift("resources", 1.0),))).iloc[0]
    assert (row.level, row.kind, row.units) == ("township", "range", len(townships))
    expected = ((townships + sd) <= townships.max()).mean()
    assert row.share == pytest.approx(expected)
    assert 0 < row.share < 1
    far = positivity(frame, Scenario("far", (Shift("resources", 100.0, unit="natural"),)))
    assert far.iloc[0].share == 0.0


def test_every_contrast_of_the_remedies_is_identified_in_the_spec_graph(frame):
    dag = spec_dag("structural", remedies=REMEDIES)
    table = assumptions(dag, SCENARIOS, frame)
    assert len(table) == len(SCENARIOS) * 5
    assert table["backdoor_valid"].all()
    survival = table[(table.scenario == "all_three") & (table.outcome == "survival")].iloc[0]
    assert survival.treatments == "resources, collaboration, tech_capacity"
    assert survival.levels == "township, county, township"
    assert survival.mediators == "expedient, extensive, short_sighted"
    assert survival.mediator_valid
    assert "township_effect" in survival.adjustment and "resources" not in survival.adjustment
    # The strategies have no mediator upstream: nothing to split.
    assert table.loc[table.outcome == "extensive", "mediator_valid"].isna().all()
    # The combined scenario is as positive as its least supported column.
    shares = positivity(frame, SCENARIOS[-1])["share"]
    assert survival.positivity_share == pytest.approx(shares.min())


def test_a_confounder_in_the_graph_makes_the_contrast_unidentified(frame):
    dag = spec_dag("structural", remedies=REMEDIES)
    dag.add_node("U", role="latent", observed=False, rank=0)
    dag.add_edges_from([("U", "collaboration"), ("U", "demand_fit")])
    table = assumptions(dag, SCENARIOS, frame, outcomes=["demand_fit", "survival"])
    flagged = table[~table["backdoor_valid"]]
    assert set(zip(flagged.scenario, flagged.outcome, strict=True)) == {
        ("collaboration_everywhere", "demand_fit"),
        ("all_three", "demand_fit"),
    }


def test_group_effects_drawn_anew_leave_mediator_outcome_paths_open(frame):
    dag = spec_dag("structural", remedies=REMEDIES)
    table = assumptions(dag, SCENARIOS[:1], frame, outcomes=["survival"], group_effects="new")
    row = table.iloc[0]
    assert row.backdoor_valid  # the remedy is not confounded by the township effects
    assert not row.mediator_valid
    assert "township_effect" not in row.adjustment


def test_a_scenario_on_a_variable_the_spec_does_not_use_is_an_error(frame):
    dag = spec_dag("structural")
    other = Scenario("budget", (Shift("flexibility", 1.0),))
    dag.remove_node("flexibility")
    with pytest.raises(EstimandError, match="budget.*flexibility"):
        assumptions(dag, [other], frame)
