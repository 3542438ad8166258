"""Tables 2-4: the model tables of the paper, built from fitted models.

Every builder takes the fits of one table as a mapping ``column header -> Fit`` (e.g.
``{"M0": fit0, ..., "M4": fit4}``, in the order the columns should appear) and returns a
:class:`~grassroots.reporting.tables.Table` in English or Chinese. Its rows come in panels:

========================  ======================================================================
panel                     rows
========================  ======================================================================
Weaknesses, Strengths,    HR or OR per SD (binary: 1 vs 0; categorical: vs the reference level)
Remedies, Strategies,     as "posterior median [95% equal-tailed CrI]"; the panel of a term comes
Dilemmas, Interactions,   from its codebook role (:func:`term_panel`); "—" where a model lacks it
Controls
Variance components       SD of the group effects per level (log-hazard or logit scale) and the
                          share of variance per level (:func:`variance_components`)
Fit and diagnostics       PSIS-LOO elpd ± SE (:func:`loo_summary`), N per level, max R-hat, min
                          bulk and tail ESS, divergent transitions
========================  ======================================================================

A main effect of a column that enters an interaction is the effect where the other column is 0
(at its mean when standardised, at 0 when binary, at the reference level when categorical); its
row label says so and in which models (:func:`interaction_given`, :func:`coefficient_label`). A
late (time-varying) survival effect has two rows: the HR after the onset, ``exp(beta +
beta_late)`` per draw, and the change at the onset, ``exp(beta_late)``.

The note says which model, which priors (from the specs), which N, how the variance shares are
defined and how the sampler did; a fit that missed R-hat <= 1.01, ESS >= 400 or had divergent
transitions raises the table's convergence flag
(:func:`~grassroots.reporting.convergence.convergence_note`).

The pieces live in their own modules and are re-exported here: term keys, panels and labels in
:mod:`~grassroots.reporting.model_terms`, the numbers from a fit (and how the share of variance
is defined) in :mod:`~grassroots.reporting.model_estimates`, priors in
:mod:`~grassroots.reporting.model_priors` and the note in :mod:`~grassroots.reporting.model_notes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.inference.prior_dominance import dominated_terms
from grassroots.reporting.convergence import (
    convergence_note,
    diagnostic_rows,
    prior_dominance_note,
)
from grassroots.reporting.labels import (
    level_name,
    level_plural,
    note_text,
    percent,
    term_label,
    text,
)
from grassroots.reporting.model_estimates import (
    RESIDUAL_VARIANCE,
    coefficient_estimates,
    diagnostics_overview,
    loo_summary,
    variance_components,
)
from grassroots.reporting.model_notes import model_note
from grassroots.reporting.model_priors import format_prior, prior_declarations, role_label
from grassroots.reporting.model_terms import (
    COEFFICIENT_PANELS,
    coefficient_label,
    given_by_term,
    given_words,
    interaction_given,
    late_change_term,
    late_term,
    outcome_family,
    outcome_of,
    term_panel,
)
from grassroots.reporting.tables import (
    PANEL,
    Table,
    estimates_by_model,
    format_estimate,
    stack_panels,
    with_spanner,
)

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "COEFFICIENT_PANELS",
    "RESIDUAL_VARIANCE",
    "coefficient_estimates",
    "coefficient_label",
    "diagnostics_overview",
    "format_prior",
    "given_by_term",
    "given_words",
    "interaction_given",
    "late_change_term",
    "late_term",
    "loo_summary",
    "model_note",
    "model_table",
    "outcome_of",
    "prior_declarations",
    "role_label",
    "table2_survival",
    "table3_demand_fit",
    "table4_strategies",
    "term_panel",
    "variance_components",
]

_MISSING = "—"


# --- the table -----------------------------------------------------------------------------------


def _columns(fits: Mapping[str, Fit], labels: Mapping[str, str] | None) -> list[str]:
    return [(labels or {}).get(model, model) for model in fits]


def _ordered_terms(estimates: pd.DataFrame) -> dict[str, list[str]]:
    """Terms per panel: panels in table order, terms in order of first appearance (the spec
    order of the first model that has them)."""
    order = list(dict.fromkeys(estimates["term"]))
    panels: dict[str, list[str]] = {panel: [] for panel in COEFFICIENT_PANELS}
    for term in order:
        panels.setdefault(term_panel(term), []).append(term)
    return {panel: terms for panel, terms in panels.items() if terms}


def _blank_row(label_column: str, models: Sequence[str], label: str) -> dict[str, str]:
    return {label_column: label, **dict.fromkeys(models, _MISSING)}


def _variance_rows(
    fits: Mapping[str, Fit], outcome: str | None, lang: Lang, label_column: str, prob: float
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    models = list(fits)
    sd_rows = {
        lvl: _blank_row(label_column, models, term_label(f"sd_{lvl}", lang)) for lvl in levels
    }
    share_rows = {
        lvl: _blank_row(
            label_column, models, text("variance_share", lang).format(level=level_name(lvl, lang))
        )
        for lvl in levels
    }
    data = []
    for model, fit in fits.items():
        components = variance_components(fit, outcome=outcome, prob=prob)
        for row in components.itertuples(index=False):
            sd_rows[row.level][model] = format_estimate(row.sd_median, row.sd_lower, row.sd_upper)
            share_rows[row.level][model] = format_estimate(
                100 * row.share_median, 100 * row.share_lower, 100 * row.share_upper, digits=1
            )
            data += [
                {"model": model, "panel": "variance", "term": f"sd_{row.level}",
                 "estimate": row.sd_median, "lower": row.sd_lower, "upper": row.sd_upper},
                {"model": model, "panel": "variance", "term": f"share_{row.level}",
                 "estimate": row.share_median, "lower": row.share_lower,
                 "upper": row.share_upper},
            ]  # fmt: skip
    rows = [sd_rows[lvl] for lvl in levels] + [share_rows[lvl] for lvl in levels]
    return pd.DataFrame(rows, columns=[label_column, *models]), data


def _fit_rows(
    fits: Mapping[str, Fit],
    outcome: str | None,
    lang: Lang,
    label_column: str,
    loo: Mapping[str, dict[str, float] | None],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    models = list(fits)
    data: list[dict[str, Any]] = []
    loo_row = _blank_row(label_column, models, text("loo", lang))
    for model, result in loo.items():
        if result is not None:
            loo_row[model] = f"{result['elpd']:,.1f} ± {result['se']:,.1f}"
            data.append({"model": model, "panel": "fit", "term": "elpd_loo",
                         "estimate": result["elpd"], "se": result["se"]})  # fmt: skip
    count_rows = [loo_row, _blank_row(label_column, models, text("n_rows", lang))]
    # Events (discontinued projects) when the fit's counts carry them (``<outcome>_events``).
    events_row = _blank_row(label_column, models, text("n_events", lang))
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    level_rows = {
        lvl: _blank_row(
            label_column, models, text("n_level", lang).format(level=level_plural(lvl, lang))
        )
        for lvl in levels
    }
    for model, fit in fits.items():
        name = outcome_of(fit, outcome)
        n = fit.counts.get(f"{name}_observed", fit.counts.get("rows"))
        if n is not None:
            count_rows[1][model] = f"{int(n):,d}"
            data.append({"model": model, "panel": "fit", "term": "n_rows", "estimate": n})
        if f"{name}_events" in fit.counts:
            events = int(fit.counts[f"{name}_events"])
            events_row[model] = f"{events:,d}"
            data.append({"model": model, "panel": "fit", "term": "n_events", "estimate": events})
    if any(cell != _MISSING for key, cell in events_row.items() if key != label_column):
        count_rows.append(events_row)
    for model, fit in fits.items():
        for level in fit.spec.levels:
            if level in fit.counts:
                level_rows[level][model] = f"{int(fit.counts[level]):,d}"
                data.append({"model": model, "panel": "fit", "term": f"n_{level}",
                             "estimate": fit.counts[level]})  # fmt: skip
    overview = diagnostics_overview(fits)
    diagnostics = diagnostic_rows(overview, lang, models=models, label_column=label_column)
    for model, values in overview.items():
        for key in ("max_rhat", "min_ess_bulk", "min_ess_tail", "n_divergent"):
            data.append({"model": model, "panel": "fit", "term": key,
                         "estimate": float(values[key])})  # fmt: skip
    frame = pd.concat(
        [pd.DataFrame([*count_rows, *level_rows.values()], columns=[label_column, *models]),
         diagnostics.fillna("")],
        ignore_index=True,
    )  # fmt: skip
    return frame, data


def model_table(
    fits: Mapping[str, Fit],
    *,
    name: str,
    title: str,
    lang: Lang = "en",
    outcome: str | None = None,
    column_labels: Mapping[str, str] | None = None,
    prob: float = DEFAULT_PROB,
    label: Callable[..., str] = coefficient_label,
) -> Table:
    """A model table (Tables 2-4) of any fits of one outcome family.

    Parameters
    ----------
    fits
        Column key -> fit, in column order. Every fit reports the same outcome family.
    name, title
        File stem and caption.
    lang
        ``"en"`` or ``"zh"``.
    outcome
        The outcome to report from fits with several outcomes (a structural fit).
    column_labels
        Column key -> header (default: the key).
    prob
        Mass of the credible intervals.
    label
        ``(term, lang, given=...)`` -> row label (default :func:`coefficient_label`); ``given``
        is :func:`given_by_term` of the term (which models estimate it at a condition, because
        its column enters an interaction there), "" for most terms.

    Returns
    -------
    Table
        Panels as in the module docstring, a spanner "HR [95% CrI]" or "OR [95% CrI]" (the mass
        of ``prob``) over the model columns, the note of :func:`model_note`, the convergence
        flag when a fit missed a threshold, and the numbers behind the cells in ``data``.
    """
    if not fits:
        raise ValueError(f"table {name!r} needs at least one fit")
    families = {outcome_family(fit, outcome_of(fit, outcome)) for fit in fits.values()}
    if len(families) != 1:
        raise ValueError(f"table {name!r} mixes outcome families {sorted(families)}")
    (family,) = families
    models = list(fits)
    label_column = text("term", lang)
    estimates = coefficient_estimates(fits, outcome=outcome, prob=prob)
    # Conditions name the models as the header does.
    headers = _columns(fits, column_labels)
    givens = given_by_term(
        estimates.assign(model=estimates["model"].map(dict(zip(models, headers, strict=True))))
    )

    def row_label(term: str, lang: Lang) -> str:
        return label(term, lang, given=givens.get(term, ""))

    sections: list[tuple[str, pd.DataFrame]] = []
    for panel, terms in _ordered_terms(estimates).items():
        block = estimates_by_model(
            estimates, lang, models=models, terms=terms, label=row_label,
            label_column=label_column, missing=_MISSING,
        )  # fmt: skip
        sections.append((text(f"panel_{panel}", lang), block))
    data: list[dict[str, Any]] = [
        {"model": row.model, "panel": row.panel, "term": row.term, "statistic": row.ratio,
         "estimate": row.estimate, "lower": row.lower, "upper": row.upper}
        for row in estimates.itertuples(index=False)
    ]  # fmt: skip
    if any(fit.spec.levels for fit in fits.values()):
        variance, variance_data = _variance_rows(fits, outcome, lang, label_column, prob)
        sections.append((text("panel_variance", lang), variance))
        data += [{**row, "statistic": "sd" if row["term"].startswith("sd_") else "share"}
                 for row in variance_data]  # fmt: skip
    loo = {model: loo_summary(fit, outcome=outcome) for model, fit in fits.items()}
    fit_rows, fit_data = _fit_rows(fits, outcome, lang, label_column, loo)
    sections.append((text("panel_fit", lang), fit_rows))
    data += [{**row, "statistic": row["term"]} for row in fit_data]
    frame = stack_panels(sections)
    frame = frame.rename(columns=dict(zip(models, headers, strict=True)))
    # The note and the flag name the models as the header does.
    shown = dict(zip(headers, fits.values(), strict=True))
    shown_loo = dict(zip(headers, loo.values(), strict=True))
    ratio_header = text("hr_cri" if family == "survival" else "or_cri", lang).format(
        pct=percent(prob)
    )
    frame = with_spanner(frame, ratio_header)
    tidy = pd.DataFrame(
        data, columns=["model", "panel", "term", "statistic", "estimate", "lower", "upper", "se"]
    )
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=model_note(shown, lang, outcome=outcome, loo=shown_loo, prob=prob),
        data=tidy,
        panel=PANEL,
        flags=(
            convergence_note(diagnostics_overview(shown), lang),
            prior_dominance_note(_dominated_labels(shown, outcome, lang, label), lang),
        ),
        lang=lang,
        # Explicit: "−123.4 ± 5.6" and "—" cells would otherwise make a model column textual.
        align="l" + "r" * len(models),
    )


def _dominated_labels(
    fits: Mapping[str, Fit], outcome: str | None, lang: Lang, label: Callable[[str, Lang], str]
) -> dict[str, list[str]]:
    """Per model, the row labels of the reported outcome's coefficients whose prior dominates."""
    result = {}
    for model, fit in fits.items():
        prefix = f"{outcome_of(fit, outcome)}_beta"
        result[model] = [
            label(term.split("[", 1)[1][:-1], lang)
            for term in dominated_terms(fit)
            if term.split("[", 1)[0] in (prefix, f"{prefix}_late")
        ]
    return result


