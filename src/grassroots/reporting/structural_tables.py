"""The joint structural model's own coefficients (Table 9), the LOO differences between nested
models (Table 10) and the structural model's prior sensitivity (Appendix Table B3).

**Table 9** reports the structural fit outcome by outcome: one column per outcome (survival as
hazard ratios, demand fit, the two strategies and short-sightedness as odds ratios), rows in the
panels of Tables 2-4, the group-effect SDs and variance shares per outcome, the correlations of
the correlated level's effects across outcomes (lower triangle, row by column), the N of each
outcome's likelihood, and the convergence flag and diagnostics of the fit.

**Table 10** compares nested models (M0-M4 of survival and of demand fit) by PSIS-LOO:
``elpd_diff`` is each model's elpd minus the best model's and ``se_diff`` the standard error of
that difference, computed by :func:`arviz_stats.compare` from the *pointwise* differences,
``sqrt(n * var_i(elpd_i^A - elpd_i^B))``; the per-model SEs cannot be combined into it because
the models are evaluated on the same observations and their errors are strongly correlated.

**Appendix Table B3** refits the structural model with the coefficient and group-SD priors half
and twice as wide (:func:`~grassroots.reporting.appendix.scale_priors`), as Appendix Table B2
does for survival M4 and demand fit M4. Power-scaling sensitivity (``arviz_stats.psense``) would
need no refits, but it needs the pointwise log-prior and log-likelihood of the fit, which the
structural fit does not store; storing them means refitting it anyway.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.convergence import ESS_MIN, RHAT_MAX, convergence_note
from grassroots.reporting.labels import level_name, model_label, percent, term_label, text
from grassroots.reporting.model_tables import (
    COEFFICIENT_PANELS,
    coefficient_estimates,
    coefficient_label,
    term_panel,
    variance_components,
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
    from grassroots.inference.prior_reweighting import PriorReweighting

__all__ = [
    "appendix_b_sensitivity_structural",
    "loo_comparison",
    "structural_estimates",
    "structural_sensitivity_estimates",
    "table10_loo_comparison",
    "table9_structural",
]

_MISSING = "—"
_OUTCOME_HEADERS: Mapping[str, Mapping[Lang, str]] = {
    "survival": {"en": "Survival (HR)", "zh": "项目存续（风险比）"},
    "demand_fit": {"en": "Demand fit (OR)", "zh": "需求匹配（比值比）"},
    "extensive": {"en": "Extensive innovation (OR)", "zh": "粗放式创新（比值比）"},
    "expedient": {"en": "Expedient governance (OR)", "zh": "权宜式治理（比值比）"},
    "short_sighted": {"en": "Short-sighted (OR)", "zh": "创新短视化（比值比）"},
}


def _outcome_header(outcome: str, lang: Lang) -> str:
    return _OUTCOME_HEADERS.get(outcome, {"en": outcome, "zh": outcome})[lang]


def structural_estimates(fit: Fit, *, prob: float = DEFAULT_PROB) -> pd.DataFrame:
    """:func:`~grassroots.reporting.model_tables.coefficient_estimates` of every outcome of a
    structural fit, with ``model`` set to the outcome (one column of Table 9 each)."""
    frames = [
        coefficient_estimates({outcome: fit}, outcome=outcome, prob=prob)
        for outcome in fit.spec.outcome_names
    ]
    return pd.concat(frames, ignore_index=True)


def table9_structural(
    fit: Fit, lang: Lang = "en", *, name: str = "table9_structural", prob: float = DEFAULT_PROB
) -> Table:
    """Table 9: the joint structural model's coefficients, outcome by outcome.

    Parameters
    ----------
    fit
        A fit of a ``structural`` spec (several outcomes).
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    prob
        Mass of the equal-tailed credible intervals.
    """
    outcomes = list(fit.spec.outcome_names)
    label_column = text("term", lang)
    estimates = structural_estimates(fit, prob=prob)
    order = list(dict.fromkeys(estimates["term"]))
    sections: list[tuple[str, pd.DataFrame]] = []
    for panel in COEFFICIENT_PANELS:
        terms = [term for term in order if term_panel(term) == panel]
        if terms:
            block = estimates_by_model(
                estimates, lang, models=outcomes, terms=terms, label=coefficient_label,
                label_column=label_column, missing=_MISSING,
            )  # fmt: skip
            sections.append((text(f"panel_{panel}", lang), block))
    data = [
        {"outcome": r.model, "panel": r.panel, "term": r.term, "statistic": r.ratio,
         "estimate": r.estimate, "lower": r.lower, "upper": r.upper}
        for r in estimates.itertuples(index=False)
    ]  # fmt: skip
    if fit.spec.levels:
        sd_rows = {lvl: {label_column: term_label(f"sd_{lvl}", lang)} for lvl in fit.spec.levels}
        share_rows = {
            lvl: {label_column: text("variance_share", lang).format(level=level_name(lvl, lang))}
            for lvl in fit.spec.levels
        }
        for outcome in outcomes:
            for r in variance_components(fit, outcome=outcome, prob=prob).itertuples():
                sd_rows[r.level][outcome] = format_estimate(r.sd_median, r.sd_lower, r.sd_upper)
                share_rows[r.level][outcome] = format_estimate(
                    100 * r.share_median, 100 * r.share_lower, 100 * r.share_upper, digits=1
                )
                data += [
                    {"outcome": outcome, "panel": "variance", "term": f"sd_{r.level}",
                     "statistic": "sd", "estimate": r.sd_median, "lower": r.sd_lower,
                     "upper": r.sd_upper},
                    {"outcome": outcome, "panel": "variance", "term": f"share_{r.level}",
                     "statistic": "share", "estimate": r.share_median, "lower": r.share_lower,
                     "upper": r.share_upper},
                ]  # fmt: skip
        variance = pd.DataFrame(
            [*sd_rows.values(), *share_rows.values()], columns=[label_column, *outcomes]
        ).fillna(_MISSING)
        sections.append((text("panel_variance", lang), variance))
    if fit.spec.correlated is not None:
        correlations, correlation_data = _correlation_rows(fit, outcomes, label_column, lang, prob)
        sections.append((_correlation_panel(fit.spec.correlated, lang), correlations))
        data += correlation_data
    counts = {label_column: text("n_rows", lang)}
    events = {label_column: text("n_events", lang)}
    for outcome in outcomes:
        n = fit.counts.get(f"{outcome}_observed", fit.counts.get("rows"))
        counts[outcome] = _MISSING if n is None else f"{int(n):,d}"
        if f"{outcome}_events" in fit.counts:
            events[outcome] = f"{int(fit.counts[f'{outcome}_events']):,d}"
    shown_rows = [counts, events] if len(events) > 1 else [counts]
    fit_rows = pd.DataFrame(shown_rows, columns=[label_column, *outcomes]).fillna(_MISSING)
    sections.append((text("panel_fit", lang), fit_rows))
    frame = stack_panels(sections)
    frame = frame.rename(columns={o: _outcome_header(o, lang) for o in outcomes})
    frame = with_spanner(frame, text("estimate_cri", lang).format(pct=percent(prob)))
    overview = fit.diagnostics.overview()
    title = (
        "表9 联合结构模型：各结果方程的系数（每标准差风险比或比值比）" if lang == "zh"
        else "Table 9. Joint structural model: coefficients of each outcome equation "
        "(hazard or odds ratios per SD)"
    )  # fmt: skip
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=_structural_note(fit, overview, lang, prob),
        data=pd.DataFrame(
            data, columns=["outcome", "panel", "term", "statistic", "estimate", "lower", "upper"]
        ),  # fmt: skip
        panel=PANEL,
        flags=(convergence_note({fit.spec.name: overview}, lang),),
        lang=lang,
        align="l" + "r" * len(outcomes),
    )


def _correlation_panel(level: str, lang: Lang) -> str:
    if lang == "zh":
        return f"{level_name(level, 'zh')}层效应的跨结果相关"
    return f"Correlations of {level_name(level, 'en')} effects across outcomes"


def _correlation_rows(
    fit: Fit, outcomes: list[str], label_column: str, lang: Lang, prob: float
) -> tuple[pd.DataFrame, list[dict]]:
    """The lower triangle of the correlated level's correlation matrix: row outcome by column
    outcome (the matrix is symmetric with a unit diagonal, so the rest is left blank)."""
    level = fit.spec.correlated
    draws = fit.posterior[f"{level}_corr"]
    q = [0.5, (1 - prob) / 2, (1 + prob) / 2]
    quantiles = draws.quantile(q, dim=("chain", "draw"))
    rows, data = [], []
    for i, row_outcome in enumerate(outcomes[1:], start=1):
        cells = {label_column: _outcome_header(row_outcome, lang).split(" (")[0].split("（")[0]}
        for column_outcome in outcomes[:i]:
            median, lower, upper = (
                float(v) for v in quantiles.sel(outcome=row_outcome, outcome2=column_outcome)
            )
            cells[column_outcome] = format_estimate(median, lower, upper)
            data.append({"outcome": column_outcome, "panel": "correlation",
                         "term": f"corr_{level}[{row_outcome}]", "statistic": "correlation",
                         "estimate": median, "lower": lower, "upper": upper})  # fmt: skip
        rows.append(cells)
    frame = pd.DataFrame(rows, columns=[label_column, *outcomes]).fillna("")
    return frame, data


def _structural_note(fit: Fit, overview: Mapping[str, float], lang: Lang, prob: float) -> str:
    pct = percent(prob)
    chains, draws = fit.posterior.sizes["chain"], fit.posterior.sizes["draw"]
    correlated = fit.spec.correlated
    diagnostics = (
        (
            f"最大 R-hat {overview['max_rhat']:.3f}，"
            f"最小 bulk ESS {overview['min_ess_bulk']:,.0f}，"
            f"最小 tail ESS {overview['min_ess_tail']:,.0f}，"
            f"发散转移 {int(overview['n_divergent'])} 次"
        )
        if lang == "zh"
        else (
            f"max R-hat {overview['max_rhat']:.3f}, min bulk ESS {overview['min_ess_bulk']:,.0f}, "
            f"min tail ESS {overview['min_ess_tail']:,.0f}, "
            f"{int(overview['n_divergent'])} divergent transitions"
        )
    )
    if lang == "zh":
        level = level_name(correlated, "zh") if correlated else ""
        return (
            "五个结果方程在一个模型中联合估计："
            + (f"{level}层效应跨结果相关（LKJ 先验），" if correlated else "")
            + "其余层级的效应按结果分别估计；"
            "策略（及项目存续方程中的创新短视化）作为中介变量进入结果方程。"
            f"单元格为后验中位数及 {pct} 等尾可信区间：项目存续为风险比（> 1 表示更早停运），"
            "其余为比值比；连续变量每标准差，二分变量 1 相对 0。先验见附录 B。"
            f"NUTS，链数 × 保留抽样数：{chains} × {draws:,d}；收敛标准：R-hat ≤ {RHAT_MAX:g}、"
            f"bulk 与 tail ESS ≥ {ESS_MIN}、无发散转移；本模型：{diagnostics}。"
        )
    return (
        "The five outcome equations are estimated jointly in one model: "
        + (f"{level_name(correlated, 'en')} effects are correlated across outcomes (LKJ prior), "
           if correlated else "")
        + "other levels' effects are estimated per outcome; the strategies (and, for survival, "
        "short-sightedness) enter the outcome equations as mediators. Cells: posterior median "
        f"with {pct} equal-tailed CrI, hazard ratios for survival (HR > 1: earlier "
        "discontinuation) and odds ratios otherwise, per SD of continuous predictors, 1 vs 0 for "
        f"binary ones. Priors: Appendix B. NUTS, chains × retained draws: {chains} × {draws:,d}; "
        f"convergence requires R-hat ≤ {RHAT_MAX:g}, bulk and tail ESS ≥ {ESS_MIN} and no "
        f"divergent transitions; this fit: {diagnostics}."
    )  # fmt: skip


# --- LOO differences ---------------------------------------------------------------------------


def loo_comparison(fits: Mapping[str, Fit], *, outcome: str | None = None) -> pd.DataFrame:
    """PSIS-LOO of each model and its difference from the best, with the SE of the difference.

    Parameters
    ----------
    fits
        Model name -> fit of the same outcome on the same rows (e.g. M0-M4).
    outcome
        The outcome (default: each fit's only one).

    Returns
    -------
    DataFrame
        In the order of ``fits``: ``model``, ``elpd``, ``se``, ``p_loo``, ``elpd_diff`` (elpd
        minus the best model's; 0 for the best), ``se_diff`` (from the pointwise differences,
        :func:`arviz_stats.compare`), ``weight`` (stacking) and ``rank`` (0 = best). Models that
        stored no pointwise log-likelihood get NaN and are left out of the comparison.
    """
    import arviz_stats as azs

    from grassroots.reporting.model_tables import outcome_of

    results = {}
    for model, fit in fits.items():
        result = fit.loo(outcome_of(fit, outcome))
        if result is not None:
            results[model] = result
    columns = ["model", "elpd", "se", "p_loo", "elpd_diff", "se_diff", "weight", "rank"]
    frame = pd.DataFrame({"model": list(fits)}).set_index("model")
    if len(results) == 1:
        ((model, result),) = results.items()
        frame.loc[model, ["elpd", "se", "p_loo", "elpd_diff", "se_diff", "weight", "rank"]] = [
            result.elpd, result.se, result.p, 0.0, 0.0, 1.0, 0,
        ]  # fmt: skip
    elif results:
        sizes = {model: int(result.n_data_points) for model, result in results.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"LOO differences need the same observations in every model; the pointwise "
                f"log-likelihoods have {sizes} rows. Fit the models on the same data."
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compared = azs.compare(results, round_to="none")
        frame.loc[compared.index, "elpd"] = compared["elpd"]
        frame.loc[compared.index, "se"] = compared["se"]
        frame.loc[compared.index, "p_loo"] = compared["p"]
        frame.loc[compared.index, "elpd_diff"] = compared["elpd_diff"]
        frame.loc[compared.index, "se_diff"] = compared["dse"]
        frame.loc[compared.index, "weight"] = compared["weight"]
        frame.loc[compared.index, "rank"] = compared["rank"]
    return (
        frame.reset_index()
        .reindex(columns=columns)
        .astype({c: float for c in columns if c != "model"})
    )


def table10_loo_comparison(
    panels: Mapping[str, Mapping[str, Fit]],
    lang: Lang = "en",
    *,
    name: str = "table10_loo_comparison",
) -> Table:
    """Table 10: PSIS-LOO of nested models with differences from the best model and their SEs.

    Parameters
    ----------
    panels
        Outcome -> (model -> fit), e.g. ``{"survival": {"M0": ..., ..., "M4": ...},
        "demand_fit": {...}}``: one panel each.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    """
    zh = lang == "zh"
    headers = {
        "model": text("model", lang),
        "elpd": "elpd_loo ± SE" if not zh else "elpd_loo ± 标准误",
        "diff": "Δelpd (SE)" if not zh else "Δelpd（标准误）",
        "p_loo": "p_loo",
        "weight": "Stacking weight" if not zh else "堆叠权重",
    }
    best = "0（最优）" if zh else "0 (best)"
    sections, data, missing = [], [], []
    for outcome, fits in panels.items():
        compared = loo_comparison(fits, outcome=outcome)
        rows = []
        for r in compared.itertuples(index=False):
            if np.isnan(r.elpd):
                missing.append(model_label(f"{outcome} {r.model}", lang))
                rows.append({headers["model"]: r.model, **dict.fromkeys(
                    [headers["elpd"], headers["diff"], headers["p_loo"], headers["weight"]],
                    _MISSING)})  # fmt: skip
                continue
            rows.append({
                headers["model"]: r.model,
                headers["elpd"]: f"{r.elpd:,.1f} ± {r.se:,.1f}",
                headers["diff"]: best if r.rank == 0 else f"{r.elpd_diff:,.1f} ({r.se_diff:,.1f})",
                headers["p_loo"]: f"{r.p_loo:,.1f}",
                headers["weight"]: f"{r.weight:.2f}",
            })  # fmt: skip
            data.append({"outcome": outcome, **r._asdict()})
        panel = _outcome_header(outcome, lang).split(" (")[0].split("（")[0]
        sections.append((panel, pd.DataFrame(rows, columns=list(headers.values()))))
    frame = stack_panels(sections)
    title = (
        "表10 嵌套模型的 PSIS-LOO 比较（相对最优模型的差异及其标准误）" if zh
        else "Table 10. PSIS-LOO comparison of the nested models (differences from the best "
        "model with their SE)"
    )  # fmt: skip
    if zh:
        note = (
            "elpd_loo：PSIS-LOO 期望对数逐点预测密度。Δelpd：该模型 elpd 减去最优模型 elpd；"
            "括号内为差异的标准误，由逐点差异计算（sqrt(n·var(elpd_i^A − elpd_i^B))，"
            "arviz_stats.compare），而非两模型标准误的合成，"
            "因为各模型在同一批观测上评估、误差高度相关。"
            "|Δelpd| 小于约 4 或小于 2 倍标准误时，两模型的预测表现难以区分。"
            "堆叠权重见 Yao 等（2018）。"
        )
    else:
        note = (
            "elpd_loo: PSIS-LOO expected log pointwise predictive density. Δelpd: the model's "
            "elpd minus the best model's; in parentheses the SE of the difference, computed "
            "from the pointwise differences (sqrt(n·var(elpd_i^A − elpd_i^B)), "
            "arviz_stats.compare), not from the two models' SEs, because the models are "
            "evaluated on the same observations and their errors are strongly correlated. "
            "|Δelpd| below about 4, or below twice its SE, does not distinguish the models. "
            "Stacking weights: Yao et al. (2018)."
        )
    if missing:
        note += (
            f"“—”：未存储逐点对数似然（{'、'.join(missing)}）。"
            if zh
            else f" —: no pointwise log-likelihood stored ({', '.join(missing)})."
        )
    overview = {model_label(f"{outcome} {model}", lang): fit.diagnostics.overview()
                for outcome, fits in panels.items() for model, fit in fits.items()}  # fmt: skip
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=note,
        data=pd.DataFrame(data),
        panel=PANEL,
        flags=(convergence_note(overview, lang),),
        lang=lang,
        align="lrrrr",
    )


# --- prior sensitivity of the structural model -------------------------------------------------


def structural_sensitivity_estimates(
    fits_by_factor: Mapping[float, Fit],
    *,
    prob: float = DEFAULT_PROB,
    reweighted: Mapping[float, PriorReweighting] | None = None,
) -> pd.DataFrame:
    """Key estimates of the structural model under scaled priors, outcome by outcome.

    Parameters
    ----------
    fits_by_factor
        Prior scale factor -> structural fit (the fitted priors at 1, refits of
        :func:`~grassroots.reporting.appendix.scale_priors` otherwise, or the ×1 fit where
        ``reweighted`` weights its draws).
    prob
        Mass of the credible intervals.
    reweighted
        Prior scale factor -> importance reweighting of the ×1 fit to that prior (see
        :func:`~grassroots.reporting.appendix.sensitivity_estimates`).

    Returns
    -------
    DataFrame
        :func:`~grassroots.reporting.appendix.sensitivity_estimates`'s frame with ``model``
        set to the outcome: every coefficient and group SD of every outcome equation.
    """
    from grassroots.reporting.appendix import sensitivity_estimates

    first = next(iter(fits_by_factor.values()))
    frames = [
        sensitivity_estimates(
            {factor: {outcome: fit} for factor, fit in sorted(fits_by_factor.items())},
            outcome=outcome,
            prob=prob,
            reweighted={factor: {outcome: r} for factor, r in (reweighted or {}).items()},
        )
        for outcome in first.spec.outcome_names
    ]
    return pd.concat(frames, ignore_index=True)


def appendix_b_sensitivity_structural(
    estimates: pd.DataFrame,
    lang: Lang = "en",
    *,
    name: str = "appendix_b_sensitivity_structural",
    prob: float = DEFAULT_PROB,
) -> Table:
    """Appendix Table B3: prior sensitivity of the joint structural model, one panel per outcome
    (:func:`structural_sensitivity_estimates`), laid out as Appendix Table B2
    (:func:`~grassroots.reporting.appendix.appendix_b_sensitivity`); ``prob`` is the mass the
    estimates' intervals were computed at."""
    from grassroots.reporting.appendix import appendix_b_sensitivity

    shown = estimates.assign(model=[_outcome_header(m, lang) for m in estimates["model"]])
    table = appendix_b_sensitivity(shown, lang, name=name, prob=prob)
    title = (
        "附表B3 联合结构模型的先验敏感性分析" if lang == "zh"
        else "Appendix Table B3. Prior sensitivity of the joint structural model"
    )  # fmt: skip
    return dataclasses.replace(table, title=title, data=estimates.reset_index(drop=True))
