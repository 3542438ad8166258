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

Table 5 also reads the rows of ``group_by = "untreated:<column>"``, ``group = "untreated"``: a
binary remedy's contrast among the units that do not have it yet, and optionally the scenarios'
steps in natural units (``Scenario.changes``). Table 8 reads the targeting list and Table 8b a
budget-constrained allocation (``grassroots.estimands.heterogeneity.allocate``).

These are the columns of :mod:`grassroots.estimands`' result tables, so their ``.table`` can be
passed as is; nothing else is assumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.estimand_labels import (
    _REQUIRED,
    _SURVIVAL,
    _UNTREATED,
    _changes_note,
    _check,
    _common_note,
    _delta,
    _group_effects_note,
    _is_probability,
    _join,
    _level,
    _number,
    _present,
    _row_keys,
    _row_label,
    _scale,
    _scenario_label,
    _select,
    _split_subgroups,
    _units,
    _untreated_note,
    _untreated_rows,
    _words_or_value,
    quantity_label,
    subgroup_label,
)
from grassroots.reporting.labels import note_text, percent, term_label, text
from grassroots.reporting.tables import PANEL, Table, format_estimate

__all__ = [
    "table5_contrasts",
    "table6_mediation",
    "table7_heterogeneity",
    "table8_targeting",
    "table8b_allocation",
]


