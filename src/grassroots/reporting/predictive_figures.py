"""The paper's predictive checks drawn from fits: Kaplan-Meier against posterior predictive
survival, the ordinal posterior predictive check, and the prior predictive check with the
codebook's labels.

As in :mod:`~grassroots.reporting.paper_figures`, each figure comes with a function returning the
numbers it draws (``*_frame``; the posterior curves of Figures 4-5 are an estimand,
:func:`~grassroots.estimands.survival_curves.survival_by_group`), is drawn in
:func:`~grassroots.reporting.figures.figure_style` of its ``lang`` and written with
:func:`~grassroots.reporting.figures.save_figure`::

    fig = km_posterior_plot(fits["M4"], study, "region", "zh")
    save_figure(fig, "reports/figures/km_region_zh")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.estimands.survival_curves import (
    observed_survival,
    survival_by_group,
    survival_columns,
    survival_groups,
)
from grassroots.inference.fit_result import StudyLike, resolve_data
from grassroots.models.prior_predictive import PriorPredictive, plot_prior_predictive
from grassroots.reporting.figures import PALETTE, _styled
from grassroots.reporting.labels import note_text, percent, term_label, text
from grassroots.reporting.model_terms import outcome_of

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "kaplan_meier_frame",
    "km_posterior_plot",
    "ordinal_ppc_frame",
    "ordinal_ppc_plot",
    "prior_predictive_plot",
]


# --- Kaplan-Meier against posterior predictive survival -----------------------------------------


def _group_label(by: str, value: Any, lang: Lang) -> str:
    colon = note_text("sep_colon", lang)
    if str(value) in {"0", "1", "0.0", "1.0", "True", "False"}:
        yes = str(value) in {"1", "1.0", "True"}
        return f"{term_label(by, lang)}{colon}{text('yes' if yes else 'no', lang)}"
    return term_label(f"{by}[{value}]", lang)


def kaplan_meier_frame(
    fit: Fit, data: pd.DataFrame | StudyLike, by: str, *, outcome: str | None = None,
    prob: float = DEFAULT_PROB,
) -> pd.DataFrame:  # fmt: skip
    """Kaplan-Meier estimates per group of ``by`` (lifelines; censored rows count as at risk
    until their censoring time).

    Returns
    -------
    DataFrame
        ``group, time, survival, lower, upper, censored, n`` (``censored``: rows censored at
        that time; ``n``: projects in the group), one row per distinct time of the group,
        starting at 0.
    """
    from lifelines import KaplanMeierFitter

    name = outcome_of(fit, outcome)
    time, event = survival_columns(fit, name)
    frame = observed_survival(resolve_data(data)[0], time, event)
    parts = []
    for group in survival_groups(frame, by):
        rows = frame[frame[by] == group]
        durations = rows[time].to_numpy(dtype=float)
        events = rows[event].to_numpy(dtype=float)
        km = KaplanMeierFitter(alpha=1 - prob).fit(durations, events)
        timeline = km.survival_function_.index.to_numpy(dtype=float)
        censored = pd.Series(durations[events == 0]).value_counts()
        parts.append(
            pd.DataFrame(
                {
                    "group": group,
                    "time": timeline,
                    "survival": km.survival_function_.iloc[:, 0].to_numpy(dtype=float),
                    "lower": km.confidence_interval_.iloc[:, 0].to_numpy(dtype=float),
                    "upper": km.confidence_interval_.iloc[:, 1].to_numpy(dtype=float),
                    "censored": [int(censored.get(t, 0)) for t in timeline],
                    "n": len(rows),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@_styled
def km_posterior_plot(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    by: str,
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    times: Sequence[float] | None = None,
    group_effects: str = "fitted",
    max_draws: int = 1000,
    prob: float = DEFAULT_PROB,
    title: str | None = None,
    curves: pd.DataFrame | None = None,
) -> Figure:
    """Kaplan-Meier curves (with censoring ticks and confidence bands) against posterior
    predictive survival, one panel per group of ``by`` (e.g. ``"region"``, ``"extensive"``).

    Parameters
    ----------
    fit
        A survival fit (or a structural fit with ``outcome``).
    data
        The fitted data (flat table or study): the projects, their follow-up and events.
    by
        Column whose groups get a panel each.
    lang
        ``"en"`` or ``"zh"``.
    outcome
        For fits with several outcomes.
    times
        Time grid of the posterior curve (default: 61 points from 0 to the longest follow-up).
    group_effects
        ``fitted`` (default), ``new`` or ``none``; see ``Fit.predict``.
    max_draws
        Posterior draws used at most for the posterior curve (evenly thinned).
    prob
        Mass of both bands.
    title
        Figure title.
    curves
        The ``table`` of :func:`~grassroots.estimands.survival_curves.survival_by_group` of
        these arguments when computed already (for the figure in another language, or read
        from the fitted folder: it is most of the figure's time); computed here otherwise.
    """
    km = kaplan_meier_frame(fit, data, by, outcome=outcome, prob=prob)
    posterior = curves
    if posterior is None:
        posterior = survival_by_group(
            fit,
            data,
            by=by,
            outcome=outcome,
            times=times,
            group_effects=group_effects,
            max_draws=max_draws,
            prob=prob,
        ).table
    groups = list(dict.fromkeys(km["group"]))
    columns = min(3, len(groups))
    rows = math.ceil(len(groups) / columns)
    fig = Figure(figsize=(2.9 * columns + 0.6, 2.3 * rows + 0.7), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    for ax, group in zip(axes.flat, groups, strict=False):
        curve = km[km["group"] == group]
        band = posterior[posterior["group"] == group]
        ax.fill_between(curve["time"], curve["lower"], curve["upper"], step="post",
                        color="0.6", alpha=0.3, linewidth=0)  # fmt: skip
        ax.step(curve["time"], curve["survival"], where="post", color="0.15", linewidth=1.0,
                label=text("kaplan_meier", lang).format(pct=percent(prob)))  # fmt: skip
        ticks = curve[curve["censored"] > 0]
        ax.plot(ticks["time"], ticks["survival"], linestyle="none", marker="|", markersize=4,
                color="0.15", markeredgewidth=0.6)  # fmt: skip
        ax.fill_between(band["time"], band["lower"], band["upper"], color=PALETTE[0],
                        alpha=0.25, linewidth=0)  # fmt: skip
        ax.plot(band["time"], band["median"], color=PALETTE[0], linewidth=1.2,
                label=text("posterior_predictive", lang).format(pct=percent(prob)))  # fmt: skip
        n = int(curve["n"].iloc[0])
        ax.set_title(
            text("with_n", lang).format(label=_group_label(by, group, lang), n=f"{n:,d}"),
            loc="left",
        )
        ax.set_ylim(0.0, 1.02)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    # Axis labels on the outer panels (not supxlabel: it would collide with the legend below).
    for ax in axes[-1, :]:
        ax.set_xlabel(text("months_since_launch", lang))
    for ax in axes[:, 0]:
        ax.set_ylabel(text("survival_probability", lang))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    if title:
        fig.suptitle(title, x=0.01, horizontalalignment="left")
    return fig


# --- ordinal posterior predictive check ----------------------------------------------------------


def ordinal_ppc_frame(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    *,
    outcome: str | None = None,
    max_draws: int = 400,
    prob: float = DEFAULT_PROB,
    seed: int | None = None,
) -> pd.DataFrame:
    """Observed share of each rating against its posterior predictive distribution.

    For up to ``max_draws`` posterior draws (evenly thinned), a rating is drawn for every rated
    project from its predicted category probabilities (fitted group effects), and the share of
    each rating among them is recorded: the replicated shares carry both the posterior
    uncertainty and the sampling noise of a data set of this size.

    Returns
    -------
    DataFrame
        ``level, observed, median, lower, upper`` (shares of the rated projects).
    """
    name = outcome_of(fit, outcome)
    spec = fit.spec.outcome(name)
    if spec.family != "ordinal":
        raise ValueError(f"outcome {name!r} of {fit.spec.name!r} is not ordinal")
    column = spec.columns["column"]
    frame = resolve_data(data)[0]
    rows = frame[frame[column].notna()].reset_index(drop=True)
    levels = list(fit.model_coords.get(f"{name}_level") or spec.levels or [])
    observed = rows[column].astype(float).value_counts(normalize=True)
    total = fit.posterior.sizes["chain"] * fit.posterior.sizes["draw"]
    thin = max(1, math.ceil(total / max_draws))
    probabilities = fit.predict(rows, outcomes=[name], thin=thin)[f"{name}_prob"]
    p = probabilities.transpose("chain", "draw", "row", ...).to_numpy()
    p = p.reshape(-1, *p.shape[2:])  # (draws, rows, levels)
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    uniform = rng.random(p.shape[:2])
    # Inverse-CDF draw of one category per project and draw.
    category = (uniform[..., None] > np.cumsum(p, axis=-1)[..., :-1]).sum(axis=-1)
    shares = np.stack([(category == k).mean(axis=1) for k in range(len(levels))], axis=1)
    q = np.quantile(shares, [0.5, (1 - prob) / 2, (1 + prob) / 2], axis=0)
    return pd.DataFrame(
        {
            "level": levels,
            "observed": [float(observed.get(float(level), 0.0)) for level in levels],
            "median": q[0],
            "lower": q[1],
            "upper": q[2],
        }
    )


@_styled
def ordinal_ppc_plot(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    max_draws: int = 400,
    prob: float = DEFAULT_PROB,
    seed: int | None = None,
    title: str | None = None,
    shares: pd.DataFrame | None = None,
) -> Figure:
    """Bars: observed share of each rating; points and bars: posterior predictive median and
    interval of the share (:func:`ordinal_ppc_frame`, or ``shares`` when it was computed
    already with these arguments, for the figure in another language)."""
    frame = shares
    if frame is None:
        frame = ordinal_ppc_frame(fit, data, outcome=outcome, max_draws=max_draws, prob=prob,
                                  seed=seed)  # fmt: skip
    fig = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    ax.bar(x, frame["observed"], width=0.6, color="0.75", label=text("observed", lang))
    ax.errorbar(x, frame["median"],
                yerr=[frame["median"] - frame["lower"], frame["upper"] - frame["median"]],
                fmt="o", color=PALETTE[0], markersize=4, capsize=3, linewidth=1.2,
                label=text("posterior_predictive", lang).format(pct=percent(prob)))  # fmt: skip
    ax.set_xticks(x, [str(level) for level in frame["level"]])
    column = fit.spec.outcome(outcome_of(fit, outcome)).columns["column"]
    label = term_label(column, lang)
    rating = text("rating", lang)
    ax.set_xlabel(note_text("rating_axis", lang, label=label, rating=rating,
                            rating_lower=rating.lower()))  # fmt: skip
    ax.set_ylabel(text("share_of_projects", lang))
    fig.legend(loc="outside upper center", ncols=2)
    if title:
        ax.set_title(title, loc="left")
    return fig


@_styled
def prior_predictive_plot(check: PriorPredictive, lang: Lang = "en") -> Figure:
    """The prior predictive check (:func:`grassroots.models.prior_predictive`) with the
    codebook's labels: survival curves, rating shares and probabilities implied by the priors
    alone, 50% and 90% bands."""
    fig = plot_prior_predictive(check)
    for ax, outcome in zip(fig.axes, check.spec.outcomes, strict=True):
        column = outcome.columns.get("column", outcome.name)
        label = (text("survival_outcome", lang) if outcome.family == "survival"
                 else term_label(column, lang))  # fmt: skip
        if outcome.family == "survival":
            ax.set(xlabel=text("months_since_launch", lang),
                   ylabel=text("row_average_survival", lang),
                   title=text("prior_survival", lang).format(label=label))  # fmt: skip
        elif outcome.family == "ordinal":
            ax.set(xlabel=text("rating", lang), ylabel=text("share_of_rows", lang),
                   title=text("prior_rating_shares", lang).format(label=label))  # fmt: skip
        else:
            ax.set(xlabel=text("row_average_probability", lang),
                   ylabel=text("prior_draws", lang),
                   title=text("prior_probability", lang).format(label=label))  # fmt: skip
    return fig
