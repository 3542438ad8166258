"""The note under a model table: which models, outcome family and ratio, baseline, priors, N per
level, reference levels, late effects, how the variance shares are defined and how the sampler
did, in English or Chinese."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from grassroots.data import schema
from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.convergence import (
    ESS_MIN,
    RHAT_MAX,
)
from grassroots.reporting.labels import (
    level_name,
    level_plural,
    note_text,
    percent,
    term_label,
    text,
)
from grassroots.reporting.model_estimates import loo_summary
from grassroots.reporting.model_priors import priors_sentence
from grassroots.reporting.model_terms import in_codebook, outcome_family, outcome_of, term_panel

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "model_note",
]

# The residual variance of each family's latent scale, as the note prints it
# (:data:`~grassroots.reporting.model_estimates.RESIDUAL_VARIANCE`).
_RESIDUAL_TEXT: Mapping[str, str] = {"logistic": "π²/3", "ordinal": "π²/3", "survival": "π²/6"}


def _model_steps(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    """ "M0: group effects only; M1: + weaknesses; ..." from what each model adds to the one
    before it (so the note always matches the specs)."""
    sep, colon, comma = (note_text(f"sep_{kind}", lang) for kind in ("clauses", "colon", "list"))
    specs = {model: fit.spec.outcome(outcome_of(fit, outcome)) for model, fit in fits.items()}
    # Nested models of one outcome (M0-M4) are described by what each adds; models of different
    # outcomes (Table 4) by what each holds.
    nested = len({spec.columns.get("column", spec.name) for spec in specs.values()}) == 1

    def panel_words(columns: Sequence[str]) -> list[str]:
        panels = dict.fromkeys(term_panel(column) for column in columns)
        return [
            text(f"panel_{panel}", lang).lower() if lang == "en" else text(f"panel_{panel}", lang)
            for panel in panels
            if panel != "interactions"
        ]

    seen_columns: set[str] = set()
    seen_interactions: set[str] = set()
    seen_model = False
    pieces = []
    for model, spec in specs.items():
        columns = [*spec.predictors, *spec.time_varying]
        interactions = [":".join(parts) for parts in spec.interactions]
        new_columns = [c for c in columns if c not in seen_columns] if nested else columns
        new_interactions = (
            [i for i in interactions if i not in seen_interactions] if nested else interactions
        )
        added = panel_words(new_columns) + [term_label(term, lang) for term in new_interactions]
        if not columns:
            words = note_text("only_group_effects", lang)
        elif nested and seen_model:
            words = "+ " + comma.join(added) if added else "="
        else:
            words = comma.join(added)
        pieces.append((model, words))
        seen_columns |= set(columns)
        seen_interactions |= set(interactions)
        seen_model = True
    if not nested and len({words for _, words in pieces}) == 1:
        return f"{note_text('every_model', lang)}{colon}{pieces[0][1]}"
    return sep.join(f"{model}{colon}{words}" for model, words in pieces)


def _baseline_words(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    kinds = []
    for fit in fits.values():
        baseline = fit.spec.outcome(outcome_of(fit, outcome)).baseline
        if baseline is None:
            continue
        if baseline.kind == "weibull":
            kinds.append(note_text("baseline_weibull", lang))
        else:
            cuts = note_text("sep_list", lang).join(f"{c:g}" for c in baseline.cuts)
            kinds.append(note_text("baseline_piecewise", lang, cuts=cuts))
    return note_text("sep_clauses", lang).join(dict.fromkeys(kinds))


def _levels_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    if not levels:
        return note_text("no_group_effects", lang)
    # Chinese names the levels ("县与乡镇层"), English counts them ("counties and townships").
    named = level_name if lang == "zh" else level_plural
    words = note_text("sep_and", lang).join(named(level, lang) for level in levels)
    return note_text("group_levels", lang, levels=words)


def _sampler_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    settings = []
    for fit in fits.values():
        posterior = fit.posterior
        settings.append((posterior.sizes["chain"], posterior.sizes["draw"]))
    shown = ", ".join(f"{c} × {d:,d}" for c, d in dict.fromkeys(settings))
    return note_text("sampler", lang, shown=shown, rhat=f"{RHAT_MAX:g}", ess=ESS_MIN)


def _reference_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    references: dict[str, str] = {}
    for fit in fits.values():
        for column, scaling in fit.scaling.predictors.items():
            if scaling.kind == "categorical" and scaling.reference is not None:
                references.setdefault(column, scaling.reference)
    if not references:
        return ""
    items = [
        f"{term_label(column, lang)}{note_text('sep_colon', lang)}"
        f"{schema.variable(column).level_label(ref, lang) if in_codebook(column) else ref}"
        for column, ref in references.items()
    ]
    return note_text("reference_levels", lang, items=note_text("sep_references", lang).join(items))


def _late_words(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    """What the two late-effect rows are, when a model has a late (time-varying) effect."""
    onsets = {
        fit.spec.outcome(outcome_of(fit, outcome)).onset
        for fit in fits.values()
        if fit.spec.outcome(outcome_of(fit, outcome)).time_varying
    } - {None}
    if not onsets:
        return ""
    onset = "/".join(f"{o:g}" for o in sorted(onsets))
    return note_text("late_effects", lang, onset=onset)


def model_note(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    loo: Mapping[str, dict[str, float] | None] | None = None,
    prob: float = DEFAULT_PROB,
) -> str:
    """The note under a model table: cells, models, reference levels, priors, variance shares,
    LOO, N and the sampler.

    Parameters
    ----------
    fits
        Column -> fit, as given to the table.
    lang
        ``"en"`` or ``"zh"``.
    outcome
        For fits with several outcomes.
    loo
        :func:`loo_summary` per model (computed when ``None``).
    prob
        Mass of the credible intervals.
    """
    first = next(iter(fits.values()))
    name = outcome_of(first, outcome)
    family = outcome_family(first, name)
    loo = {m: loo_summary(f, outcome=outcome) for m, f in fits.items()} if loo is None else loo
    missing_loo = [m for m, r in loo.items() if r is None]
    high_k = {m: int(r["n_high_k"]) for m, r in loo.items() if r is not None and r["n_high_k"]}
    listed = note_text("sep_list", lang)
    loo_missing = (
        note_text("loo_missing", lang, models=listed.join(missing_loo)) if missing_loo else ""
    )
    loo_high_k = (
        note_text("loo_high_k", lang, items=listed.join(f"{m} {k}" for m, k in high_k.items()))
        if high_k else ""
    )  # fmt: skip
    residual = _RESIDUAL_TEXT[family]
    parts = [
        note_text(
            f"family_{family}", lang, baseline=_baseline_words(fits, outcome, lang),
            levels=_levels_words(fits, lang),
        ),
        note_text(
            "cells", lang, pct=percent(prob),
            cells=note_text("cells_hr" if family == "survival" else "cells_or", lang),
        ),
        _reference_words(fits, lang),
        _late_words(fits, outcome, lang),
        note_text("models_used", lang, items=_model_steps(fits, outcome, lang)),
        note_text("priors_used", lang, items=priors_sentence(fits, lang, outcome)),
        note_text(
            "variance_components", lang, scale=text(f"scale_{family}", lang), residual=residual,
            error=note_text("error_survival" if family == "survival" else "error_logistic", lang),
        ),
        note_text("loo_note", lang, missing=loo_missing, high_k=loo_high_k),
        note_text("n_projects_likelihood", lang),
        _sampler_words(fits, lang),
    ]  # fmt: skip
    return note_text("sep_sentences", lang).join(part for part in parts if part)
