"""The causal graph a model spec encodes, and the back-door checks the contrasts rest on.

:func:`spec_dag` reads the graph off the spec itself, so it changes when the spec changes:

* a node per variable: every predictor column, and every outcome (named as in the spec; a
  binary outcome that another equation uses as a predictor is a **mediator**);
* an edge ``X -> Y`` for every column ``X`` in outcome ``Y``'s equation (main effect, part of an
  interaction, or a time-varying effect), and nothing else;
* one latent node for the spec's ``correlated`` grouping level (e.g. ``township_effect``) with
  an edge into every outcome: township effects correlated across the outcomes are a modelled
  common cause of the mediators and the outcomes. Group effects that are independent per
  outcome are each equation's own error term and, as usual in a DAG, not drawn.

The spec says nothing about how the covariates cause one another (county context shapes
township capacities, the paper says). :func:`identification_graph` therefore adds one latent
node, ``CONTEXT``, with an edge into every exogenous variable: the covariates may share any
unmeasured cause among themselves, but not with the mediators or the outcomes. That is the
assumption "no unmeasured confounding" made visible, and the most conservative graph in which
it holds; back-door paths through the covariates then exist, and :func:`is_valid_adjustment`
checks (by d-separation, Pearl 2009, ch. 3.3) that the set the g-computation conditions on
blocks them.

Examples
--------
>>> from grassroots.models.dag import adjustment_set, is_valid_adjustment, spec_dag
>>> dag = spec_dag("structural", remedies=["resources"])
>>> dag.nodes["extensive"]["role"], dag.nodes["resources"]["role"]
('mediator', 'remedy')
>>> is_valid_adjustment(dag, {"resources"}, "survival", adjustment_set(dag, {"resources"},
...                                                                    "survival"))
True
>>> is_valid_adjustment(dag, {"resources"}, "survival", set())
False
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

import networkx as nx

from grassroots.models.spec import ModelSpec, load_spec

__all__ = [
    "CONTEXT",
    "ROLES",
    "adjustment_set",
    "group_effect_node",
    "identification_graph",
    "is_valid_adjustment",
    "mediator_adjustment_set",
    "spec_dag",
]

CONTEXT = "context"
ROLES = ("remedy", "covariate", "mediator", "outcome", "group_effect", "latent")


def group_effect_node(level: str) -> str:
    """The node of a grouping level's effects (``"township"`` -> ``"township_effect"``)."""
    return f"{level}_effect"


def spec_dag(
    spec: str | Path | ModelSpec = "structural", remedies: Iterable[str] = ()
) -> nx.DiGraph:
    """The spec's causal graph.

    Parameters
    ----------
    spec
        A spec name (``models/<name>.toml``), path or :class:`ModelSpec`.
    remedies
        Columns the scenarios change (e.g. ``resources``); their nodes get the role
        ``remedy`` instead of ``covariate``.

    Returns
    -------
    networkx.DiGraph
        Node attributes: ``role`` (one of :data:`ROLES`), ``observed`` (bool), ``rank`` (0 for
        exogenous variables, then one more than the highest-ranked parent: the layers of the
        figure). Edge attributes: ``equation`` (the outcome) and ``terms`` (how the parent enters
        it: ``main``, ``interaction a:b``, ``late``, ``group effect``).

    Raises
    ------
    ValueError
        If the equations form a cycle (the spec is then no DAG and no contrast is identified).
    """
    spec = load_spec(spec)
    remedies = set(remedies)
    # A predictor column that is another equation's outcome column is that outcome's node.
    node_of = {
        column: outcome.name for outcome in spec.outcomes for column in outcome.outcome_columns
    }
    graph = nx.DiGraph(spec=spec.name)
    for outcome in spec.outcomes:
        graph.add_node(outcome.name, role="outcome", observed=True)
    for outcome in spec.outcomes:
        entries: dict[str, list[str]] = {}
        for column in outcome.predictors:
            entries.setdefault(column, []).append("main")
        for parts in outcome.interactions:
            for column in parts:
                entries.setdefault(column, []).append(f"interaction {':'.join(parts)}")
        for column in outcome.time_varying:
            entries.setdefault(column, []).append("late")
        for column, terms in entries.items():
            parent = node_of.get(column, column)
            if parent not in graph:
                role = "remedy" if column in remedies else "covariate"
                graph.add_node(parent, role=role, observed=True)
            graph.add_edge(parent, outcome.name, equation=outcome.name, terms=tuple(terms))
    for name in spec.outcome_names:
        if graph.out_degree(name):
            graph.nodes[name]["role"] = "mediator"
    if spec.correlated is not None:
        latent = group_effect_node(spec.correlated)
        graph.add_node(latent, role="group_effect", observed=False)
        for outcome in spec.outcomes:
            graph.add_edge(latent, outcome.name, equation=outcome.name, terms=("group effect",))
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " -> ".join(u for u, _ in nx.find_cycle(graph))
        raise ValueError(
            f"spec {spec.name!r}: its equations predict each other in a cycle ({cycle}); a "
            "causal graph needs an order: drop one of these predictors"
        )
    for node in nx.topological_sort(graph):
        ranks = [graph.nodes[p]["rank"] for p in graph.predecessors(node)]
        graph.nodes[node]["rank"] = 1 + max(ranks) if ranks else 0
    return graph


