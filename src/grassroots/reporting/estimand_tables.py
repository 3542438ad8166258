"""Tables 5-7: intervention contrasts, mediation and heterogeneity, from plain DataFrames.

The builders read summaries of posterior contrasts, one row per scenario, outcome quantity and
(for Table 6) effect or (for Table 7) subgroup. Columns they read:

====================  ============================================================================
column                meaning
====================  ============================================================================
``scenario``          scenario name (labels via ``scenario_labels``, e.g. "Resources +1 SD")
``outcome``           outcome name: ``survival``, ``demand_fit``, ``extensive``, ``expedient``,
                      ``short_sighted`` (any codebook column or outcome name)
``quantity``          optional: ``S(12)``, ``S(24)``, ``S(36)``, ``P(>=4)``, ``E`` (expected rating)
                      or ``P`` (probability of a binary outcome); the row label
``median``, ``lower``, posterior median and equal-tailed interval of the difference scenario -
``upper``             status quo, as fractions for probabilities (printed in percentage points)
``pr_positive``       Pr(difference > 0)
``group_effects``     optional: ``fitted``, ``new`` or ``none`` (said in the note)
``model``             optional: the model the contrast comes from (said in the note)
``status_quo``,       optional (Table 5): the quantity's posterior median under the status quo and
``counterfactual``    under the scenario
``mediators``         optional (Table 5): mediators simulated under the scenario
``effect``, ``via``   Table 6: ``total``, ``direct`` or ``indirect``; ``via`` = ``all`` (or empty)
                      for the whole indirect effect, else the mediator it runs through
``order``             optional (Table 6): the mediators' order of the sequential split
``group_by``,         Tables 5 and 7: the grouping (``all``, ``region``, ``weakness`` ...) and the
``group``             group (``east``, ``low`` ...); or one column ``subgroup`` holding
                      ``"region=east"`` (or a label printed as is); Table 5 keeps ``all``
``n_rows``            optional (Table 7): projects in the subgroup
====================  ============================================================================

These are the columns of :mod:`grassroots.estimands`' result tables, so their ``.table`` can be
passed as is; nothing else is assumed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Lang
from grassroots.reporting.labels import term_label, text
from grassroots.reporting.tables import PANEL, Table, format_estimate

__all__ = [
    "contrast_scale",
    "quantity_label",
    "subgroup_label",
    "table5_contrasts",
    "table6_mediation",
    "table7_heterogeneity",
    "table8_targeting",
]

_REQUIRED = ("scenario", "outcome", "median", "lower", "upper", "pr_positive")
_SURVIVAL = re.compile(r"^S\((?P<t>[^)]+)\)$")
_AT_LEAST = re.compile(r"^P\(\s*>=?\s*(?P<k>[^)]+)\)$")
_GROUP_EFFECTS: Mapping[str, Mapping[Lang, str]] = {
    "fitted": {
        "en": "the fitted effects of the observed counties and townships",
        "zh": "样本中各县与乡镇的拟合效应",
    },
    "new": {
        "en": "drawn anew from the fitted distribution, as for new counties and townships",
        "zh": "按拟合分布重新抽取（相当于新的县与乡镇）",
    },
    "none": {"en": "set to zero (a typical county and township)", "zh": "设为零（典型县与乡镇）"},
}
_TERCILES: Mapping[str, Mapping[Lang, str]] = {
    "low": {"en": "low", "zh": "低"},
    "middle": {"en": "middle", "zh": "中"},
    "high": {"en": "high", "zh": "高"},
}


def _check(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    if missing := [c for c in required if c not in frame.columns]:
        raise ValueError(
            f"{what} needs columns {list(required)}; missing {missing} (has {list(frame.columns)})"
        )


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and str(
        value
    ) != ""


def _outcome_label(outcome: str, lang: Lang) -> str:
    if outcome == "survival":
        return text("survival_outcome", lang)
    return term_label(outcome, lang)


def quantity_label(outcome: str, quantity: object = None, lang: Lang = "en") -> str:
    """The row label of an outcome quantity.

    Examples
    --------
    >>> quantity_label("survival", "S(24)")
    'S(24): still running at 24 months'
    >>> quantity_label("demand_fit", "P(>=4)", "zh")
    'P(需求匹配度 ≥ 4)'
    >>> quantity_label("extensive", "P")
    'P(Extensive innovation)'
    """
    label = _outcome_label(str(outcome), lang)
    if not _present(quantity):
        return label
    q = str(quantity)
    if match := _SURVIVAL.match(q):
        t = match["t"]
        if lang == "zh":
            return f"S({t})：{t} 个月时仍在运行"
        return f"S({t}): still running at {t} months"
    if match := _AT_LEAST.match(q):
        return f"P({label} ≥ {match['k']})"
    if q == "E":
        return f"{label}期望评分" if lang == "zh" else f"Expected rating, {label.lower()}"
    if q == "P":
        return f"P({label})"
    return f"{label} {q}"


def _is_probability(quantity: object) -> bool:
    """S(t) and P(...) are probabilities (printed in percentage points); E is a rating."""
    return _present(quantity) and str(quantity).startswith(("S(", "P"))


def _scale(quantity: object) -> tuple[float, int]:
    """Multiplier and decimals of a quantity's cells: percentage points or rating points."""
    return (100.0, 1) if _is_probability(quantity) else (1.0, 2)


