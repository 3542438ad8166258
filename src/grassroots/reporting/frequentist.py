"""Appendix C: maximum-likelihood analogues of the Bayesian models, side by side.

:func:`frequentist_estimates` refits one model's outcome without group effects by maximum
likelihood, on exactly the design matrix the Bayesian fit used (the fit's stored scaling:
continuous predictors standardised with the fitted means and SDs, binary 0/1, categorical
dummies against the same reference levels, the same interactions):

==============  ===============================================================================
survival        lifelines ``CoxPHFitter`` (partial likelihood, Efron ties); with a late
                (time-varying) effect, statsmodels ``PHReg`` (Efron ties) on episodes split at
                the onset (:func:`split_at_onset`: the late column switched on in the second
                episode, which enters the risk set at the onset)
ordinal         statsmodels ``OrderedModel`` (cumulative logit)
logistic        statsmodels ``Logit`` with an intercept
==============  ===============================================================================

:func:`appendix_c_frequentist` pairs the ratios with the Bayesian posterior medians. Hazard and
odds ratios are not collapsible: without the county and township effects the ML ratios are
expected to lie somewhat closer to 1 than the conditional Bayesian ones, the more so the larger
the group variance; the Cox model's baseline is unrestricted where the Bayesian one is
piecewise constant.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.inference.fit_result import StudyLike, resolve_data
from grassroots.models import prepare_inputs
from grassroots.reporting.labels import model_label, note_text, percent, text
from grassroots.reporting.model_tables import (
    COEFFICIENT_PANELS,
    coefficient_estimates,
    coefficient_label,
    late_change_term,
    late_term,
    outcome_of,
    term_panel,
)
from grassroots.reporting.tables import PANEL, Table, format_estimate

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "ESTIMATE_COLUMNS",
    "appendix_c_frequentist",
    "frequentist_estimates",
    "split_at_onset",
]

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "model",
    "outcome",
    "term",
    "estimate",
    "se",
    "lower",
    "upper",
    "ratio",
    "ratio_lower",
    "ratio_upper",
    "method",
    "n",
    "n_events",
    "converged",
)
# The data's "method" column keeps the English words, which a script reads.
_METHODS = {
    key: text(f"ml_method_{key}", "en")
    for key in ("survival", "survival_late", "ordinal", "logistic")
}


def _method_words(method: str, lang: Lang) -> str:
    """A method of the data in ``lang``; a user's own method string as it is."""
    keys = [key for key, words in _METHODS.items() if words == method]
    return text(f"ml_method_{keys[0]}", lang) if keys else method


def _design(fit: Fit, frame: pd.DataFrame, outcome: str) -> tuple[list[str], np.ndarray, Any]:
    """The Bayesian fit's design matrix of ``outcome`` on ``frame``, observed rows only."""
    # Without groups: the ML models have none, and the data need no grouping columns.
    inputs = prepare_inputs(fit.spec.without_groups(), frame, scaling=fit.scaling)
    terms, matrix = inputs.designs[outcome]
    data = inputs.outcomes[outcome]
    return list(terms), matrix[data.observed], data


