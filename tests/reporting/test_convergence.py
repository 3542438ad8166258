"""The convergence flag appears exactly when a fit missed a threshold (R-hat > 1.01, ESS < 400,
any divergence), in both languages, naming the model and the number."""

from __future__ import annotations

import pandas as pd
import pytest

from grassroots.reporting.convergence import (
    ESS_MIN,
    RHAT_MAX,
    convergence_note,
    convergence_notes,
    diagnostic_rows,
    failed_checks,
)

PASSING = {"max_rhat": 1.01, "min_ess_bulk": 400, "min_ess_tail": 400, "divergences": 0}


def test_thresholds_match_the_inference_module() -> None:
    # One rule for "converged" in warnings and in tables.
    diagnostics = pytest.importorskip("grassroots.inference.diagnostics")
    assert (RHAT_MAX, ESS_MIN) == (diagnostics.RHAT_MAX, diagnostics.ESS_MIN)


def test_values_at_the_thresholds_pass() -> None:
    assert convergence_notes({"M1": PASSING}) == {"en": "", "zh": ""}


@pytest.mark.parametrize(
    ("change", "en", "zh"),
    [
        ({"max_rhat": 1.04}, "M3 max R-hat 1.04", "M3 最大 R-hat 1.04"),
        ({"max_rhat": 1.0104}, "M3 max R-hat 1.0104", "M3 最大 R-hat 1.0104"),
        ({"min_ess_bulk": 399.7}, "M3 min bulk ESS 399", "M3 最小 bulk ESS 399"),
        ({"min_ess_tail": 212}, "M3 min tail ESS 212", "M3 最小 tail ESS 212"),
        ({"divergences": 1}, "M3 1 divergent transition(s)", "M3 发散转移 1 次"),
    ],
)
def test_each_missed_threshold_raises_the_flag(change: dict, en: str, zh: str) -> None:
    summary = {"M1": PASSING, "M3": {**PASSING, **change}}
    notes = convergence_notes(summary)
    assert notes["en"].startswith("⚠ Not converged (required: R-hat ≤ 1.01, bulk and tail ESS")
    assert f": {en}. Read these estimates with caution." in notes["en"]
    assert notes["zh"].startswith("⚠ 未收敛（要求 R-hat ≤ 1.01")
    assert f"：{zh}。" in notes["zh"]
    assert "M1" not in notes["en"]


def test_several_models_and_checks_in_one_note() -> None:
    summary = pd.DataFrame(
        {
            "model": ["M2", "M4"],
            "max_rhat": [1.05, 1.0],
            "min_ess_bulk": [150, 900],
            "min_ess_tail": [500, 800],
            "n_divergent": [0, 3],  # the spelling of Diagnostics.overview()
        }
    )
    note = convergence_note(summary)
    assert "M2 max R-hat 1.05, min bulk ESS 150; M4 3 divergent transition(s)" in note
    assert "M2 最大 R-hat 1.05，最小 bulk ESS 150；M4 发散转移 3 次" in convergence_note(
        summary, "zh"
    )


def test_unreported_numbers_are_not_failures() -> None:
    assert convergence_note({"M1": {"max_rhat": float("nan")}, "M2": {}}) == ""
    assert not failed_checks({"M1": {"min_ess_bulk": None}}).to_numpy().any()


def test_custom_thresholds() -> None:
    assert convergence_note({"M1": {"max_rhat": 1.02}}, rhat_max=1.05) == ""
    assert "(required: R-hat ≤ 1.005" in convergence_note(
        {"M1": {"max_rhat": 1.02}}, rhat_max=1.005
    )


def test_diagnostic_rows_flag_the_failing_cells() -> None:
    summary = {"M1": PASSING, "M2": {**PASSING, "max_rhat": 1.0123, "divergences": 2}}
    rows = diagnostic_rows(summary, "en", models=["M0", "M1", "M2"], label_column="Term")
    assert rows.to_dict("list") == {
        "Term": ["Max R-hat", "Min bulk ESS", "Min tail ESS", "Divergent transitions"],
        "M0": ["", "", "", ""],
        "M1": ["1.01", "400", "400", "0"],
        "M2": ["1.012 ⚠", "400", "400", "2 ⚠"],
    }
    assert diagnostic_rows(summary, "zh").iloc[0, 0] == "最大 R-hat"


def test_prior_dominance_note():
    from grassroots.reporting.convergence import prior_dominance_note

    assert prior_dominance_note({"M1": [], "M2": []}) == ""
    note = prior_dominance_note({"M1": [], "M2": ["sex[2]", "age"]})
    assert note == (
        "⚠ Prior dominates (posterior SD > 0.5 × prior SD; these estimates mostly restate the "
        "prior): M2 sex[2], age."
    )
    assert prior_dominance_note({"M2": ["性别"]}, "zh").startswith("⚠ 先验主导")


def test_one_chain_and_unassessed_elements_raise_the_flag() -> None:
    # A one-chain fit has no R-hat (NaN max_rhat); the note must not read as converged.
    one_chain = {**PASSING, "max_rhat": float("nan"), "n_chains": 1, "n_not_assessed": 0}
    notes = convergence_notes({"M3": one_chain})
    assert "M3 R-hat cannot be computed from one chain; run ≥ 2 chains" in notes["en"]
    assert "M3 单链无法计算 R-hat，须运行至少 2 条链" in notes["zh"]
    unassessed = {**PASSING, "n_chains": 4, "n_not_assessed": 2}
    assert "M3 R-hat or ESS is NaN for 2 element(s)" in convergence_note({"M3": unassessed})
    assert convergence_note({"M3": {**PASSING, "n_chains": 4, "n_not_assessed": 0}}) == ""


def test_flags_of_several_kinds_run_on_in_chinese_and_are_spaced_in_english() -> None:
    summary = {
        "M1": {**PASSING, "max_rhat": 1.05},
        "M2": {**PASSING, "method": "advi", "optimisation_converged": True, "max_iterations": 10},
    }
    notes = convergence_notes(summary)
    # Two flags: the non-convergence first, then the approximation.
    assert notes["en"].count("⚠") == 2 and ". ⚠" in notes["en"]
    assert notes["zh"].count("⚠") == 2 and "。⚠" in notes["zh"] and "。 " not in notes["zh"]
