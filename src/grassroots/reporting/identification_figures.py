"""Figures 9 and 10: the causal graph of the structural spec, and the E-values of Table 5b.

:func:`dag_plot` draws :func:`grassroots.models.dag.spec_dag` as it is, so the figure changes
when the spec does: one box per variable, in columns (exogenous variables, then the
strategies in causal order, then the outcomes), an arrow per edge.
:func:`sensitivity_plot` draws, per scenario, the E-value of each contrast's estimate and of
its interval limit closer to no change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib as mpl
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.estimand_labels import quantity_label
from grassroots.reporting.figures import PALETTE, figure_style
from grassroots.reporting.labels import level_name, percent, term_label, text

__all__ = ["dag_plot", "layered_positions", "node_label", "sensitivity_plot"]

# Fill of each role's boxes and colour of the arrows that leave them.
_FILL = {
    "remedy": PALETTE[1],
    "covariate": "0.88",
    "mediator": PALETTE[0],
    "outcome": PALETTE[2],
    "group_effect": "white",
}
_ARROW = {
    "remedy": PALETTE[1],
    "covariate": "0.72",
    "mediator": PALETTE[0],
    "group_effect": "0.45",
}
_DARK_TEXT = {"remedy", "mediator", "outcome"}
_ROLE_ORDER = ("remedy", "covariate", "group_effect", "mediator", "outcome")


def node_label(node: str, role: str, lang: Lang = "en") -> str:
    """The reader's name of a graph node (a codebook label, an outcome, group effects)."""
    if role == "group_effect":
        level = node.removesuffix("_effect")
        return text("group_effect_node", lang).format(level=level_name(level, lang).capitalize())
    if node == "survival":
        return text("survival_outcome", lang)
    return term_label(node, lang)