def identification_graph(dag: nx.DiGraph) -> nx.DiGraph:
    """``dag`` with the latent :data:`CONTEXT` node pointing into every exogenous variable."""
    graph = dag.copy()
    exogenous = [
        node for node, data in dag.nodes(data=True)
        if data["observed"] and dag.in_degree(node) == 0
    ]  # fmt: skip
    graph.add_node(CONTEXT, role="latent", observed=False, rank=-1)
    graph.add_edges_from((CONTEXT, node) for node in exogenous)
    return graph


def _mediators_upstream(dag: nx.DiGraph, outcome: str) -> set[str]:
    return {n for n in nx.ancestors(dag, outcome) if dag.nodes[n]["role"] == "mediator"}


def _conditioned_group_effects(dag: nx.DiGraph, group_effects: str) -> set[str]:
    # Fitted group effects are held at each draw's value for the observed groups: conditioned
    # on. Drawn anew or set to zero, they are averaged over or ignored: not conditioned on.
    if group_effects != "fitted":
        return set()
    return {n for n, data in dag.nodes(data=True) if data["role"] == "group_effect"}


def adjustment_set(
    dag: nx.DiGraph, treatments: Collection[str], outcome: str, *, group_effects: str = "fitted"
) -> frozenset[str]:
    """What the g-computation of ``treatments -> outcome`` conditions on.

    Every observed variable of the outcome's equation and of the equations of its mediators,
    other than the treatments and their descendants (those respond to the scenario), and the
    correlated group effects when ``group_effects="fitted"``.
    """
    _check_nodes(dag, [*treatments, outcome])
    equations = {outcome} | _mediators_upstream(dag, outcome)
    responding = set(treatments).union(*(nx.descendants(dag, t) for t in treatments))
    parents = {p for equation in equations for p in dag.predecessors(equation)}
    observed = {p for p in parents if dag.nodes[p]["observed"]} - responding
    return frozenset(observed | _conditioned_group_effects(dag, group_effects))


def mediator_adjustment_set(
    dag: nx.DiGraph,
    mediator: str,
    outcome: str,
    treatments: Collection[str],
    *,
    group_effects: str = "fitted",
) -> frozenset[str]:
    """What the mediation split conditions on for ``mediator -> outcome``.

    The treatments, every observed parent of the outcome's and its mediators' equations that
    does not respond to ``mediator``, and the correlated group effects when fitted.
    """
    _check_nodes(dag, [mediator, outcome, *treatments])
    equations = {outcome} | _mediators_upstream(dag, outcome)
    downstream = {mediator} | nx.descendants(dag, mediator)
    parents = {p for equation in equations for p in dag.predecessors(equation)}
    observed = {p for p in parents | set(treatments) if dag.nodes[p]["observed"]} - downstream
    return frozenset(observed | _conditioned_group_effects(dag, group_effects))


def is_valid_adjustment(
    dag: nx.DiGraph, treatments: Collection[str], outcome: str, adjustment: Collection[str]
) -> bool:
    """Whether ``adjustment`` satisfies the back-door criterion for ``treatments -> outcome``.

    Checked in :func:`identification_graph` of ``dag``: no member is a descendant of a
    treatment, and with the treatments' outgoing edges removed the set d-separates the
    treatments from the outcome (:func:`networkx.is_d_separator`).
    """
    graph = identification_graph(dag)
    treatments, adjustment = set(treatments), set(adjustment)
    _check_nodes(graph, [*treatments, outcome, *adjustment])
    if adjustment & set().union(*(nx.descendants(graph, t) for t in treatments)):
        return False
    backdoor = graph.copy()
    backdoor.remove_edges_from([(t, child) for t in treatments for child in graph.successors(t)])
    return nx.is_d_separator(backdoor, treatments, {outcome}, adjustment)


def _check_nodes(graph: nx.DiGraph, nodes: Iterable[str]) -> None:
    if missing := sorted(set(nodes) - set(graph)):
        raise KeyError(
            f"{missing} not in the causal graph of spec {graph.graph.get('spec')!r}; its "
            f"variables are {sorted(graph)}"
        )
