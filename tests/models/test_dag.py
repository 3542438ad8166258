"""The causal graph read off a spec, and the back-door checks on it."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pytest

from grassroots.models import load_spec
from grassroots.models.dag import (
    CONTEXT,
    adjustment_set,
    identification_graph,
    is_valid_adjustment,
    mediator_adjustment_set,
    spec_dag,
)

REMEDIES = ("resources", "collaboration", "tech_capacity")


def _equation_edges(spec) -> set[tuple[str, str]]:
    """Every (parent, outcome) pair the spec's equations name, written out independently."""
    outcome_of = {c: o.name for o in spec.outcomes for c in o.outcome_columns}
    edges = set()
    for outcome in spec.outcomes:
        columns = {*outcome.predictors, *outcome.time_varying}
        columns |= {part for parts in outcome.interactions for part in parts}
        edges |= {(outcome_of.get(c, c), outcome.name) for c in columns}
        if spec.correlated is not None:
            edges.add((f"{spec.correlated}_effect", outcome.name))
    return edges


def test_every_equation_edge_is_in_the_graph_and_nothing_else():
    spec = load_spec("structural")
    dag = spec_dag(spec, remedies=REMEDIES)
    assert set(dag.edges) == _equation_edges(spec)
    assert nx.is_directed_acyclic_graph(dag)


def test_the_graph_follows_the_spec_when_the_spec_changes():
    spec = load_spec("structural")
    survival = spec.outcome("survival")
    dropped = dataclasses.replace(
        survival,
        predictors=tuple(p for p in survival.predictors if p != "extensive"),
    )
    changed = dataclasses.replace(
        spec, outcomes=tuple(dropped if o.name == "survival" else o for o in spec.outcomes)
    )
    dag = spec_dag(changed)
    assert ("extensive", "survival") not in dag.edges
    assert ("expedient", "survival") in dag.edges
    assert set(dag.edges) == _equation_edges(changed)


def test_roles_mediators_and_remedies():
    dag = spec_dag("structural", remedies=REMEDIES)
    roles = nx.get_node_attributes(dag, "role")
    assert {n for n, r in roles.items() if r == "mediator"} == {
        "extensive", "expedient", "short_sighted",
    }  # fmt: skip
    assert {n for n, r in roles.items() if r == "outcome"} == {"survival", "demand_fit"}
    assert {n for n, r in roles.items() if r == "remedy"} == set(REMEDIES)
    assert roles["township_effect"] == "group_effect"
    assert not dag.nodes["township_effect"]["observed"]
    # Layers: strategies before short-sightedness before survival.
    rank = nx.get_node_attributes(dag, "rank")
    assert rank["resources"] == 0 < rank["extensive"] < rank["short_sighted"] < rank["survival"]


def test_a_cycle_in_the_equations_is_an_error_naming_it():
    spec = load_spec("structural")
    extensive = spec.outcome("extensive")
    looped = dataclasses.replace(extensive, predictors=(*extensive.predictors, "short_sighted"))
    changed = dataclasses.replace(
        spec, outcomes=tuple(looped if o.name == "extensive" else o for o in spec.outcomes)
    )
    with pytest.raises(ValueError, match="cycle.*extensive"):
        spec_dag(changed)


def test_context_points_into_every_exogenous_variable_only():
    dag = spec_dag("structural")
    graph = identification_graph(dag)
    children = set(graph.successors(CONTEXT))
    assert "resources" in children and "fiscal_capacity" in children
    assert not children & {"survival", "extensive", "township_effect"}


@pytest.mark.parametrize("outcome", ["survival", "demand_fit", "short_sighted"])
@pytest.mark.parametrize("treatments", [{"resources"}, {"collaboration"}, set(REMEDIES)])
def test_the_g_computation_set_blocks_every_back_door_path(treatments, outcome):
    dag = spec_dag("structural", remedies=REMEDIES)
    adjustment = adjustment_set(dag, treatments, outcome)
    assert not adjustment & treatments
    assert not adjustment & {"extensive", "expedient", "short_sighted"}
    assert is_valid_adjustment(dag, treatments, outcome, adjustment)
    # Without the covariates, resources <- context -> authority -> outcome stays open.
    assert not is_valid_adjustment(dag, treatments, outcome, set())


def test_leaving_out_a_common_parent_or_adding_a_descendant_breaks_the_criterion():
    dag = spec_dag("structural", remedies=REMEDIES)
    adjustment = adjustment_set(dag, {"resources"}, "survival")
    assert not is_valid_adjustment(dag, {"resources"}, "survival", adjustment - {"authority"})
    assert not is_valid_adjustment(dag, {"resources"}, "survival", adjustment | {"extensive"})


def test_an_unmeasured_common_cause_of_remedy_and_outcome_cannot_be_adjusted_away():
    dag = spec_dag("structural", remedies=REMEDIES)
    confounded = dag.copy()
    confounded.add_node("U", role="latent", observed=False, rank=0)
    confounded.add_edges_from([("U", "resources"), ("U", "survival")])
    adjustment = adjustment_set(confounded, {"resources"}, "survival")
    assert "U" not in adjustment
    assert not is_valid_adjustment(confounded, {"resources"}, "survival", adjustment)


def test_mediator_outcome_confounding_is_blocked_only_by_the_fitted_township_effects():
    dag = spec_dag("structural", remedies=REMEDIES)
    fitted = mediator_adjustment_set(dag, "extensive", "survival", {"resources"})
    assert "township_effect" in fitted and "resources" in fitted
    assert "short_sighted" not in fitted  # responds to extensive
    assert is_valid_adjustment(dag, {"extensive"}, "survival", fitted)
    new = mediator_adjustment_set(dag, "extensive", "survival", {"resources"}, group_effects="new")
    assert not is_valid_adjustment(dag, {"extensive"}, "survival", new)


def test_unknown_variables_are_named():
    dag = spec_dag("structural")
    with pytest.raises(KeyError, match="budget"):
        adjustment_set(dag, {"budget"}, "survival")


def test_module_doctests():
    import doctest

    from grassroots.models import dag as dag_module

    result = doctest.testmod(dag_module)
    assert result.attempted > 0 and result.failed == 0