def contrast_scale(quantity: object) -> tuple[float, str]:
    """Multiplier and unit (a ``labels.TEXT`` key, "" for none) of a contrast of ``quantity``
    as Tables 5-7 print it: probabilities in percentage points, ratings in rating points.

    Examples
    --------
    >>> contrast_scale("S(12)"), contrast_scale("E"), contrast_scale(None)
    ((100.0, 'delta_pp'), (1.0, 'delta_rating'), (1.0, ''))
    """
    if not _present(quantity):
        return 1.0, ""
    return (100.0, "delta_pp") if _is_probability(quantity) else (1.0, "delta_rating")


def _delta(row: pd.Series) -> str:
    factor, digits = _scale(row.get("quantity"))
    return format_estimate(
        factor * row["median"], factor * row["lower"], factor * row["upper"], digits
    )


def _level(value: float, quantity: object) -> str:
    factor, digits = _scale(quantity)
    return "" if pd.isna(value) else f"{factor * value:.{digits}f}"


def _scenario_label(scenario: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(scenario, scenario)


def subgroup_label(group_by: str, group: object, lang: Lang = "en") -> str:
    """The label of a subgroup: ``("region", "east")`` -> ``"Region: East"``,
    ``("weakness", "low")`` -> ``"Baseline weakness: low tercile"``; ``"all"`` -> all projects.

    Examples
    --------
    >>> subgroup_label("weakness", "high", "zh")
    '基线弱势：高三分位'
    """
    if group_by == "all" or str(group) == "all":
        return text("all_projects", lang)
    if group_by == "weakness":
        words = _TERCILES.get(str(group), {"en": str(group), "zh": str(group)})[lang]
        return text("weakness_tercile", lang).format(level=words)
    return term_label(f"{group_by}[{group}]", lang)


def _split_subgroups(frame: pd.DataFrame) -> pd.DataFrame:
    """``group_by``/``group`` columns from either spelling of the subgroup."""
    if "group_by" in frame.columns and "group" in frame.columns:
        return frame
    if "subgroup" not in frame.columns:
        return frame.assign(group_by="all", group="all")
    parts = frame["subgroup"].astype(str).str.split("=", n=1, expand=True)
    if parts.shape[1] == 1:
        # Labels printed as they are, under one pseudo-grouping.
        labelled = frame["subgroup"].astype(str)
        return frame.assign(group_by=labelled.where(labelled == "all", "label"), group=labelled)
    group_by = parts[0].where(parts[1].notna(), "label")
    group = parts[1].where(parts[1].notna(), parts[0])
    return frame.assign(group_by=group_by.where(frame["subgroup"] != "all", "all"), group=group)


def _row_keys(part: pd.DataFrame) -> list[tuple[str, object, str]]:
    """(outcome, quantity, model) of each row, in order of first appearance."""
    quantity = part["quantity"] if "quantity" in part.columns else pd.Series(None, part.index)
    model = part["model"] if "model" in part.columns else pd.Series("", part.index)
    return list(dict.fromkeys(zip(part["outcome"], quantity, model, strict=True)))


def _row_label(key: tuple[str, object, str], keys: Sequence[tuple], lang: Lang) -> str:
    outcome, quantity, model = key
    label = quantity_label(outcome, quantity, lang)
    # Name the model only when two models report the same quantity.
    twins = [k for k in keys if k[0] == outcome and str(k[1]) == str(quantity)]
    return f"{label} ({model})" if len(twins) > 1 and _present(model) else label


def _select(part: pd.DataFrame, key: tuple[str, object, str]) -> pd.DataFrame:
    outcome, quantity, model = key
    mask = part["outcome"] == outcome
    if "quantity" in part.columns:
        mask &= part["quantity"].astype(str) == str(quantity)
    if "model" in part.columns:
        mask &= part["model"].astype(str) == str(model)
    return part[mask]


def _common_note(frame: pd.DataFrame, lang: Lang, prob: float) -> list[str]:
    pieces = []
    pct = f"{100 * prob:g}%"
    if lang == "zh":
        pieces.append(
            f"Δ 为情景与现状之差（对所有观测项目逐后验抽样做 g 计算后取平均）的后验中位数及 {pct} "
            "等尾可信区间；概率以百分点计，期望评分以评分点计；Pr(Δ > 0) 为差值为正的后验概率。"
        )
    else:
        pieces.append(
            "Δ: posterior median of the difference between the scenario and the status quo, "
            "averaged over the observed projects for every posterior draw (g-computation), "
            f"with {pct} equal-tailed credible interval; probabilities in percentage points, "
            "the expected rating in rating points; Pr(Δ > 0): posterior probability of an "
            "increase."
        )
    if "group_effects" in frame.columns:
        kinds = [k for k in dict.fromkeys(frame["group_effects"].astype(str)) if k]
        words = [_GROUP_EFFECTS.get(k, {"en": k, "zh": k})[lang] for k in kinds]
        if words:
            pieces.append(
                "组效应：" + "；".join(words) + "。" if lang == "zh"
                else "Group effects: " + "; ".join(words) + "."
            )  # fmt: skip
    if "model" in frame.columns:
        models = [m for m in dict.fromkeys(frame["model"].astype(str)) if m]
        if models:
            pieces.append(
                "模型：" + "、".join(models) + "。" if lang == "zh"
                else "Models: " + ", ".join(models) + "."
            )  # fmt: skip
    return pieces


def _join(pieces: Sequence[str], lang: Lang) -> str:
    return ("" if lang == "zh" else " ").join(piece for piece in pieces if piece)


def table5_contrasts(
    contrasts: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table5_contrasts",
    prob: float = 0.95,
) -> Table:
    """Table 5: the remedies' contrasts against the status quo, one panel per scenario.

    Parameters
    ----------
    contrasts
        See the module docstring; rows of subgroups other than ``all`` are left to Table 7.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading (default: the name).
    name
        File stem.
    prob
        Mass of the intervals (for the note).

    Returns
    -------
    Table
        Rows: outcome quantities; columns: status quo and scenario levels (when given),
        Δ [95% CrI], Pr(Δ > 0).
    """
    _check(contrasts, _REQUIRED, "table5_contrasts")
    frame = _split_subgroups(contrasts)
    frame = frame[(frame["group_by"].astype(str) == "all")]
    if frame.empty:
        raise ValueError("table5_contrasts: no overall rows (group_by == 'all')")
    levels = "status_quo" in frame.columns and "counterfactual" in frame.columns
    headers = [text("quantity", lang)]
    if levels:
        headers += [text("status_quo", lang), text("under_scenario", lang)]
    headers += [text("delta_cri", lang), text("pr_positive", lang)]
    rows, panels = [], []
    for scenario in dict.fromkeys(frame["scenario"]):
        part = frame[frame["scenario"] == scenario]
        keys = _row_keys(part)
        for key in keys:
            row = _select(part, key).iloc[0]
            cells = [_row_label(key, keys, lang)]
            if levels:
                cells += [_level(row["status_quo"], key[1]), _level(row["counterfactual"], key[1])]
            cells += [_delta(row), f"{row['pr_positive']:.2f}"]
            rows.append(cells)
            panels.append(_scenario_label(str(scenario), scenario_labels))
    table_frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    pieces = _common_note(frame, lang, prob)
    if levels:
        pieces.append(
            "现状与情景下两列为该指标的后验中位数（概率以 % 计）。" if lang == "zh"
            else "Status quo and scenario columns: the quantity's posterior median (probabilities "
            "in %)."
        )  # fmt: skip
    if "mediators" in frame.columns:
        mediators = list(dict.fromkeys(m.strip() for v in frame["mediators"].dropna().astype(str)
                                       for m in v.split(",") if m.strip()))  # fmt: skip
        if mediators:
            shown = ("、" if lang == "zh" else ", ").join(term_label(m, lang) for m in mediators)
            pieces.append(
                f"随情景一同变化的中介变量：{shown}。" if lang == "zh"
                else f"Mediators that respond to the scenario: {shown}."
            )  # fmt: skip
    title = (
        "表5 干预情景的效应（相对现状）" if lang == "zh"
        else "Table 5. Effects of the remedies against the status quo"
    )  # fmt: skip
    return Table(
        name=name,
        title=title,
        frame=table_frame,
        note=_join(pieces, lang),
        data=frame.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" + "r" * (len(headers) - 1),
    )


def _effect_key(effect: str, via: object) -> str:
    if effect == "indirect" and _present(via) and str(via) != "all":
        return f"via:{via}"
    return str(effect)


def _effect_header(key: str, lang: Lang) -> str:
    if key.startswith("via:"):
        return text("effect_via", lang).format(label=term_label(key[4:], lang))
    return text(f"effect_{key}", lang)


def table6_mediation(
    mediation: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table6_mediation",
    prob: float = 0.95,
) -> Table:
    """Table 6: total, direct and indirect effects of each scenario, one panel per scenario.

    Parameters
    ----------
    mediation
        See the module docstring (``effect`` and, optionally, ``via`` and ``order``).
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    name
        File stem.
    prob
        Mass of the intervals (for the note).

    Returns
    -------
    Table
        Rows: outcome quantities; columns: total, direct, indirect (all strategies) and the
        indirect effect via each strategy, each "Δ [95% CrI]"; ``data`` keeps Pr(Δ > 0).
    """
    _check(mediation, (*_REQUIRED, "effect"), "table6_mediation")
    frame = mediation.copy()
    via = frame["via"] if "via" in frame.columns else pd.Series("", frame.index)
    frame["_effect"] = [_effect_key(str(e), v) for e, v in zip(frame["effect"], via, strict=True)]
    fixed = [k for k in ("total", "direct", "indirect") if k in set(frame["_effect"])]
    mediators = [k for k in dict.fromkeys(frame["_effect"]) if k.startswith("via:")]
    effects = fixed + mediators
    headers = [text("quantity", lang), *(_effect_header(k, lang) for k in effects)]
    rows, panels = [], []
    for scenario in dict.fromkeys(frame["scenario"]):
        part = frame[frame["scenario"] == scenario]
        keys = _row_keys(part)
        for key in keys:
            selected = _select(part, key).set_index("_effect")
            cells = [_row_label(key, keys, lang)]
            for effect in effects:
                cells.append(_delta(selected.loc[effect]) if effect in selected.index else "—")
            rows.append(cells)
            panels.append(_scenario_label(str(scenario), scenario_labels))
    table_frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    pieces = _common_note(frame, lang, prob)
    order = ""
    if "order" in frame.columns:
        orders = [o for o in dict.fromkeys(frame["order"].dropna().astype(str)) if o]
        order = "; ".join(
            " > ".join(term_label(m.strip(), lang) for m in o.split(">")) for o in orders
        )
    if lang == "zh":
        pieces.append(
            "总效应 = 直接效应 + 间接效应。直接效应：策略（及创新短视化）保持现状分布时情景的效应；"
            "间接效应：策略也随情景变化时多出的部分。分策略的间接效应按因果顺序依次切换各中介模型"
            "（路径特定效应），各部分之和等于间接效应，但其划分依赖顺序"
            + (f"（顺序：{order}）" if order else "") + "。“—”表示该结果没有此中介。"
        )  # fmt: skip
    else:
        pieces.append(
            "Total = direct + indirect. Direct: the scenario's effect with the strategies (and "
            "short-sightedness) kept at their status-quo distribution; indirect: what the "
            "strategies add when they respond too. Indirect effects via each strategy switch the "
            "mediators' models to the scenario one at a time in causal order (path-specific); "
            "they add up to the indirect effect, and the split depends on the order"
            + (f" ({order})" if order else "") + ". —: the outcome has no such mediator."
        )  # fmt: skip
    title = (
        "表6 中介分析：经由策略选择的间接效应" if lang == "zh"
        else "Table 6. Mediation: effects through the strategies"
    )  # fmt: skip
    return Table(
        name=name,
        title=title,
        frame=table_frame,
        note=_join(pieces, lang),
        data=mediation.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" + "r" * len(effects),
    )


def table7_heterogeneity(
    heterogeneity: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    quantities: Sequence[tuple[str, str]] | None = None,
    include_overall: bool = True,
    name: str = "table7_heterogeneity",
    prob: float = 0.95,
) -> Table:
    """Table 7: contrasts by subgroup (region, tercile of baseline weakness ...).

    Parameters
    ----------
    heterogeneity
        See the module docstring (``group_by`` and ``group``, or ``subgroup``).
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    quantities
        ``(outcome, quantity)`` pairs to show as columns, in order (default: every pair, in
        order of first appearance); e.g. ``[("survival", "S(24)"), ("demand_fit", "P(>=4)")]``.
    include_overall
        Start each panel with the all-projects row, when the frame has it.
    name
        File stem.
    prob
        Mass of the intervals (for the note).

    Returns
    -------
    Table
        One panel per scenario, one row per subgroup (with N projects when ``n_rows`` is
        given), one "Δ [95% CrI]" column per quantity; ``data`` keeps Pr(Δ > 0).
    """
    _check(heterogeneity, _REQUIRED, "table7_heterogeneity")
    frame = _split_subgroups(heterogeneity)
    if "quantity" not in frame.columns:
        frame = frame.assign(quantity="")
    if not include_overall:
        frame = frame[frame["group_by"].astype(str) != "all"]
    pairs = (
        list(dict.fromkeys(zip(frame["outcome"], frame["quantity"].astype(str), strict=True)))
        if quantities is None
        else [(o, str(q)) for o, q in quantities]
    )
    frame = frame[
        [(o, str(q)) in set(pairs) for o, q in zip(frame["outcome"], frame["quantity"],
                                                    strict=True)]
    ]  # fmt: skip
    with_n = "n_rows" in frame.columns
    headers = [text("subgroup", lang)] + ([text("n_rows", lang)] if with_n else [])
    headers += [quantity_label(o, q, lang) for o, q in pairs]
    rows, panels = [], []
    for scenario in dict.fromkeys(frame["scenario"]):
        part = frame[frame["scenario"] == scenario]
        groups = list(dict.fromkeys(zip(part["group_by"].astype(str), part["group"].astype(str),
                                        strict=True)))  # fmt: skip
        for group_by, group in groups:
            rows_of = part[(part["group_by"].astype(str) == group_by)
                           & (part["group"].astype(str) == group)]  # fmt: skip
            label = group if group_by == "label" else subgroup_label(group_by, group, lang)
            cells = [label]
            if with_n:
                n = rows_of["n_rows"].iloc[0]
                cells.append("" if pd.isna(n) else f"{int(n):,d}")
            for outcome, quantity in pairs:
                match = rows_of[(rows_of["outcome"] == outcome)
                                & (rows_of["quantity"].astype(str) == quantity)]  # fmt: skip
                cells.append(_delta(match.iloc[0]) if len(match) else "—")
            rows.append(cells)
            panels.append(_scenario_label(str(scenario), scenario_labels))
    table_frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    pieces = _common_note(frame, lang, prob)
    if lang == "zh":
        pieces.append(
            "子组内的效应为该子组项目的平均；按项目数加权后各子组效应之和等于总体效应。"
            "基线弱势为乡镇权力、资源与技术能力标准化得分均值的相反数，按乡镇三等分。"
        )
    else:
        pieces.append(
            "A subgroup's contrast averages its projects; weighted by their numbers of projects, "
            "the subgroups add up to the overall contrast. Baseline weakness: minus the mean of "
            "the township's standardised authority, resources and technical capacity, split "
            "into terciles of townships."
        )
    title = (
        "表7 效应的异质性（按地区与基线弱势）" if lang == "zh"
        else "Table 7. Heterogeneity of the effects by region and baseline weakness"
    )  # fmt: skip
    return Table(
        name=name,
        title=title,
        frame=table_frame,
        note=_join(pieces, lang),
        data=heterogeneity.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" + "r" * (len(headers) - 1),
    )


def table8_targeting(
    ranked: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    top: int = 15,
    name: str = "table8_targeting",
    prob: float = 0.95,
) -> Table:
    """Table 8: the townships that would gain most from each remedy, ranked.

    Parameters
    ----------
    ranked
        :attr:`grassroots.estimands.TargetingResult.table`: per scenario, one row per unit in
        rank order with ``rank``, the unit's id columns, ``n_rows``, optionally ``region`` and
        ``weakness_tercile``, ``outcome``, ``quantity`` and the contrast's ``median``,
        ``lower``, ``upper``, ``pr_positive``.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    top
        Units shown per scenario; the CSV keeps the whole ranked list.
    name
        File stem.
    prob
        Mass of the intervals (for the note).
    """
    _check(ranked, (*_REQUIRED, "rank", "n_rows", "quantity", "mean"), "table8_targeting")
    ids = [c for c in ("county_id", "township_id") if c in ranked.columns]
    headers = [text("rank", lang), *(term_label(c, lang) for c in ids)]
    extra = [c for c in ("region", "weakness_tercile") if c in ranked.columns]
    headers += [text("weakness_tercile_short", lang) if c == "weakness_tercile"
                else term_label(c, lang) for c in extra]  # fmt: skip
    # Ranked by the posterior mean, so the mean is what the table shows.
    headers += [text("n_rows", lang), text("mean_delta_cri", lang), text("pr_positive", lang)]
    ranks_known = {"rank_lower", "rank_upper", "pr_top", "top_k"} <= set(ranked.columns)
    if ranks_known:
        top_k = int(ranked["top_k"].iloc[0])
        headers += [text("rank_cri", lang), text("pr_top", lang).format(k=top_k)]
    rows, panels = [], []
    for scenario in dict.fromkeys(ranked["scenario"]):
        part = ranked[ranked["scenario"] == scenario].sort_values("rank").head(top)
        for _, row in part.iterrows():
            cells = [str(int(row["rank"])), *(str(row[c]) for c in ids)]
            for column in extra:
                value = row[column]
                cells.append(
                    _TERCILES.get(str(value), {"en": str(value), "zh": str(value)})[lang]
                    if column == "weakness_tercile"
                    else schema.variable(column).level_label(str(value), lang)
                )
            factor, digits = _scale(row.get("quantity"))
            mean = format_estimate(factor * row["mean"], factor * row["lower"],
                                   factor * row["upper"], digits)  # fmt: skip
            cells += [f"{int(row['n_rows']):,d}", mean, f"{row['pr_positive']:.2f}"]
            if ranks_known:
                cells += [f"[{int(row['rank_lower'])}, {int(row['rank_upper'])}]",
                          f"{row['pr_top']:.2f}"]  # fmt: skip
            rows.append(cells)
            panels.append(_scenario_label(str(scenario), scenario_labels))
    table_frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    first = ranked.iloc[0]
    quantity = quantity_label(str(first["outcome"]), first["quantity"], lang)
    pieces = _common_note(ranked, lang, prob)
    if lang == "zh":
        pieces.append(
            f"按各乡镇项目平均的 Δ（{quantity}）的后验均值排序，表中即为该后验均值及其 "
            f"{100 * prob:g}% 可信区间；每个情景列出前 {top} 个乡镇，完整排序见同名 CSV 文件。"
        )
        if ranks_known:
            pieces.append(
                f"排序的不确定性：每次抽样对全部乡镇重新排序，给出名次的 {100 * prob:g}% "
                f"可信区间及位列前 {top_k} 名的后验概率。"
            )
    else:
        pieces.append(
            f"Townships ranked by the posterior mean of Δ ({quantity}) averaged over their "
            f"projects, which is the Δ shown, with its {100 * prob:g}% CrI; the first {top} per "
            "scenario are shown, the CSV file of the same name holds the whole ranked list."
        )
        if ranks_known:
            pieces.append(
                "Rank uncertainty: every township ranked anew in every posterior draw; the "
                f"{100 * prob:g}% interval of its rank and the posterior probability that it is "
                f"among the top {top_k}."
            )
    title = ("表8 干预收益最大的乡镇" if lang == "zh"
             else "Table 8. Townships that would gain most from each remedy")  # fmt: skip
    return Table(
        name=name,
        title=title,
        frame=table_frame,
        note=_join(pieces, lang),
        data=ranked.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="r" + "l" * (len(headers) - 4 - 2 * ranks_known) + "rrr" + "rr" * ranks_known,
    )
