"""Tables 5-7 from plain summary frames (the columns grassroots.estimands produces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grassroots.reporting.estimand_labels import quantity_label, subgroup_label
from grassroots.reporting.estimand_tables import (
    table5_contrasts,
    table6_mediation,
    table7_heterogeneity,
    table8_targeting,
)

QUANTITIES = [("survival", "S(12)"), ("survival", "S(24)"), ("demand_fit", "P(>=4)"),
              ("demand_fit", "E"), ("expedient", "P")]  # fmt: skip
GROUPS = [("all", "all", 150), ("region", "east", 70), ("region", "west", 30),
          ("weakness", "low", 50), ("weakness", "high", 50)]  # fmt: skip
LABELS = {"resources_plus_1sd": "Resources +1 SD", "all_three": "All three remedies"}


@pytest.fixture(scope="module")
def contrasts() -> pd.DataFrame:
    rows = []
    for s, scenario in enumerate(["resources_plus_1sd", "all_three"]):
        for q, (outcome, quantity) in enumerate(QUANTITIES):
            for g, (group_by, group, n) in enumerate(GROUPS):
                median = 0.01 * (s + 1) + 0.001 * q + 0.0001 * g
                rows.append({
                    "model": "structural", "scenario": scenario, "outcome": outcome,
                    "quantity": quantity, "group_by": group_by, "group": group, "n_rows": n,
                    "status_quo": 0.5, "counterfactual": 0.5 + median, "mean": median,
                    "median": median, "lower": median - 0.02, "upper": median + 0.03,
                    "pr_positive": 0.9 - 0.1 * g, "group_effects": "fitted",
                    "mediators": "extensive, expedient" if outcome != "expedient" else "",
                })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mediation() -> pd.DataFrame:
    rows = []
    components = [("total", ""), ("direct", ""), ("indirect", "all"), ("indirect", "extensive"),
                  ("indirect", "expedient"), ("indirect", "short_sighted")]  # fmt: skip
    for outcome, quantity in [("survival", "S(24)"), ("demand_fit", "E")]:
        for k, (effect, via) in enumerate(components):
            if outcome == "demand_fit" and via == "short_sighted":
                continue
            rows.append({
                "model": "structural", "scenario": "all_three", "outcome": outcome,
                "quantity": quantity, "effect": effect, "via": via, "mean": 0.0,
                "median": 0.02 - 0.005 * k, "lower": -0.01, "upper": 0.04, "pr_positive": 0.7,
                "group_effects": "new", "order": "extensive > expedient > short_sighted",
            })  # fmt: skip
    return pd.DataFrame(rows)


def body(table) -> pd.DataFrame:
    return table.frame.reset_index()


def test_table5_cells_in_percentage_points(contrasts):
    table = table5_contrasts(contrasts, scenario_labels=LABELS)
    frame = body(table)
    assert list(frame.columns) == ["panel", "Quantity", "Status quo", "Under the scenario",
                                   "Δ [95% CrI]", "Pr(Δ > 0)"]  # fmt: skip
    # Only the overall rows: 2 scenarios x 5 quantities.
    assert len(frame) == 10
    assert list(dict.fromkeys(frame["panel"])) == ["Resources +1 SD", "All three remedies"]
    first = frame.iloc[0]
    assert first["Quantity"] == "S(12): still running at 12 months"
    assert first["Δ [95% CrI]"] == "1.0 [-1.0, 4.0]"  # 0.010 [-0.010, 0.040] in pp
    assert first["Pr(Δ > 0)"] == "0.90"
    assert first["Status quo"] == "50.0" and first["Under the scenario"] == "51.0"
    rating = frame[frame["Quantity"] == "Expected rating, demand fit"].iloc[0]
    # The expected rating is in rating points, two decimals.
    assert rating["Δ [95% CrI]"] == "0.01 [-0.01, 0.04]"
    assert frame.iloc[2]["Quantity"] == "P(Demand fit ≥ 4)"
    assert frame.iloc[4]["Quantity"] == "P(Expedient governance)"
    assert "Group effects: the fitted effects of the observed counties and townships" in table.note
    assert "Mediators that respond to the scenario: Extensive innovation, Expedient" in table.note
    assert table.data["group_by"].eq("all").all()


def test_table5_in_chinese(contrasts):
    table = table5_contrasts(contrasts, "zh", scenario_labels={"all_three": "三项措施并举"})
    frame = body(table)
    assert frame.iloc[0]["指标"] == "S(12)：12 个月时仍在运行"
    assert frame.iloc[2]["指标"] == "P(需求匹配度 ≥ 4)"
    assert list(dict.fromkeys(frame["panel"])) == ["resources_plus_1sd", "三项措施并举"]
    assert table.title.startswith("表5") and table.note.startswith("Δ 为情景与现状之差")


def test_table5_names_the_model_only_when_two_report_one_quantity(contrasts):
    overall = contrasts[contrasts["group_by"] == "all"]
    twice = pd.concat([overall, overall[overall["outcome"] == "survival"].assign(
        model="survival_m4")])  # fmt: skip
    frame = body(table5_contrasts(twice))
    labels = frame["Quantity"].tolist()
    assert "S(12): still running at 12 months (structural)" in labels
    assert "S(12): still running at 12 months (survival_m4)" in labels
    assert "P(Expedient governance)" in labels


def test_table5_needs_its_columns(contrasts):
    with pytest.raises(ValueError, match=r"missing \['pr_positive'\]"):
        table5_contrasts(contrasts.drop(columns="pr_positive"))


def test_table6_effects_side_by_side(mediation):
    table = table6_mediation(mediation, scenario_labels=LABELS)
    frame = body(table)
    assert list(frame.columns) == [
        "panel", "Quantity", "Total", "Direct", "Indirect, all strategies",
        "Indirect via Extensive innovation", "Indirect via Expedient governance",
        "Indirect via Short-sighted innovation",
    ]  # fmt: skip
    survival = frame.iloc[0]
    assert survival["Quantity"] == "S(24): still running at 24 months"
    assert survival["Total"] == "2.0 [-1.0, 4.0]"
    assert survival["Indirect via Extensive innovation"] == "0.5 [-1.0, 4.0]"
    # Demand fit has no short-sighted path.
    assert frame.iloc[1]["Indirect via Short-sighted innovation"] == "—"
    assert frame.iloc[1]["Total"] == "0.02 [-0.01, 0.04]"
    assert "(Extensive innovation > Expedient governance > Short-sighted innovation)" in table.note
    assert "drawn anew" in table.note
    zh = body(table6_mediation(mediation, "zh"))
    assert list(zh.columns)[2:5] == ["总效应", "直接效应", "间接效应（全部策略）"]
    assert "经粗放式创新的间接效应" in zh.columns


def test_table7_subgroups_and_quantities(contrasts):
    chosen = [("survival", "S(24)"), ("demand_fit", "P(>=4)")]
    table = table7_heterogeneity(contrasts, scenario_labels=LABELS, quantities=chosen)
    frame = body(table)
    assert list(frame.columns) == [
        "panel",
        "Subgroup",
        "N projects",
        "S(24): still running at 24 months",
        "P(Demand fit ≥ 4)",
    ]
    first_panel = frame[frame["panel"] == "Resources +1 SD"]
    assert first_panel["Subgroup"].tolist() == [
        "All projects", "Region: East", "Region: West", "Baseline weakness: low tercile",
        "Baseline weakness: high tercile",
    ]  # fmt: skip
    east = first_panel.iloc[1]
    expected = contrasts[
        (contrasts["scenario"] == "resources_plus_1sd")
        & (contrasts["quantity"] == "S(24)")
        & (contrasts["group"] == "east")
    ]
    median = float(expected["median"].iloc[0])
    assert east["S(24): still running at 24 months"] == (
        f"{100 * median:.1f} [{100 * (median - 0.02):.1f}, {100 * (median + 0.03):.1f}]"
    )
    assert east["N projects"] == "70"
    zh = body(table7_heterogeneity(contrasts, "zh", include_overall=False, quantities=chosen))
    assert zh["子组"].tolist()[:4] == [
        "地区：东部",
        "地区：西部",
        "基线弱势：低三分位",
        "基线弱势：高三分位",
    ]


def test_table7_reads_a_subgroup_column(contrasts):
    part = contrasts[contrasts["group_by"] != "weakness"].copy()
    part["subgroup"] = [
        "all" if by == "all" else f"{by}={group}"
        for by, group in zip(part["group_by"], part["group"], strict=True)
    ]
    part = part.drop(columns=["group_by", "group", "n_rows"])
    frame = body(table7_heterogeneity(part, quantities=[("survival", "S(12)")]))
    assert frame["Subgroup"].tolist()[:3] == ["All projects", "Region: East", "Region: West"]
    assert "N projects" not in frame.columns


def test_labels():
    assert quantity_label("survival", "S(36)", "zh") == "S(36)：36 个月时仍在运行"
    assert quantity_label("demand_fit", "E", "zh") == "需求匹配度期望评分"
    assert quantity_label("short_sighted", "P") == "P(Short-sighted innovation)"
    assert quantity_label("my_outcome", None) == "my_outcome"
    assert subgroup_label("region", "central", "zh") == "地区：中部"
    assert subgroup_label("all", "all", "zh") == "全部项目"


def test_written_files_are_byte_identical(tmp_path: Path, contrasts, mediation):
    builds = [
        lambda lang: table5_contrasts(contrasts, lang, scenario_labels=LABELS),
        lambda lang: table6_mediation(mediation, lang),
        lambda lang: table7_heterogeneity(contrasts, lang),
    ]
    for build in builds:
        for lang in ("en", "zh"):
            first = build(lang).write(tmp_path / "a" / lang)
            second = build(lang).write(tmp_path / "b" / lang)
            assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.fixture(scope="module")
def ranked() -> pd.DataFrame:
    rows = []
    for scenario in ("resources_plus_1sd", "all_three"):
        for rank in range(1, 31):
            gain = 0.2 - rank / 200
            rows.append({
                "scenario": scenario, "rank": rank, "county_id": f"C{rank % 4}",
                "township_id": f"T{rank:03d}", "n_rows": 3 + rank % 5,
                "weakness_tercile": ("low", "middle", "high")[rank % 3],
                "region": ("east", "central", "west")[rank % 3],
                "mean": gain, "median": gain, "lower": gain - 0.05, "upper": gain + 0.05,
                "pr_positive": 0.99, "outcome": "survival", "quantity": "S(24)",
                "group_effects": "fitted",
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_table8_shows_the_top_townships_and_keeps_the_whole_list(ranked):
    table = table8_targeting(ranked, scenario_labels=LABELS, top=5)
    assert len(table.frame) == 10  # 5 per scenario
    first = table.frame.iloc[0]
    assert first.iloc[0] == "1" and "T001" in first.to_list()
    assert "19.5 [14.5, 24.5]" in first.to_list()  # percentage points
    assert table.frame.index[0] == "Resources +1 SD"
    assert len(table.data) == 60  # the CSV keeps every township
    assert "first 5 per scenario" in table.note
    zh = table8_targeting(ranked, "zh", top=5)
    assert zh.title.startswith("表8") and "高" in "".join(zh.frame.to_numpy().ravel().tolist())
    with pytest.raises(ValueError, match="rank"):
        table8_targeting(ranked.drop(columns="rank"))


def test_table8_shows_the_statistic_it_ranks_by_and_the_rank_uncertainty(ranked):
    # Ranked by the posterior mean: the mean must be the Δ shown, not the median.
    skewed = ranked.assign(
        median=ranked["mean"] - 0.03, rank_lower=ranked["rank"], rank_upper=ranked["rank"] + 7,
        pr_top=(0.9 - ranked["rank"] / 100).round(2), top_k=15,
    )  # fmt: skip
    table = table8_targeting(skewed, scenario_labels=LABELS, top=5)
    first = table.frame.iloc[0]
    assert first["Mean Δ [95% CrI]"] == "19.5 [14.5, 24.5]"
    assert first["Rank [95% CrI]"] == "[1, 8]"
    assert first["P(top 15)"] == "0.89"
    assert "posterior mean of Δ" in table.note and "top 15" in table.note
    assert table.align == "r" + "l" * 4 + "rrr" + "rr"
    zh = table8_targeting(skewed, "zh", top=5)
    assert list(zh.frame.columns[-3:]) == ["Pr(Δ > 0)", "名次 [95% 可信区间]", "P(前 15 名)"]


def _with_untreated(contrasts: pd.DataFrame) -> pd.DataFrame:
    """The contrasts plus a binary remedy with its effect among the not yet treated."""
    overall = contrasts[(contrasts["scenario"] == "all_three") & (contrasts["group_by"] == "all")]
    collab = overall.assign(scenario="collaboration_everywhere")
    among = collab.assign(group_by="untreated:collaboration", group="untreated", n_rows=90,
                          median=collab["median"] * 2.5, lower=collab["lower"] * 2.5,
                          upper=collab["upper"] * 2.5)  # fmt: skip
    return pd.concat([contrasts, collab, among], ignore_index=True)


def test_table5_adds_the_effect_among_the_not_yet_treated(contrasts):
    frame = _with_untreated(contrasts)
    labels = LABELS | {"collaboration_everywhere": "Collaboration in every county"}
    table = table5_contrasts(frame, scenario_labels=labels)
    column = "Δ among the not yet treated [95% CrI]"
    assert table.frame.columns[-1] == column
    collab = table.frame.loc["Collaboration in every county"]
    among = frame[(frame["group_by"] == "untreated:collaboration")].iloc[1]  # S(24)
    assert collab[column].iloc[1] == (
        f"{100 * among['median']:.1f} [{100 * among['lower']:.1f}, {100 * among['upper']:.1f}]"
    )
    assert set(table.frame.loc["Resources +1 SD", column]) == {"—"}
    assert "not yet treated" in table.note and "90 projects" in table.note
    zh = table5_contrasts(frame, "zh", scenario_labels=labels)
    assert "尚未实施的单位" in zh.frame.columns[-1] and "尚未实施" in zh.note
    # No scenario changes passed: the count of projects alone, no empty count of units before it.
    assert "Collaboration in every county：90 个项目" in zh.note and "：，" not in zh.note
    # Without such rows, no such column.
    assert column not in table5_contrasts(contrasts).frame.columns
    # Table 7 leaves them to Table 5.
    seven = table7_heterogeneity(frame, scenario_labels=labels)
    assert len(seven.frame.loc[["Collaboration in every county"]]) == 1  # all projects only


def test_table5_states_the_scenarios_in_natural_units(contrasts, study_frame):
    from grassroots.estimands import builtin_scenarios

    scenarios = builtin_scenarios()
    up = study_frame.assign(tech_capacity=study_frame["tech_capacity"] + 40.0)  # some capped
    changes = pd.concat(
        [s.changes(up) for s in scenarios.select([*scenarios.default, "resources_plus_20_cny"])],
        ignore_index=True,
    )
    table = table5_contrasts(contrasts, scenario_labels=LABELS, changes=changes)
    rows = changes.drop_duplicates(["variable", "by_unit"]).set_index(["variable", "by_unit"])
    resources, tech = rows.loc[("resources", "sd")], rows.loc[("tech_capacity", "sd")]
    yuan = rows.loc[("resources", "CNY per resident")]
    sd = up["resources"].std(ddof=1)
    assert resources["step_size"] == pytest.approx(sd)
    assert (
        f"Resources +1 SD = {sd:+.3g} log CNY per resident, i.e. CNY per resident "
        f"×{np.exp(sd):.3g} (median {resources['change_natural']:+.3g} CNY per resident)"
    ) in table.note
    assert tech["n_capped"] > 0
    assert (
        f"Technical capacity +1 SD = {up['tech_capacity'].std(ddof=1):+.3g} index, capped at "
        f"the codebook range [0, 100] in {tech['n_capped']} of {tech['n_units']} townships"
    ) in table.note
    assert f"Resources +20 CNY per resident = median {yuan['change_sd']:+.3g} SD" in table.note
    counties = up.drop_duplicates("county_id")
    untreated = int((counties["collaboration"] == 0).sum())
    assert (
        f"Cross-department collaboration set to 1: {untreated} of {len(counties)} counties "
        "change (the others have it already)"
    ) in table.note
    # Each step once, though all three remedies repeat them.
    assert table.note.count("Cross-department collaboration set to 1") == 1
    zh = table5_contrasts(contrasts, "zh", changes=changes)
    assert "情景的自然单位" in zh.note and "资源 +20 元/人" in zh.note and "被截断" in zh.note


def test_table8_ranks_counties_for_a_county_remedy(ranked):
    townships = ranked.assign(level="township", n_units=40)
    counties = ranked[ranked["scenario"] == "all_three"].head(6).assign(
        scenario="collaboration_everywhere", township_id=None, weakness_tercile=None,
        level="county", n_units=10,
    )  # fmt: skip
    frame = pd.concat([townships[townships["scenario"] == "resources_plus_1sd"], counties])
    labels = LABELS | {"collaboration_everywhere": "Collaboration in every county"}
    table = table8_targeting(frame, scenario_labels=labels, top=5)
    county_rows = table.frame.loc["Collaboration in every county"]
    assert set(county_rows["Township ID"]) == {"—"}
    assert set(county_rows["Weakness tercile"]) == {"—"}
    assert "counties" in table.title
    assert "Collaboration in every county: 6 of 10 counties" in table.note
    assert "Resources +1 SD: 30 of 40 townships" in table.note
    zh = table8_targeting(frame, "zh", scenario_labels=labels, top=5)
    assert "6/10个县" in zh.note and "县" in zh.title
    # Townships only: the title says so.
    assert table8_targeting(townships).title.startswith("Table 8. Townships that")


@pytest.fixture()
def allocation() -> pd.DataFrame:
    common = {"scenario": "resources_plus_1sd", "budget": 5.0, "total_cost": 20.0,
              "n_candidates": 40, "level": "township", "outcome": "survival",
              "quantity": "S(24)", "cost_unit": "million CNY", "random_orders": 1000,
              "group_effects": "fitted"}  # fmt: skip
    return pd.DataFrame([
        common | {"allocation": "targeted", "n_units": 12.0, "spent": 4.93, "median": 9.04,
                  "lower": 6.1, "upper": 12.2, "pr_positive": 1.0},
        common | {"allocation": "random", "n_units": 9.87, "spent": 4.96, "median": 4.0,
                  "lower": 2.5, "upper": 5.61, "pr_positive": 1.0},
        common | {"allocation": "difference", "n_units": float("nan"), "spent": float("nan"),
                  "median": 5.0, "lower": 2.0, "upper": 7.94, "pr_positive": 0.99},
    ])  # fmt: skip


def test_table8b_compares_targeting_with_a_random_allocation(allocation, tmp_path):
    from grassroots.reporting.estimand_tables import table8b_allocation

    table = table8b_allocation(allocation, scenario_labels=LABELS)
    assert list(table.frame.columns) == [
        "Allocation", "Units funded", "Spent (million CNY)", "Total gain [95% CrI]", "Pr(Δ > 0)"
    ]  # fmt: skip
    assert table.frame.to_numpy().tolist() == [
        ["Targeted: greedy by expected gain per cost", "12", "4.93", "9.0 [6.1, 12.2]", "1.00"],
        ["Random, same budget", "9.9", "4.96", "4.0 [2.5, 5.6]", "1.00"],
        ["Targeted − random", "—", "—", "5.0 [2.0, 7.9]", "0.99"],
    ]
    assert set(table.frame.index) == {"Resources +1 SD"}
    assert "Budget: 5 million CNY, 25% of the 20 million CNY" in table.note
    assert "all 40 townships" in table.note and "greedy" in table.note
    assert "additional projects still running at 24 months" in table.note
    assert "1,000 orders" in table.note
    zh = table8b_allocation(allocation, "zh", cost_unit="百万元")
    assert zh.title.startswith("表8b") and "支出（百万元）" in zh.frame.columns
    assert "贪心" in zh.note and "24 个月时仍在运行" in zh.note
    written = table.write(tmp_path)
    csv = next(p for p in written if p.suffix == ".csv")
    assert pd.read_csv(csv)["allocation"].tolist() == ["targeted", "random", "difference"]
    with pytest.raises(ValueError, match="budget"):
        table8b_allocation(allocation.drop(columns="budget"))


def test_interval_headers_name_the_mass_the_table_was_built_with(contrasts, ranked, allocation):
    from grassroots.reporting.estimand_tables import table8b_allocation

    with_ranks = ranked.assign(rank_lower=ranked["rank"], rank_upper=ranked["rank"] + 7,
                               pr_top=0.5, top_k=15)  # fmt: skip
    labels = LABELS | {"collaboration_everywhere": "Collaboration in every county"}
    for lang, mass in (("en", "[90% CrI]"), ("zh", "[90% 可信区间]")):
        tables = [
            table5_contrasts(_with_untreated(contrasts), lang, scenario_labels=labels, prob=0.9),
            table8_targeting(with_ranks, lang, top=5, prob=0.9),
            table8b_allocation(allocation, lang, prob=0.9),
        ]
        shown = [[c for c in table.frame.columns if mass in c] for table in tables]
        assert [len(headers) for headers in shown] == [2, 2, 1], shown
        for table in tables:
            assert not any("95%" in c for c in table.frame.columns) and "95%" not in table.note
