"""Convergence in a table: the flag a note carries when a fit missed a threshold, and the rows of
a "Fit and diagnostics" panel.

Everything here takes plain numbers per model (max R-hat, min bulk and tail ESS, divergent
transitions), so any fit object can feed it: ``Diagnostics.overview()`` of
:mod:`grassroots.inference.diagnostics` already has these keys. The thresholds are that module's
(Vehtari et al. 2021: R-hat <= 1.01, ESS >= 400, no divergence); a value *at* the threshold
passes. A model whose ``method`` is not ``nuts`` (a variational approximation, which has no R-hat
or ESS) is always flagged as approximate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from grassroots.data.schema import Lang
from grassroots.inference.diagnostics import ESS_MIN, RHAT_MAX, approximation_note
from grassroots.reporting.labels import model_label, note_text, text

__all__ = [
    "ESS_MIN",
    "RHAT_MAX",
    "DiagnosticsSummary",
    "convergence_note",
    "convergence_notes",
    "diagnostic_rows",
    "diagnostics_frame",
    "failed_checks",
    "prior_dominance_note",
    "summary_notes",
]

COLUMNS = ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences")
# ``Diagnostics.overview()`` calls divergences ``n_divergent``; accept either spelling.
_ALIASES = {"n_divergent": "divergences", "divergent": "divergences", "rhat": "max_rhat"}

DiagnosticsSummary = Mapping[str, Mapping[str, float]] | pd.DataFrame
"""Per model: ``{"M1": {"max_rhat": 1.003, "min_ess_bulk": 812, "min_ess_tail": 640,
"divergences": 0}, ...}``, or a DataFrame with those columns indexed by model (or with a
``model`` column). Missing numbers count as not reported, not as failures."""


def _model_details(model: str, items: Sequence[str], lang: Lang) -> str:
    """One model's failed checks or dominated terms: "M2 max R-hat 1.04, 3 divergent ..."."""
    return note_text("diagnostic_model", lang, model=model) + note_text("sep_comma", lang).join(
        items
    )


def diagnostics_frame(summary: DiagnosticsSummary) -> pd.DataFrame:
    """The summary as a float DataFrame indexed by model with :data:`COLUMNS` (NaN if missing).

    Examples
    --------
    >>> diagnostics_frame({"M1": {"max_rhat": 1.0, "n_divergent": 2}}).loc["M1", "divergences"]
    np.float64(2.0)
    """
    if isinstance(summary, pd.DataFrame):
        frame = summary.set_index("model") if "model" in summary.columns else summary
    else:
        frame = pd.DataFrame.from_dict({k: dict(v) for k, v in summary.items()}, orient="index")
    index = frame.index.map(str)
    result = pd.DataFrame(index=index)
    for column in COLUMNS:
        values = pd.Series(np.nan, index=index)
        # The canonical name first, then its aliases: a model may report either spelling.
        for source in (column, *(a for a, target in _ALIASES.items() if target == column)):
            if source in frame.columns:
                found = pd.to_numeric(
                    pd.Series(frame[source].to_numpy(), index=index), errors="coerce"
                )
                values = values.fillna(found)
        result[column] = values
    return result.astype(float)


def failed_checks(
    summary: DiagnosticsSummary, *, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN
) -> pd.DataFrame:
    """Which check each model failed: a boolean DataFrame shaped like :func:`diagnostics_frame`.

    Comparisons with NaN are False, so an unreported number never raises the flag.
    """
    frame = diagnostics_frame(summary)
    return pd.DataFrame(
        {
            "max_rhat": frame["max_rhat"] > rhat_max,
            "min_ess_bulk": frame["min_ess_bulk"] < ess_min,
            "min_ess_tail": frame["min_ess_tail"] < ess_min,
            "divergences": frame["divergences"] > 0,
        },
        index=frame.index,
    )


def _format_rhat(value: float, threshold: float) -> str:
    # Two decimals, unless rounding would print a failing R-hat as the threshold itself
    # (1.0104 as "1.01"): then as many decimals as it takes to show that it is above.
    for digits in range(2, 7):
        shown = f"{value:.{digits}f}"
        if float(shown) > threshold or value <= threshold:
            return shown
    return f"{value:.6f}"


def _format_count(value: float) -> str:
    # Floor, so that an ESS of 399.7 is never printed as a passing "400".
    return f"{math.floor(value):,d}"


