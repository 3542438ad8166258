"""Tables 5a and 5b and Figures 9 and 10 from a fake structural fit (no sampling)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _paper_fakes import fake_fit
from matplotlib.text import Annotation

from grassroots.estimands import builtin_scenarios, contrasts
from grassroots.estimands.identification import assumptions, positivity
from grassroots.estimands.sensitivity import sensitivity
from grassroots.models.dag import spec_dag
from grassroots.reporting.figures import save_figure
from grassroots.reporting.identification_figures import (
    dag_plot,
    layered_positions,
    node_label,
    sensitivity_plot,
)
from grassroots.reporting.identification_tables import table5a_assumptions, table5b_sensitivity

SCENARIOS = builtin_scenarios().select()
LABELS = {s.name: s.label for s in SCENARIOS}
REMEDIES = {v for s in SCENARIOS for v in s.variables}


@pytest.fixture(scope="module")
def dag():
    return spec_dag("structural", remedies=REMEDIES)


@pytest.fixture(scope="module")
def identified(study_frame, dag):
    table = assumptions(dag, SCENARIOS, study_frame)
    evidence = pd.concat([positivity(study_frame, s) for s in SCENARIOS], ignore_index=True)
    return table, evidence


@pytest.fixture(scope="module")
def robustness(study_frame):
    fitted = fake_fit("structural", study_frame, draws=40)
    result = contrasts(fitted, study_frame, SCENARIOS)
    sd = float(study_frame["demand_fit"].std())
    return sensitivity(result, outcome_sd={"demand_fit": sd}).table, result


def test_table5a_has_a_row_per_contrast_and_says_what_checks_it(identified):
    table, evidence = identified
    en = table5a_assumptions(table, evidence, scenario_labels=LABELS)
    assert en.frame.shape == (len(SCENARIOS) * 5, 5)
    assert list(dict.fromkeys(en.frame.index)) == [s.label for s in SCENARIOS]
    markdown = en.to_markdown()
    assert "Yes: 13 measured covariates and the fitted township effects" in markdown
    assert "Not needed (no strategy upstream)" in markdown
    counties = evidence[(evidence.scenario == "collaboration_everywhere")].iloc[0]
    assert f"{100 * counties.share:.0f}% of {counties.units} counties already have" in markdown
    assert "no spill-over between counties" in markdown
    zh = table5a_assumptions(table, evidence, "zh", scenario_labels=LABELS).to_markdown()
    assert "表5a" in zh and "后门路径均被阻断" in zh and "个县中" in zh


def test_table5a_says_no_when_a_check_fails(identified):
    table, evidence = identified
    broken = table.assign(backdoor_valid=False, mediator_valid=False)
    markdown = table5a_assumptions(broken, evidence).to_markdown()
    assert "No: a back-door path stays open" in markdown
    assert "No: the group effects are not conditioned on" in markdown
    with pytest.raises(ValueError, match="positivity"):
        table5a_assumptions(table, evidence.iloc[0:0])
    with pytest.raises(ValueError, match="missing \\['adjustment'\\]"):
        table5a_assumptions(table.drop(columns="adjustment"), evidence)


def test_table5b_matches_table5_and_reads_the_e_values(robustness):
    frame, result = robustness
    assert len(frame) == len(result.table[result.table.group_by == "all"])
    table = table5b_sensitivity(frame, scenario_labels=LABELS)
    assert table.frame.shape == (len(frame), 6)
    first = frame.iloc[0]
    cells = table.frame.iloc[0]
    assert cells.iloc[3] == f"{first.e_value:.2f}" and cells.iloc[4] == f"{first.e_value_limit:.2f}"
    assert f"≥ {first.e_value:.2f}" in cells.iloc[5]
    # The expected rating's ratio is an approximation: marked.
    rating = table.frame[table.frame.iloc[:, 0].str.startswith("Expected rating")]
    assert rating.iloc[:, 2].str.startswith("≈").all()
    assert "VanderWeele & Ding 2017" in table.note
    zh = table5b_sensitivity(frame, "zh", scenario_labels=LABELS)
    assert "表5b" in zh.title and "E 值" in zh.note


def test_table5b_reads_an_interval_that_includes_no_change():
    row = {"scenario": "s", "outcome": "survival", "quantity": "S(24)", "median": 0.01,
           "lower": -0.01, "upper": 0.03, "rr_scale": "ratio", "rr": 1.02, "rr_lower": 0.98,
           "rr_upper": 1.05, "e_value": 1.16, "e_value_limit": 1.0}  # fmt: skip
    table = table5b_sensitivity(pd.DataFrame([row]))
    assert table.frame.iloc[0, 1] == "1.0 [-1.0, 3.0]"  # percentage points, as in Table 5
    assert "already includes no change" in table.frame.iloc[0, 5]


def _arrows(ax):
    return [c for c in ax.get_children() if isinstance(c, Annotation)]


def test_the_dag_figure_draws_every_node_and_every_edge(dag):
    fig = dag_plot(dag)
    ax = fig.axes[0]
    boxes = [t for t in ax.texts if not isinstance(t, Annotation)]
    assert sorted(t.get_text() for t in boxes) == sorted(
        node_label(n, d["role"]) for n, d in dag.nodes(data=True)
    )
    by_label = {t.get_text(): t for t in boxes}
    drawn = {(arrow.anncoords.get_text(), arrow.xycoords.get_text()) for arrow in _arrows(ax)}
    expected = {
        (node_label(u, dag.nodes[u]["role"]), node_label(v, dag.nodes[v]["role"]))
        for u, v in dag.edges
    }
    assert len(_arrows(ax)) == dag.number_of_edges() and drawn == expected
    assert (
        by_label["Resources"].get_bbox_patch().get_facecolor()
        != by_label["Authority"].get_bbox_patch().get_facecolor()
    )
    plt.close(fig)


def test_the_dag_layout_puts_causes_left_of_their_effects(dag):
    position = layered_positions(dag)
    for source, target in dag.edges:
        assert position[source][0] < position[target][0], (source, target)
    assert (
        position["survival"][0] == position["demand_fit"][0] == max(x for x, _ in position.values())
    )


def test_the_dag_figure_follows_the_spec(dag):
    smaller = dag.copy()
    smaller.remove_edge("extensive", "survival")
    fig = dag_plot(smaller, "zh")
    assert len(_arrows(fig.axes[0])) == dag.number_of_edges() - 1
    assert "项目存续" in {t.get_text() for t in fig.axes[0].texts}
    plt.close(fig)


def test_the_sensitivity_figure_has_a_bar_per_contrast_of_its_e_value(robustness):
    frame, _ = robustness
    fig = sensitivity_plot(frame, scenario_labels=LABELS)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in panels] == [s.label for s in SCENARIOS]
    first = panels[0]
    part = frame[frame.scenario == SCENARIOS[0].name]
    widths = [bar.get_width() for bar in first.patches]
    np.testing.assert_allclose(widths[: len(part)], part["e_value"] - 1)
    np.testing.assert_allclose(widths[len(part) :], part["e_value_limit"] - 1)
    plt.close(fig)
    with pytest.raises(ValueError, match="e_value_limit"):
        sensitivity_plot(frame.drop(columns="e_value_limit"))


def test_figures_save_the_same_bytes_twice(dag, robustness, tmp_path: Path):
    frame, _ = robustness
    for name, draw in (("dag", lambda: dag_plot(dag, "zh")),
                       ("sens", lambda: sensitivity_plot(frame, "zh"))):  # fmt: skip
        first = save_figure(draw(), tmp_path / "a" / name, formats=("png",))[0].read_bytes()
        second = save_figure(draw(), tmp_path / "b" / name, formats=("png",))[0].read_bytes()
        assert first == second
    plt.close("all")


def test_table5b_headers_name_the_mass_it_was_built_with():
    row = {"scenario": "s", "outcome": "survival", "quantity": "S(24)", "median": 0.01,
           "lower": -0.01, "upper": 0.03, "rr_scale": "ratio", "rr": 1.02, "rr_lower": 0.98,
           "rr_upper": 1.05, "e_value": 1.16, "e_value_limit": 1.0}  # fmt: skip
    for lang, delta, ratio in (("en", "Δ [90% CrI]", "Risk ratio [90% CrI]"),
                               ("zh", "Δ [90% 可信区间]", "风险比 [90% 可信区间]")):  # fmt: skip
        table = table5b_sensitivity(pd.DataFrame([row]), lang, prob=0.9)
        assert list(table.frame.columns[1:3]) == [delta, ratio]
        assert "90%" in table.note and "95%" not in table.note
