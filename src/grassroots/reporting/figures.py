"""Figures: a style that renders Chinese, deterministic PNG/PDF output, and the paper's plots
that need only plain DataFrames (forest plot, contrast densities).

Chinese glyphs come from WenQuanYi Micro Hei, Debian's ``fonts-wqy-microhei`` (installed by
``scripts/setup-tools``, which ``make setup`` runs). Its outlines are
TrueType (``glyf``), so PDF figures embed every font as TrueType (Type 42) rather than Type 3,
which journals' production systems ask for; the CFF-based Noto Sans CJK would be embedded as a
TrueType font holding CFF data, which is malformed. The plot functions draw
inside :func:`figure_style` of their ``lang``; :func:`save_figure` writes them::

    fig = forest_plot(estimates, "zh", xlabel=text("hazard_ratio", "zh"))
    save_figure(fig, "reports/figures/forest_survival_zh")

A figure of one's own is drawn inside ``with figure_style(lang):``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from grassroots._io import write_bytes_atomic
from grassroots.data.schema import Lang
from grassroots.reporting.labels import term_label, text

__all__ = [
    "CJK_FAMILY",
    "FIGURE_FORMATS",
    "FontNotAvailableError",
    "contrast_density_plot",
    "figure_style",
    "forest_plot",
    "register_cjk_font",
    "save_figure",
    "style",
]

CJK_FAMILY = "WenQuanYi Micro Hei"
LATIN_FAMILY = "DejaVu Sans"
FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf")
# Okabe-Ito: distinguishable with colour-vision deficiency; markers differ too, for grey print.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X")


class FontNotAvailableError(RuntimeError):
    """No font with Simplified Chinese glyphs: Chinese labels would print as empty boxes."""


@functools.cache
def register_cjk_font() -> str:
    """Make the Simplified Chinese font known to matplotlib; return its family name.

    Looks for WenQuanYi Micro Hei among the system's fonts (Debian's ``fonts-wqy-microhei``,
    which ``scripts/setup-tools`` installs).

    Raises
    ------
    FontNotAvailableError
        When neither exists, or the font found has no TrueType outlines, with the command that
        installs the right one.
    """
    install = (
        "install Debian's fonts-wqy-microhei ('apt-get install fonts-wqy-microhei'; make "
        "reproduce does when run as root, through scripts/setup-tools), or draw with lang='en'"
    )
    try:
        path = _find_cjk_font()
    except ValueError:
        raise FontNotAvailableError(
            f"no font '{CJK_FAMILY}' for Chinese figure labels: {install}"
        ) from None
    if not _has_truetype_outlines(path):
        raise FontNotAvailableError(
            f"font file {path} of '{CJK_FAMILY}' has no TrueType (glyf) outlines, so PDF "
            f"figures could not embed it as TrueType: {install}"
        )
    return CJK_FAMILY


def _find_cjk_font() -> str:
    query = font_manager.FontProperties(family=CJK_FAMILY)
    try:
        return font_manager.findfont(query, fallback_to_default=False)
    except ValueError:
        # matplotlib's font cache predates a font installed since: add the system's file.
        for path in font_manager.findSystemFonts():
            if Path(path).name.lower().startswith("wqy-microhei"):
                font_manager.fontManager.addfont(path)
        return font_manager.findfont(query, fallback_to_default=False)


def _has_truetype_outlines(path: str) -> bool:
    from fontTools.ttLib import TTCollection, TTFont

    if Path(path).suffix.lower() in {".ttc", ".otc"}:
        return all("glyf" in face for face in TTCollection(path, lazy=True).fonts)
    return "glyf" in TTFont(path, lazy=True)


def style(lang: Lang = "en") -> dict[str, Any]:
    """The rcParams of the paper's figures in ``lang``.

    Families are named, not the generic ``sans-serif``: a Text object keeps the family list it
    was created with, so a figure drawn in :func:`figure_style` still finds its Chinese font
    when it is saved outside it.
    """
    families = [register_cjk_font(), LATIN_FAMILY] if lang == "zh" else [LATIN_FAMILY]
    return {
        "font.family": families,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "figure.dpi": 100,
        "savefig.dpi": 300,
    }


@contextlib.contextmanager
def figure_style(lang: Lang = "en") -> Iterator[None]:
    """Draw inside this block to get the paper's style and, for ``"zh"``, Chinese glyphs."""
    with mpl.rc_context(style(lang)):
        yield


