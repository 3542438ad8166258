"""The note under a model table: which models, outcome family and ratio, baseline, priors, N per
level, reference levels, late effects, how the variance shares are defined and how the sampler
did, in English or Chinese."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from grassroots.data import schema
from grassroots.data.schema import Lang
from grassroots.reporting.convergence import (
    ESS_MIN,
    RHAT_MAX,
)
from grassroots.reporting.labels import level_name, level_plural, term_label, text
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
    sep, colon, comma = ("；", "：", "、") if lang == "zh" else ("; ", ": ", ", ")
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
            words = "仅含组效应" if lang == "zh" else "group effects only"
        elif nested and seen_model:
            words = "+ " + comma.join(added) if added else "="
        else:
            words = comma.join(added)
        pieces.append((model, words))
        seen_columns |= set(columns)
        seen_interactions |= set(interactions)
        seen_model = True
    if not nested and len({words for _, words in pieces}) == 1:
        everyone = "各模型" if lang == "zh" else "every model"
        return f"{everyone}{colon}{pieces[0][1]}"
    return sep.join(f"{model}{colon}{words}" for model, words in pieces)


_FAMILY_SENTENCES: Mapping[str, Mapping[Lang, str]] = {
    "survival": {
        "en": "Proportional-hazards models of the months a project runs before it is "
        "discontinued, right-censored at the survey date; {baseline}; log-normal frailties "
        "for {levels}.",
        "zh": "比例风险模型，因变量为项目自上线至停运的月数，在调查日右删失；{baseline}；"
        "{levels}对数正态脆弱项。",
    },
    "ordinal": {
        "en": "Cumulative-logit (proportional-odds) models of residents' 1–5 rating; projects "
        "without a rating are left out; random intercepts for {levels}.",
        "zh": "累积 logit（比例优势）模型，因变量为居民 1–5 分评分，未评分项目不纳入；"
        "{levels}随机截距。",
    },
    "logistic": {
        "en": "Hierarchical logistic models; random intercepts for {levels}.",
        "zh": "多层 logistic 模型；{levels}随机截距。",
    },
}
_RATIO_SENTENCES: Mapping[str, Mapping[Lang, str]] = {
    "HR": {
        "en": "Cells: posterior median hazard ratio (HR > 1: earlier discontinuation)",
        "zh": "单元格为风险比的后验中位数（风险比 > 1 表示更早停运）",
    },
    "OR": {
        "en": "Cells: posterior median odds ratio",
        "zh": "单元格为比值比的后验中位数",
    },
}


def _baseline_words(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    kinds = []
    for fit in fits.values():
        baseline = fit.spec.outcome(outcome_of(fit, outcome)).baseline
        if baseline is None:
            continue
        if baseline.kind == "weibull":
            kinds.append("Weibull 基线风险" if lang == "zh" else "Weibull baseline hazard")
        else:
            cuts = ("、" if lang == "zh" else ", ").join(f"{c:g}" for c in baseline.cuts)
            kinds.append(
                f"分段常数基线风险（切点：{cuts} 个月）" if lang == "zh"
                else f"piecewise-constant baseline hazard (cuts at {cuts} months)"
            )  # fmt: skip
    return ("；" if lang == "zh" else "; ").join(dict.fromkeys(kinds))


def _levels_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    if not levels:
        return "无组效应" if lang == "zh" else "no group effects"
    if lang == "zh":
        return "与".join(level_name(level, "zh") for level in levels) + "层"
    return " and ".join(level_plural(level, "en") for level in levels)


def _sampler_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    settings = []
    for fit in fits.values():
        posterior = fit.posterior
        settings.append((posterior.sizes["chain"], posterior.sizes["draw"]))
    shown = ", ".join(f"{c} × {d:,d}" for c, d in dict.fromkeys(settings))
    if lang == "zh":
        return (f"NUTS 抽样，链数 × 保留抽样数：{shown}；收敛标准：R-hat ≤ {RHAT_MAX:g}、"
                f"bulk 与 tail ESS ≥ {ESS_MIN}、无发散转移。")  # fmt: skip
    return (f"NUTS, chains × retained draws: {shown}; convergence requires R-hat ≤ {RHAT_MAX:g}, "
            f"bulk and tail ESS ≥ {ESS_MIN} and no divergent transitions.")  # fmt: skip


def _reference_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    references: dict[str, str] = {}
    for fit in fits.values():
        for column, scaling in fit.scaling.predictors.items():
            if scaling.kind == "categorical" and scaling.reference is not None:
                references.setdefault(column, scaling.reference)
    if not references:
        return ""
    items = [
        f"{term_label(column, lang)}{'：' if lang == 'zh' else ': '}"
        f"{schema.variable(column).level_label(ref, lang) if in_codebook(column) else ref}"
        for column, ref in references.items()
    ]
    if lang == "zh":
        return "类别变量的参照组：" + "，".join(items) + "。"
    return "Reference levels: " + "; ".join(items) + "."


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
    if lang == "zh":
        return (f"“第 {onset} 个月后”：第 {onset} 个月起的风险比，逐抽样计算 exp(β + β_late)；"
                f"“第 {onset} 个月后的变化”：exp(β_late)，即其后与其前风险比之比。")  # fmt: skip
    return (f"“After month {onset}”: the HR from month {onset} on, exp(β + β_late) computed per "
            f"draw; “change after month {onset}”: exp(β_late), the ratio of the HRs after and "
            "before.")  # fmt: skip


def model_note(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    loo: Mapping[str, dict[str, float] | None] | None = None,
    prob: float = 0.95,
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
    ratio = "HR" if family == "survival" else "OR"
    loo = {m: loo_summary(f, outcome=outcome) for m, f in fits.items()} if loo is None else loo
    pct = f"{100 * prob:g}%"
    levels = _levels_words(fits, lang)
    family_sentence = _FAMILY_SENTENCES[family][lang].format(
        baseline=_baseline_words(fits, outcome, lang), levels=levels
    )
    scale = text(f"scale_{family}", lang)
    residual = _RESIDUAL_TEXT[family]
    missing_loo = [m for m, r in loo.items() if r is None]
    high_k = {m: int(r["n_high_k"]) for m, r in loo.items() if r is not None and r["n_high_k"]}
    if lang == "zh":
        parts = [
            family_sentence,
            f"{_RATIO_SENTENCES[ratio]['zh']}及 {pct} 等尾可信区间；连续变量已标准化（每标准差），"
            "二分变量为 1 相对 0，类别变量相对参照组。",
            _reference_words(fits, lang),
            _late_words(fits, outcome, lang),
            f"模型：{_model_steps(fits, outcome, lang)}。",
            f"先验：{priors_sentence(fits, lang, outcome)}。",
            f"方差成分：组效应标准差（{scale}尺度）的后验中位数；第 l 层方差占比 = σ²_l /（Σσ² + "
            f"{residual}），{residual} 为潜变量尺度上的残差方差"
            + ("（比例风险模型的极值分布误差）" if family == "survival"
               else "（logistic 分布误差）")
            + "，逐抽样计算后取中位数与区间。",
            "LOO：PSIS-LOO 期望对数逐点预测密度 ± 标准误"
            + (f"；“—”表示未存储逐点对数似然（{'、'.join(missing_loo)}）" if missing_loo else "")
            + (f"；Pareto k 偏高的观测数：{'、'.join(f'{m} {k}' for m, k in high_k.items())}"
               if high_k else "")
            + "。",
            "项目数为纳入该结果似然的项目。",
            _sampler_words(fits, lang),
        ]  # fmt: skip
        return "".join(part for part in parts if part)
    parts = [
        family_sentence,
        f"{_RATIO_SENTENCES[ratio]['en']} with {pct} equal-tailed credible interval (CrI), "
        "per SD of continuous predictors (standardised), 1 vs 0 for binary ones and vs the "
        "reference level for categorical ones.",
        _reference_words(fits, lang),
        _late_words(fits, outcome, lang),
        f"Models: {_model_steps(fits, outcome, lang)}.",
        f"Priors: {priors_sentence(fits, lang, outcome)}.",
        f"Variance components: posterior median SD of the group effects ({scale} scale); "
        f"share of level l = σ²_l / (Σσ² + {residual}), {residual} being the residual variance "
        "of the latent scale"
        + (" (the extreme-value error of the proportional-hazards model)" if family == "survival"
           else " (the logistic error)")
        + ", computed per draw (median and interval).",
        "LOO: PSIS-LOO expected log pointwise predictive density ± SE"
        + (f"; — where the pointwise log-likelihood was not stored ({', '.join(missing_loo)})"
           if missing_loo else "")
        + (f"; observations with high Pareto k: {', '.join(f'{m} {k}' for m, k in high_k.items())}"
           if high_k else "")
        + ".",
        "N projects: rows in the outcome's likelihood.",
        _sampler_words(fits, lang),
    ]  # fmt: skip
    return " ".join(part for part in parts if part)
