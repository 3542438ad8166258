"""Appendix A (diagnostics), B (priors, scaled priors, prior sensitivity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _paper_fakes import STRATEGIES, SURVIVAL, fits_of

from grassroots.models import load_spec
from grassroots.models.priors import Prior, resolve_prior
from grassroots.models.spec import spec_from_dict
from grassroots.reporting.appendix import (
    appendix_a_diagnostics,
    appendix_b_priors,
    appendix_b_sensitivity,
    scale_priors,
    sensitivity_estimates,
)
from grassroots.reporting.model_tables import coefficient_label
from grassroots.reporting.tables import format_estimate


@pytest.fixture(scope="module")
def mixed_fits(study_frame):
    """Survival M1, M2 and the strategy models; extensive failed several checks."""
    fits = fits_of({"M1": SURVIVAL["M1"], "M2": SURVIVAL["M2"]}, study_frame)
    failing = {"rhat": 1.03, "divergent": 3, "ebfmi": (0.2, 0.5), "treedepth_hits": 4}
    return {**fits, **fits_of(STRATEGIES, study_frame, extensive=failing)}


def row_of(table, model: str) -> dict[str, str]:
    frame = table.frame.reset_index(drop=True)
    return frame[frame.iloc[:, 0] == model].iloc[0].to_dict()


def test_appendix_a_cells_flags_and_panels(mixed_fits):
    table = appendix_a_diagnostics(mixed_fits)
    # Models are named for the reader: an outcome's own model by the outcome's label.
    good, bad = row_of(table, "M1"), row_of(table, "Extensive innovation")
    assert good == {
        "Model": "M1", "Chains × draws": "2 × 100", "Max R-hat": "1.002",
        "Min bulk ESS": "1,500", "Min tail ESS": "1,500", "Divergent transitions": "0",
        "Min E-BFMI": "0.90", "Tree-depth hits": "0", "Sampling time (s)": "12.2",
    }  # fmt: skip
    assert bad["Max R-hat"] == "1.030 ⚠"
    assert bad["Divergent transitions"] == "3 ⚠"
    assert bad["Min E-BFMI"] == "0.20 ⚠" and bad["Tree-depth hits"] == "4 ⚠"
    assert list(dict.fromkeys(table.frame.index)) == [
        "Project survival", "Strategies and short-sighted innovation"
    ]
    (flag,) = table.flags
    assert "Extensive innovation max R-hat 1.03, 3 divergent transition(s)" in flag
    assert "M1" not in flag
    assert table.data.set_index("model").loc["M2", "compile_seconds"] == 1.5


def test_appendix_a_without_failures_has_no_flag_and_renders_in_chinese(study_frame):
    fits = fits_of({"M1": SURVIVAL["M1"]}, study_frame)
    table = appendix_a_diagnostics(fits, "zh")
    assert table.flags == ()
    assert table.title == "附表A 各模型的抽样诊断"
    assert list(table.frame.columns)[:3] == ["模型", "链数 × 抽样数", "最大 R-hat"]
    assert list(dict.fromkeys(table.frame.index)) == ["项目存续"]


def test_appendix_b_priors_groups_models_by_prior(mixed_fits):
    table = appendix_b_priors(mixed_fits)
    frame = table.frame.set_index("Parameter")
    coefficients = next(label for label in frame.index if label.startswith("coefficients per SD"))
    assert frame.loc[coefficients, "Prior"] == "Normal(μ=0, σ=1)"
    assert frame.loc[coefficients, "Models"] == "M1, M2, extensive, expedient, short_sighted"
    assert frame.loc["intercept", "Models"] == "extensive, expedient, short_sighted"
    assert frame.loc["SD of township effects", "Source"] == "package default"
    zh = appendix_b_priors(mixed_fits, "zh").frame
    assert "乡镇层效应标准差" in zh["参数"].tolist()


def test_appendix_b_priors_show_spec_overrides():
    base = load_spec("strategy_extensive").to_dict()
    spec = spec_from_dict({**base, "priors": {"sd_township": {"dist": "Exponential", "lam": 2}}})
    frame = appendix_b_priors([spec]).frame.set_index("Parameter")
    assert frame.loc["SD of township effects", "Prior"] == "Exponential(λ=2)"
    assert frame.loc["SD of township effects", "Source"] == "model spec"
    assert frame.loc["SD of county effects", "Prior"] == "HalfNormal(σ=1)"


def test_scale_priors_scales_every_declaration_that_applies():
    base = load_spec("survival_m2").to_dict()
    spec = spec_from_dict({**base, "priors": {"sd_township": {"dist": "Exponential", "lam": 2}}})
    wide = scale_priors(spec, 2.0)
    assert wide.name == "survival_m2_prior_x2"
    assert resolve_prior("beta", wide.priors) == Prior("Normal", {"mu": 0.0, "sigma": 2.0})
    assert resolve_prior("sd", wide.priors, level="county") == Prior("HalfNormal", {"sigma": 2.0})
    # A rate shrinks: Exponential(lam=2) has scale 1/2, twice as wide is lam=1.
    assert resolve_prior("sd", wide.priors, level="township") == Prior("Exponential",
                                                                      {"lam": 1.0})  # fmt: skip
    # Roles not asked for are left alone, and the original spec is unchanged.
    assert resolve_prior("log_hazard", wide.priors) == resolve_prior("log_hazard", spec.priors)
    assert spec.priors["sd_township"] == Prior("Exponential", {"lam": 2.0})
    assert wide.hash() != spec.hash()
    with pytest.raises(ValueError, match="positive"):
        scale_priors(spec, 0)


def test_sensitivity_table_from_refits(study_frame):
    by_factor = {
        factor: fits_of({"M1": SURVIVAL["M1"]}, study_frame)
        for factor in (0.5, 1.0, 2.0)
    }
    # Make the x2 refit differ: another seed shifts its draws.
    by_factor[2.0] = {"M1": fits_of({"a": SURVIVAL["M0"], "M1": SURVIVAL["M1"]},
                                    study_frame)["M1"]}  # fmt: skip
    estimates = sensitivity_estimates(by_factor, terms=["authority"])
    assert sorted(set(estimates["term"])) == ["authority", "sd_county", "sd_township"]
    table = appendix_b_sensitivity(estimates)
    assert list(table.frame.columns) == [
        "Term", "Prior scale ×0.5", "Prior scale ×1", "Prior scale ×2", "Max |Δ| vs ×1"
    ]
    row = table.frame.reset_index(drop=True).iloc[0]
    one = estimates[(estimates["term"] == "authority") & (estimates["factor"] == 1.0)].iloc[0]
    two = estimates[(estimates["term"] == "authority") & (estimates["factor"] == 2.0)].iloc[0]
    assert row["Term"] == "Authority"
    assert row["Prior scale ×1"] == format_estimate(one["median"], one["lower"], one["upper"])
    assert row["Max |Δ| vs ×1"] == f"{abs(two['median'] - one['median']):.2f}"
    assert table.frame.index[0] == "M1"
    assert "multiplied by 0.5, 1, 2" in table.note


def test_sensitivity_labels_say_where_a_main_effect_in_an_interaction_holds(study_frame):
    by_factor = {factor: fits_of({"M4": SURVIVAL["M4"]}, study_frame) for factor in (1.0, 2.0)}
    estimates = sensitivity_estimates(by_factor)
    for lang, authority, collaboration in [
        ("en", "Authority (at Cross-department collaboration = 0)",
         "Cross-department collaboration (at the mean of Authority)"),
        ("zh", "权力（跨部门协作机制 = 0 时）", "跨部门协作机制（权力取均值时）"),
    ]:  # fmt: skip
        labels = appendix_b_sensitivity(estimates, lang).frame.iloc[:, 0].tolist()
        assert labels[0] == authority and collaboration in labels
    labels = appendix_b_sensitivity(estimates).frame.iloc[:, 0].tolist()
    # The order of Tables 2-4: remedies, strategies, the dilemma, interactions, controls, SDs.
    order = [labels.index(label) for label in [
        "Cross-department collaboration (at the mean of Authority)", "Extensive innovation",
        "Short-sighted innovation, after month 12", "Cross-department collaboration × Authority",
        "Region: West", "SD, township"]]  # fmt: skip
    assert order == sorted(order)


def test_sensitivity_table_rejects_bad_input():
    import pandas as pd

    frame = pd.DataFrame({"model": ["M1"], "term": ["authority"], "factor": [2.0],
                          "median": [1.0], "lower": [0.9], "upper": [1.1]})  # fmt: skip
    with pytest.raises(ValueError, match="reference prior scale"):
        appendix_b_sensitivity(frame)
    with pytest.raises(ValueError, match="missing"):
        appendix_b_sensitivity(frame.drop(columns="upper"))



def test_sensitivity_note_names_the_mass_of_the_estimates():
    import pandas as pd

    frame = pd.DataFrame({"model": ["M1"], "term": ["authority"], "factor": [1.0],
                          "median": [1.0], "lower": [0.9], "upper": [1.1]})  # fmt: skip
    for lang, mass in (("en", "[90% CrI]"), ("zh", "90% 可信区间")):
        note = appendix_b_sensitivity(frame, lang, prob=0.9).note
        assert mass in note and "95%" not in note


def test_appendix_tables_write_identical_bytes(tmp_path: Path, mixed_fits):
    for build in (appendix_a_diagnostics, appendix_b_priors):
        for lang in ("en", "zh"):
            first = build(mixed_fits, lang).write(tmp_path / "a")
            second = build(mixed_fits, lang).write(tmp_path / "b")
            assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert np.isfinite(appendix_a_diagnostics(mixed_fits).data["max_rhat"]).all()


def test_appendix_b_lists_per_unit_priors_of_binary_and_dummy_terms(mixed_fits):
    """Issue 13: the table says what a 0/1 or dummy coefficient's prior is per unit change."""
    table = appendix_b_priors(mixed_fits)
    frame = table.frame.set_index("Parameter")
    fit = mixed_fits["M2"]
    sd = fit.scaling.term_sd("collaboration")
    label = coefficient_label("collaboration")
    row = next(row for row in frame.index if row.startswith(f"coefficient of {label}"))
    assert row.endswith("per unit change")
    assert frame.loc[row, "Prior"] == f"Normal(μ=0, σ={float(f'{1 / sd:.3g}'):g})"
    assert 1 / sd > 1.9  # not the Normal(0, 1) a standardised predictor gets
    assert "autoscaled" in table.note and "Dirichlet" in table.note
    zh = appendix_b_priors(mixed_fits, "zh").frame
    assert any("每单位变化" in label for label in zh["参数"])