# svg ids hashed from a fixed salt make the bytes of a saved figure depend only on what is drawn.
# Fonts are embedded as TrueType (Type 42), not Type 3: Type 3 glyphs are drawings that
# publishers' preflight rejects and readers cannot search or copy.
_SAVE_RC: Mapping[str, Any] = {"svg.hashsalt": "grassroots", "pdf.fonttype": 42, "ps.fonttype": 42}
_METADATA: Mapping[str, Mapping[str, Any]] = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "ModDate": None},
    "svg": {"Date": None},
}


def save_figure(
    fig: Figure,
    path: str | Path,
    formats: Iterable[str] = FIGURE_FORMATS,
    *,
    dpi: float = 300,
) -> list[Path]:
    """Write ``fig`` to ``path.<fmt>`` for each format, atomically and deterministically.

    Parameters
    ----------
    fig
        The figure.
    path
        File path without suffix (a suffix given is replaced), e.g. ``reports/figures/forest``.
    formats
        Any of ``png``, ``pdf``, ``svg``.
    dpi
        Resolution of raster output.

    Returns
    -------
    list of Path
        The files written. Two saves of the same figure give identical bytes: no creation date,
        no software stamp, fixed svg ids.
    """
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix in {".png", ".pdf", ".svg"} else stem
    formats = list(formats)
    if unknown := [fmt for fmt in formats if fmt not in _METADATA]:
        raise ValueError(f"unknown figure format {unknown[0]!r}; choose from {list(_METADATA)}")
    rendered = []
    engine = fig.get_layout_engine()
    try:
        for fmt in formats:
            buffer = io.BytesIO()
            with mpl.rc_context(dict(_SAVE_RC)):
                fig.savefig(buffer, format=fmt, dpi=dpi, metadata=dict(_METADATA[fmt]))
            rendered.append((stem.with_name(f"{stem.name}.{fmt}"), buffer.getvalue()))
            # Every format gets the first one's layout: a layout engine places the axes in
            # figure-relative units on each save, which took a tenth of drawing the figures.
            if engine is not None:
                fig.set_layout_engine("none")
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)
    # Render every format before writing any, so a failure leaves no partial set of files.
    for target, data in rendered:
        write_bytes_atomic(target, data)
    return [target for target, _ in rendered]


# --- plots -------------------------------------------------------------------------------------

_NICE_TICKS = (0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 10, 20)
# Over a wide range (forest plots of M1-M4 with strong controls) the fine ticks collide; use
# a 1-2-5 sequence instead.
_WIDE_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _check_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    if missing := [c for c in required if c not in frame.columns]:
        raise ValueError(
            f"{what} needs columns {list(required)}; missing {missing} (has {list(frame.columns)})"
        )


