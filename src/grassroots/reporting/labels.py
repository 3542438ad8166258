"""Labels for model terms and table furniture, in English or Chinese, from the codebook.

A model term is named the way :mod:`grassroots.models.design` names design columns and the
builder names parameters; :func:`term_label` turns any of them into the words a reader sees:

=============================  ========================================  =====================
term                           en                                        zh
=============================  ========================================  =====================
``authority``                  Authority                                 权力
``region[west]``               Region: West                              地区：西部
``collaboration:authority``    Cross-department collaboration × Authority 跨部门协作机制 × 权力
``sd_township``                SD, township                              乡镇层标准差
``demand_fit_cutpoints[1|2]``  Cut point 1|2                             切点 1|2
=============================  ========================================  =====================

Every word the tables and figures print around the data lives here, English and Chinese side
by side: :data:`TEXT` holds the furniture (headers, axis titles; :func:`text`), :data:`NOTES`
the sentences of notes, cells and titles as templates with named fields (:func:`note_text`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping

import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Lang

__all__ = [
    "DATA_HEADERS_ZH",
    "LEVEL_NAMES",
    "LEVEL_PLURALS",
    "NOTES",
    "TEXT",
    "level_name",
    "level_plural",
    "localised_data",
    "model_label",
    "note_text",
    "percent",
    "term_label",
    "text",
]

# Words the renderers and table builders print around the data. One dictionary, so that a
# translation is fixed in one place and a missing key fails loudly in ``text``.
TEXT: Mapping[str, Mapping[Lang, str]] = {
    "note": {"en": "Note.", "zh": "注："},
    # A long table's caption and foot on the pages after its first (GB/T 7714 style: 续表).
    "continued": {"en": "(continued)", "zh": "（续）"},
    "continued_overleaf": {"en": "Continued on next page", "zh": "接下页"},
    "intercept": {"en": "Intercept", "zh": "截距"},
    "cut_point": {"en": "Cut point", "zh": "切点"},
    "term": {"en": "Term", "zh": "变量"},
    "hr_cri": {"en": "HR [{pct} CrI]", "zh": "风险比 [{pct} 可信区间]"},
    "or_cri": {"en": "OR [{pct} CrI]", "zh": "比值比 [{pct} 可信区间]"},
    "estimate_cri": {"en": "Estimate [{pct} CrI]", "zh": "估计值 [{pct} 可信区间]"},
    "max_rhat": {"en": "Max R-hat", "zh": "最大 R-hat"},
    "min_ess_bulk": {"en": "Min bulk ESS", "zh": "最小 bulk ESS"},
    "min_ess_tail": {"en": "Min tail ESS", "zh": "最小 tail ESS"},
    "divergences": {"en": "Divergent transitions", "zh": "发散转移数"},
    "hazard_ratio": {"en": "Hazard ratio (log scale)", "zh": "风险比（对数刻度）"},
    "odds_ratio": {"en": "Odds ratio (log scale)", "zh": "比值比（对数刻度）"},
    "ratio": {"en": "Ratio (log scale)", "zh": "比率（对数刻度）"},
    "estimate": {"en": "Estimate", "zh": "估计值"},
    "model": {"en": "Model", "zh": "模型"},
    "scenario": {"en": "Scenario", "zh": "情景"},
    "contrast": {"en": "Difference from the status quo", "zh": "相对现状的差异"},
    "density": {"en": "Posterior density", "zh": "后验密度"},
    "delta_pp": {"en": "Δ, percentage points", "zh": "Δ（百分点）"},
    "delta_rating": {"en": "Δ, rating points", "zh": "Δ（评分分值）"},
    # --- where the data came from (Table 1's note, reports/README.md) ---------------------------
    "data_source": {"en": "Data: {source}.", "zh": "数据：{source}。"},
    "bundled_study": {
        "en": "the bundled synthetic study (simulated, not real)",
        "zh": "随包附带的合成研究数据（模拟生成，并非真实调查）",
    },
    # --- Table 1 (descriptives): level headings and columns ------------------------------------
    "level_title_counties": {"en": "Counties", "zh": "县（市、区）"},
    "level_title_townships": {"en": "Townships", "zh": "乡镇（街道）"},
    "level_title_projects": {"en": "Projects", "zh": "项目"},
    "descriptives_variable": {"en": "Variable", "zh": "变量"},
    "descriptives_n": {"en": "N", "zh": "N"},
    "descriptives_mean_percent": {"en": "Mean / %", "zh": "均值 / %"},
    "descriptives_sd": {"en": "SD", "zh": "标准差"},
    "descriptives_min": {"en": "Min", "zh": "最小值"},
    "descriptives_median": {"en": "Median", "zh": "中位数"},
    "descriptives_max": {"en": "Max", "zh": "最大值"},
    "descriptives_missing": {"en": "Missing", "zh": "缺失"},
    # --- model tables (Tables 2-4) and their appendices -------------------------------------
    "panel_weaknesses": {"en": "Weaknesses", "zh": "弱势"},
    "panel_strengths": {"en": "Strengths", "zh": "优位"},
    "panel_controls": {"en": "Controls", "zh": "控制变量"},
    "panel_remedies": {"en": "Remedies", "zh": "调适举措"},
    "panel_strategies": {"en": "Strategies", "zh": "策略"},
    "panel_dilemmas": {"en": "Dilemmas", "zh": "困境"},
    "panel_interactions": {"en": "Interactions", "zh": "交互项"},
    "panel_variance": {"en": "Variance components", "zh": "方差成分"},
    "panel_fit": {"en": "Fit and diagnostics", "zh": "拟合与诊断"},
    "late_effect": {"en": "{label}, after month {onset}", "zh": "{label}（第 {onset} 个月后）"},
    "late_change": {
        "en": "{label}, change after month {onset} (ratio of HRs)",
        "zh": "{label}（第 {onset} 个月后的变化，风险比之比）",
    },
    "variance_share": {"en": "Share of variance, {level} (%)", "zh": "{level}层方差占比（%）"},
    "loo": {"en": "LOO elpd ± SE", "zh": "LOO elpd ± 标准误"},
    "n_rows": {"en": "N projects", "zh": "项目数"},
    "n_events": {"en": "N discontinued", "zh": "停运项目数"},
    "n_level": {"en": "N {level}", "zh": "{level}数"},
    "chains_draws": {"en": "Chains × draws", "zh": "链数 × 抽样数"},
    "min_ebfmi": {"en": "Min E-BFMI", "zh": "最小 E-BFMI"},
    "treedepth_hits": {"en": "Tree-depth hits", "zh": "达到最大树深次数"},
    "sample_seconds": {"en": "Sampling time (s)", "zh": "抽样时间（秒）"},
    "parameter": {"en": "Parameter", "zh": "参数"},
    "prior": {"en": "Prior", "zh": "先验分布"},
    "source": {"en": "Source", "zh": "来源"},
    "models": {"en": "Models", "zh": "模型"},
    "structural_model": {"en": "Joint structural model", "zh": "联合结构模型"},
    "prior_scaled": {"en": "prior scale ×{factor}", "zh": "先验尺度 ×{factor}"},
    "prior_default": {"en": "package default", "zh": "默认设定"},
    "prior_spec": {"en": "model spec", "zh": "模型设定文件"},
    "prior_scale": {"en": "Prior scale ×{factor}", "zh": "先验尺度 ×{factor}"},
    "max_change": {"en": "Max |Δ| vs ×1", "zh": "相对 ×1 的最大 |Δ|"},
    "bayes_cri": {"en": "Bayesian [{pct} CrI]", "zh": "贝叶斯 [{pct} 可信区间]"},
    "ml_ci": {"en": "ML [{pct} CI]", "zh": "极大似然 [{pct} 置信区间]"},
    "bayes_over_ml": {"en": "Bayes / ML", "zh": "贝叶斯/极大似然"},
    # The maximum-likelihood fits of Appendix C (keys of frequentist._METHODS).
    "ml_method_survival": {"en": "lifelines CoxPHFitter", "zh": "lifelines CoxPHFitter"},
    "ml_method_survival_late": {
        "en": "statsmodels PHReg, follow-up split at the onset",
        "zh": "statsmodels PHReg，随访期在效应起始月处拆分",
    },
    "ml_method_ordinal": {
        "en": "statsmodels OrderedModel (logit)",
        "zh": "statsmodels OrderedModel（logit）",
    },
    "ml_method_logistic": {"en": "statsmodels Logit", "zh": "statsmodels Logit"},
    # --- estimand tables (Tables 5-7) ------------------------------------------------------
    "quantity": {"en": "Quantity", "zh": "指标"},
    "subgroup": {"en": "Subgroup", "zh": "子组"},
    "all_projects": {"en": "All projects", "zh": "全部项目"},
    "status_quo": {"en": "Status quo", "zh": "现状"},
    "under_scenario": {"en": "Under the scenario", "zh": "情景下"},
    "delta_cri": {"en": "Δ [{pct} CrI]", "zh": "Δ [{pct} 可信区间]"},
    "pr_positive": {"en": "Pr(Δ > 0)", "zh": "Pr(Δ > 0)"},
    "effect_total": {"en": "Total", "zh": "总效应"},
    "effect_direct": {"en": "Direct", "zh": "直接效应"},
    "effect_indirect": {"en": "Indirect, all strategies", "zh": "间接效应（全部策略）"},
    "effect_via": {"en": "Indirect via {label}", "zh": "经{label}的间接效应"},
    "weakness_tercile": {
        "en": "Baseline weakness: {level} tercile",
        "zh": "基线弱势：{level}三分位",
    },
    "survival_outcome": {"en": "Project survival", "zh": "项目存续"},
    "rank": {"en": "Rank", "zh": "排序"},
    "mean_delta_cri": {"en": "Mean Δ [{pct} CrI]", "zh": "Δ 均值 [{pct} 可信区间]"},
    "rank_cri": {"en": "Rank [{pct} CrI]", "zh": "名次 [{pct} 可信区间]"},
    "pr_top": {"en": "P(top {k})", "zh": "P(前 {k} 名)"},
    "weakness_tercile_short": {"en": "Weakness tercile", "zh": "弱势三分位"},
    "delta_untreated": {
        "en": "Δ among the not yet treated [{pct} CrI]",
        "zh": "Δ（尚未实施的单位）[{pct} 可信区间]",
    },
    "allocation": {"en": "Allocation", "zh": "分配方式"},
    "allocation_targeted": {
        "en": "Targeted: greedy by expected gain per cost",
        "zh": "定向分配：按单位成本期望收益贪心选择",
    },
    "allocation_random": {"en": "Random, same budget", "zh": "随机分配（同等预算）"},
    "allocation_difference": {"en": "Targeted − random", "zh": "定向 − 随机"},
    "units_funded": {"en": "Units funded", "zh": "获资助单位数"},
    "spent": {"en": "Spent ({unit})", "zh": "支出（{unit}）"},
    "total_gain_cri": {"en": "Total gain [{pct} CrI]", "zh": "总收益 [{pct} 可信区间]"},
    # --- figures ------------------------------------------------------------------------------
    "months_since_launch": {"en": "Months since launch", "zh": "上线后月数"},
    "survival_probability": {"en": "Share still running, S(t)", "zh": "仍在运行的比例 S(t)"},
    "kaplan_meier": {"en": "Kaplan–Meier ({pct} CI)", "zh": "Kaplan–Meier 估计（{pct} 置信区间）"},
    "posterior_predictive": {
        "en": "Posterior predictive ({pct} CrI)",
        "zh": "后验预测（{pct} 可信区间）",
    },
    "group_effect": {"en": "{level} effect ({scale})", "zh": "{level}层效应（{scale}）"},
    "with_n": {"en": "{label} (n = {n})", "zh": "{label}（n = {n}）"},
    "group_rank": {
        "en": "{levels}, ranked by posterior median",
        "zh": "{levels}（按后验中位数排序）",
    },
    "log_hazard_scale": {"en": "log hazard", "zh": "对数风险"},
    # The latent scale of each likelihood family, in table notes and variance-component rows.
    "scale_logistic": {"en": "logit", "zh": "logit"},
    "scale_ordinal": {"en": "logit", "zh": "logit"},
    "scale_survival": {"en": "log-hazard", "zh": "对数风险"},
    "logit_scale": {"en": "logit", "zh": "logit"},
    "rating": {"en": "Rating", "zh": "评分"},
    "share_of_projects": {"en": "Share of rated projects", "zh": "已评分项目占比"},
    "observed": {"en": "Observed", "zh": "观测值"},
    "prior_survival": {"en": "{label}: prior survival", "zh": "{label}：先验生存曲线"},
    "prior_rating_shares": {"en": "{label}: prior rating shares", "zh": "{label}：先验评分分布"},
    "prior_probability": {"en": "{label}: prior P(yes)", "zh": "{label}：先验概率"},
    "row_average_survival": {"en": "S(t), average over projects", "zh": "S(t)（项目平均）"},
    "row_average_probability": {"en": "P(yes), average over projects", "zh": "概率（项目平均）"},
    "share_of_rows": {"en": "Share of projects", "zh": "项目占比"},
    "prior_draws": {"en": "Prior draws", "zh": "先验抽样数"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    # --- identification (Tables 5a-5b, Figures 9-10) ------------------------------------------
    "outcome": {"en": "Outcome", "zh": "结局"},
    "no_remedy_confounding": {
        "en": "No unmeasured remedy–outcome confounding",
        "zh": "措施—结局间无未观测混杂",
    },
    "no_mediator_confounding": {
        "en": "No unmeasured strategy–outcome confounding (Table 6)",
        "zh": "策略—结局间无未观测混杂（表6）",
    },
    "positivity": {"en": "Positivity (data)", "zh": "正值性（数据）"},
    "consistency": {"en": "Consistency, no interference", "zh": "一致性与无干扰"},
    "rr_cri": {"en": "Risk ratio [{pct} CrI]", "zh": "风险比 [{pct} 可信区间]"},
    "e_value_estimate": {"en": "E-value, estimate", "zh": "E 值（估计值）"},
    "e_value_limit": {"en": "E-value, CrI limit", "zh": "E 值（区间界限）"},
    "reading": {"en": "Reading", "zh": "解读"},
    "e_value_axis": {
        "en": "E-value: confounder's risk ratio with remedy and outcome",
        "zh": "E 值：混杂因素与措施及结局的风险比",
    },
    "role_remedy": {"en": "Remedy", "zh": "应对措施"},
    "role_covariate": {"en": "Covariate", "zh": "协变量"},
    "role_mediator": {"en": "Strategy (mediator)", "zh": "策略（中介变量）"},
    "role_outcome": {"en": "Outcome", "zh": "结局"},
    "role_group_effect": {"en": "Group effects (latent)", "zh": "组效应（潜变量）"},
    "group_effect_node": {"en": "{level} effects", "zh": "{level}效应"},
}

# Plurals for "N counties" and for axis titles; Chinese nouns have none.
LEVEL_PLURALS: Mapping[str, Mapping[Lang, str]] = {
    "county": {"en": "counties", "zh": "县"},
    "township": {"en": "townships", "zh": "乡镇"},
}

# Grouping levels are named by the spec after their id column without ``_id``.
LEVEL_NAMES: Mapping[str, Mapping[Lang, str]] = {
    "county": {"en": "county", "zh": "县"},
    "township": {"en": "township", "zh": "乡镇"},
}

_PUNCT: Mapping[Lang, Mapping[str, str]] = {
    "en": {"colon": ": ", "times": " × "},
    "zh": {"colon": "：", "times": " × "},
}

# ``<outcome>_sd_<level>`` from the builder, or the bare ``sd_<level>`` of a prior table.
_SD = re.compile(r"^(?:\w+_)?sd_(?P<level>[a-z][a-z0-9_]*?)(?:_id)?$")
# ``<outcome>_cutpoints[1|2]`` (the coordinate of the ``<outcome>_cut`` dim) or ``cutpoints[1|2]``.
_CUT = re.compile(r"^(?:\w+_)?cut(?:point)?s?\[(?P<cut>[^\]]+)\]$")
_CATEGORY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\[(?P<level>[^\]]+)\]$")


def text(key: str, lang: Lang = "en") -> str:
    """One piece of table or figure furniture (``"note"``, ``"hr_cri"`` ...) in ``lang``.

    A piece with a field is a template its caller fills with ``str.format``: an interval's
    header names its mass as ``{pct}`` (:func:`percent` of the table's ``prob``).

    Examples
    --------
    >>> text("note", "zh")
    '注：'
    """
    return TEXT[key][lang]


def percent(prob: float) -> str:
    """The mass of an interval as headers and notes print it, their ``{pct}`` field.

    Examples
    --------
    >>> text("hr_cri").format(pct=percent(0.9))
    'HR [90% CrI]'
    >>> percent(0.95), percent(0.8)
    ('95%', '80%')
    """
    return f"{100 * prob:g}%"


def level_name(level: str, lang: Lang = "en") -> str:
    """The name of a grouping level (``"township"`` -> ``"乡镇"``); the level itself if unknown."""
    return LEVEL_NAMES.get(level, {}).get(lang, level)


def level_plural(level: str, lang: Lang = "en") -> str:
    """The plural of a grouping level (``"county"`` -> ``"counties"``); ``"<level> groups"`` if
    unknown (a user's own level, e.g. ``"hospital"``)."""
    if level in LEVEL_PLURALS:
        return LEVEL_PLURALS[level][lang]
    return level if lang == "zh" else f"{level} groups"


def _variable_label(name: str, lang: Lang) -> str:
    try:
        return schema.variable(name).label(lang)
    except KeyError:
        # Terms outside the codebook (a user's extra column) keep their name rather than fail:
        # a table with a raw name is better than no table.
        return name


def _single_term(term: str, lang: Lang) -> str:
    if term.lower() in ("intercept", "(intercept)"):
        return text("intercept", lang)
    if match := _SD.match(term):
        level = match["level"]
        if lang == "zh":
            return f"{level_name(level, 'zh')}层标准差"
        return f"SD, {level_name(level, 'en')}"
    if match := _CUT.match(term):
        return f"{text('cut_point', lang)} {match['cut']}"
    if match := _CATEGORY.match(term):
        name, level = match["name"], match["level"]
        try:
            variable = schema.variable(name)
        except KeyError:
            return f"{name}{_PUNCT[lang]['colon']}{level}"
        return f"{variable.label(lang)}{_PUNCT[lang]['colon']}{variable.level_label(level, lang)}"
    return _variable_label(term, lang)


def term_label(term: str, lang: Lang = "en") -> str:
    """The reader's label of a model term, from the codebook.

    Parameters
    ----------
    term
        A design column (``authority``, ``region[west]``), an interaction of design columns
        joined by ``:``, a group-effect SD (``sd_township``, ``survival_sd_county``), a cut point
        (``demand_fit_cutpoints[2|3]``) or ``Intercept``. Names outside the codebook are kept.
    lang
        ``"en"`` or ``"zh"``.

    Returns
    -------
    str

    Examples
    --------
    >>> term_label("region[west]", "zh")
    '地区：西部'
    >>> term_label("collaboration:authority")
    'Cross-department collaboration × Authority'
    >>> term_label("sd_township", "zh")
    '乡镇层标准差'
    """
    if ":" in term and not term.startswith("("):
        return _PUNCT[lang]["times"].join(_single_term(part, lang) for part in term.split(":"))
    return _single_term(term, lang)


# A model named by its spec (``survival_m4``, ``demand_fit_m2_prior_x0.5``) or by a reader's key
# (``Survival M4``): outcome, model code, and the prior scale of a sensitivity refit.
_MODEL = re.compile(
    r"^(?P<outcome>[A-Za-z_]+?)[ _](?P<code>[mM]\d)(?:_prior_x(?P<factor>[0-9.]+))?$"
)


def _outcome_label(outcome: str, lang: Lang) -> str:
    if outcome == "survival":
        return text("survival_outcome", lang)
    return _variable_label(outcome, lang)


def model_label(model: str, lang: Lang = "en") -> str:
    """The reader's name of a model: its outcome from the codebook and its code.

    Model codes (``M0``...``M4``) and names the package does not know are kept as they are.

    Examples
    --------
    >>> model_label("survival_m4", "zh")
    '项目存续 M4'
    >>> model_label("demand_fit_m2_prior_x0.5", "zh")
    '需求匹配度 M2（先验尺度 ×0.5）'
    >>> model_label("structural")
    'Joint structural model'
    >>> model_label("structural_prior_x2", "zh")
    '联合结构模型（先验尺度 ×2）'
    """
    if model == "structural":
        return text("structural_model", lang)
    if match := re.fullmatch(r"structural_prior_x(?P<factor>[\d.]+)", model):
        scaled = text("prior_scaled", lang).format(factor=match["factor"])
        name = text("structural_model", lang)
        return f"{name}（{scaled}）" if lang == "zh" else f"{name} ({scaled})"
    if match := _MODEL.match(model):
        outcome = match["outcome"].lower()
        name = f"{_outcome_label(outcome, lang)} {match['code'].upper()}"
        if match["factor"]:
            scaled = text("prior_scaled", lang).format(factor=match["factor"])
            name += f"（{scaled}）" if lang == "zh" else f" ({scaled})"
        return name
    if re.fullmatch(r"[a-z][a-z0-9_]*", model):
        return _outcome_label(model, lang)
    return model


# --- the numbers behind a table (its CSV) in Chinese --------------------------------------------

#: Column of a table's data (``Table.data``, written as CSV) -> its Chinese header. The English
#: CSV keeps the code names, which are what a script reads.
DATA_HEADERS_ZH: Mapping[str, str] = {
    "adjustment": "调整变量", "allocation": "分配方式", "backdoor_valid": "后门准则成立",
    "backend": "抽样后端", "bayes_lower": "贝叶斯下限", "bayes_median": "贝叶斯中位数",
    "bayes_upper": "贝叶斯上限", "budget": "预算", "category": "类别", "chains": "链数",
    "claim_en": "论断（英文）", "claim_zh": "论断", "compile_seconds": "编译时间（秒）",
    "concept": "概念代码", "concept_en": "概念（英文）", "concept_zh": "概念",
    "cost_unit": "成本单位", "counterfactual": "情景下", "county_id": "县（市、区）编码",
    "direction": "预期方向", "divergences": "发散转移数", "draws": "抽样数",
    "e_value": "E 值（估计值）", "e_value_limit": "E 值（区间界限）", "effect": "效应",
    "elpd": "elpd_loo", "elpd_diff": "Δelpd", "estimate": "估计值", "factor": "先验尺度倍数",
    "family": "模型族", "given": "成立条件", "group": "分组", "group_by": "分组变量",
    "group_effects": "组效应", "kind": "证据类型", "level": "层级或项", "levels": "层级",
    "limit": "区间界限", "lower": "下限", "max": "最大值", "max_rhat": "最大 R-hat",
    "mean": "均值", "median": "中位数", "mediator_valid": "中介识别成立", "mediators": "中介变量",
    "method": "估计方法", "min": "最小值", "min_ebfmi": "最小 E-BFMI",
    "min_ess_bulk": "最小 bulk-ESS", "min_ess_tail": "最小 tail-ESS", "missing": "缺失",
    "ml_lower": "极大似然下限", "ml_ratio": "极大似然估计", "ml_se_log": "极大似然对数标准误",
    "ml_upper": "极大似然上限", "model": "模型", "n": "N", "n_candidates": "候选单位数",
    "n_rows": "项目数", "n_units": "单位数", "order": "中介顺序", "outcome": "结局",
    "p_direction": "方向概率", "p_loo": "p_loo", "panel": "板块", "parameter": "参数",
    "pareto_k": "帕累托 k",
    "positivity_share": "正值性比例", "pr_positive": "Pr(Δ > 0)", "pr_top": "进入前列的概率",
    "prior": "先验分布", "quantity": "指标", "random_orders": "随机排序次数", "rank": "排序",
    "rank_lower": "名次下限", "rank_median": "名次中位数", "rank_upper": "名次上限",
    "reason_en": "未估计原因（英文）", "reason_zh": "未估计原因", "region": "地区",
    "role": "参数角色", "rr": "风险比", "rr_lower": "风险比下限", "rr_scale": "风险比尺度",
    "rr_upper": "风险比上限", "sample_seconds": "抽样时间（秒）", "scenario": "情景",
    "sd": "标准差", "se": "标准误", "se_diff": "差异的标准误", "source": "来源",
    "spec": "模型设定", "spent": "支出", "statistic": "统计量", "status_quo": "现状",
    "table": "数据表", "table_term": "表中的项", "term": "变量", "top_k": "前列名额",
    "total_cost": "总成本", "township_id": "乡镇（街道）编码", "treatments": "措施",
    "treedepth_hits": "达到最大树深次数", "unit": "单位", "upper": "上限", "variable": "变量",
    "verdict": "判定", "via": "中介路径", "weakness": "基线弱势", "weakness_tercile": "弱势三分位",
    "weight": "模型权重",
}  # fmt: skip

# Code values of a data column -> Chinese; a value not listed is kept.
_DATA_VALUES_ZH: Mapping[str, Mapping[str, str]] = {
    "statistic": {"HR": "风险比", "OR": "比值比", "sd": "标准差", "share": "方差占比",
                  "correlation": "相关系数", "n_rows": "项目数", "n_county": "县数",
                  "n_township": "乡镇数", "n_divergent": "发散转移数", "max_rhat": "最大 R-hat",
                  "min_ess_bulk": "最小 bulk-ESS", "min_ess_tail": "最小 tail-ESS",
                  "elpd_loo": "elpd_loo"},
    "effect": {"total": "总效应", "direct": "直接效应", "indirect": "间接效应"},
    "family": {"survival": "比例风险", "ordinal": "累积 logit", "logistic": "logistic",
               "structural": "联合结构模型"},
    "verdict": {"supported": "支持", "weakly supported": "弱支持", "not supported": "不支持",
                "contradicted": "相反", "not estimated": "未估计"},
    "direction": {"increase": "上升", "decrease": "下降"},
    "kind": {"coefficient": "系数", "contrast": "干预对比", "not_estimated": "未估计"},
    "allocation": {"targeted": "定向分配", "random": "随机分配", "difference": "定向 − 随机"},
    "source": {"default": "默认设定", "spec": "模型设定文件"},
    "weakness_tercile": {"low": "低", "middle": "中", "high": "高"},
    "group_effects": {"fitted": "拟合效应", "new": "新组抽样"},
    "limit": {"lower": "下限", "upper": "上限"},
    "panel": {"correlation": "相关系数", "variance": "方差成分", "fit": "拟合与诊断"},
    "method": {"fitted": "拟合", "reweighted": "重要性重加权", "refitted": "重新拟合"},
}  # fmt: skip


def _term_or_level(value: str, lang: Lang) -> str:
    return LEVEL_NAMES[value][lang] if value in LEVEL_NAMES else term_label(value, lang)


def _panel(value: str, lang: Lang) -> str:
    key = f"panel_{value}"
    return text(key, lang) if key in TEXT else value


def _via(value: str, lang: Lang) -> str:
    return "全部策略" if value == "all" else term_label(value, lang)


def _level_of(column: str, level: str, lang: Lang) -> str:
    """A category of a codebook column, a subgroup of Tables 5 and 7, or the level as it is."""
    if level == "all" or column == "all":
        return text("all_projects", lang)
    if column == "weakness":
        return _DATA_VALUES_ZH["weakness_tercile"].get(level, level) if lang == "zh" else level
    try:
        return schema.variable(column).level_label(level, lang)
    except KeyError:
        return level


_LATE_KEY = re.compile(r"^(?P<term>.+)~(?P<kind>after|change)(?P<onset>[0-9.]+)$")
# Rows of the fit panels of Tables 2-4 -> their TEXT key.
_FIT_ROWS = {
    "n_rows": "n_rows",
    "max_rhat": "max_rhat",
    "min_ess_bulk": "min_ess_bulk",
    "min_ess_tail": "min_ess_tail",
    "n_divergent": "divergences",
    "elpd_loo": "loo",
}


def _data_term(value: str, lang: Lang) -> str:
    """A row of a model table's data: a design term, a late effect, a variance share or a fit
    statistic, labelled as the table's row is."""
    if match := _LATE_KEY.match(value):
        key = "late_effect" if match["kind"] == "after" else "late_change"
        return text(key, lang).format(label=term_label(match["term"], lang), onset=match["onset"])
    if value in _FIT_ROWS:
        return text(_FIT_ROWS[value], lang)
    if value.startswith("share_"):
        return text("variance_share", lang).format(level=level_name(value[6:], lang))
    if value.startswith("n_") and value[2:] in LEVEL_NAMES:
        level = value[2:]
        return text("n_level", lang).format(
            level=level_name(level, lang) if lang == "zh" else level_plural(level, lang)
        )
    return term_label(value, lang)


def _table_title(value: str, lang: Lang) -> str:
    key = f"level_title_{value}"
    return text(key, lang) if key in TEXT else value


_DATA_LABELLERS: Mapping[str, Callable[[str, Lang], str]] = {
    "variable": term_label,
    "table": _table_title,
    "model": model_label,
    "term": _data_term,
    "table_term": _data_term,
    "level": _term_or_level,
    "outcome": _outcome_label,
    "via": _via,
    "panel": _panel,
    # Without a group_by column (Table 0), a group is the panel of the paper's concepts.
    "group": _panel,
    "region": lambda value, lang: schema.variable("region").level_label(value, lang),
}


def localised_data(
    frame: pd.DataFrame, lang: Lang, *, scenario_labels: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A table's data in ``lang``: Chinese headers and row labels for ``"zh"``, numbers as they
    are; the frame itself for ``"en"``.

    Code values become the labels the tables print (terms and outcomes from the codebook,
    models by :func:`model_label`, scenarios by ``scenario_labels``); a value without a label is
    kept, so a user's own column still comes through.

    Examples
    --------
    >>> frame = pd.DataFrame({"model": ["survival_m1"], "term": ["region[west]"], "median": [0.8]})
    >>> localised_data(frame, "zh").to_dict("records")
    [{'模型': '项目存续 M1', '变量': '地区：西部', '中位数': 0.8}]
    """
    if lang != "zh":
        return frame
    labellers: dict[str, Callable[[str, Lang], str]] = dict(_DATA_LABELLERS)
    for column, values in _DATA_VALUES_ZH.items():
        labellers.setdefault(column, lambda value, _, values=values: values.get(value, value))
    if scenario_labels:
        labellers["scenario"] = lambda value, _: scenario_labels.get(value, value)
    result = frame.copy()
    # A category or subgroup is read with the column it belongs to.
    for kind, value in (("variable", "category"), ("group_by", "group")):
        if {kind, value} <= set(frame.columns):
            labellers.pop(value, None)
            result[value] = [
                _level_of(str(column), level, lang) if isinstance(level, str) else level
                for column, level in zip(frame[kind], frame[value], strict=True)
            ]
    for column, labeller in labellers.items():
        if column in result.columns:
            result[column] = [
                labeller(value, lang) if isinstance(value, str) and value else value
                for value in result[column]
            ]
    return result.rename(columns=lambda column: DATA_HEADERS_ZH.get(column, column))


# --- note sentences and titles of the tables ---------------------------------------------------

#: The sentences of table notes, cells and titles, as ``str.format`` templates with named fields,
#: English and Chinese side by side. The callers keep the numbers, their formatting and the
#: joins; only words live here (see :func:`note_text`).
NOTES: Mapping[str, Mapping[Lang, str]] = {
    # Separators of the pieces a caller joins: sentences of a note, items of a list, clauses.
    "sep_sentences": {"en": " ", "zh": ""},
    "sep_list": {"en": ", ", "zh": "、"},
    "sep_clauses": {"en": "; ", "zh": "；"},
    "sep_comma": {"en": ", ", "zh": "，"},
    # --- Tables 5-8b (estimand_tables) -----------------------------------------------------------
    "quantity_survival": {
        "en": "S({t}): still running at {t} months",
        "zh": "S({t})：{t} 个月时仍在运行",
    },
    "quantity_expected_rating": {"en": "Expected rating, {label_lower}", "zh": "{label}期望评分"},
    "contrast_delta": {
        "en": "Δ: posterior median of the difference between the scenario and the status quo, "
        "averaged over the observed projects for every posterior draw (g-computation), "
        "with {pct} equal-tailed credible interval; probabilities in percentage points, "
        "the expected rating in rating points; Pr(Δ > 0): posterior probability of an "
        "increase.",
        "zh": "Δ 为情景与现状之差（对所有观测项目逐后验抽样做 g 计算后取平均）的后验中位数及 {pct} "
        "等尾可信区间；概率以百分点计，期望评分以评分点计；Pr(Δ > 0) 为差值为正的后验概率。",
    },
    "group_effects": {"en": "Group effects: {items}.", "zh": "组效应：{items}。"},
    "group_effects_kind_fitted": {
        "en": "the fitted effects of the observed counties and townships",
        "zh": "样本中各县与乡镇的拟合效应",
    },
    "group_effects_kind_new": {
        "en": "drawn anew from the fitted distribution, as for new counties and townships",
        "zh": "按拟合分布重新抽取（相当于新的县与乡镇）",
    },
    "group_effects_kind_none": {
        "en": "set to zero (a typical county and township)",
        "zh": "设为零（典型县与乡镇）",
    },
    "models_used": {"en": "Models: {items}.", "zh": "模型：{items}。"},
    # The units a remedy is decided for, counted ("12 of 33 townships", "12/33 个乡镇").
    "units_county": {"en": "counties", "zh": "个县"},
    "units_township": {"en": "townships", "zh": "个乡镇"},
    "units_row": {"en": "projects", "zh": "个项目"},
    "units": {"en": "units", "zh": "个单位"},
    "tercile_low": {"en": "low", "zh": "低"},
    "tercile_middle": {"en": "middle", "zh": "中"},
    "tercile_high": {"en": "high", "zh": "高"},
    "n_of_units": {"en": "{n} of {total} {units}", "zh": "{n}/{total} {units}"},
    "n_projects": {"en": "{n} projects", "zh": "{n} 个项目"},
    "untreated_scenario": {"en": "{label} ({detail})", "zh": "{label}：{detail}"},
    "untreated": {
        "en": "Δ among the not yet treated: a 0/1 remedy's Δ averaged over the projects of the "
        "units that do not have it yet ({items}); units that have it do not change, so the "
        "overall Δ is this Δ times their share of the projects.",
        "zh": "“尚未实施的单位”一列：0/1 措施的 Δ 仅对尚未实施该措施的单位的项目取平均（{items}）；"
        "已实施的单位不受情景影响，故总体 Δ 等于该列 Δ 乘以其项目占比。",
    },
    "change_set": {
        "en": "{variable} set to {value}: {changed} of {n} {units} change (the others have it "
        "already)",
        "zh": "{variable}设为 {value}：{n}{units}中 {changed} 个改变（其余已实施）",
    },
    "change_sd_median": {"en": " = median {change} SD", "zh": " = 中位数 {change} SD"},
    "change_natural": {
        "en": ", i.e. {natural} ×{ratio} (median {change} {natural})",
        "zh": "，即按{natural}计 ×{ratio}（中位数 {change} {natural}）",
    },
    "change_capped": {
        "en": ", capped at the codebook range {bounds} in {capped} of {n} {units}",
        "zh": "，{n}{units}中 {capped} 个被截断于编码手册取值范围 {bounds}",
    },
    "changes": {"en": "Scenarios in natural units: {items}.", "zh": "情景的自然单位：{items}。"},
    "status_quo_columns": {
        "en": "Status quo and scenario columns: the quantity's posterior median (probabilities "
        "in %).",
        "zh": "现状与情景下两列为该指标的后验中位数（概率以 % 计）。",
    },
    "mediators_respond": {
        "en": "Mediators that respond to the scenario: {items}.",
        "zh": "随情景一同变化的中介变量：{items}。",
    },
    "table5_title": {
        "en": "Table 5. Effects of the remedies against the status quo",
        "zh": "表5 干预情景的效应（相对现状）",
    },
    "mediation": {
        "en": "Total = direct + indirect. Direct: the scenario's effect with the strategies (and "
        "short-sightedness) kept at their status-quo distribution; indirect: what the "
        "strategies add when they respond too. Indirect effects via each strategy switch the "
        "mediators' models to the scenario one at a time in causal order (path-specific); "
        "they add up to the indirect effect, and the split depends on the order{order}. —: the "
        "outcome has no such mediator.",
        "zh": "总效应 = 直接效应 + 间接效应。直接效应：策略（及创新短视化）保持现状分布时情景的"
        "效应；间接效应：策略也随情景变化时多出的部分。分策略的间接效应按因果顺序依次切换各中介"
        "模型（路径特定效应），各部分之和等于间接效应，但其划分依赖顺序{order}。“—”表示该结果"
        "没有此中介。",
    },
    "mediation_order": {"en": " ({order})", "zh": "（顺序：{order}）"},
    "table6_title": {
        "en": "Table 6. Mediation: effects through the strategies",
        "zh": "表6 中介分析：经由策略选择的间接效应",
    },
    "heterogeneity": {
        "en": "A subgroup's contrast averages its projects; weighted by their numbers of "
        "projects, the subgroups add up to the overall contrast. Baseline weakness: minus the "
        "mean of the township's standardised authority, resources and technical capacity, "
        "split into terciles of townships.",
        "zh": "子组内的效应为该子组项目的平均；按项目数加权后各子组效应之和等于总体效应。"
        "基线弱势为乡镇权力、资源与技术能力标准化得分均值的相反数，按乡镇三等分。",
    },
    "table7_title": {
        "en": "Table 7. Heterogeneity of the effects by region and baseline weakness",
        "zh": "表7 效应的异质性（按地区与基线弱势）",
    },
    "targeting_ranked": {
        "en": "Ranked by the posterior mean of Δ ({quantity}) averaged over each unit's "
        "projects, which is the Δ shown, with its {pct} CrI; the first {top} per scenario are "
        "shown, the CSV file of the same name holds the whole ranked list.",
        "zh": "按各单位项目平均的 Δ（{quantity}）的后验均值排序，表中即为该后验均值及其 {pct} "
        "可信区间；每个情景列出前 {top} 个单位，完整排序见同名 CSV 文件。",
    },
    "targeting_rank_uncertainty": {
        "en": "Rank uncertainty: every unit ranked anew in every posterior draw; the {pct} "
        "interval of its rank and the posterior probability that it is among the top {top}.",
        "zh": "排序的不确定性：每次抽样对全部单位重新排序，给出名次的 {pct} 可信区间及位列前 "
        "{top} 名的后验概率。",
    },
    "targeting_decided_units": {
        "en": "{label}: {n} of {total} {units}",
        "zh": "{label}：{n}/{total}{units}",
    },
    "targeting_levels": {
        "en": "Each remedy is ranked at the level where it is decided (counties for a county "
        "column such as collaboration, townships otherwise); units the remedy would not "
        "change, because they have it already, are not ranked: {items}.",
        "zh": "各措施在其决策层级上排序（县级变量如跨部门协作机制按县，其余按乡镇）；已实施该措施、"
        "情景不会改变的单位不参与排序：{items}。",
    },
    "table8_title_levels": {
        "en": "Table 8. Townships and counties that would gain most from each remedy, where it "
        "is decided",
        "zh": "表8 各项措施收益最大的乡镇与县（按决策层级）",
    },
    "table8_title": {
        "en": "Table 8. Townships that would gain most from each remedy",
        "zh": "表8 干预收益最大的乡镇",
    },
    "gain_survival": {
        "en": "the expected number of additional projects still running at {t} months",
        "zh": "预期在 {t} 个月时仍在运行的项目增加数",
    },
    "gain_probability": {
        "en": "the expected change in the number of projects ({label})",
        "zh": "预期项目数的变化（{label}）",
    },
    "gain_rating": {
        "en": "the change in {label_lower} summed over projects",
        "zh": "各项目{label}变化之和",
    },
    "allocation_budget": {
        "en": "Budget: {budget} {unit}, {share}% of the {total} {unit} the remedy would cost in "
        "all {n} {units}.",
        "zh": "预算 {budget} {unit}，为对全部 {n}{units}实施该措施所需 {total} {unit} 的 "
        "{share}%。",
    },
    "allocation_rules": {
        "en": "Targeted: {units} taken in decreasing order of posterior expected gain per unit of "
        "cost, skipping any that no longer fits the budget or has no positive expected "
        "gain (a greedy rule, not guaranteed optimal). Random: the same budget spent on "
        "{units} taken in a random order, averaged over {orders} orders.",
        "zh": "定向分配：按后验期望收益与成本之比从高到低依次选择，跳过预算已不足或期望收益不为正的"
        "单位（贪心算法，不保证最优）。随机分配：以同等预算按随机顺序选择，对 {orders} 个随机顺序"
        "取平均。",
    },
    "allocation_gain": {
        "en": "Gain: the sum of Δ over the projects of the funded {units}, i.e. {gain}; "
        "posterior median with {pct} CrI; Pr(Δ > 0): posterior probability that the gain (or "
        "the difference) is positive.",
        "zh": "收益：所资助单位全部项目的 Δ 之和，即{gain}；后验中位数及 {pct} 可信区间，"
        "Pr(Δ > 0) 为收益（或差值）为正的后验概率。",
    },
    "table8b_title": {
        "en": "Table 8b. Targeting a remedy under a budget, against a random allocation",
        "zh": "表8b 预算约束下的定向分配与随机分配",
    },
    # --- convergence and prior-dominance flags (convergence) ---------------------------------
    "not_converged": {
        "en": "⚠ Not converged (required: R-hat ≤ {rhat}, bulk and tail ESS ≥ {ess}, no "
        "divergent transitions): {details}. Read these estimates with caution.",
        "zh": "⚠ 未收敛（要求 R-hat ≤ {rhat}、bulk 与 tail ESS ≥ {ess}、无发散转移）：{details}。"
        "相关估计须谨慎解读。",
    },
    "approximate": {"en": "⚠ {model}: {note}.", "zh": "⚠ {model}：{note}。"},
    "prior_dominates": {
        "en": "⚠ Prior dominates (posterior SD > {threshold} × prior SD; these estimates mostly "
        "restate the prior): {details}.",
        "zh": "⚠ 先验主导（后验标准差 > {threshold} × 先验标准差，估计主要反映先验）：{details}。",
    },
    # One model's failed checks: "M2 max R-hat 1.04, 3 divergent transition(s)".
    "diagnostic_model": {"en": "{model} ", "zh": "{model} "},
    "diagnostic_max_rhat": {"en": "max R-hat {value}", "zh": "最大 R-hat {value}"},
    "diagnostic_min_ess_bulk": {"en": "min bulk ESS {value}", "zh": "最小 bulk ESS {value}"},
    "diagnostic_min_ess_tail": {"en": "min tail ESS {value}", "zh": "最小 tail ESS {value}"},
    "diagnostic_divergences": {
        "en": "{value} divergent transition(s)",
        "zh": "发散转移 {value} 次",
    },
    "diagnostic_one_chain": {
        "en": "R-hat cannot be computed from one chain; run ≥ 2 chains",
        "zh": "单链无法计算 R-hat，须运行至少 2 条链",
    },
    "diagnostic_not_assessed": {
        "en": "R-hat or ESS is NaN for {value} element(s)",
        "zh": "{value} 个参数元素的 R-hat 或 ESS 无法计算",
    },
    # --- priors in a model table's note (model_priors), in the order the note lists them --------
    "prior_role_beta": {
        "en": "coefficients per SD of their term (per unit of a 0/1 or dummy term x: "
        "scale ÷ sd(x))",
        "zh": "回归系数（按项的标准差；0/1 或虚拟变量 x 每单位：尺度 ÷ sd(x)）",
    },
    "prior_role_intercept": {"en": "intercept", "zh": "截距"},
    "prior_role_cutpoints": {
        "en": "cut points (Dirichlet on the category probabilities at the average profile)",
        "zh": "切点（平均协变量处各等级概率的 Dirichlet 分布）",
    },
    "prior_role_log_hazard": {
        "en": "baseline log hazard, first interval",
        "zh": "首区间基线对数风险",
    },
    "prior_role_log_hazard_step": {
        "en": "change of the baseline log hazard between intervals",
        "zh": "相邻区间基线对数风险之差",
    },
    "prior_role_weibull_shape": {"en": "Weibull shape", "zh": "Weibull 形状参数"},
    "prior_role_weibull_scale": {"en": "Weibull scale (months)", "zh": "Weibull 尺度参数（月）"},
    "prior_role_sd": {"en": "SD of {level} effects", "zh": "{level}层效应标准差"},
    "prior_role_lkj_eta": {
        "en": "LKJ η of correlated {level} effects",
        "zh": "{level}层相关效应的 LKJ η",
    },
    # --- the condition a main effect holds at, in an interaction model (model_terms) -----------
    "condition_mean": {"en": "at the mean of {label}", "zh": "{label}取均值时"},
    "condition_value": {"en": "at {label} = {value}", "zh": "{label} = {value} 时"},
    "condition_model": {"en": "{model}: {words}", "zh": "{model}：{words}"},
    "sep_conditions": {"en": " and ", "zh": "，"},
    # --- figures (predictive_figures) -------------------------------------------------------
    "rating_axis": {"en": "{label} {rating_lower}", "zh": "{label}{rating}"},
    # --- Table 1 (descriptives) -------------------------------------------------------------
    "parenthesised": {"en": "{label} ({inner})", "zh": "{label}（{inner}）"},
    "table1_title": {
        "en": "Table 1. Descriptive statistics by level",
        "zh": "表1 描述性统计（按层级）",
    },
    "table1": {
        "en": "{counts}. Binary and categorical variables: percentage; continuous: mean and SD. "
        "Missing demand-fit ratings are projects whose residents were not surveyed. {source}",
        "zh": "{counts}。二分变量与类别变量报告百分比；连续变量报告均值与标准差。"
        "需求匹配度的缺失为未收集评分的项目。{source}",
    },
    # --- Tables 2-4 (model_tables) ------------------------------------------------------------
    "table2_title": {
        "en": "Table 2. Project survival: proportional-hazards models {span} (hazard ratios per "
        "SD)",
        "zh": "表2 项目存续：比例风险模型 {span}（每标准差风险比）",
    },
    "table3_title": {
        "en": "Table 3. Demand fit: cumulative-logit models {span} (odds ratios per SD)",
        "zh": "表3 技术与需求匹配：累积 logit 模型 {span}（每标准差比值比）",
    },
    "table4_title": {
        "en": "Table 4. Strategies and short-sighted innovation: hierarchical logistic models "
        "(odds ratios per SD)",
        "zh": "表4 策略选择与创新短视化：多层 logistic 模型（每标准差比值比）",
    },
    # --- Appendix C (frequentist) -------------------------------------------------------------
    "appendix_c_title": {
        "en": "Appendix Table C. Bayesian and maximum-likelihood estimates",
        "zh": "附表C 贝叶斯估计与极大似然估计的比较",
    },
    "appendix_c": {
        "en": "Bayesian: posterior median HR (survival) or OR with {pct} CrI from the multilevel "
        "models (county and township effects). ML: the same model without group effects, "
        "on the same standardised predictors and reference levels as the Bayesian fit, with "
        "Wald {pct} confidence intervals ({methods}). Last column: Bayesian median / ML "
        "estimate. Hazard and odds ratios are non-collapsible, so estimates without group "
        "effects tend to lie closer to 1.",
        "zh": "贝叶斯：多层模型（县与乡镇效应）的风险比（存续）或比值比的后验中位数"
        "及 {pct} 可信区间。极大似然：不含组效应的同一模型，"
        "使用与贝叶斯拟合相同的标准化预测变量与参照组，"
        "给出 Wald {pct} 置信区间（{methods}）。最后一列为两者之比。"
        "风险比与比值比不具可合并性，故不含组效应的估计通常更接近 1。",
    },
    "appendix_c_late": {
        "en": "HR after a month: Bayesian exp(β + β_late) per draw; ML exp(β̂ + β̂_late) "
        "with its SE from the fitted covariance (delta method).",
        "zh": "某月之后的风险比：贝叶斯为逐抽样计算的 exp(β + β_late)，极大似然为 "
        "exp(β̂ + β̂_late)，其标准误由拟合的协方差矩阵（Delta 方法）求得。",
    },
    "appendix_c_unconverged": {
        "en": "ML optimiser did not converge: {models}.",
        "zh": "极大似然优化未收敛：{models}。",
    },
    # --- Table 0 (crosswalk) ----------------------------------------------------------------
    "not_estimated": {"en": "not estimated: {reason}", "zh": "未估计：{reason}"},
    "contrast_estimate": {"en": "Δ{quantity}: {scenario}", "zh": "Δ{quantity}：{scenario}"},
    # The English reader also gets the author's Chinese term; the Chinese reader needs no
    # English gloss (a Chinese journal's table carries no English).
    "concept": {"en": "{concept_en} ({concept_zh})", "zh": "{concept_zh}"},
    "theory_group_strengths": {"en": "Strengths", "zh": "优位"},
    "theory_group_weaknesses": {"en": "Weaknesses", "zh": "弱势"},
    "theory_group_strategies": {"en": "Strategies", "zh": "行为策略"},
    "theory_group_dilemmas": {"en": "Dilemmas", "zh": "困境"},
    "theory_group_remedies": {"en": "Remedies", "zh": "调适路径"},
    "verdict_supported": {"en": "supported", "zh": "支持"},
    "verdict_weakly_supported": {"en": "weakly supported", "zh": "弱支持"},
    "verdict_not_supported": {"en": "not supported", "zh": "不支持"},
    "verdict_contradicted": {"en": "contradicted", "zh": "相反"},
    "verdict_not_estimated": {"en": "not estimated", "zh": "未估计"},
    "theory_outcome_survival": {"en": "survival (HR)", "zh": "项目存续（风险比）"},
    "theory_outcome_demand_fit": {"en": "demand fit (OR)", "zh": "需求匹配（比值比）"},
    "theory_outcome_extensive": {"en": "extensive innovation (OR)", "zh": "粗放式创新（比值比）"},
    "theory_outcome_expedient": {"en": "expedient governance (OR)", "zh": "权宜式治理（比值比）"},
    "theory_outcome_short_sighted": {"en": "short-sighted (OR)", "zh": "创新短视化（比值比）"},
    "theory_header_concept": {"en": "Concept", "zh": "概念"},
    "theory_header_claim": {"en": "Claim", "zh": "论断"},
    "theory_header_estimate": {"en": "Estimate", "zh": "对应估计量"},
    "theory_header_direction": {"en": "Claimed", "zh": "预期方向"},
    "theory_header_value": {"en": "Median [{pct} CrI]", "zh": "中位数 [{pct} 可信区间]"},
    "theory_header_p_direction": {"en": "P(claimed direction)", "zh": "P(预期方向)"},
    "theory_header_verdict": {"en": "Verdict", "zh": "判定"},
    "table0_title": {
        "en": "Table 0. Theory crosswalk: the paper's concepts, its claims and the estimates "
        "that test them",
        "zh": "表0 理论对照：论文的概念、论断与对应的后验估计",
    },
    "table0": {
        "en": "{n_concepts} concepts and {n_claims} claims, in the author's terms (Li Yang 2025, "
        "abstract). Coefficients: hazard or odds ratios per SD of the joint structural model "
        '(posterior median, {pct} equal-tailed CrI); a claimed "> 1" means the claim implies a '
        "higher hazard or odds. Remedies map to the intervention contrasts (g-computation, "
        "difference from the status quo). P(claimed direction): share of posterior draws with "
        "the claimed sign (probability of direction, Makowski et al. 2019). Verdict: supported "
        "if P ≥ {supported}, weakly supported if P ≥ {weakly}, "
        "contradicted if P(opposite) ≥ {contradicted}, not supported otherwise; claims "
        "without an estimate in the models say so and why. "
        "Tally: {tally}.",
        "zh": "{n_concepts} 个概念、{n_claims} 条论断，概念用语取自论文摘要（李阳 2025）。"
        "系数为联合结构模型的每标准差风险比或比值比（中位数与 {pct} 等尾可信区间），"
        "预期方向“> 1”表示论断意味着风险或优势上升；"
        "调适路径对应干预对比（g 计算，相对现状之差）。"
        "P(预期方向)为后验抽样中符号与论断一致的比例（方向概率，Makowski 等 2019）。"
        "判定：≥ {supported} 为支持，≥ {weakly} 为弱支持，"
        "相反方向概率 ≥ {contradicted} 为相反，其余为不支持；"
        "数据中无对应估计量的论断标为未估计并说明原因。"
        "合计：{tally}。",
    },
    # --- the note under a model table (model_notes) --------------------------------------------
    "sep_colon": {"en": ": ", "zh": "："},
    "sep_references": {"en": "; ", "zh": "，"},
    "only_group_effects": {"en": "group effects only", "zh": "仅含组效应"},
    "every_model": {"en": "every model", "zh": "各模型"},
    "family_survival": {
        "en": "Proportional-hazards models of the months a project runs before it is "
        "discontinued, right-censored at the survey date; {baseline}; log-normal frailties "
        "for {levels}.",
        "zh": "比例风险模型，因变量为项目自上线至停运的月数，在调查日右删失；{baseline}；"
        "{levels}对数正态脆弱项。",
    },
    "family_ordinal": {
        "en": "Cumulative-logit (proportional-odds) models of residents' 1–5 rating; projects "
        "without a rating are left out; random intercepts for {levels}.",
        "zh": "累积 logit（比例优势）模型，因变量为居民 1–5 分评分，未评分项目不纳入；"
        "{levels}随机截距。",
    },
    "family_logistic": {
        "en": "Hierarchical logistic models; random intercepts for {levels}.",
        "zh": "多层 logistic 模型；{levels}随机截距。",
    },
    "cells_hr": {
        "en": "Cells: posterior median hazard ratio (HR > 1: earlier discontinuation)",
        "zh": "单元格为风险比的后验中位数（风险比 > 1 表示更早停运）",
    },
    "cells_or": {"en": "Cells: posterior median odds ratio", "zh": "单元格为比值比的后验中位数"},
    "cells": {
        "en": "{cells} with {pct} equal-tailed credible interval (CrI), per SD of continuous "
        "predictors (standardised), 1 vs 0 for binary ones and vs the reference level for "
        "categorical ones.",
        "zh": "{cells}及 {pct} 等尾可信区间；连续变量已标准化（每标准差），二分变量为 1 相对 0，"
        "类别变量相对参照组。",
    },
    "baseline_weibull": {"en": "Weibull baseline hazard", "zh": "Weibull 基线风险"},
    "baseline_piecewise": {
        "en": "piecewise-constant baseline hazard (cuts at {cuts} months)",
        "zh": "分段常数基线风险（切点：{cuts} 个月）",
    },
    "no_group_effects": {"en": "no group effects", "zh": "无组效应"},
    "sep_and": {"en": " and ", "zh": "与"},
    "group_levels": {"en": "{levels}", "zh": "{levels}层"},
    "sampler": {
        "en": "NUTS, chains × retained draws: {shown}; convergence requires R-hat ≤ {rhat}, "
        "bulk and tail ESS ≥ {ess} and no divergent transitions.",
        "zh": "NUTS 抽样，链数 × 保留抽样数：{shown}；收敛标准：R-hat ≤ {rhat}、"
        "bulk 与 tail ESS ≥ {ess}、无发散转移。",
    },
    "reference_levels": {"en": "Reference levels: {items}.", "zh": "类别变量的参照组：{items}。"},
    "late_effects": {
        "en": "“After month {onset}”: the HR from month {onset} on, exp(β + β_late) computed "
        "per draw; “change after month {onset}”: exp(β_late), the ratio of the HRs after and "
        "before.",
        "zh": "“第 {onset} 个月后”：第 {onset} 个月起的风险比，逐抽样计算 exp(β + β_late)；"
        "“第 {onset} 个月后的变化”：exp(β_late)，即其后与其前风险比之比。",
    },
    "priors_used": {"en": "Priors: {items}.", "zh": "先验：{items}。"},
    "variance_components": {
        "en": "Variance components: posterior median SD of the group effects ({scale} scale); "
        "share of level l = σ²_l / (Σσ² + {residual}), {residual} being the residual variance "
        "of the latent scale{error}, computed per draw (median and interval).",
        "zh": "方差成分：组效应标准差（{scale}尺度）的后验中位数；第 l 层方差占比 = σ²_l /（Σσ² + "
        "{residual}），{residual} 为潜变量尺度上的残差方差{error}，逐抽样计算后取中位数与区间。",
    },
    "error_survival": {
        "en": " (the extreme-value error of the proportional-hazards model)",
        "zh": "（比例风险模型的极值分布误差）",
    },
    "error_logistic": {"en": " (the logistic error)", "zh": "（logistic 分布误差）"},
    "loo_note": {
        "en": "LOO: PSIS-LOO expected log pointwise predictive density ± SE{missing}{high_k}.",
        "zh": "LOO：PSIS-LOO 期望对数逐点预测密度 ± 标准误{missing}{high_k}。",
    },
    "loo_missing": {
        "en": "; — where the pointwise log-likelihood was not stored ({models})",
        "zh": "；“—”表示未存储逐点对数似然（{models}）",
    },
    "loo_high_k": {
        "en": "; observations with high Pareto k: {items}",
        "zh": "；Pareto k 偏高的观测数：{items}",
    },
    "n_projects_likelihood": {
        "en": "N projects: rows in the outcome's likelihood.",
        "zh": "项目数为纳入该结果似然的项目。",
    },
    # --- Tables 5a-5b (identification_tables) ------------------------------------------------
    "consistency_county": {
        "en": "Set for a whole county, shared by all its townships; no spill-over between "
        "counties assumed.",
        "zh": "按县设置，县内各乡镇共享；假定县与县之间无溢出。",
    },
    "consistency_township": {
        "en": "The same +1 SD however it is brought about; no spill-over between townships "
        "(e.g. competing for one county budget) assumed.",
        "zh": "无论以何种方式实现均视为同一措施；假定乡镇之间无溢出（如争夺同一县级预算）。",
    },
    "consistency_row": {
        "en": "Set per project; no spill-over between projects assumed.",
        "zh": "按项目设置；假定项目之间无溢出。",
    },
    "projects": {"en": "projects", "zh": "项目"},
    "remedy_given": {"en": "{n} measured covariates", "zh": " {n} 个观测协变量"},
    "remedy_given_latent": {"en": " and the fitted {words}", "zh": "及拟合的{words}"},
    "remedy_blocked": {
        "en": "Yes: {given} block every back-door path (Figure 9); unmeasured causes: Table 5b.",
        "zh": "是：控制{given}后后门路径均被阻断（图9）；未观测混杂见表5b。",
    },
    "remedy_open": {
        "en": "No: a back-door path stays open given {given} (Figure 9).",
        "zh": "否：控制{given}后仍有未阻断的后门路径（图9）。",
    },
    "mediator_not_needed": {
        "en": "Not needed (no strategy upstream).",
        "zh": "不适用（上游无策略变量）",
    },
    "mediator_blocked": {
        "en": "Yes, given the remedy, the covariates and the fitted group effects.",
        "zh": "是：给定措施、协变量与拟合的组效应后阻断。",
    },
    "mediator_open": {
        "en": "No: the group effects are not conditioned on, so a path stays open.",
        "zh": "否：组效应未被条件化，策略与结局间路径未阻断。",
    },
    "positivity_set": {
        "en": "{share} of {n} {units} already have {label_lower}",
        "zh": "{n} 个{units}中 {share} 已具备{label}",
    },
    "positivity_shift": {
        "en": "{share} of {n} {units} stay within the observed range of {label_lower}",
        "zh": "{n} 个{units}中 {share} 调整后{label}仍在观测范围内",
    },
    "positivity_cell": {"en": "{items}.", "zh": "{items}。"},
    "table5a_title": {
        "en": "Table 5a. Assumptions behind each contrast of Table 5",
        "zh": "表5a 各干预效应的识别假设",
    },
    "table5a": {
        "en": "The back-door criterion is checked by d-separation in the causal graph read off "
        "the model spec (Figure 9), completed with one latent common cause of every "
        "exogenous covariate: the covariates may share any unmeasured cause, but nothing "
        "unmeasured may cause both a remedy and an outcome. The g-computation conditions "
        "on every observed variable of the outcome's and its mediators' equations other "
        "than the remedy and what responds to it, and on the fitted group effects. "
        "Unmeasured confounding cannot be checked from the data: Table 5b gives how "
        "strong it would have to be (E-values). The strategy-outcome assumption is needed "
        "for the split of Table 6 only, not for the total effects. Positivity: for a set "
        "value, the share of units that already have it; for a shift, the share of units "
        "whose new value stays within the observed range (the rest is extrapolation by "
        "the model). Consistency and no interference cannot be tested; stated for the "
        "level at which the remedy is set.",
        "zh": "后门准则以 d 分离在模型设定导出的因果图（图9）中检验；该图另设一个潜在共同原因指向"
        "全部外生协变量，即允许协变量之间存在任意未观测的共同原因，但不允许其同时影响措施与"
        "结局。g 计算所控制的集合：结局及其中介方程中除措施及其下游变量以外的全部观测变量，"
        "以及拟合的组效应。未观测混杂无法由数据检验，其所需强度见表5b（E 值）。策略—结局"
        "假设仅为表6的效应分解所需，总效应不依赖该假设。正值性：设定值情景为已具备该值的"
        "单位比例，平移情景为调整后仍在观测范围内的单位比例（其余为模型外推）。"
        "一致性与无干扰无法检验，按措施所在层级说明。",
    },
    "reading_head": {
        "en": "Explained away only by a confounder with risk ratios ≥ {point} with both the "
        "remedy and the outcome",
        "zh": "未观测混杂须与措施及结局的风险比均 ≥ {point} 才能完全解释该估计",
    },
    "reading_includes_zero": {
        "en": "{head}; the {pct} interval already includes no change.",
        "zh": "{head}；{pct} 区间已包含零效应。",
    },
    "reading_limit": {
        "en": "{head}; ≥ {limit} would make the {pct} interval include no change.",
        "zh": "{head}；≥ {limit} 即可使 {pct} 区间包含零效应。",
    },
    "table5b_title": {
        "en": "Table 5b. Sensitivity of each contrast to unmeasured confounding (E-values)",
        "zh": "表5b 对未观测混杂的敏感性（E 值）",
    },
    "table5b": {
        "en": "E-value (VanderWeele & Ding 2017, Annals of Internal Medicine 167: 268–274): the "
        "smallest risk ratio that an unmeasured confounder would need with both the remedy "
        "and the outcome, beyond the measured covariates, to move the contrast to no "
        "effect; the larger, the more robust. Risk ratios are computed per posterior draw "
        "from the g-computed averages under the scenario and the status quo: the ratio of "
        "the probability as tabulated (S(t): still running at t months); for the expected "
        "rating from the standardised difference, RR ≈ exp(0.91 Δ/SD), with the SD of the "
        "observed ratings (marked ≈). CrI limit: the E-value of the {pct} interval limit "
        "closer to 1 (1: the interval already includes no change). The remedies are +1 SD "
        "shifts or a county-wide switch; the confounder's association with the remedy is "
        "a risk ratio between those two levels.",
        "zh": "E 值（VanderWeele 与 Ding，2017）：在已观测"
        "协变量之外，一个未观测混杂因素须同时与措施和结局达到的最小风险比，方能使该效应"
        "归零；越大越稳健。逐后验抽样由情景与现状下 g 计算的平均值得到风险比：概率按表中"
        "所列计算比值（S(t) 为第 t 个月仍在运行的概率）；期望评分由标准化差值换算，"
        "RR ≈ exp(0.91 Δ/SD)，SD 为观测评分的标准差（以 ≈ 标示）。区间界限：较接近 1 的"
        "{pct} 区间界限的 E 值（为 1 表示区间已包含零效应）。措施为 +1 SD 平移或县级设定，"
        "混杂因素与措施的关联指这两种水平之间的风险比。",
    },
    # --- Appendix B2/B3: how each prior-scaled posterior was obtained (appendix) -------------
    "prior_sensitivity_method": {
        "en": " Estimates under scaled priors: {methods}.",
        "zh": "缩放先验下的估计：{methods}。",
    },
    "prior_reweighted": {
        "en": "importance-reweighted from the ×1 fit (Pareto k = {k})",
        "zh": "由 ×1 拟合经重要性重加权得到（帕累托 k = {k}）",
    },
    "prior_refitted": {"en": "refitted", "zh": "重新拟合"},
    "prior_refitted_high_k": {
        "en": "refitted (importance reweighting unreliable, Pareto k = {k})",
        "zh": "重新拟合（重要性重加权不可靠，帕累托 k = {k}）",
    },
}


def note_text(key: str, lang: Lang = "en", **fields: object) -> str:
    """A sentence of a table's note, cell or title (:data:`NOTES`) in ``lang``, its named fields
    filled in with ``fields`` (already formatted: numbers are the caller's).

    Fields a template does not use are ignored, so that one call serves both languages (the
    English may want ``label_lower`` where the Chinese wants ``label``).

    Raises
    ------
    KeyError
        ``key`` is not in :data:`NOTES`, or the template needs a field that was not given.

    Examples
    --------
    >>> note_text("quantity_survival", "zh", t=24)
    'S(24)：24 个月时仍在运行'
    >>> note_text("quantity_survival", "en")
    Traceback (most recent call last):
    ...
    KeyError: "note 'quantity_survival' (en) needs the field(s) ['t']; given: []"
    """
    try:
        template = NOTES[key][lang]
    except KeyError:
        raise KeyError(
            f"no note {key!r} in {lang!r} in grassroots.reporting.labels.NOTES; add it there "
            "in both languages"
        ) from None
    needed = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if missing := sorted(needed - fields.keys()):
        raise KeyError(
            f"note {key!r} ({lang}) needs the field(s) {missing}; given: {sorted(fields)}"
        )
    return template.format(**fields)
