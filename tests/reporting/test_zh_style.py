"""The house style of Chinese text, checked over every Chinese string the package can write:
the labels, the codebook, the theory crosswalk, every table built from the fakes, and the
committed ``reports/tables/*_zh.md``."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _paper_fakes import DEMAND_FIT, STRATEGIES, SURVIVAL, fake_fit, fits_of

from grassroots.data import load_dataset, schema
from grassroots.reporting import labels
from grassroots.reporting.appendix import (
    appendix_a_diagnostics,
    appendix_b_priors,
    appendix_b_sensitivity,
    sensitivity_estimates,
)
from grassroots.reporting.crosswalk import load_crosswalk, table0_theory
from grassroots.reporting.descriptives import table1
from grassroots.reporting.estimand_tables import (
    table5_contrasts,
    table6_mediation,
    table7_heterogeneity,
    table8_targeting,
)
from grassroots.reporting.frequentist import appendix_c_frequentist
from grassroots.reporting.model_tables import table2_survival, table3_demand_fit, table4_strategies
from grassroots.reporting.structural_tables import table9_structural, table10_loo_comparison
from grassroots.reporting.tables import Table
from grassroots.reporting.zh_style import (
    StyleProblem,
    check_markdown,
    check_table,
    check_texts,
    check_zh,
)

ROOT = Path(__file__).resolve().parents[2]


def _report(problems: list[StyleProblem]) -> str:
    return "\n".join(str(problem) for problem in problems)


# --- the checker itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("风险比 (对数刻度)", ["punctuation", "punctuation"]),
        ("县与乡镇, 项目", ["punctuation"]),
        ("项目数;乡镇数", ["punctuation"]),
        ("模型估计.", ["punctuation"]),
        ('所谓"优位"', ["punctuation", "punctuation"]),
        ("最大 R-hat: 1.01", ["punctuation"]),
        ("模型：structural", ["latin"]),
        ("后验 median", ["latin"]),
        ("危险比的后验中位数", ["term"]),
        ("95% 信用区间", ["term"]),
        ("随机效果", ["term"]),
    ],
)
def test_each_rule_catches_its_offence(text: str, rules: list[str]) -> None:
    assert [problem.rule for problem in check_zh(text, source="test")] == rules


@pytest.mark.parametrize(
    "text",
    [
        "S(12)：12 个月时仍在运行",
        "P(需求匹配度 ≥ 4)",
        "Pr(Δ > 0) 为差值为正的后验概率。",
        "先验：Normal(μ=0, σ=1)；项目 N = 2,694，最大 R-hat 为 1.011。",
        "比例风险模型 M0–M4（每标准差风险比）",
        "风险比 [95% 可信区间]",
        "{label}（第 {onset} 个月后）",
        "0.82 [0.71, 0.95]",
        "有序 logit 模型的随机效应与中介效应",
    ],
)
def test_established_notation_passes(text: str) -> None:
    assert check_zh(text, source="test") == []


def test_a_problem_names_its_source_location_and_rule() -> None:
    (problem,) = check_zh("后验 median", source="labels.TEXT", location="median")
    assert (problem.source, problem.location, problem.rule) == ("labels.TEXT", "median", "latin")
    assert str(problem).startswith("labels.TEXT [median] latin: English 'median'")


def test_markdown_rows_are_checked_cell_by_cell(tmp_path: Path) -> None:
    path = tmp_path / "t_zh.md"
    path.write_text("**表1 示例(按层级)**\n\n| 变量 | M1 |\n|:---|---:|\n| 权力 | 0.82 |\n")
    problems = check_markdown(path)
    assert {(p.location, p.rule) for p in problems} == {("line 1", "punctuation")}


# --- every Chinese string the package writes ---------------------------------------------------


def _labels_texts() -> Iterator[tuple[str, str, str]]:
    for key, words in labels.TEXT.items():
        yield "reporting/labels.py TEXT", key, words["zh"]
    for key, words in labels.NOTES.items():
        yield "reporting/labels.py NOTES", key, words["zh"]
    for name, table in (
        ("LEVEL_NAMES", labels.LEVEL_NAMES),
        ("LEVEL_PLURALS", labels.LEVEL_PLURALS),
    ):
        for key, words in table.items():
            yield f"reporting/labels.py {name}", key, words["zh"]


def _codebook_texts() -> Iterator[tuple[str, str, str]]:
    for (table, name), variable in schema.variables().items():
        yield "data/codebook.csv", f"{table}.{name} label_zh", variable.label("zh")
        yield "data/codebook.csv", f"{table}.{name} unit_zh", variable.unit_label("zh")
    for (name, level), words in schema.level_labels().items():
        yield "data/codebook_levels.csv", f"{name}={level}", words.get("zh", "")


def _theory_texts() -> Iterator[tuple[str, str, str]]:
    def walk(node: Any, where: str) -> Iterator[tuple[str, str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "zh" and isinstance(value, str):
                    yield "models/theory.toml", where, value
                else:
                    yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for k, item in enumerate(node):
                yield from walk(item, f"{where}[{k}]")

    with (ROOT / "models" / "theory.toml").open("rb") as file:
        yield from walk(tomllib.load(file), "")


@pytest.mark.parametrize(
    "texts", [_labels_texts, _codebook_texts, _theory_texts], ids=["labels", "codebook", "theory"]
)
def test_zh_strings_follow_the_house_style(texts: Any) -> None:
    collected = list(texts())
    assert len(collected) > 10  # the walk found the strings it is meant to check
    assert (problems := check_texts(collected)) == [], _report(problems)


def _contrasts() -> pd.DataFrame:
    rows = []
    quantities = [("survival", "S(24)"), ("demand_fit", "P(>=4)"), ("demand_fit", "E"),
                  ("expedient", "P")]  # fmt: skip
    groups = [("all", "all", 150), ("region", "east", 70), ("weakness", "high", 50)]
    for s, scenario in enumerate(["resources_plus_1sd", "all_three"]):
        for outcome, quantity in quantities:
            for group_by, group, n in groups:
                median = 0.01 * (s + 1)
                rows.append({
                    "model": "structural", "scenario": scenario, "outcome": outcome,
                    "quantity": quantity, "group_by": group_by, "group": group, "n_rows": n,
                    "status_quo": 0.5, "counterfactual": 0.5 + median, "mean": median,
                    "median": median, "lower": median - 0.02, "upper": median + 0.03,
                    "pr_positive": 0.9, "group_effects": "fitted",
                    "mediators": "extensive, expedient" if outcome != "expedient" else "",
                })  # fmt: skip
    return pd.DataFrame(rows)


def _mediation() -> pd.DataFrame:
    components = [("total", ""), ("direct", ""), ("indirect", "all"), ("indirect", "extensive")]
    return pd.DataFrame([
        {"model": "structural", "scenario": "all_three", "outcome": "survival",
         "quantity": "S(24)", "effect": effect, "via": via, "mean": 0.0, "median": 0.02,
         "lower": -0.01, "upper": 0.04, "pr_positive": 0.7, "group_effects": "new",
         "order": "extensive > expedient > short_sighted"}
        for effect, via in components
    ])  # fmt: skip


def _ranked() -> pd.DataFrame:
    return pd.DataFrame([
        {"scenario": "resources_plus_1sd", "rank": rank, "county_id": f"C{rank % 4}",
         "township_id": f"T{rank:03d}", "n_rows": 3, "weakness_tercile": "high",
         "region": "west", "mean": 0.1, "median": 0.1, "lower": 0.05, "upper": 0.15,
         "pr_positive": 0.99, "outcome": "survival", "quantity": "S(24)",
         "group_effects": "fitted"}
        for rank in range(1, 21)
    ])  # fmt: skip


@pytest.fixture(scope="module")
def zh_tables(study_frame: pd.DataFrame) -> list[Table]:
    survival = fits_of(SURVIVAL, study_frame)
    demand_fit = fits_of(DEMAND_FIT, study_frame)
    strategies = fits_of(STRATEGIES, study_frame)
    failing = {"rhat": 1.03, "divergent": 3, "ebfmi": (0.2, 0.5), "treedepth_hits": 4}
    mixed = {**survival, **fits_of(STRATEGIES, study_frame, extensive=failing)}
    structural = fake_fit("structural", study_frame)
    claims = [claim for claim in load_crosswalk() if claim.kind != "contrast"]
    labels_zh = {"resources_plus_1sd": "资源 +1 个标准差", "all_three": "三项措施并举"}
    contrasts = _contrasts()
    by_factor = {factor: {"M1": survival["M1"]} for factor in (0.5, 1.0, 2.0)}
    loo_fits = {
        "M0": fake_fit("survival_m0", study_frame),
        "M1": fake_fit("survival_m1", study_frame, log_likelihood=True, seed=1),
        "M2": fake_fit("survival_m2", study_frame, log_likelihood=True, seed=2),
    }
    return [
        table0_theory({"structural": structural}, "zh", claims=claims),
        table2_survival(survival, "zh"),
        table3_demand_fit(demand_fit, "zh"),
        table4_strategies(strategies, "zh"),
        table5_contrasts(contrasts, "zh", scenario_labels=labels_zh),
        table6_mediation(_mediation(), "zh", scenario_labels=labels_zh),
        table7_heterogeneity(contrasts, "zh", scenario_labels=labels_zh),
        table8_targeting(_ranked(), "zh", scenario_labels=labels_zh, top=5),
        table9_structural(structural, "zh"),
        appendix_a_diagnostics(mixed, "zh"),
        appendix_b_priors(mixed, "zh"),
        appendix_b_sensitivity(sensitivity_estimates(by_factor, terms=["authority"]), "zh"),
        appendix_c_frequentist({"Survival M4": survival["M4"]}, study_frame, "zh"),
        table10_loo_comparison({"survival": loo_fits}, "zh"),
    ]


def test_zh_tables_follow_the_house_style(zh_tables: list[Table]) -> None:
    problems = [problem for table in zh_tables for problem in check_table(table)]
    assert problems == [], _report(problems)


def test_table1_follows_the_house_style() -> None:
    source = labels.text("data_source", "zh").format(source=labels.text("bundled_study", "zh"))
    table = table1(load_dataset(), lang="zh", source_note=source)
    assert (problems := check_table(table)) == [], _report(problems)


def test_committed_zh_tables_follow_the_house_style() -> None:
    paths = sorted((ROOT / "reports" / "tables").glob("*_zh.md"))
    assert paths
    problems = [problem for path in paths for problem in check_markdown(path)]
    assert problems == [], _report(problems)


def test_checker_sees_every_string_cell_of_a_table() -> None:
    frame = pd.DataFrame({"变量": ["权力", "后验 median"], "M1": ["0.82", "1.0"]})
    table = Table("t", "表2 示例", frame, note="注释(见正文)", lang="zh")
    found = {(p.location, p.rule) for p in check_table(table)}
    assert found == {
        ("note", "punctuation"),
        ("row 1, column '变量'", "latin"),
    }