def _format_value(check: str, value: float, rhat_max: float) -> str:
    if check == "max_rhat":
        return _format_rhat(value, rhat_max)
    return _format_count(value)


def convergence_note(
    summary: DiagnosticsSummary,
    lang: Lang = "en",
    *,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
) -> str:
    """The flag a table's note carries when any model missed a threshold; ``""`` when none did.

    Parameters
    ----------
    summary
        Per model, ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail`` and ``divergences`` (or
        ``n_divergent``); see :data:`DiagnosticsSummary`.
    lang
        ``"en"`` or ``"zh"``.
    rhat_max, ess_min
        Thresholds; a value equal to a threshold passes.

    Returns
    -------
    str
        E.g. ``"⚠ Not converged (required: ...): M3 max R-hat 1.04. Read these estimates with
        caution."``, naming every failing model and number, in the summary's model order. A
        model with a ``method`` other than ``nuts`` adds ``"⚠ M3: approximate (ADVI): not NUTS;
        validate before reporting."`` (see
        :func:`grassroots.inference.diagnostics.approximation_note`).

    Examples
    --------
    >>> convergence_note({"M1": {"max_rhat": 1.01, "min_ess_bulk": 400}})
    ''
    >>> convergence_note({"M3": {"max_rhat": 1.04}}, "zh")[:5]
    '⚠ 未收敛'
    """
    frame = diagnostics_frame(summary)
    failed = failed_checks(frame, rhat_max=rhat_max, ess_min=ess_min)
    rows = _rows(summary)
    details = []
    for model in frame.index:
        items = [
            note_text(
                f"diagnostic_{check}", lang,
                value=_format_value(check, frame.at[model, check], rhat_max),
            )
            for check in COLUMNS
            if failed.at[model, check]
        ]  # fmt: skip
        items.extend(_unassessed_items(rows.get(model, {}), lang))
        if items:
            # Chinese prose names the model in words; the English keeps the code a script greps.
            name = model_label(model, lang) if lang == "zh" else model
            details.append(_model_details(name, items, lang))
    flags = [
        note_text("approximate", lang, model=model, note=note)
        for model, note in _approximation_notes(summary, lang).items()
    ]
    if details:
        flags.insert(0, note_text(
            "not_converged", lang, rhat=f"{rhat_max:g}", ess=f"{ess_min:g}",
            details=note_text("sep_clauses", lang).join(details),
        ))  # fmt: skip
    # Chinese sentences end in a full-width "。" and run on without a space.
    return ("" if lang == "zh" else " ").join(flags)


def _rows(summary: DiagnosticsSummary) -> dict[str, dict]:
    """The summary as a plain dict per model, every key it reports kept."""
    if isinstance(summary, pd.DataFrame):
        frame = summary.set_index("model") if "model" in summary.columns else summary
        return {str(model): row.to_dict() for model, row in frame.iterrows()}
    return {str(model): dict(values) for model, values in summary.items()}


def _unassessed_items(values: Mapping, lang: Lang) -> list[str]:
    """What a NUTS fit could not be judged on: a NaN R-hat or ESS is never a pass
    (``n_chains`` and ``n_not_assessed`` of ``Diagnostics.overview()``; absent: not reported)."""
    if values.get("method", "nuts") != "nuts":
        return []
    items = []
    n_chains = values.get("n_chains")
    if n_chains is not None and not pd.isna(n_chains) and int(n_chains) == 1:
        items.append(note_text("diagnostic_one_chain", lang))
    not_assessed = values.get("n_not_assessed")
    if not_assessed is not None and not pd.isna(not_assessed) and int(not_assessed) > 0:
        items.append(note_text("diagnostic_not_assessed", lang, value=int(not_assessed)))
    return items


def _approximation_notes(summary: DiagnosticsSummary, lang: Lang) -> dict[str, str]:
    """Per approximate model (``method`` not ``nuts``), its approximation note."""
    notes = {}
    for model, values in _rows(summary).items():
        method = values.get("method")
        if not isinstance(method, str) or method == "nuts":
            continue
        converged = values.get("optimisation_converged")
        notes[model] = approximation_note(
            method,
            lang,
            converged=True if converged is None or pd.isna(converged) else bool(converged),
            iterations=int(values.get("max_iterations") or 0),
        )
    return notes


