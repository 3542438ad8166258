"""Tables 5a and 5b: what each contrast of Table 5 assumes, and how robust it is.

* :func:`table5a_assumptions` reads :func:`grassroots.estimands.identification.assumptions`
  (one row per scenario and outcome) and its :func:`~grassroots.estimands.identification.
  positivity` evidence (one row per scenario and changed column);
* :func:`table5b_sensitivity` reads :func:`grassroots.estimands.sensitivity.sensitivity`'s
  table (one row per scenario and outcome quantity: the contrast, its risk ratio and E-values).

Both have one panel per scenario, as Table 5, in English or Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.scenarios import ROW_LEVEL
from grassroots.reporting.estimand_tables import quantity_label
from grassroots.reporting.labels import level_name, level_plural, term_label, text
from grassroots.reporting.tables import PANEL, Table, format_estimate

__all__ = ["table5a_assumptions", "table5b_sensitivity"]

_ASSUMPTION_COLUMNS = (
    "scenario", "outcome", "levels", "adjustment", "backdoor_valid", "mediator_valid",
)  # fmt: skip
_POSITIVITY_COLUMNS = ("scenario", "variable", "level", "units", "kind", "share")
_SENSITIVITY_COLUMNS = (
    "scenario", "outcome", "quantity", "median", "lower", "upper", "rr_scale", "rr",
    "rr_lower", "rr_upper", "e_value", "e_value_limit",
)  # fmt: skip
_CONSISTENCY: Mapping[str, Mapping[Lang, str]] = {
    "county": {
        "en": "Set for a whole county, shared by all its townships; no spill-over between "
        "counties assumed.",
        "zh": "按县设置，县内各乡镇共享；假定县与县之间无溢出。",
    },
    "township": {
        "en": "The same +1 SD however it is brought about; no spill-over between townships "
        "(e.g. competing for one county budget) assumed.",
        "zh": "无论以何种方式实现均视为同一措施；假定乡镇之间无溢出（如争夺同一县级预算）。",
    },
    ROW_LEVEL: {
        "en": "Set per project; no spill-over between projects assumed.",
        "zh": "按项目设置；假定项目之间无溢出。",
    },
}


def _check(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    if missing := [c for c in required if c not in frame.columns]:
        raise ValueError(
            f"{what} needs columns {list(required)}; missing {missing} (has {list(frame.columns)})"
        )


def _panel(scenario: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(scenario, scenario)


def _units(level: str, lang: Lang) -> str:
    if level == ROW_LEVEL:
        return "项目" if lang == "zh" else "projects"
    return level_plural(level, lang)


def _group_effect_words(node: str, lang: Lang) -> str:
    level = node.removesuffix("_effect")
    words = text("group_effect_node", lang).format(level=level_name(level, lang))
    return words if lang == "zh" else words.lower()


def _remedy_cell(row: pd.Series, lang: Lang) -> str:
    adjustment = [a.strip() for a in str(row["adjustment"]).split(",") if a.strip()]
    latent = [a for a in adjustment if a.endswith("_effect")]
    covariates = len(adjustment) - len(latent)
    if lang == "zh":
        given = f" {covariates} 个观测协变量" + "".join(
            f"及拟合的{_group_effect_words(a, lang)}" for a in latent
        )
        if row["backdoor_valid"]:
            return f"是：控制{given}后后门路径均被阻断（图9）；未观测混杂见表5b。"
        return f"否：控制{given}后仍有未阻断的后门路径（图9）。"
    given = f"{covariates} measured covariates" + "".join(
        f" and the fitted {_group_effect_words(a, lang)}" for a in latent
    )
    if row["backdoor_valid"]:
        return f"Yes: {given} block every back-door path (Figure 9); unmeasured causes: Table 5b."
    return f"No: a back-door path stays open given {given} (Figure 9)."


def _mediator_cell(value: object, lang: Lang) -> str:
    if value is None or pd.isna(value):
        return "不适用（上游无策略变量）" if lang == "zh" else "Not needed (no strategy upstream)."
    if bool(value):
        return (
            "是：给定措施、协变量与拟合的组效应后阻断。" if lang == "zh"
            else "Yes, given the remedy, the covariates and the fitted group effects."
        )  # fmt: skip
    return (
        "否：组效应未被条件化，策略与结局间路径未阻断。" if lang == "zh"
        else "No: the group effects are not conditioned on, so a path stays open."
    )  # fmt: skip


def _positivity_cell(evidence: pd.DataFrame, lang: Lang) -> str:
    parts = []
    for row in evidence.itertuples(index=False):
        label = term_label(str(row.variable), lang)
        units = _units(str(row.level), lang)
        share = f"{100 * row.share:.0f}%"
        if lang == "zh":
            parts.append(
                f"{row.units} 个{units}中 {share} 已具备{label}" if row.kind == "set"
                else f"{row.units} 个{units}中 {share} 调整后{label}仍在观测范围内"
            )  # fmt: skip
        else:
            parts.append(
                f"{share} of {row.units} {units} already have {label.lower()}"
                if row.kind == "set"
                else f"{share} of {row.units} {units} stay within the observed range of "
                f"{label.lower()}"
            )
    return ("；" if lang == "zh" else "; ").join(parts) + ("。" if lang == "zh" else ".")


def _consistency_cell(levels: str, lang: Lang) -> str:
    distinct = dict.fromkeys(level.strip() for level in str(levels).split(",") if level.strip())
    fallback = _CONSISTENCY[ROW_LEVEL]
    return ("" if lang == "zh" else " ").join(
        _CONSISTENCY.get(level, fallback)[lang] for level in distinct
    )


def table5a_assumptions(
    assumptions: pd.DataFrame,
    positivity: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table5a_assumptions",
) -> Table:
    """Table 5a: the assumptions each contrast of Table 5 needs, and what supports them.

    Parameters
    ----------
    assumptions
        :func:`grassroots.estimands.identification.assumptions`.
    positivity
        :func:`grassroots.estimands.identification.positivity` of each scenario, concatenated.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    name
        File stem.
    """
    _check(assumptions, _ASSUMPTION_COLUMNS, "table5a_assumptions")
    _check(positivity, _POSITIVITY_COLUMNS, "table5a_assumptions (positivity)")
    if assumptions.empty:
        raise ValueError("table5a_assumptions: no contrast to describe")
    headers = [
        text("outcome", lang), text("no_remedy_confounding", lang),
        text("no_mediator_confounding", lang), text("positivity", lang),
        text("consistency", lang),
    ]  # fmt: skip
    rows, panels = [], []
    for scenario in dict.fromkeys(assumptions["scenario"]):
        evidence = positivity[positivity["scenario"] == scenario]
        if evidence.empty:
            raise ValueError(f"table5a_assumptions: no positivity evidence for {scenario!r}")
        part = assumptions[assumptions["scenario"] == scenario]
        for _, row in part.iterrows():
            rows.append([
                quantity_label(str(row["outcome"]), None, lang),
                _remedy_cell(row, lang),
                _mediator_cell(row["mediator_valid"], lang),
                _positivity_cell(evidence, lang),
                _consistency_cell(row["levels"], lang),
            ])  # fmt: skip
            panels.append(_panel(str(scenario), scenario_labels))
    frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    if lang == "zh":
        title = "表5a 各干预效应的识别假设"
        note = (
            "后门准则以 d 分离在模型设定导出的因果图（图9）中检验；该图另设一个潜在共同原因指向"
            "全部外生协变量，即允许协变量之间存在任意未观测的共同原因，但不允许其同时影响措施与"
            "结局。g 计算所控制的集合：结局及其中介方程中除措施及其下游变量以外的全部观测变量，"
            "以及拟合的组效应。未观测混杂无法由数据检验，其所需强度见表5b（E 值）。策略—结局"
            "假设仅为表6的效应分解所需，总效应不依赖该假设。正值性：设定值情景为已具备该值的"
            "单位比例，平移情景为调整后仍在观测范围内的单位比例（其余为模型外推）。"
            "一致性与无干扰无法检验，按措施所在层级说明。"
        )
    else:
        title = "Table 5a. Assumptions behind each contrast of Table 5"
        note = (
            "The back-door criterion is checked by d-separation in the causal graph read off "
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
            "level at which the remedy is set."
        )
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=note,
        data=assumptions.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" * len(headers),
    )


def _scale(quantity: str) -> tuple[float, int]:
    # As Table 5: probabilities in percentage points, the expected rating in rating points.
    return (100.0, 1) if quantity.startswith(("S(", "P")) else (1.0, 2)


def _reading(row: pd.Series, prob: float, lang: Lang) -> str:
    pct = f"{100 * prob:g}%"
    point, limit = row["e_value"], row["e_value_limit"]
    if lang == "zh":
        head = f"未观测混杂须与措施及结局的风险比均 ≥ {point:.2f} 才能完全解释该估计"
        if limit <= 1:
            return f"{head}；{pct} 区间已包含零效应。"
        return f"{head}；≥ {limit:.2f} 即可使 {pct} 区间包含零效应。"
    head = (
        f"Explained away only by a confounder with risk ratios ≥ {point:.2f} with both the "
        "remedy and the outcome"
    )
    if limit <= 1:
        return f"{head}; the {pct} interval already includes no change."
    return f"{head}; ≥ {limit:.2f} would make the {pct} interval include no change."


def table5b_sensitivity(
    sensitivity: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table5b_sensitivity",
    prob: float = 0.95,
) -> Table:
    """Table 5b: how strong an unmeasured confounder would have to be to remove each contrast.

    Parameters
    ----------
    sensitivity
        :func:`grassroots.estimands.sensitivity.sensitivity`'s ``table``.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    name
        File stem.
    prob
        Mass of the intervals.
    """
    _check(sensitivity, _SENSITIVITY_COLUMNS, "table5b_sensitivity")
    if sensitivity.empty:
        raise ValueError("table5b_sensitivity: no contrast to describe")
    headers = [
        text("quantity", lang), text("delta_cri", lang), text("rr_cri", lang),
        text("e_value_estimate", lang), text("e_value_limit", lang), text("reading", lang),
    ]  # fmt: skip
    rows, panels = [], []
    for _, row in sensitivity.iterrows():
        factor, digits = _scale(str(row["quantity"]))
        ratio = format_estimate(row["rr"], row["rr_lower"], row["rr_upper"], 2)
        rows.append([
            quantity_label(str(row["outcome"]), row["quantity"], lang),
            format_estimate(factor * row["median"], factor * row["lower"],
                            factor * row["upper"], digits),
            f"≈ {ratio}" if row["rr_scale"] == "smd" else ratio,
            f"{row['e_value']:.2f}", f"{row['e_value_limit']:.2f}",
            _reading(row, prob, lang),
        ])  # fmt: skip
        panels.append(_panel(str(row["scenario"]), scenario_labels))
    frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    pct = f"{100 * prob:g}%"
    if lang == "zh":
        title = "表5b 对未观测混杂的敏感性（E 值）"
        note = (
            "E 值（VanderWeele 与 Ding，2017）：在已观测"
            "协变量之外，一个未观测混杂因素须同时与措施和结局达到的最小风险比，方能使该效应"
            "归零；越大越稳健。逐后验抽样由情景与现状下 g 计算的平均值得到风险比：概率按表中"
            "所列计算比值（S(t) 为第 t 个月仍在运行的概率）；期望评分由标准化差值换算，"
            "RR ≈ exp(0.91 Δ/SD)，SD 为观测评分的标准差（以 ≈ 标示）。区间界限：较接近 1 的"
            f"{pct} 区间界限的 E 值（为 1 表示区间已包含零效应）。措施为 +1 SD 平移或县级设定，"
            "混杂因素与措施的关联指这两种水平之间的风险比。"
        )
    else:
        title = "Table 5b. Sensitivity of each contrast to unmeasured confounding (E-values)"
        note = (
            "E-value (VanderWeele & Ding 2017, Annals of Internal Medicine 167: 268–274): the "
            "smallest risk ratio that an unmeasured confounder would need with both the remedy "
            "and the outcome, beyond the measured covariates, to move the contrast to no "
            "effect; the larger, the more robust. Risk ratios are computed per posterior draw "
            "from the g-computed averages under the scenario and the status quo: the ratio of "
            "the probability as tabulated (S(t): still running at t months); for the expected "
            "rating from the standardised difference, RR ≈ exp(0.91 Δ/SD), with the SD of the "
            f"observed ratings (marked ≈). CrI limit: the E-value of the {pct} interval limit "
            "closer to 1 (1: the interval already includes no change). The remedies are +1 SD "
            "shifts or a county-wide switch; the confounder's association with the remedy is "
            "a risk ratio between those two levels."
        )
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=note,
        data=sensitivity.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="lrrrrl",
    )