def _span(fits: Mapping[str, Fit]) -> str:
    keys = list(fits)
    return keys[0] if len(keys) == 1 else f"{keys[0]}–{keys[-1]}"


def table2_survival(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    name: str = "table2_survival",
    outcome: str | None = None,
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 2: project survival, proportional-hazards models (e.g. M0-M4), HR per SD.

    Parameters
    ----------
    fits
        Column key -> survival fit, e.g. ``{"M0": ..., "M4": ...}``.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    outcome
        The survival outcome of a structural fit.
    prob
        Mass of the credible intervals.
    """
    span = _span(fits)
    title = note_text("table2_title", lang, span=span)
    return model_table(fits, name=name, title=title, lang=lang, outcome=outcome, prob=prob)


def table3_demand_fit(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    name: str = "table3_demand_fit",
    outcome: str | None = None,
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 3: demand fit, cumulative-logit models (e.g. M0-M4), OR per SD of a higher rating.

    Parameters are those of :func:`table2_survival`.
    """
    span = _span(fits)
    title = note_text("table3_title", lang, span=span)
    return model_table(fits, name=name, title=title, lang=lang, outcome=outcome, prob=prob)


def table4_strategies(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    name: str = "table4_strategies",
    column_labels: Mapping[str, str] | None = None,
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 4: the strategies (extensive, expedient) and short-sighted innovation, logistic
    models, OR per SD.

    Parameters
    ----------
    fits
        Column key -> logistic fit, e.g. ``{"extensive": ..., "expedient": ...,
        "short_sighted": ...}``.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    column_labels
        Column key -> header; default: the codebook label of each fit's outcome column
        ("Extensive innovation" / "粗放式创新").
    prob
        Mass of the credible intervals.
    """
    if column_labels is None:
        column_labels = {
            key: term_label(fit.spec.outcome(outcome_of(fit)).columns["column"], lang)
            for key, fit in fits.items()
        }
    title = note_text("table4_title", lang)
    return model_table(
        fits, name=name, title=title, lang=lang, column_labels=column_labels, prob=prob
    )
