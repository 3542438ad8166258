"""The paper's figures drawn from fits: forest plot across models, caterpillar of group effects,
Kaplan-Meier against posterior predictive survival, and the ordinal posterior predictive check
(the predictive checks live in :mod:`~grassroots.reporting.predictive_figures` and are
re-exported here).

Each figure comes with a function returning the numbers it draws (``*_frame``), so a caller can
write them beside the picture and a test can check them. Figures are drawn in
:func:`~grassroots.reporting.figures.figure_style` of their ``lang`` (Chinese glyphs from the
packaged CJK font) and written with :func:`~grassroots.reporting.figures.save_figure`::

    fig = km_posterior_plot(fits["M4"], study, "region", "zh")
    save_figure(fig, "reports/figures/km_region_zh")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.figures import PALETTE, _styled, forest_plot
from grassroots.reporting.labels import level_name, level_plural, text
from grassroots.reporting.model_estimates import coefficient_estimates
from grassroots.reporting.model_terms import (
    COEFFICIENT_PANELS,
    coefficient_label,
    given_by_term,
    outcome_of,
)
from grassroots.reporting.predictive_figures import (
    kaplan_meier_frame,
    km_posterior_plot,
    ordinal_ppc_frame,
    ordinal_ppc_plot,
    prior_predictive_plot,
)

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "FOREST_PANELS",
    "caterpillar_frame",
    "caterpillar_plot",
    "coefficient_forest",
    "kaplan_meier_frame",
    "km_posterior_plot",
    "ordinal_ppc_frame",
    "ordinal_ppc_plot",
    "prior_predictive_plot",
]

#: Panels a forest plot shows by default: the paper's argument, not the controls.
FOREST_PANELS: tuple[str, ...] = (
    "weaknesses",
    "strengths",
    "remedies",
    "strategies",
    "dilemmas",
    "interactions",
)


def _capitalised(words: str, lang: Lang) -> str:
    return words[:1].upper() + words[1:] if lang == "en" else words


# --- forest plot ---------------------------------------------------------------------------------


def coefficient_forest(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    models: Sequence[str] | None = None,
    panels: Sequence[str] = FOREST_PANELS,
    terms: Sequence[str] | None = None,
    title: str | None = None,
    prob: float = DEFAULT_PROB,
) -> Figure:
    """Forest plot of HR or OR per SD across models (e.g. M1-M4).

    Parameters
    ----------
    fits
        Model name -> fit (one outcome family).
    lang
        ``"en"`` or ``"zh"``.
    outcome
        For fits with several outcomes.
    models
        Models to show, top to bottom within a term (default: every model with coefficients,
        so M0 drops out).
    panels
        Coefficient panels to show (:data:`FOREST_PANELS`; add ``"controls"`` for all terms).
    terms
        Explicit terms instead of ``panels``.
    title
        Figure title.
    prob
        Mass of the intervals.
    """
    estimates = coefficient_estimates(fits, outcome=outcome, prob=prob)
    if estimates.empty:
        raise ValueError("coefficient_forest: the fits have no coefficients")
    if models is None:
        models = [m for m in fits if m in set(estimates["model"])]
    if terms is None:
        order = list(dict.fromkeys(estimates["term"]))
        rank = {panel: k for k, panel in enumerate(COEFFICIENT_PANELS)}
        chosen = [t for t in order if estimates.loc[estimates["term"] == t, "panel"].iloc[0]
                  in panels]  # fmt: skip
        terms = sorted(chosen, key=lambda t: (rank.get(_panel_of(estimates, t), 99),
                                              order.index(t)))  # fmt: skip
    shown = estimates[estimates["model"].isin(models) & estimates["term"].isin(terms)]
    survival = (shown["ratio"] == "HR").all()
    # The same labels as Tables 2-4: a main effect in an interaction says where it holds.
    givens = given_by_term(shown)

    def label(term: str, lang: Lang) -> str:
        return coefficient_label(term, lang, given=givens.get(term, ""))

    return forest_plot(
        shown[["model", "term", "estimate", "lower", "upper"]],
        lang,
        models=list(models),
        terms=list(terms),
        label=label,
        xlabel=text("hazard_ratio" if survival else "odds_ratio", lang),
        title=title,
    )


def _panel_of(estimates: pd.DataFrame, term: str) -> str:
    return str(estimates.loc[estimates["term"] == term, "panel"].iloc[0])


# --- caterpillar ---------------------------------------------------------------------------------


def _effect_draws(fit: Fit, outcome: str, level: str) -> Any:
    posterior = fit.posterior
    name = f"{outcome}_effect_{level}"
    if name in posterior:
        return posterior[name]
    if f"{level}_effect" in posterior:
        # The correlated level of a structural model: one column per outcome.
        return posterior[f"{level}_effect"].sel(outcome=outcome)
    raise KeyError(f"fit {fit.spec.name!r} has no {level} effects for {outcome!r}")


def caterpillar_frame(
    fit: Fit, *, outcome: str | None = None, level: str, prob: float = DEFAULT_PROB
) -> pd.DataFrame:
    """Posterior median and interval of every group's effect at ``level``, sorted by median.

    Returns
    -------
    DataFrame
        ``group, median, lower, upper, rank`` (1 = lowest), on the log-hazard or logit scale.
    """
    name = outcome_of(fit, outcome)
    draws = _effect_draws(fit, name, level)
    quantiles = draws.quantile([0.5, (1 - prob) / 2, (1 + prob) / 2], dim=("chain", "draw"))
    frame = pd.DataFrame(
        {
            "group": [str(g) for g in draws.coords[level].values],
            "median": quantiles.sel(quantile=0.5).to_numpy(),
            "lower": quantiles.isel(quantile=1).to_numpy(),
            "upper": quantiles.isel(quantile=2).to_numpy(),
        }
    )
    frame = frame.sort_values(["median", "group"], kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def _name_readable_groups(fig: Figure, ax: Any, frame: pd.DataFrame, per_end: int) -> None:
    """Name up to ``per_end`` groups at each end of the ranking and the middle one, skipping
    any whose label would touch a label already placed.

    Candidates come from both ends inwards (the most extreme first), so with hundreds of
    groups on the axis the named ones are the most extreme that can be read, spaced as the
    font requires; with few groups they are simply the ``per_end`` lowest and highest.

    The labels are rotated 90 degrees and hang from the axis, so two of them
    touch when their centres are closer than their half-heights. Only the two outermost are
    laid out with the figure, to place the axis; the others are measured one at a time, and
    only while names are still wanted (ticking all the groups to measure them made this plot
    cost as much as the rest of the figures together).
    """
    n = len(frame)
    ranks = frame["rank"].to_numpy()
    order = [int(r) for pair in zip(ranks, ranks[::-1], strict=True) for r in pair]
    middle = int(ranks[(n - 1) // 2])
    candidates = list(dict.fromkeys([*order[:2], middle, *order[2:]]))
    groups = dict(zip(frame["rank"], frame["group"], strict=True))
    ax.set_xticks(candidates[:2], [groups[r] for r in candidates[:2]], rotation=90, fontsize=6)
    fig.draw_without_rendering()
    template = ax.get_xticklabels()[0]

    def span(rank: int) -> tuple[float, float]:
        probe = Text(text=groups[rank], rotation=90, fontproperties=template.get_fontproperties())
        probe.set_figure(fig)
        centre = ax.transData.transform((rank, 0.0))[0]
        return centre, probe.get_window_extent().width / 2

    low_named = high_named = 0
    chosen: dict[int, tuple[float, float]] = {}
    for rank in candidates:
        is_middle = rank == middle
        low = rank <= middle
        if not is_middle and (low_named if low else high_named) >= per_end:
            continue
        centre, half = span(rank)
        if any(abs(centre - c) < 1.15 * half + h for c, h in chosen.values()):
            continue
        chosen[rank] = (centre, half)
        if not is_middle:
            low_named, high_named = low_named + low, high_named + (not low)
        if low_named >= per_end and high_named >= per_end and middle in chosen:
            break
    named = sorted(chosen)
    ax.set_xticks(named, [groups[r] for r in named], rotation=90, fontsize=6)


@_styled
def caterpillar_plot(
    fit: Fit,
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    levels: Sequence[str] | None = None,
    label_extremes: int = 5,
    prob: float = DEFAULT_PROB,
    title: str | None = None,
) -> Figure:
    """Caterpillar plot of the county and township effects: posterior median and interval of
    every group, sorted, one panel per level.

    With hundreds of townships the intervals are thin lines and only a readable subset is
    named on the axis: up to ``label_extremes`` groups at each end and the middle one, the most
    extreme whose labels do not overlap; every group is drawn.

    Parameters
    ----------
    fit
        A fit with grouping levels.
    lang
        ``"en"`` or ``"zh"``.
    outcome
        For fits with several outcomes.
    levels
        Levels to show, outer first (default: all).
    label_extremes
        Groups named at each end of a panel, at most (fewer when their labels would overlap).
    prob
        Mass of the intervals.
    title
        Figure title.
    """
    name = outcome_of(fit, outcome)
    levels = list(fit.spec.levels if levels is None else levels)
    if not levels:
        raise ValueError(f"fit {fit.spec.name!r} has no group effects to plot")
    family = fit.spec.outcome(name).family
    scale = text("log_hazard_scale" if family == "survival" else "logit_scale", lang)
    fig = Figure(figsize=(6.5, 2.5 * len(levels) + 0.4), layout="constrained")
    axes = fig.subplots(len(levels), 1, squeeze=False)[:, 0]
    for ax, level in zip(axes, levels, strict=True):
        frame = caterpillar_frame(fit, outcome=name, level=level, prob=prob)
        many = len(frame) > 80
        ax.vlines(frame["rank"], frame["lower"], frame["upper"], color=PALETTE[0],
                  linewidth=0.4 if many else 0.9, alpha=0.6 if many else 1.0)  # fmt: skip
        ax.plot(frame["rank"], frame["median"], linestyle="none", marker="o",
                markersize=1.5 if many else 3.0, color=PALETTE[0])  # fmt: skip
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.8, zorder=0)
        ax.set_xlim(0, len(frame) + 1)
        _name_readable_groups(fig, ax, frame, label_extremes)
        ax.set_ylabel(text("group_effect", lang).format(
            level=_capitalised(level_name(level, lang), lang), scale=scale))  # fmt: skip
        ranked = text("group_rank", lang).format(levels=level_plural(level, lang))
        ax.set_title(
            text("with_n", lang).format(label=_capitalised(ranked, lang), n=len(frame)),
            loc="left",
        )
    if title:
        fig.suptitle(title, x=0.01, horizontalalignment="left")
    return fig
