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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Lang

__all__ = [
    "DATA_HEADERS_ZH",
    "LEVEL_NAMES",
    "LEVEL_PLURALS",
    "TEXT",
    "level_name",
    "level_plural",
    "localised_data",
    "model_label",
    "term_label",
    "text",
]

# Words the renderers and table builders print around the data. One dictionary, so that a
# translation is fixed in one place and a missing key fails loudly in ``text``.
TEXT: Mapping[str, Mapping[Lang, str]] = {
    "note": {"en": "Note.", "zh": "注："},
    "intercept": {"en": "Intercept", "zh": "截距"},
    "cut_point": {"en": "Cut point", "zh": "切点"},
    "term": {"en": "Term", "zh": "变量"},
    "hr_cri": {"en": "HR [95% CrI]", "zh": "风险比 [95% 可信区间]"},
    "or_cri": {"en": "OR [95% CrI]", "zh": "比值比 [95% 可信区间]"},
    "estimate_cri": {"en": "Estimate [95% CrI]", "zh": "估计值 [95% 可信区间]"},
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
    "bayes_cri": {"en": "Bayesian [95% CrI]", "zh": "贝叶斯 [95% 可信区间]"},
    "ml_ci": {"en": "ML [95% CI]", "zh": "极大似然 [95% 置信区间]"},
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
    "delta_cri": {"en": "Δ [95% CrI]", "zh": "Δ [95% 可信区间]"},
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
    "mean_delta_cri": {"en": "Mean Δ [95% CrI]", "zh": "Δ 均值 [95% 可信区间]"},
    "rank_cri": {"en": "Rank [95% CrI]", "zh": "名次 [95% 可信区间]"},
    "pr_top": {"en": "P(top {k})", "zh": "P(前 {k} 名)"},
    "weakness_tercile_short": {"en": "Weakness tercile", "zh": "弱势三分位"},
    "delta_untreated": {
        "en": "Δ among the not yet treated [95% CrI]",
        "zh": "Δ（尚未实施的单位）[95% 可信区间]",
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
    "total_gain_cri": {"en": "Total gain [95% CrI]", "zh": "总收益 [95% 可信区间]"},
    # --- figures ------------------------------------------------------------------------------
    "months_since_launch": {"en": "Months since launch", "zh": "上线后月数"},
    "survival_probability": {"en": "Share still running, S(t)", "zh": "仍在运行的比例 S(t)"},
    "kaplan_meier": {"en": "Kaplan–Meier (95% CI)", "zh": "Kaplan–Meier 估计（95% 置信区间）"},
    "posterior_predictive": {
        "en": "Posterior predictive (95% CrI)",
        "zh": "后验预测（95% 可信区间）",
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
    "rr_cri": {"en": "Risk ratio [95% CrI]", "zh": "风险比 [95% 可信区间]"},
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

    Examples
    --------
    >>> text("note", "zh")
    '注：'
    """
    return TEXT[key][lang]


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
