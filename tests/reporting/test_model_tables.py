"""Tables 2-4: every kind of cell equals the number recomputed from the fake posterior; panels,
the convergence flag (present iff a threshold is missed), Chinese labels and byte-stable files."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _paper_fakes import STRATEGIES, SURVIVAL, fake_fit, fits_of

from grassroots.inference import Fit
from grassroots.reporting.model_tables import (
    RESIDUAL_VARIANCE,
    coefficient_estimates,
    coefficient_label,
    loo_summary,
    prior_declarations,
    table2_survival,
    table3_demand_fit,
    table4_strategies,
    term_panel,
    variance_components,
)
from grassroots.reporting.tables import FORMATS, Table, format_estimate


def draws(fit: Fit, name: str, **sel: str) -> np.ndarray:
    return fit.posterior[name].sel(**sel).to_numpy().reshape(-1)


def ratio_cell(values: np.ndarray) -> str:
    """What a ratio cell must say: exp of the median and of the 2.5% and 97.5% quantiles."""
    low, mid, high = np.quantile(values, [0.025, 0.5, 0.975])
    return format_estimate(math.exp(mid), math.exp(low), math.exp(high))


def cell(table: Table, panel: str, row: str, column: str) -> str:
    """The cell of ``row`` (its label) in ``panel`` under the model ``column``."""
    frame = table.frame
    label_column = frame.columns[0]
    part = frame.loc[[panel]]
    matches = part[part[label_column] == row]
    assert len(matches) == 1, f"{row!r} in {panel!r}: {len(matches)} rows"
    spanned = [c for c in frame.columns if c[-1] == column]
    assert len(spanned) == 1, column
    return str(matches.iloc[0][spanned[0]])


def panels(table: Table) -> list[str]:
    return list(dict.fromkeys(table.frame.index.get_level_values("panel")))


def test_hazard_ratio_cells_are_exp_of_the_posterior_median_and_quantiles(survival_fits):
    table = table2_survival(survival_fits)
    m2 = survival_fits["M2"]
    expected = ratio_cell(draws(m2, "survival_beta", survival_term="authority"))
    authority = "Authority (M4: at Cross-department collaboration = 0)"
    assert cell(table, "Weaknesses", authority, "M2") == expected
    # The fake coefficient of authority is 0.1 (first term): HR ~ exp(0.1).
    assert expected.startswith("1.1")
    m4 = survival_fits["M4"]
    assert cell(table, "Interactions", "Cross-department collaboration × Authority", "M4") == (
        ratio_cell(draws(m4, "survival_beta", survival_term="collaboration:authority"))
    )
    # A term a model does not have is a dash, and M0 has none at all.
    assert cell(table, "Strengths", "Proximity to residents", "M1") == "—"
    assert cell(table, "Weaknesses", authority, "M0") == "—"


def test_the_hazard_ratio_after_the_onset_combines_main_and_late_effect_per_draw(
    survival_fits, study_frame
):
    # Main and late coefficient with independent draws, so that the combined ratio's interval
    # is not the product of the two intervals.
    m4 = survival_fits["M4"]
    rng = np.random.default_rng(5)
    main = draws(m4, "survival_beta", survival_term="short_sighted")
    late = 0.5 + 0.3 * rng.standard_normal(main.size)
    posterior = m4.posterior.copy()
    posterior["survival_beta_late"] = (
        ("chain", "draw", "survival_late_term"),
        late.reshape(posterior.sizes["chain"], posterior.sizes["draw"], 1),
    )
    trace = m4.trace.copy()
    trace["posterior"] = xr.DataTree(posterior)
    fits = {"M4": replace(m4, trace=trace)}
    table = table2_survival(fits)
    after = cell(table, "Dilemmas", "Short-sighted innovation, after month 12", "M4")
    assert after == ratio_cell(main + late)
    assert after != ratio_cell(late)
    change = "Short-sighted innovation, change after month 12 (ratio of HRs)"
    assert cell(table, "Dilemmas", change, "M4") == ratio_cell(late)
    assert "exp(β + β_late)" in table.note


def test_rows_come_in_the_paper_panels(survival_fits):
    table = table2_survival(survival_fits)
    assert panels(table) == [
        "Weaknesses", "Strengths", "Remedies", "Strategies", "Dilemmas", "Interactions",
        "Controls", "Variance components", "Fit and diagnostics",
    ]  # fmt: skip
    weaknesses = table.frame.loc[["Weaknesses"]].iloc[:, 0].tolist()
    assert weaknesses == [
        "Authority (M4: at Cross-department collaboration = 0)",
        "Resources",
        "Technical capacity (M4: at Outsourced = 0)",
    ]
    remedies = table.frame.loc[["Remedies"]].iloc[:, 0].tolist()
    assert remedies == ["Cross-department collaboration (M4: at the mean of Authority)"]
    strategies = table.frame.loc[["Strategies"]].iloc[:, 0].tolist()
    assert strategies == ["Extensive innovation", "Expedient governance"]
    dilemmas = table.frame.loc[["Dilemmas"]].iloc[:, 0].tolist()
    assert dilemmas[0] == "Short-sighted innovation"
    controls = table.frame.loc[["Controls"]].iloc[:, 0].tolist()
    assert controls[:2] == ["Region: Central", "Region: West"]
    assert table.frame.columns[1] == ("HR [95% CrI]", "M0")
    assert table.panel == "panel" and table.align == "l" + "r" * 5


@pytest.mark.parametrize(
    ("term", "panel"),
    [("resources", "weaknesses"), ("homogeneity", "strengths"), ("collaboration", "remedies"),
     ("funding_source[regular_budget]", "controls"), ("expedient", "strategies"),
     ("short_sighted", "dilemmas"), ("short_sighted~after12", "dilemmas"),
     ("short_sighted~change12", "dilemmas"), ("tech_capacity:outsourced", "interactions"),
     ("my_own_column", "controls")],
)  # fmt: skip
def test_term_panels_follow_the_codebook_roles(term: str, panel: str) -> None:
    assert term_panel(term) == panel


def test_variance_components_and_shares(survival_fits, demand_fits):
    m0 = survival_fits["M0"]
    county, township = draws(m0, "survival_sd_county"), draws(m0, "survival_sd_township")
    # The documented formula, per draw, on the log-hazard scale (pi^2 / 6).
    share = township**2 / (county**2 + township**2 + math.pi**2 / 6)
    table = table2_survival(survival_fits)
    low, mid, high = np.quantile(share, [0.025, 0.5, 0.975])
    assert cell(table, "Variance components", "Share of variance, township (%)", "M0") == (
        format_estimate(100 * mid, 100 * low, 100 * high, digits=1)
    )
    low, mid, high = np.quantile(county, [0.025, 0.5, 0.975])
    assert cell(table, "Variance components", "SD, county", "M0") == format_estimate(mid, low, high)
    # Logit scale for the ordinal model: pi^2 / 3.
    components = variance_components(demand_fits["M0"])
    assert components["residual_variance"].tolist() == [math.pi**2 / 3] * 2
    assert RESIDUAL_VARIANCE["survival"] == pytest.approx(math.pi**2 / 6)
    d_county = draws(demand_fits["M0"], "demand_fit_sd_county")
    d_town = draws(demand_fits["M0"], "demand_fit_sd_township")
    expected = np.median(d_county**2 / (d_county**2 + d_town**2 + math.pi**2 / 3))
    assert components.loc[0, "share_median"] == pytest.approx(expected)


def test_loo_cell_from_the_stored_log_likelihood_else_a_dash(survival_fits):
    import arviz_stats as azs

    table = table2_survival(survival_fits)
    result = azs.loo(survival_fits["M2"].trace, var_name="survival")
    assert cell(table, "Fit and diagnostics", "LOO elpd ± SE", "M2") == (
        f"{result.elpd:,.1f} ± {result.se:,.1f}"
    )
    assert result.se > 0
    assert cell(table, "Fit and diagnostics", "LOO elpd ± SE", "M3") == "—"
    assert loo_summary(survival_fits["M3"]) is None
    assert "pointwise log-likelihood was not stored (M0, M1, M3, M4)" in table.note


def test_n_per_level_and_diagnostics_rows(survival_fits, demand_fits):
    table = table2_survival(survival_fits)
    counts = survival_fits["M1"].counts
    assert cell(table, "Fit and diagnostics", "N projects", "M1") == f"{counts['rows']:,d}"
    assert cell(table, "Fit and diagnostics", "N townships", "M1") == str(counts["township"])
    assert cell(table, "Fit and diagnostics", "N counties", "M1") == str(counts["county"])
    assert cell(table, "Fit and diagnostics", "Max R-hat", "M1") == "1.00"
    assert cell(table, "Fit and diagnostics", "Min bulk ESS", "M1") == "1,500"
    assert cell(table, "Fit and diagnostics", "Divergent transitions", "M1") == "0"
    # Demand fit counts only the rated projects.
    rated = demand_fits["M1"].counts["demand_fit_observed"]
    assert rated < demand_fits["M1"].counts["rows"]
    demand = table3_demand_fit(demand_fits)
    assert cell(demand, "Fit and diagnostics", "N projects", "M1") == f"{rated:,d}"
    # Events show when the counts carry them (and only then).
    assert "N discontinued" not in table.frame.iloc[:, 0].tolist()
    m1 = survival_fits["M1"]
    with_events = replace(m1, counts={**m1.counts, "survival_events": 97})
    table = table2_survival({"M0": survival_fits["M0"], "M1": with_events})
    assert cell(table, "Fit and diagnostics", "N discontinued", "M1") == "97"
    assert cell(table, "Fit and diagnostics", "N discontinued", "M0") == "—"


@pytest.mark.parametrize(
    ("settings", "flagged", "bad_cell"),
    [
        ({}, False, None),
        # Values at the thresholds pass.
        ({"rhat": 1.01, "ess": 400.0}, False, None),
        ({"rhat": 1.02}, True, ("Max R-hat", "1.02 ⚠")),
        ({"ess": 399.0}, True, ("Min bulk ESS", "399 ⚠")),
        ({"divergent": 2}, True, ("Divergent transitions", "2 ⚠")),
    ],
)
def test_convergence_flag_iff_a_threshold_is_missed(study_frame, settings, flagged, bad_cell):
    # Two models keep the test quick; the flag names the failing one.
    fits = fits_of({"M1": SURVIVAL["M1"], "M3": SURVIVAL["M3"]}, study_frame, M3=settings)
    tables = {lang: table2_survival(fits, lang) for lang in ("en", "zh")}
    for lang, table in tables.items():
        assert bool(table.flags) is flagged
        if flagged:
            assert table.flags[0].startswith("⚠ Not converged" if lang == "en" else "⚠ 未收敛")
            assert "M3" in table.flags[0] and "M1" not in table.flags[0]
    if bad_cell is not None:
        row, shown = bad_cell
        assert cell(tables["en"], "Fit and diagnostics", row, "M3") == shown
        assert cell(tables["en"], "Fit and diagnostics", row, "M1") != shown
        assert "**⚠ Not converged" in tables["en"].to_markdown()


def test_chinese_table(survival_fits):
    table = table2_survival(survival_fits, "zh")
    assert table.title.startswith("表2 项目存续")
    assert table.lang == "zh"
    assert panels(table) == [
        "弱势", "优位", "调适举措", "策略", "困境", "交互项", "控制变量", "方差成分", "拟合与诊断",
    ]  # fmt: skip
    assert table.frame.columns[1] == ("风险比 [95% 可信区间]", "M0")
    rows = table.frame.iloc[:, 0].tolist()
    for label in ["权力（M4：跨部门协作机制 = 0 时）", "跨部门协作机制（M4：权力取均值时）",
                  "地区：西部", "创新短视化（第 12 个月后）",
                  "创新短视化（第 12 个月后的变化，风险比之比）", "跨部门协作机制 × 权力",
                  "乡镇层标准差", "乡镇层方差占比（%）", "乡镇数", "县数", "最大 R-hat"]:
        assert label in rows, label  # fmt: skip
    assert cell(table, "弱势", "权力（M4：跨部门协作机制 = 0 时）", "M2") == cell(
        table2_survival(survival_fits), "Weaknesses",
        "Authority (M4: at Cross-department collaboration = 0)", "M2")  # fmt: skip
    assert table.note.startswith("比例风险模型")
    assert "π²/6" in table.note
    prior = "先验：回归系数（按项的标准差；0/1 或虚拟变量 x 每单位：尺度 ÷ sd(x)） Normal(μ=0, σ=1)"
    assert prior in table.note


def test_note_names_model_priors_counts_and_formula(survival_fits):
    note = table2_survival(survival_fits).note
    for piece in [
        "piecewise-constant baseline hazard (cuts at 6, 12, 18, 24, 36, 48, 60, 84 months)",
        "M0: group effects only; M1: + weaknesses; M2: + strengths, remedies, controls; "
        "M3: + strategies, dilemmas",
        "coefficients per SD of their term (per unit of a 0/1 or dummy term x: scale ÷ sd(x)) "
        "Normal(μ=0, σ=1)",
        "SD of township effects HalfNormal(σ=1)",
    ]:
        assert piece in note, piece
    assert "σ²_l / (Σσ² + π²/6)" in note
    assert "Reference levels: Region: East" in note
    assert "2 × 100" in note


def test_written_files_are_byte_identical(tmp_path: Path, survival_fits):
    for lang in ("en", "zh"):
        first = table2_survival(survival_fits, lang).write(tmp_path / "a" / lang)
        second = table2_survival(survival_fits, lang).write(tmp_path / "b" / lang)
        assert [p.suffix[1:] for p in first] == list(FORMATS)
        assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    data = pd.read_csv(tmp_path / "a" / "en" / "table2_survival.csv")
    authority = data[(data["model"] == "M2") & (data["term"] == "authority")]
    assert authority["statistic"].tolist() == ["HR"]


def test_table3_reports_odds_ratios(demand_fits):
    table = table3_demand_fit(demand_fits)
    assert table.frame.columns[1] == ("OR [95% CrI]", "M0")
    assert table.title.startswith("Table 3. Demand fit")
    m3 = demand_fits["M3"]
    expected = ratio_cell(draws(m3, "demand_fit_beta", demand_fit_term="extensive"))
    assert cell(table, "Strategies", "Extensive innovation", "M3") == expected
    assert "at the average profile) InducedDirichlet(α=1)" in table.note
    assert "σ²_l / (Σσ² + π²/3)" in table.note


def test_table4_columns_are_the_outcomes(strategy_fits, study_frame):
    table = table4_strategies(strategy_fits, "zh")
    assert [c[-1] for c in table.frame.columns[1:]] == ["粗放式创新", "权宜式治理", "创新短视化"]
    assert cell(table, "弱势", "资源", "权宜式治理") == ratio_cell(
        draws(strategy_fits["expedient"], "expedient_beta", expedient_term="resources")
    )
    # Only short_sighted's model holds the strategies; the others show dashes.
    assert cell(table, "策略", "粗放式创新", "粗放式创新") == "—"
    assert "各模型" not in table.note
    assert "创新短视化：弱势、优位、调适举措、控制变量、策略" in table.note
    failing = fits_of(STRATEGIES, study_frame, extensive={"divergent": 1})
    flag = table4_strategies(failing).flags[0]
    assert "Extensive innovation 1 divergent transition(s)" in flag


def test_estimates_frame_and_labels(survival_fits, study_frame):
    estimates = coefficient_estimates(survival_fits)
    assert set(estimates["model"]) == {"M1", "M2", "M3", "M4"}
    row = estimates[(estimates["model"] == "M1") & (estimates["term"] == "resources")].iloc[0]
    assert row["ratio"] == "HR" and row["per"] == "SD" and row["panel"] == "weaknesses"
    assert row["estimate"] == pytest.approx(math.exp(row["log_median"]))
    assert coefficient_label("short_sighted~after12", "zh") == "创新短视化（第 12 个月后）"
    # Main effects of interacting columns carry the condition they hold at: the other column at
    # 0 when it is binary, at its mean when it is standardised.
    m4 = estimates[estimates["model"] == "M4"].set_index("term")["given"]
    assert m4["authority"] == "collaboration=0"
    assert m4["collaboration"] == "authority=mean"
    assert m4["tech_capacity"] == "outsourced=0" and m4["outsourced"] == "tech_capacity=mean"
    assert m4["resources"] == "" and m4["collaboration:authority"] == ""
    m3 = estimates[estimates["model"] == "M3"].set_index("term")["given"]
    assert (m3 == "").all()
    mixed = {"a": survival_fits["M1"], "b": fake_fit("strategy_extensive", study_frame)}
    with pytest.raises(ValueError, match="mixes outcome families"):
        table2_survival(mixed)


def test_prior_declarations_resolve_overrides():
    from grassroots.models import load_spec
    from grassroots.models.spec import spec_from_dict

    table = spec_from_dict(
        {**load_spec(SURVIVAL["M1"]).to_dict(),
         "priors": {"beta": {"dist": "Normal", "mu": 0, "sigma": 0.5},
                    "sd_township": {"dist": "Exponential", "lam": 2}}}
    )  # fmt: skip
    declared = prior_declarations(table).set_index(["role", "level"])
    assert declared.loc[("beta", ""), "prior"] == "Normal(μ=0, σ=0.5)"
    assert declared.loc[("beta", ""), "source"] == "spec"
    assert declared.loc[("sd", "township"), "prior"] == "Exponential(λ=2)"
    assert declared.loc[("sd", "county"), "source"] == "default"
    assert declared.loc[("log_hazard", ""), "prior"] == "Normal(μ=-4, σ=1.5)"


def test_a_structural_fit_reports_one_outcome(study_frame):
    fit = fake_fit("structural", study_frame)
    with pytest.raises(ValueError, match="say which with outcome"):
        table2_survival({"Joint": fit})
    table = table2_survival({"Joint": fit}, outcome="survival")
    # The correlated township level: its SD is township_sd[survival].
    township = draws(fit, "township_sd", outcome="survival")
    county = draws(fit, "survival_sd_county")
    shares = township**2 / (county**2 + township**2 + math.pi**2 / 6)
    low, mid, high = 100 * np.quantile(shares, [0.025, 0.5, 0.975])
    assert cell(table, "Variance components", "Share of variance, township (%)", "Joint") == (
        format_estimate(mid, low, high, digits=1)
    )
    assert cell(table, "Strategies", "Expedient governance", "Joint") == ratio_cell(
        draws(fit, "survival_beta", survival_term="expedient")
    )
    # Only the survival outcome's priors, and the shared LKJ prior.
    assert "cut points" not in table.note and "LKJ η of correlated township effects 2" in table.note
    demand = table3_demand_fit({"Joint": fit}, outcome="demand_fit")
    assert "at the average profile) InducedDirichlet(α=1)" in demand.note


def test_prior_dominance_flag_names_the_dominated_coefficients(study_frame):
    """Issue 13: a coefficient whose posterior SD exceeds half its prior SD is flagged in the
    table's notes, beside the convergence flag; data-dominated fits carry no flag."""
    fits = fits_of({"M1": SURVIVAL["M1"], "M3": SURVIVAL["M3"]}, study_frame, M3={"spread": 2.5})
    en, zh = table2_survival(fits, "en"), table2_survival(fits, "zh")
    (flag,) = en.flags
    assert flag.startswith("⚠ Prior dominates (posterior SD > 0.5 × prior SD")
    assert f"M3 {coefficient_label('authority')}" in flag and "M1" not in flag
    assert zh.flags[0].startswith("⚠ 先验主导")
    quiet = fits_of({"M1": SURVIVAL["M1"]}, study_frame)
    assert table2_survival(quiet, "en").flags == ()


def test_the_spanner_names_the_mass_the_table_was_built_with(survival_fits, strategy_fits):
    for lang, survival, odds in (
        ("en", "HR [90% CrI]", "OR [90% CrI]"),
        ("zh", "风险比 [90% 可信区间]", "比值比 [90% 可信区间]"),
    ):
        hazard = table2_survival(survival_fits, lang, prob=0.9)
        assert {spanner for spanner, _ in hazard.frame.columns[1:]} == {survival}
        ratio = table4_strategies(strategy_fits, lang, prob=0.9)
        assert {spanner for spanner, _ in ratio.frame.columns[1:]} == {odds}
        assert "90%" in hazard.note and "95%" not in hazard.note