def _log_ticks(ax: Any, low: float, high: float) -> None:
    candidates = _NICE_TICKS if high / low <= 30 else _WIDE_TICKS
    ticks = [t for t in candidates if low <= t <= high]
    if len(ticks) < 3:
        ticks = sorted({*ticks, *np.round(np.geomspace(low, high, 4), 2).tolist()})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a plot function inside :func:`figure_style` of its ``lang``.

    Tick labels are made lazily, at the first draw; asking for them here makes them inside the
    style, so that a figure saved anywhere keeps its fonts (later ticks copy the first one's).
    """

    signature = inspect.signature(draw)

    @functools.wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> Figure:
        lang = signature.bind(*args, **kwargs).arguments.get("lang", "en")
        with figure_style(lang):
            fig = draw(*args, **kwargs)
            for ax in fig.axes:
                ax.xaxis.get_majorticklabels()
                ax.yaxis.get_majorticklabels()
        return fig

    return styled


@_styled
def forest_plot(
    estimates: pd.DataFrame,
    lang: Lang = "en",
    *,
    models: Sequence[str] | None = None,
    terms: Sequence[str] | None = None,
    log_scale: bool = True,
    reference: float | None = None,
    label: Callable[[str, Lang], str] = term_label,
    xlabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Point estimates and intervals per term, models side by side.

    Parameters
    ----------
    estimates
        Long frame with columns ``model, term, estimate, lower, upper``, on the scale to show
        (hazard or odds ratios for ``log_scale=True``).
    lang
        Language of term labels and axis text.
    models, terms
        Order of models (top to bottom within a term, and in the legend) and of terms (top to
        bottom); default: order of first appearance.
    log_scale
        Log x-axis, for ratios; the reference line is then at 1, else at 0.
    reference
        Position of the dashed "no effect" line (default 1 on a log scale, 0 otherwise).
    label
        Term -> label (default :func:`~grassroots.reporting.labels.term_label`).
    xlabel, title
        Axis label (default "Ratio (log scale)"/"Estimate" in ``lang``) and title.

    Returns
    -------
    Figure
        Drawn in :func:`figure_style` of ``lang``; write it with :func:`save_figure`.
    """
    _check_columns(estimates, ("model", "term", "estimate", "lower", "upper"), "forest_plot")
    if log_scale and (estimates[["estimate", "lower", "upper"]] <= 0).to_numpy().any():
        raise ValueError("forest_plot(log_scale=True) needs positive ratios; exponentiate first")
    models = list(dict.fromkeys(estimates["model"].map(str))) if models is None else list(models)
    terms = list(dict.fromkeys(estimates["term"])) if terms is None else list(terms)
    reference = (1.0 if log_scale else 0.0) if reference is None else reference

    height = 0.9 + 0.32 * len(terms) * max(1.0, 0.55 * len(models))
    fig = Figure(figsize=(6.0, height), layout="constrained")
    ax = fig.add_subplot()
    step = 0.7 / max(len(models), 1)
    offsets = {m: (len(models) - 1) / 2 * step - i * step for i, m in enumerate(models)}
    rows = {term: len(terms) - 1 - i for i, term in enumerate(terms)}
    keyed = estimates.assign(model=estimates["model"].map(str))
    for i, model in enumerate(models):
        part = keyed[(keyed["model"] == model) & keyed["term"].isin(rows)]
        y = part["term"].map(rows).to_numpy(dtype=float) + offsets[model]
        colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        ax.hlines(y, part["lower"], part["upper"], color=colour, linewidth=1.2)
        ax.plot(
            part["estimate"],
            y,
            linestyle="none",
            marker=marker,
            markersize=4.5,
            color=colour,
            label=model,
        )
    ax.axvline(reference, color="0.4", linestyle="--", linewidth=0.8, zorder=0)
    ax.set_yticks(list(rows.values()), [label(term, lang) for term in rows])
    ax.set_ylim(-0.6, len(terms) - 0.4)
    ax.tick_params(axis="y", length=0)
    if log_scale:
        ax.set_xscale("log")
        low = float(min(estimates["lower"].min(), reference))
        high = float(max(estimates["upper"].max(), reference))
        pad = (high / low) ** 0.06
        ax.set_xlim(low / pad, high * pad)
        _log_ticks(ax, low / pad, high * pad)
    default_xlabel = text("ratio", lang) if log_scale else text("estimate", lang)
    ax.set_xlabel(xlabel if xlabel is not None else default_xlabel)
    if title:
        ax.set_title(title, loc="left")
    if len(models) > 1:
        ax.legend(title=text("model", lang), loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    if values.size < 2 or np.ptp(values) == 0:
        return np.zeros_like(grid)
    return gaussian_kde(values)(grid)


def _contrast_panels(
    draws: pd.DataFrame, outcomes: Sequence[str] | None
) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """One panel per model (when several), outcome and quantity (when given): a density pools
    nothing that is measured on another scale."""
    keys = [c for c in ("model", "outcome", "quantity") if c in draws.columns]
    if "model" in keys and draws["model"].nunique() < 2:
        keys.remove("model")
    if outcomes is not None:
        draws = draws[draws["outcome"].isin(outcomes)]
        order = {outcome: k for k, outcome in enumerate(outcomes)}
    else:
        order = {outcome: k for k, outcome in enumerate(dict.fromkeys(draws["outcome"]))}
    panels = [
        (dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), part)
        for key, part in draws.groupby(keys, sort=False, dropna=False)
    ]
    return sorted(panels, key=lambda panel: order[panel[0]["outcome"]])


@_styled
def contrast_density_plot(
    draws: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenarios: Sequence[str] | None = None,
    outcomes: Sequence[str] | None = None,
    scenario_labels: Mapping[str, str] | None = None,
    outcome_labels: Mapping[str, str] | None = None,
    columns: int = 3,
    title: str | None = None,
) -> Figure:
    """Posterior densities of contrasts against the status quo, one panel per quantity.

    Parameters
    ----------
    draws
        Long frame with columns ``scenario, outcome, value`` (one row per posterior draw), and
        ``quantity`` (``S(12)``, ``P(>=4)``, ``E`` ...) and ``model`` when there are several, as
        :meth:`~grassroots.estimands.ContrastResult.draws_frame` gives them; a ``draw`` column
        may be present and is not needed. Every (model, outcome, quantity) gets its own panel,
        probabilities in percentage points and expected ratings in rating points, as in
        Tables 5-7.
    lang
        Language of axis text and of the panel titles
        (:func:`~grassroots.reporting.estimand_labels.quantity_label`).
    scenarios, outcomes
        Order of the curves and of the panels (default: order of first appearance).
    scenario_labels, outcome_labels
        Display names (e.g. ``{"resources_1sd": "资源 +1 SD"}``); an outcome label replaces the
        title of a panel without a quantity.
    columns
        Panels per row.
    title
        Figure title.

    Returns
    -------
    Figure
        Each panel: one density per scenario, a dashed line at 0 (no change), a tick at each
        scenario's posterior median and the unit in the x-axis label.
    """
    from grassroots.reporting.estimand_labels import contrast_scale, quantity_label

    _check_columns(draws, ("scenario", "outcome", "value"), "contrast_density_plot")
    scenarios = list(dict.fromkeys(draws["scenario"])) if scenarios is None else list(scenarios)
    scenario_labels = dict(scenario_labels or {})
    outcome_labels = dict(outcome_labels or {})
    panels = _contrast_panels(draws, outcomes)
    n_cols = max(1, min(columns, len(panels)))
    n_rows = max(1, math.ceil(len(panels) / n_cols))
    fig = Figure(figsize=(2.8 * n_cols + 1.6, 2.3 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax, (fields, part) in zip(axes.flat, panels, strict=False):
        outcome, quantity = fields["outcome"], fields.get("quantity")
        factor, unit = contrast_scale(quantity)
        values = factor * part["value"].to_numpy(dtype=float)
        low, high = (float(np.min(values)), float(np.max(values))) if values.size else (-1, 1)
        low, high = min(low, 0.0), max(high, 0.0)
        span = (high - low) or 1.0
        grid = np.linspace(low - 0.05 * span, high + 0.05 * span, 256)
        for i, scenario in enumerate(scenarios):
            sample = factor * part.loc[part["scenario"] == scenario, "value"].to_numpy(float)
            if not sample.size:
                continue
            colour = PALETTE[i % len(PALETTE)]
            density = _density(sample, grid)
            ax.plot(
                grid,
                density,
                color=colour,
                linewidth=1.2,
                label=scenario_labels.get(scenario, scenario),
            )
            ax.fill_between(grid, density, color=colour, alpha=0.15, linewidth=0)
            ax.plot([np.median(sample)], [0], marker="|", markersize=8, color=colour)
        ax.axvline(0, color="0.4", linestyle="--", linewidth=0.8, zorder=0)
        if quantity is None or pd.isna(quantity):
            panel_title = outcome_labels.get(outcome, outcome)
        else:
            panel_title = quantity_label(str(outcome), quantity, lang)
        if "model" in fields:
            panel_title = f"{panel_title} ({fields['model']})"
        ax.set_title(panel_title, loc="left", wrap=True)
        if unit:
            ax.set_xlabel(text(unit, lang))
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.supxlabel(text("contrast", lang), fontsize=mpl.rcParams["axes.labelsize"])
    fig.supylabel(text("density", lang), fontsize=mpl.rcParams["axes.labelsize"])
    if len(scenarios) > 1:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, title=text("scenario", lang), loc="outside right upper")
    if title:
        fig.suptitle(title, x=0.01, horizontalalignment="left")
    return fig