def layered_positions(dag: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Node -> (x, y): exogenous variables in the left column, the final outcomes in the right
    one, the mediators between them by causal rank (:func:`~grassroots.models.dag.spec_dag`'s
    ``rank``); within a column remedies first, then the rest in the spec's order, top down, each
    column spread over the height of the tallest."""
    last = max(data["rank"] for data in dag.nodes.values())
    column = {
        node: last if data["role"] == "outcome" else data["rank"]
        for node, data in dag.nodes(data=True)
    }
    members: dict[int, list[str]] = {}
    for node in sorted(dag.nodes, key=lambda n: _ROLE_ORDER.index(dag.nodes[n]["role"])):
        members.setdefault(column[node], []).append(node)
    tallest = max(len(nodes) for nodes in members.values())
    position = {}
    for x, nodes in members.items():
        step = tallest / len(nodes)
        for i, node in enumerate(nodes):
            position[node] = (float(x), (len(nodes) - 1) / 2 * step - i * step)
    return position


def _finish(fig: Figure) -> Figure:
    # Tick labels are made lazily; making them inside the style keeps their fonts when the
    # figure is saved outside it.
    for ax in fig.axes:
        ax.xaxis.get_majorticklabels()
        ax.yaxis.get_majorticklabels()
    return fig


def dag_plot(dag: nx.DiGraph, lang: Lang = "en", *, title: str | None = None) -> Figure:
    """Figure 9: the causal graph of a spec, one box per variable and one arrow per edge.

    Parameters
    ----------
    dag
        :func:`grassroots.models.dag.spec_dag`.
    lang
        Language of the labels.
    title
        Figure title.
    """
    with figure_style(lang):
        position = layered_positions(dag)
        columns = [x for x, _ in position.values()]
        tallest = max(columns.count(x) for x in set(columns))
        fig = Figure(figsize=(8.0, 0.9 + 0.36 * tallest), layout="constrained")
        ax = fig.add_subplot()
        ax.set_axis_off()
        boxes = {}
        for node in position:
            role = dag.nodes[node]["role"]
            x, y = position[node]
            boxes[node] = ax.text(
                x, y, node_label(node, role, lang), ha="center", va="center", zorder=3,
                fontsize=mpl.rcParams["font.size"] - 1,
                color="white" if role in _DARK_TEXT else "black",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": _FILL[role],
                      "edgecolor": "0.3", "linestyle": "--" if role == "group_effect" else "-",
                      "linewidth": 0.6},
            )  # fmt: skip
        for source, target in dag.edges:
            role = dag.nodes[source]["role"]
            ax.annotate(
                "", xy=(0.0, 0.5), xycoords=boxes[target], xytext=(1.0, 0.5),
                textcoords=boxes[source], zorder=2,
                arrowprops={"arrowstyle": "-|>", "color": _ARROW[role], "shrinkA": 3,
                            "shrinkB": 3, "linewidth": 0.5 if role == "covariate" else 0.9,
                            "linestyle": "--" if role == "group_effect" else "-",
                            "mutation_scale": 9, "connectionstyle": "arc3,rad=0.04"},
            )  # fmt: skip
        xs = [p[0] for p in position.values()]
        ys = [p[1] for p in position.values()]
        ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
        ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
        roles = [r for r in _ROLE_ORDER if any(d["role"] == r for d in dag.nodes.values())]
        handles = [
            Patch(facecolor=_FILL[r], edgecolor="0.3", label=text(f"role_{r}", lang),
                  linestyle="--" if r == "group_effect" else "-")
            for r in roles
        ]  # fmt: skip
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        if title:
            fig.suptitle(title, x=0.01, horizontalalignment="left")
        return _finish(fig)


_SENSITIVITY_COLUMNS = ("scenario", "outcome", "quantity", "e_value", "e_value_limit")


def sensitivity_plot(
    sensitivity: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    columns: int = 2,
    prob: float = DEFAULT_PROB,
    title: str | None = None,
) -> Figure:
    """Figure 10: per scenario, each contrast's E-value (light bar) and that of its interval
    limit closer to no change (dark bar), from 1 (no confounding needed).

    Parameters
    ----------
    sensitivity
        :func:`grassroots.estimands.sensitivity.sensitivity`'s ``table``.
    lang
        Language of the labels.
    scenario_labels
        Scenario name -> panel title.
    columns
        Panels per row.
    prob
        Mass of the intervals (for the legend).
    title
        Figure title.
    """
    if missing := [c for c in _SENSITIVITY_COLUMNS if c not in sensitivity.columns]:
        raise ValueError(
            f"sensitivity_plot needs columns {list(_SENSITIVITY_COLUMNS)}; missing {missing}"
        )
    if sensitivity.empty:
        raise ValueError("sensitivity_plot: no contrast to draw")
    with figure_style(lang):
        scenarios = list(dict.fromkeys(sensitivity["scenario"]))
        keys = list(dict.fromkeys(zip(sensitivity["outcome"], sensitivity["quantity"],
                                      strict=True)))  # fmt: skip
        rows = {key: len(keys) - 1 - i for i, key in enumerate(keys)}
        n_cols = max(1, min(columns, len(scenarios)))
        n_rows = math.ceil(len(scenarios) / n_cols)
        fig = Figure(figsize=(3.0 * n_cols + 2.6, 0.28 * len(keys) * n_rows + 1.2),
                     layout="constrained")  # fmt: skip
        axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True, sharex=True)
        high = float(np.nanmax(sensitivity["e_value"].to_numpy(dtype=float)))
        limit_label = text("e_value_limit", lang).replace("CrI", f"{percent(prob)} CrI")
        for ax, scenario in zip(axes.flat, scenarios, strict=False):
            part = sensitivity[sensitivity["scenario"] == scenario]
            y = np.array([rows[k] for k in zip(part["outcome"], part["quantity"], strict=True)])
            point = part["e_value"].to_numpy(dtype=float)
            limit = part["e_value_limit"].to_numpy(dtype=float)
            ax.barh(
                y,
                point - 1,
                left=1,
                height=0.7,
                color=PALETTE[5],
                label=text("e_value_estimate", lang),
            )
            ax.barh(y, limit - 1, left=1, height=0.35, color=PALETTE[0], label=limit_label)
            ax.axvline(1, color="0.4", linewidth=0.8)
            ax.set_title((scenario_labels or {}).get(scenario, scenario), loc="left")
            ax.set_xlim(1, 1 + 1.05 * (high - 1) if high > 1 else 2)
            ax.tick_params(axis="y", length=0)
        for ax in list(axes.flat)[len(scenarios) :]:
            ax.set_visible(False)
        axes[0, 0].set_yticks(list(rows.values()), [quantity_label(o, q, lang) for o, q in rows])
        axes[0, 0].set_ylim(-0.6, len(keys) - 0.4)
        fig.supxlabel(text("e_value_axis", lang), fontsize=mpl.rcParams["axes.labelsize"])
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2)
        if title:
            fig.suptitle(title, x=0.01, horizontalalignment="left")
        return _finish(fig)
