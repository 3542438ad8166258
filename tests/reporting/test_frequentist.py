"""Appendix C: the ML analogues run on the Bayesian fit's standardised design, and the table
pairs them with the posterior medians."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _paper_fakes import SURVIVAL, fake_fit

from grassroots.reporting.frequentist import (
    _design,
    appendix_c_frequentist,
    frequentist_estimates,
    split_at_onset,
)
from grassroots.reporting.model_tables import coefficient_estimates
from grassroots.reporting.tables import format_estimate


@pytest.fixture(scope="module")
def logistic_fit(study_frame):
    return fake_fit("strategy_expedient", study_frame)


def test_logit_uses_the_fits_standardisation(logistic_fit, study_frame):
    estimates = frequentist_estimates(logistic_fit, study_frame).set_index("term")
    assert estimates["method"].iloc[0] == "statsmodels Logit"
    assert estimates["converged"].all()
    # The same model on raw predictors: a per-SD coefficient is the raw one times the SD the
    # Bayesian fit standardised with (not any other SD).
    columns = ["authority", "resources", "tech_capacity", "proximity", "homogeneity",
               "flexibility", "collaboration", "fiscal_capacity", "population", "outsourced"]
    design = pd.concat(
        [study_frame[columns].astype(float),
         pd.get_dummies(study_frame[["region", "township_type", "project_type",
                                     "funding_source"]], drop_first=False, dtype=float)],
        axis=1,
    )  # fmt: skip
    references = ["region_east", "township_type_township", "project_type_mini_program",
                  "funding_source_special_fund"]  # fmt: skip
    design = sm.add_constant(design.drop(columns=references))
    raw = sm.Logit(study_frame["expedient"].astype(float), design).fit(disp=False).params
    for column in ("authority", "resources", "population"):
        sd = logistic_fit.scaling.predictors[column].sd
        assert estimates.loc[column, "estimate"] == pytest.approx(raw[column] * sd, rel=1e-5)
    assert estimates.loc["region[west]", "estimate"] == pytest.approx(raw["region_west"], rel=1e-5)
    row = estimates.loc["authority"]
    assert row["ratio"] == pytest.approx(math.exp(row["estimate"]))
    assert row["lower"] < row["estimate"] < row["upper"]
    assert row["n"] == len(study_frame)


def test_cox_matches_lifelines_on_the_same_design(study_frame):
    from lifelines import CoxPHFitter

    fit = fake_fit(SURVIVAL["M1"], study_frame)
    estimates = frequentist_estimates(fit, study_frame).set_index("term")
    z = pd.DataFrame({
        column: (study_frame[column] - fit.scaling.predictors[column].mean)
        / fit.scaling.predictors[column].sd
        for column in ("authority", "resources", "tech_capacity")
    })  # fmt: skip
    direct = CoxPHFitter().fit(
        z.assign(months=study_frame["months"], discontinued=study_frame["discontinued"]),
        duration_col="months", event_col="discontinued",
    ).params_  # fmt: skip
    assert estimates["estimate"].to_dict() == pytest.approx(direct.to_dict(), rel=1e-6)
    assert estimates["method"].iloc[0] == "lifelines CoxPHFitter"
    assert estimates["n_events"].iloc[0] == study_frame["discontinued"].sum()


def test_cox_with_a_late_effect_splits_follow_up_at_the_onset(study_frame):
    from lifelines import CoxTimeVaryingFitter

    fit = fake_fit(SURVIVAL["M3"], study_frame)
    estimates = frequentist_estimates(fit, study_frame)
    assert estimates["method"].iloc[0] == "statsmodels PHReg, follow-up split at the onset"
    assert estimates["term"].iloc[-2:].tolist() == [
        "short_sighted~change12", "short_sighted~after12"
    ]
    # Delayed entry reproduces lifelines' time-varying Cox model on the same episodes (the data
    # hold an event exactly at the onset, where the risk-set convention matters).
    assert ((study_frame["months"] == 12) & (study_frame["discontinued"] == 1)).any()
    terms = estimates["term"].tolist()
    z = {c: (study_frame[c] - fit.scaling.predictors[c].mean) / fit.scaling.predictors[c].sd
         for c in ("authority", "resources")}  # fmt: skip
    assert terms[:2] == ["authority", "resources"]
    names, x, data = _design(fit, study_frame, "survival")
    assert np.allclose(x[:, 0], z["authority"]) and np.allclose(x[:, 1], z["resources"])
    episodes = split_at_onset(
        pd.DataFrame(x, columns=[f"x{k}" for k in range(x.shape[1])]), data.values["time"],
        data.values["event"], pd.DataFrame(data.values["late_design"], columns=["late0"]), 12.0,
    )  # fmt: skip
    reference = CoxTimeVaryingFitter().fit(episodes, event_col="event", start_col="start",
                                           stop_col="stop", id_col="id")  # fmt: skip
    coefficients = estimates.iloc[:-1]
    assert np.allclose(coefficients["estimate"], reference.params_.to_numpy(), atol=1e-6)
    assert np.allclose(coefficients["se"], reference.standard_errors_.to_numpy(), atol=1e-5)
    # After the onset: main + late coefficient, SE by the delta method on the fitted covariance.
    main, late = reference.params_.iloc[terms.index("short_sighted")], reference.params_.iloc[-1]
    cov = reference.variance_matrix_.to_numpy()
    k, j = terms.index("short_sighted"), len(terms) - 2
    after = estimates.set_index("term").loc["short_sighted~after12"]
    assert after["estimate"] == pytest.approx(main + late, abs=1e-6)
    assert after["se"] == pytest.approx(math.sqrt(cov[k, k] + cov[j, j] + 2 * cov[k, j]),
                                        abs=1e-5)  # fmt: skip
    assert after["ratio"] == pytest.approx(math.exp(main + late), rel=1e-5)
    assert after["lower"] < after["estimate"] < after["upper"]


def test_appendix_c_labels_conditions_and_late_rows_like_table_2(study_frame):
    fit = fake_fit(SURVIVAL["M4"], study_frame)
    table = appendix_c_frequentist({"Survival M4": fit}, study_frame)
    labels = table.frame.iloc[:, 0].tolist()
    assert labels[0] == "Authority (at Cross-department collaboration = 0)"
    assert "Cross-department collaboration (at the mean of Authority)" in labels
    # Blocks in the order of Tables 2-4: remedies before strategies, the dilemma after them.
    assert labels.index("Cross-department collaboration (at the mean of Authority)") < (
        labels.index("Extensive innovation")
    ) < labels.index("Short-sighted innovation, after month 12") < labels.index("Region: West")
    after = table.data.set_index("term").loc["short_sighted~after12"]
    assert np.isfinite(after["ml_ratio"]) and np.isfinite(after["bayes_median"])
    assert "ML exp(β̂ + β̂_late) with its SE from the fitted covariance" in table.note
    zh = appendix_c_frequentist({"Survival M4": fit}, study_frame, "zh")
    assert zh.frame.iloc[0, 0] == "权力（跨部门协作机制 = 0 时）"
    assert "Delta 方法" in zh.note


def test_episodes_split_follow_up_and_keep_each_event_once():
    time = np.array([5.0, 12.0, 20.0, 0.0, 30.0])
    event = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    covariates = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    late = pd.DataFrame({"late0": [1.0, 1.0, 1.0, 1.0, 0.0]})
    episodes = split_at_onset(covariates, time, event, late, onset=12.0)
    assert episodes[["id", "start", "stop", "event", "late0"]].values.tolist() == [
        [0, 0.0, 5.0, 1.0, 0.0],
        [1, 0.0, 12.0, 1.0, 0.0],  # ends at the onset: still the early hazard
        [2, 0.0, 12.0, 0.0, 0.0],
        [2, 12.0, 20.0, 1.0, 1.0],  # the event belongs to the late episode
        [4, 0.0, 12.0, 0.0, 0.0],
        [4, 12.0, 30.0, 0.0, 0.0],
    ]  # row 3 (0 months) has no episode
    assert episodes.groupby("id")["x"].nunique().eq(1).all()
    assert episodes["event"].sum() == event.sum()


def test_ordered_logit(study_frame):
    fit = fake_fit("demand_fit_m1", study_frame)
    estimates = frequentist_estimates(fit, study_frame)
    assert estimates["term"].tolist() == ["authority", "resources", "tech_capacity"]
    assert estimates["method"].iloc[0] == "statsmodels OrderedModel (logit)"
    assert estimates["n"].iloc[0] == study_frame["demand_fit"].notna().sum()


def test_other_data_warn(logistic_fit, study_frame):
    with pytest.warns(UserWarning, match="not the data"):
        frequentist_estimates(logistic_fit, study_frame.iloc[:-5])


def test_table_pairs_bayesian_and_ml_ratios(logistic_fit, study_frame):
    fits = {"Expedient governance": logistic_fit}
    table = appendix_c_frequentist(fits, study_frame)
    ml = frequentist_estimates(logistic_fit, study_frame).set_index("term")
    bayes = coefficient_estimates(fits).set_index("term")
    row = table.frame.reset_index(drop=True).iloc[0]
    assert row["Term"] == "Authority"
    b, m = bayes.loc["authority"], ml.loc["authority"]
    assert row["Bayesian [95% CrI]"] == format_estimate(b["estimate"], b["lower"], b["upper"])
    assert row["ML [95% CI]"] == format_estimate(m["ratio"], m["ratio_lower"], m["ratio_upper"])
    assert row["Bayes / ML"] == f"{b['estimate'] / m['ratio']:.2f}"
    assert list(dict.fromkeys(table.frame.index)) == ["Expedient governance"]
    assert "statsmodels Logit" in table.note and "non-collapsible" in table.note
    zh = appendix_c_frequentist(fits, lang="zh", estimates=ml.reset_index().assign(
        model="Expedient governance"))  # fmt: skip
    assert list(zh.frame.columns) == ["变量", "贝叶斯 [95% 可信区间]", "极大似然 [95% 置信区间]",
                                      "贝叶斯/极大似然"]  # fmt: skip
    assert zh.frame.iloc[0, 2] == row["ML [95% CI]"]
    with pytest.raises(ValueError, match="needs the data"):
        appendix_c_frequentist(fits)


def test_appendix_c_headers_name_the_mass_it_was_built_with(logistic_fit, study_frame):
    fits = {"Expedient governance": logistic_fit}
    table = appendix_c_frequentist(fits, study_frame, prob=0.9)
    assert list(table.frame.columns[1:3]) == ["Bayesian [90% CrI]", "ML [90% CI]"]
    zh = appendix_c_frequentist(fits, study_frame, "zh", prob=0.9)
    assert list(zh.frame.columns[1:3]) == ["贝叶斯 [90% 可信区间]", "极大似然 [90% 置信区间]"]