def convergence_notes(
    summary: DiagnosticsSummary, *, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN
) -> dict[Lang, str]:
    """:func:`convergence_note` in both languages: ``{"en": ..., "zh": ...}``."""
    return {
        lang: convergence_note(summary, lang, rhat_max=rhat_max, ess_min=ess_min)
        for lang in ("en", "zh")
    }


def diagnostic_rows(
    summary: DiagnosticsSummary,
    lang: Lang = "en",
    *,
    models: Sequence[str] | None = None,
    label_column: str | None = None,
    rhat_max: float = RHAT_MAX,
    ess_min: float = ESS_MIN,
) -> pd.DataFrame:
    """Display rows for a "Fit and diagnostics" panel: one row per check, one column per model.

    Parameters
    ----------
    summary
        See :data:`DiagnosticsSummary`.
    lang
        Language of the row labels.
    models
        Column order (default: the summary's order). Models missing from the summary get blank
        cells, so the rows stack under an estimates block whose columns include M0.
    label_column
        Name of the first column (default: ``text("term", lang)``).

    Returns
    -------
    DataFrame
        Strings; a failing number carries a trailing ``"⚠"`` so the cell itself is flagged too.
    """
    frame = diagnostics_frame(summary)
    failed = failed_checks(frame, rhat_max=rhat_max, ess_min=ess_min)
    models = list(frame.index) if models is None else [str(m) for m in models]
    label_column = label_column or text("term", lang)
    rows = []
    for check in COLUMNS:
        row: dict[str, str] = {label_column: text(check, lang)}
        for model in models:
            value = frame.at[model, check] if model in frame.index else np.nan
            if pd.isna(value):
                row[model] = ""
                continue
            shown = _format_value(check, value, rhat_max)
            row[model] = shown + (" ⚠" if failed.at[model, check] else "")
        rows.append(row)
    return pd.DataFrame(rows, columns=[label_column, *models])


def prior_dominance_note(
    dominated: Mapping[str, Sequence[str]], lang: Lang = "en", *, threshold: float | None = None
) -> str:
    """The flag a table's note carries when a prior dominates some coefficients; ``""`` if none.

    Parameters
    ----------
    dominated
        Per model, the labels of its dominated coefficients (e.g. from
        :func:`grassroots.inference.prior_dominance.dominated_terms`, translated by the caller).
    lang
        ``"en"`` or ``"zh"``.
    threshold
        The ratio the check used (default
        :data:`~grassroots.inference.prior_dominance.PRIOR_DOMINANCE_THRESHOLD`).

    Examples
    --------
    >>> prior_dominance_note({"M1": []})
    ''
    >>> prior_dominance_note({"M1": ["sex[2]"]})[:18]
    '⚠ Prior dominates '
    """
    from grassroots.inference.prior_dominance import PRIOR_DOMINANCE_THRESHOLD

    details = [_model_details(model, terms, lang) for model, terms in dominated.items() if terms]
    if not details:
        return ""
    return note_text(
        "prior_dominates", lang,
        threshold=f"{PRIOR_DOMINANCE_THRESHOLD if threshold is None else threshold:g}",
        details=note_text("sep_clauses", lang).join(details),
    )  # fmt: skip


def summary_notes(table: pd.DataFrame, lang: Lang = "en") -> dict[str, str]:
    """The notes a table of :meth:`grassroots.inference.Fit.summary` carries, from its attrs.

    Returns
    -------
    dict
        ``convergence_note`` (:func:`convergence_note` of the fit's diagnostics: ``""`` for a
        converged NUTS fit) and ``prior_dominance_note`` (:func:`prior_dominance_note` of its
        prior-dominated terms: ``""`` for none).

    Raises
    ------
    KeyError
        When ``table`` is not a summary of a fit (its attrs lack ``model``).
    """
    attrs = table.attrs
    if "model" not in attrs:
        raise KeyError(
            "summary_notes needs the table of Fit.summary() (its attrs name the model, its "
            f"diagnostics and prior-dominated terms); got a table with attrs {sorted(attrs)}"
        )
    model = str(attrs["model"])
    return {
        "convergence_note": convergence_note({model: attrs["diagnostics"]}, lang),
        "prior_dominance_note": prior_dominance_note(
            {model: list(attrs.get("prior_dominated_terms", []))}, lang
        ),
    }