def table5_contrasts(
    contrasts: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    changes: pd.DataFrame | None = None,
    name: str = "table5_contrasts",
    prob: float = DEFAULT_PROB,
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
    changes
        Optional: ``Scenario.changes`` of the scenarios, one row per step; the note then states
        every shift in SDs and natural units and how many units its caps held back.
    name
        File stem.
    prob
        Mass of the intervals (for the headers and the note).

    Returns
    -------
    Table
        Rows: outcome quantities; columns: status quo and scenario levels (when given),
        Δ [95% CrI], Pr(Δ > 0), and Δ among the not yet treated (when a binary remedy's rows
        are given; "—" for the other scenarios).
    """
    _check(contrasts, _REQUIRED, "table5_contrasts")
    full = _split_subgroups(contrasts)
    frame = full[(full["group_by"].astype(str) == "all")]
    if frame.empty:
        raise ValueError("table5_contrasts: no overall rows (group_by == 'all')")
    untreated = _untreated_rows(full)
    levels = "status_quo" in frame.columns and "counterfactual" in frame.columns
    headers = [text("quantity", lang)]
    if levels:
        headers += [text("status_quo", lang), text("under_scenario", lang)]
    headers += [text("delta_cri", lang).format(pct=percent(prob)), text("pr_positive", lang)]
    if not untreated.empty:
        headers.append(text("delta_untreated", lang).format(pct=percent(prob)))
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
            if not untreated.empty:
                among = _select(untreated[untreated["scenario"] == scenario], key)
                cells.append(_delta(among.iloc[0]) if len(among) else "—")
            rows.append(cells)
            panels.append(_scenario_label(str(scenario), scenario_labels))
    table_frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    pieces = _common_note(frame, lang, prob)
    if not untreated.empty:
        pieces.append(_untreated_note(untreated, changes, scenario_labels, lang))
    if changes is not None and not changes.empty:
        pieces.append(_changes_note(changes, lang))
    if levels:
        pieces.append(note_text("status_quo_columns", lang))
    if "mediators" in frame.columns:
        mediators = list(dict.fromkeys(m.strip() for v in frame["mediators"].dropna().astype(str)
                                       for m in v.split(",") if m.strip()))  # fmt: skip
        if mediators:
            shown = note_text("sep_list", lang).join(term_label(m, lang) for m in mediators)
            pieces.append(note_text("mediators_respond", lang, items=shown))
    return Table(
        name=name,
        title=note_text("table5_title", lang),
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
    prob: float = DEFAULT_PROB,
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
    order_words = note_text("mediation_order", lang, order=order) if order else ""
    pieces.append(note_text("mediation", lang, order=order_words))
    return Table(
        name=name,
        title=note_text("table6_title", lang),
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
    prob: float = DEFAULT_PROB,
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
    # A binary remedy's effect among the not yet treated is Table 5's.
    frame = frame[~frame["group_by"].astype(str).str.startswith(f"{_UNTREATED}:")]
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
    pieces = [*_common_note(frame, lang, prob), note_text("heterogeneity", lang)]
    return Table(
        name=name,
        title=note_text("table7_title", lang),
        frame=table_frame,
        note=_join(pieces, lang),
        data=heterogeneity.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" + "r" * (len(headers) - 1),
    )


def _cell(value: object) -> str:
    return str(value) if _present(value) else "—"


def table8_targeting(
    ranked: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    top: int = 15,
    name: str = "table8_targeting",
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 8: the units that would gain most from each remedy, ranked where it is decided.

    Parameters
    ----------
    ranked
        :attr:`grassroots.estimands.TargetingResult.table`: per scenario, one row per unit in
        rank order with ``rank``, the unit's id columns (a county has no ``township_id``),
        ``n_rows``, optionally ``region`` and ``weakness_tercile``, ``outcome``, ``quantity``
        and the contrast's ``median``, ``lower``, ``upper``, ``pr_positive``; optionally
        ``level`` and ``n_units`` (the units ranked, and how many the level has).
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
    pct = percent(prob)
    # Ranked by the posterior mean, so the mean is what the table shows.
    headers += [text("n_rows", lang), text("mean_delta_cri", lang).format(pct=pct),
                text("pr_positive", lang)]  # fmt: skip
    ranks_known = {"rank_lower", "rank_upper", "pr_top", "top_k"} <= set(ranked.columns)
    if ranks_known:
        top_k = int(ranked["top_k"].iloc[0])
        headers += [text("rank_cri", lang).format(pct=pct), text("pr_top", lang).format(k=top_k)]
    rows, panels = [], []
    for scenario in dict.fromkeys(ranked["scenario"]):
        part = ranked[ranked["scenario"] == scenario].sort_values("rank").head(top)
        for _, row in part.iterrows():
            cells = [str(int(row["rank"])), *(_cell(row[c]) for c in ids)]
            for column in extra:
                value = row[column]
                if not _present(value):
                    cells.append("—")
                elif column == "weakness_tercile":
                    cells.append(_words_or_value("tercile_", str(value), lang))
                else:
                    cells.append(schema.variable(column).level_label(str(value), lang))
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
    pieces.append(note_text("targeting_ranked", lang, quantity=quantity, pct=pct, top=top))
    if ranks_known:
        pieces.append(note_text("targeting_rank_uncertainty", lang, pct=pct, top=top_k))
    counties = False
    if {"level", "n_units"} <= set(ranked.columns):
        decided = []
        for scenario in dict.fromkeys(ranked["scenario"]):
            part = ranked[ranked["scenario"] == scenario]
            level = str(part["level"].iloc[0])
            counties |= level == "county"
            decided.append(note_text(
                "targeting_decided_units", lang,
                label=_scenario_label(str(scenario), scenario_labels), n=len(part),
                total=int(part["n_units"].iloc[0]), units=_units(level, lang),
            ))  # fmt: skip
        items = note_text("sep_clauses", lang).join(decided)
        pieces.append(note_text("targeting_levels", lang, items=items))
    return Table(
        name=name,
        title=note_text("table8_title_levels" if counties else "table8_title", lang),
        frame=table_frame,
        note=_join(pieces, lang),
        data=ranked.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="r" + "l" * (len(headers) - 4 - 2 * ranks_known) + "rrr" + "rr" * ranks_known,
    )


_ALLOCATION_COLUMNS = (
    "scenario", "allocation", "n_units", "spent", "median", "lower", "upper", "pr_positive",
    "budget", "total_cost", "n_candidates", "level", "outcome", "quantity", "cost_unit",
    "random_orders",
)  # fmt: skip


def _gain_words(outcome: str, quantity: object, lang: Lang) -> str:
    """What a total gain counts: projects for a probability, rating points for a rating."""
    if match := _SURVIVAL.match(str(quantity)):
        return note_text("gain_survival", lang, t=match["t"])
    label = quantity_label(outcome, quantity, lang)
    if _is_probability(quantity):
        return note_text("gain_probability", lang, label=label)
    return note_text("gain_rating", lang, label=label, label_lower=label.lower())


def table8b_allocation(
    allocation: pd.DataFrame,
    lang: Lang = "en",
    *,
    scenario_labels: Mapping[str, str] | None = None,
    cost_unit: str | None = None,
    name: str = "table8b_allocation",
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 8b: a budget-constrained allocation of a remedy against a random one.

    Parameters
    ----------
    allocation
        :attr:`grassroots.estimands.heterogeneity.AllocationResult.table`: one row per
        allocation (``targeted``, ``random``, ``difference``) with ``n_units``, ``spent``, the
        total gain's ``median``, ``lower``, ``upper`` and ``pr_positive``, and ``scenario``,
        ``budget``, ``total_cost``, ``n_candidates``, ``level``, ``outcome``, ``quantity``,
        ``cost_unit``, ``random_orders``.
    lang
        ``"en"`` or ``"zh"``.
    scenario_labels
        Scenario name -> panel heading.
    cost_unit
        The unit of the budget as printed (default: the frame's ``cost_unit``).
    name
        File stem.
    prob
        Mass of the intervals (for the note).
    """
    _check(allocation, _ALLOCATION_COLUMNS, "table8b_allocation")
    first = allocation.iloc[0]
    unit = cost_unit or str(first["cost_unit"])
    headers = [text("allocation", lang), text("units_funded", lang),
               text("spent", lang).format(unit=unit),
               text("total_gain_cri", lang).format(pct=percent(prob)),
               text("pr_positive", lang)]  # fmt: skip
    rows, panels = [], []
    for row in allocation.itertuples(index=False):
        kind = str(row.allocation)
        funded = (
            "—" if not _present(row.n_units)
            else f"{row.n_units:,.0f}" if kind == "targeted" else f"{row.n_units:,.1f}"
        )  # fmt: skip
        spent = _number(row.spent) if _present(row.spent) else "—"
        rows.append([text(f"allocation_{kind}", lang), funded, spent,
                     format_estimate(row.median, row.lower, row.upper, 1),
                     f"{row.pr_positive:.2f}"])  # fmt: skip
        panels.append(_scenario_label(str(row.scenario), scenario_labels))
    table_frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    units = _units(str(first["level"]), lang)
    budget, total = float(first["budget"]), float(first["total_cost"])
    pieces = [
        note_text(
            "allocation_budget", lang, budget=_number(budget), unit=unit,
            share=f"{100 * budget / total:.0f}", total=_number(total),
            n=int(first["n_candidates"]), units=units,
        ),
        note_text(
            "allocation_rules", lang, units=units, orders=f"{int(first['random_orders']):,d}"
        ),
        note_text(
            "allocation_gain", lang, units=units, pct=percent(prob),
            gain=_gain_words(str(first["outcome"]), first["quantity"], lang),
        ),
        _group_effects_note(allocation, lang),
    ]  # fmt: skip
    return Table(
        name=name,
        title=note_text("table8b_title", lang),
        frame=table_frame,
        note=_join(pieces, lang),
        data=allocation.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="lrrrr",
    )