def split_at_onset(
    covariates: pd.DataFrame,
    time: np.ndarray,
    event: np.ndarray,
    late: pd.DataFrame,
    onset: float,
) -> pd.DataFrame:
    """Counting-process episodes for a late effect: ``(0, min(t, onset)]`` with the late
    columns 0, and ``(onset, t]`` with them on, for rows followed beyond the onset.

    The event belongs to the episode in which the time ends, matching the Bayesian model's
    hazard ``h0(t) exp(eta + late_eta 1[t > onset])``. Columns: the covariates, the late
    columns, ``id`` (row position), ``start``, ``stop``, ``event``.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    rows = covariates.reset_index(drop=True).assign(id=np.arange(len(time)))
    early = rows.assign(start=0.0, stop=np.minimum(time, onset),
                        event=np.where(time <= onset, event, 0.0))  # fmt: skip
    early[list(late.columns)] = 0.0
    after = rows.assign(start=float(onset), stop=time, event=event)
    after[list(late.columns)] = late.to_numpy(dtype=float)
    after = after[time > onset]
    # A zero-length first episode (a project observed for 0 months) adds nothing to the
    # partial likelihood and is refused by lifelines.
    episodes = pd.concat([early[early["stop"] > 0], after], ignore_index=True)
    return episodes.sort_values(["id", "start"], kind="stable").reset_index(drop=True)


def _cox(
    terms: list[str],
    x: np.ndarray,
    data: Any,
    onset: float | None,
    prob: float,
    late_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, bool, str]:
    alpha = 1 - prob
    time, event = data.values["time"], data.values["event"]
    if onset is None:
        from lifelines import CoxPHFitter

        # Positional column names: "[" and ":" in term names are awkward in lifelines' output.
        names = [f"x{k}" for k in range(len(terms))]
        frame = pd.DataFrame(x, columns=names).assign(duration=time, event=event)
        model = CoxPHFitter(alpha=alpha).fit(frame, duration_col="duration", event_col="event")
        bounds = model.confidence_intervals_.loc[names]
        result = pd.DataFrame(
            {
                "term": terms,
                "estimate": model.params_.loc[names].to_numpy(dtype=float),
                "se": model.standard_errors_.loc[names].to_numpy(dtype=float),
                "lower": bounds.iloc[:, 0].to_numpy(dtype=float),
                "upper": bounds.iloc[:, 1].to_numpy(dtype=float),
            }
        )
        return result, True, _METHODS["survival"]
    # The model's module, not statsmodels.api (which imports every model: ~0.5 s more).
    from statsmodels.duration.hazard_regression import PHReg

    late = data.values["late_design"]
    late_names = [f"late{k}" for k in range(late.shape[1])]
    names = [f"x{k}" for k in range(len(terms))]
    episodes = split_at_onset(pd.DataFrame(x, columns=names), time, event,
                              pd.DataFrame(late, columns=late_names), onset)  # fmt: skip
    # statsmodels counts a case entering at t as at risk at t; the late episode must not be at
    # risk at the onset itself (its early episode is), so it enters just after it. No time lies
    # strictly between the onset and the next float, so nothing else changes. (This reproduces
    # lifelines' CoxTimeVaryingFitter, which is an order of magnitude slower here.)
    entry = episodes["start"].to_numpy(dtype=float)
    entry = np.where(entry > 0, np.nextafter(entry, np.inf), 0.0)
    columns = [*names, *late_names]
    model = PHReg(
        episodes["stop"].to_numpy(dtype=float), episodes[columns].to_numpy(dtype=float),
        status=episodes["event"].to_numpy(dtype=float), entry=entry, ties="efron",
    ).fit()  # fmt: skip
    bounds = np.asarray(model.conf_int(alpha=alpha))
    late_terms = [f"__late__{k}" for k in range(late.shape[1])]
    result = pd.DataFrame(
        {
            "term": [*terms, *late_terms],
            "estimate": np.asarray(model.params, dtype=float),
            "se": np.asarray(model.bse, dtype=float),
            "lower": bounds[:, 0],
            "upper": bounds[:, 1],
        }
    )
    # The log hazard ratio after the onset is main + late coefficient; its SE comes from the
    # fitted covariance (var_main + var_late + 2 cov), as the Bayesian row sums them per draw.
    params = np.asarray(model.params, dtype=float)
    cov = np.asarray(model.cov_params(), dtype=float)
    z = statistics.NormalDist().inv_cdf(1 - alpha / 2)
    combined = []
    for k, term in enumerate(late_columns):
        if term not in terms:
            continue
        main, late_index = terms.index(term), len(terms) + k
        estimate = params[main] + params[late_index]
        se = math.sqrt(cov[main, main] + cov[late_index, late_index] + 2 * cov[main, late_index])
        combined.append({"term": late_term(term, onset), "estimate": estimate, "se": se,
                         "lower": estimate - z * se, "upper": estimate + z * se})  # fmt: skip
    result["term"] = result["term"].replace(
        {f"__late__{k}": late_change_term(t, onset) for k, t in enumerate(late_columns)}
    )
    result = pd.concat([result, pd.DataFrame(combined)], ignore_index=True)
    converged = bool(getattr(model, "converged", True))
    return result, converged, _METHODS["survival_late"]


def _statsmodels(
    family: str, terms: list[str], x: np.ndarray, data: Any, prob: float
) -> tuple[pd.DataFrame, bool]:
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.miscmodels.ordinal_model import OrderedModel
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tools.tools import add_constant

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if family == "ordinal":
            model = OrderedModel(data.values["codes"], x, distr="logit")
            result = model.fit(method="bfgs", disp=False, maxiter=2000)
            params = np.asarray(result.params)[: len(terms)]
            se = np.asarray(result.bse)[: len(terms)]
            bounds = np.asarray(result.conf_int(alpha=1 - prob))[: len(terms)]
        else:
            design = add_constant(x, has_constant="add")
            result = Logit(data.values["y"], design).fit(disp=False, maxiter=200)
            # The first column is the intercept: the tables pair coefficients only.
            params = np.asarray(result.params)[1:]
            se = np.asarray(result.bse)[1:]
            bounds = np.asarray(result.conf_int(alpha=1 - prob))[1:]
    converged = bool(result.mle_retvals.get("converged", True)) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    frame = pd.DataFrame(
        {"term": terms, "estimate": params, "se": se, "lower": bounds[:, 0],
         "upper": bounds[:, 1]}
    )  # fmt: skip
    return frame, converged


def frequentist_estimates(
    fit: Fit,
    data: pd.DataFrame | StudyLike,
    *,
    outcome: str | None = None,
    model: str | None = None,
    prob: float = DEFAULT_PROB,
) -> pd.DataFrame:
    """Maximum-likelihood estimates of one fit's outcome model without group effects.

    Parameters
    ----------
    fit
        The Bayesian fit whose design (terms, scaling, reference levels) is reused.
    data
        The data the fit was fitted to (a flat table or a study). A warning is issued when its
        hash differs from the fit's: the scaling still applies, but the comparison is then
        between different data.
    outcome
        For fits with several outcomes.
    model
        Name written to the ``model`` column (default: the spec's name).
    prob
        Coverage of the Wald confidence intervals.

    Returns
    -------
    DataFrame
        :data:`ESTIMATE_COLUMNS`: per term the log-scale ``estimate``, its ``se`` and interval,
        the ratio (``exp``) and its interval, the ``method``, ``n`` (rows used), ``n_events``
        (survival) and whether the optimiser ``converged``. Terms are named as in
        :func:`~grassroots.reporting.model_tables.coefficient_estimates`: a late effect's
        change at the onset by :func:`~grassroots.reporting.model_tables.late_change_term`, the
        log hazard ratio after it (main + late coefficient, SE from the fitted covariance) by
        :func:`~grassroots.reporting.model_tables.late_term`.
    """
    frame, data_hash = resolve_data(data)
    if data_hash != fit.data_hash:
        warnings.warn(
            f"the data given to frequentist_estimates are not the data {fit.spec.name!r} was "
            f"fitted to (hash {data_hash[:12]}… vs {fit.data_hash[:12]}…)",
            UserWarning,
            stacklevel=2,
        )
    name = outcome_of(fit, outcome)
    spec_outcome = fit.spec.outcome(name)
    terms, x, observed = _design(fit, frame, name)
    family = spec_outcome.family
    n_events = math.nan
    if family == "survival":
        onset = spec_outcome.onset
        late_columns = list(
            observed.coords.get(f"{name}_late_term", list(spec_outcome.time_varying))
        )
        result, converged, method = _cox(terms, x, observed, onset, prob, late_columns)
        n_events = float(observed.values["event"].sum())
    else:
        result, converged = _statsmodels(family, terms, x, observed, prob)
        method = _METHODS[family]
    result.insert(0, "outcome", name)
    result.insert(0, "model", model or fit.spec.name)
    result["ratio"] = np.exp(result["estimate"])
    result["ratio_lower"] = np.exp(result["lower"])
    result["ratio_upper"] = np.exp(result["upper"])
    result["method"] = method
    result["n"] = len(x)
    result["n_events"] = n_events
    result["converged"] = converged
    return result[list(ESTIMATE_COLUMNS)]


def appendix_c_frequentist(
    fits: Mapping[str, Fit],
    data: pd.DataFrame | StudyLike | None = None,
    lang: Lang = "en",
    *,
    estimates: pd.DataFrame | None = None,
    name: str = "appendix_c_frequentist",
    prob: float = DEFAULT_PROB,
) -> Table:
    """Appendix C: Bayesian and maximum-likelihood ratios, term by term.

    Parameters
    ----------
    fits
        Model name -> Bayesian fit, e.g. ``{"Survival M4": ..., "Demand fit M4": ...,
        "Extensive": ...}``; one panel each.
    data
        The fitted data; needed unless ``estimates`` are given.
    lang
        ``"en"`` or ``"zh"``.
    estimates
        Precomputed :func:`frequentist_estimates` of the models (``model`` column = the keys of
        ``fits``); computed from ``data`` when ``None``.
    name
        File stem.
    prob
        Mass of both intervals.

    Returns
    -------
    Table
        Panels by model; columns: term, Bayesian HR/OR [95% CrI], ML HR/OR [95% CI] (the mass
        of ``prob``), and their ratio (Bayesian median / ML estimate). ``data`` holds both sets
        of numbers.
    """
    if estimates is None:
        if data is None:
            raise ValueError("appendix_c_frequentist needs the data or precomputed estimates")
        estimates = pd.concat(
            [frequentist_estimates(fit, data, model=model, prob=prob)
             for model, fit in fits.items()],
            ignore_index=True,
        )  # fmt: skip
    bayes = coefficient_estimates(fits, prob=prob)
    label_column = text("term", lang)
    pct = percent(prob)
    headers = [label_column, text("bayes_cri", lang).format(pct=pct),
               text("ml_ci", lang).format(pct=pct), text("bayes_over_ml", lang)]  # fmt: skip
    rows, panels, data_rows = [], [], []
    methods: dict[str, str] = {}
    unconverged: list[str] = []
    for model in fits:
        ours = bayes[bayes["model"] == model].set_index("term")
        theirs = estimates[estimates["model"] == model].set_index("term")
        if not theirs.empty:
            methods[model] = str(theirs["method"].iloc[0])
            if not bool(theirs["converged"].all()):
                unconverged.append(model)
        # Rows in the blocks and order of Tables 2-4.
        rank = {panel: k for k, panel in enumerate(COEFFICIENT_PANELS)}
        terms = sorted(dict.fromkeys([*ours.index, *theirs.index]),
                       key=lambda t: rank.get(term_panel(str(t)), len(rank)))  # fmt: skip
        for term in terms:
            b = ours.loc[term] if term in ours.index else None
            m = theirs.loc[term] if term in theirs.index else None
            ratio = b["estimate"] / m["ratio"] if b is not None and m is not None else math.nan
            given = str(b["given"]) if b is not None else ""
            rows.append([
                coefficient_label(str(term), lang, given=given),
                format_estimate(b["estimate"], b["lower"], b["upper"]) if b is not None else "—",
                format_estimate(m["ratio"], m["ratio_lower"], m["ratio_upper"])
                if m is not None else "—",
                "" if math.isnan(ratio) else f"{ratio:.2f}",
            ])  # fmt: skip
            panels.append(model)
            data_rows.append({
                "model": model, "term": term,
                "bayes_median": b["estimate"] if b is not None else math.nan,
                "bayes_lower": b["lower"] if b is not None else math.nan,
                "bayes_upper": b["upper"] if b is not None else math.nan,
                "ml_ratio": m["ratio"] if m is not None else math.nan,
                "ml_lower": m["ratio_lower"] if m is not None else math.nan,
                "ml_upper": m["ratio_upper"] if m is not None else math.nan,
                "ml_se_log": m["se"] if m is not None else math.nan,
                "method": m["method"] if m is not None else "",
            })  # fmt: skip
    frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    late = any("~after" in str(row["term"]) for row in data_rows)
    method_list = note_text("sep_clauses", lang).join(
        f"{model_label(m, lang)}{note_text('sep_colon', lang)}{_method_words(v, lang)}"
        for m, v in methods.items()
    )
    pieces = [note_text("appendix_c", lang, pct=pct, methods=method_list)]
    if late:
        pieces.append(note_text("appendix_c_late", lang))
    if unconverged:
        models = note_text("sep_list", lang).join(unconverged)
        pieces.append(note_text("appendix_c_unconverged", lang, models=models))
    return Table(
        name=name,
        title=note_text("appendix_c_title", lang),
        frame=frame,
        note=note_text("sep_sentences", lang).join(pieces),
        data=pd.DataFrame(data_rows),
        panel=PANEL,
        lang=lang,
        align="lrrr",
    )
