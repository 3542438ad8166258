"""Table 9 (the structural model's coefficients) and Table 10 (LOO differences of M0-M4)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
from _paper_fakes import fake_fit

from grassroots.reporting.structural_tables import (
    loo_comparison,
    table9_structural,
    table10_loo_comparison,
)


@pytest.fixture(scope="module")
def structural_fit(study_frame):
    base = fake_fit("structural", study_frame)
    centres = {}
    # Distinct, known centres per outcome for "authority", so a test can tell the columns apart.
    for outcome, centre in {"survival": 0.7, "demand_fit": -0.4, "extensive": 0.2}.items():
        terms = [str(t) for t in base.posterior[f"{outcome}_beta"].coords[f"{outcome}_term"].values]
        beta = np.zeros(len(terms))
        beta[terms.index("authority")] = centre
        centres[f"{outcome}_beta"] = beta
    return fake_fit("structural", study_frame, centres=centres, spread=0.05)


def _cell(table, header: str, label: str) -> str:
    frame = table.frame
    column = next(c for c in frame.columns if c[1] == header)
    rows = frame[frame[frame.columns[0]] == label]
    return rows[column].iloc[0]


def test_table9_has_one_column_per_outcome_with_its_own_coefficients(structural_fit):
    table = table9_structural(structural_fit, "en")
    headers = [c[1] for c in table.frame.columns[1:]]
    assert headers == [
        "Survival (HR)", "Demand fit (OR)", "Extensive innovation (OR)",
        "Expedient governance (OR)", "Short-sighted (OR)",
    ]  # fmt: skip
    for outcome, header in [("survival", "Survival (HR)"), ("demand_fit", "Demand fit (OR)")]:
        draws = structural_fit.posterior[f"{outcome}_beta"].sel({f"{outcome}_term": "authority"})
        expected = f"{np.exp(float(draws.median())):.2f} ["
        assert _cell(table, header, "Authority").startswith(expected)
    # The strategies predict survival but are outcomes of their own equations.
    assert _cell(table, "Extensive innovation (OR)", "Extensive innovation") == "—"
    assert _cell(table, "Survival (HR)", "Extensive innovation") != "—"
    # The correlated (township) level has its own SD per outcome.
    survival_sd = _cell(table, "Survival (HR)", "SD, township")
    assert survival_sd != _cell(table, "Short-sighted (OR)", "SD, township")


def test_table9_spanner_names_the_mass_it_was_built_with(structural_fit):
    for lang, spanner in (("en", "Estimate [90% CrI]"), ("zh", "估计值 [90% 可信区间]")):
        table = table9_structural(structural_fit, lang, prob=0.9)
        assert {top for top, _ in table.frame.columns[1:]} == {spanner}
        assert "90%" in table.note and "95%" not in table.note


def test_table9_flags_a_fit_that_did_not_converge(study_frame, structural_fit):
    assert not any(table9_structural(structural_fit, "en").flags)
    bad = fake_fit("structural", study_frame, rhat=1.08, divergent=3)
    table = table9_structural(bad, "zh")
    assert any("未收敛" in flag for flag in table.flags)
    assert "发散转移 3 次" in table.note
    assert "项目存续（风险比）" in table.to_markdown()


# --- LOO differences ------------------------------------------------------------------------


def _shifted(fit, shift: np.ndarray):
    """``fit`` with its pointwise log-likelihood shifted row by row (same draws otherwise)."""
    (name,) = fit.trace["log_likelihood"].to_dataset().data_vars
    loglik = fit.trace["log_likelihood"].to_dataset()
    loglik[name] = loglik[name] + xr.DataArray(shift, dims=[loglik[name].dims[-1]])
    trace = xr.DataTree.from_dict({"posterior": fit.posterior, "log_likelihood": loglik})
    return dataclasses.replace(fit, trace=trace)


def test_se_of_the_difference_comes_from_the_pointwise_differences(study_frame):
    better = fake_fit("survival_m4", study_frame, log_likelihood=True, seed=5)
    n = better.trace["log_likelihood"].to_dataset()["survival"].sizes["survival_obs"]
    rng = np.random.default_rng(1)
    worse = _shifted(better, -rng.uniform(0.0, 0.1, n))
    compared = loo_comparison({"M3": worse, "M4": better}).set_index("model")
    pointwise = better.loo("survival").elpd_i.to_numpy() - worse.loo("survival").elpd_i.to_numpy()
    assert compared.loc["M4", "elpd_diff"] == 0.0
    assert compared.loc["M3", "elpd_diff"] == pytest.approx(-pointwise.sum())
    assert compared.loc["M3", "se_diff"] == pytest.approx(np.sqrt(n * np.var(pointwise)))
    # The two models' errors are almost perfectly correlated: combining their SEs as if they
    # were independent would overstate the SE of the difference many times over.
    naive = np.hypot(compared.loc["M3", "se"], compared.loc["M4", "se"])
    assert compared.loc["M3", "se_diff"] < naive / 10


def test_loo_comparison_refuses_models_fitted_on_different_rows(study_frame):
    one = fake_fit("survival_m4", study_frame, log_likelihood=True)
    other = fake_fit("survival_m4", study_frame.iloc[:100], log_likelihood=True)
    with pytest.raises(ValueError, match="same observations"):
        loo_comparison({"M3": one, "M4": other})


def test_table10_marks_models_without_log_likelihood_and_the_best_one(study_frame):
    fits = {
        "M0": fake_fit("survival_m0", study_frame),
        "M1": fake_fit("survival_m1", study_frame, log_likelihood=True, seed=1),
        "M2": fake_fit("survival_m2", study_frame, log_likelihood=True, seed=2),
    }
    table = table10_loo_comparison({"survival": fits}, "en")
    text = table.to_markdown()
    assert "| M0 | — | — | — | — |" in text
    assert text.count("0 (best)") == 1
    assert "Project survival M0" in table.note
    compared = loo_comparison(fits).set_index("model")
    worst = compared["elpd"].idxmin()
    row = compared.loc[worst]
    assert f"{row.elpd_diff:,.1f} ({row.se_diff:,.1f})" in text


# --- prior sensitivity of the structural model ----------------------------------------------


def test_structural_sensitivity_reads_each_outcome_from_each_refit(study_frame):
    from grassroots.models import load_spec
    from grassroots.reporting.appendix import scale_priors
    from grassroots.reporting.structural_tables import (
        appendix_b_sensitivity_structural,
        structural_sensitivity_estimates,
    )

    spec = load_spec("structural")
    base = fake_fit(spec, study_frame)
    terms = [str(t) for t in base.posterior["expedient_beta"].coords["expedient_term"].values]

    def refit(factor: float, centre: float):
        beta = np.zeros(len(terms))
        beta[terms.index("authority")] = centre
        scaled = spec if factor == 1 else scale_priors(spec, factor)
        return fake_fit(scaled, study_frame, centres={"expedient_beta": beta}, spread=0.01)

    fits = {0.5: refit(0.5, -0.3), 1.0: refit(1, -0.5), 2.0: refit(2, -0.6)}
    estimates = structural_sensitivity_estimates(fits)
    assert list(dict.fromkeys(estimates["model"])) == list(spec.outcome_names)
    authority = estimates.query("model == 'expedient' and term == 'authority'").set_index("factor")
    for factor, fit in fits.items():
        draws = fit.posterior["expedient_beta"].sel(expedient_term="authority")
        assert authority.loc[factor, "median"] == pytest.approx(np.exp(float(draws.median())))
    # Every outcome's township SD (the correlated level) is there under every prior scale.
    sds = estimates[estimates["term"] == "sd_township"]
    assert len(sds) == len(spec.outcome_names) * len(fits)

    table = appendix_b_sensitivity_structural(estimates, "en")
    assert table.title.startswith("Appendix Table B3")
    assert "Expedient governance (OR)" in table.frame.index
    change = np.exp(-0.3) - np.exp(-0.5)
    row = table.frame[(table.frame.index == "Expedient governance (OR)")
                      & (table.frame["Term"] == "Authority")]  # fmt: skip
    assert float(row["Max |Δ| vs ×1"].iloc[0]) == pytest.approx(change, abs=0.01)


def test_table9_shows_the_lower_triangle_of_the_township_correlations(structural_fit):
    posterior = structural_fit.posterior
    corr = posterior["township_corr"].copy()
    corr.loc[{"outcome": "demand_fit", "outcome2": "survival"}] = -0.35
    corr.loc[{"outcome": "survival", "outcome2": "demand_fit"}] = -0.35
    trace = xr.DataTree.from_dict({"posterior": posterior.assign(township_corr=corr)})
    fit = dataclasses.replace(structural_fit, trace=trace)
    table = table9_structural(fit, "en")
    frame = table.frame
    panel = frame[frame.index == "Correlations of township effects across outcomes"]
    assert list(panel[frame.columns[0]]) == [
        "Demand fit", "Extensive innovation", "Expedient governance", "Short-sighted",
    ]  # fmt: skip
    survival_column = next(c for c in frame.columns if c[1] == "Survival (HR)")
    demand_column = next(c for c in frame.columns if c[1] == "Demand fit (OR)")
    assert panel[survival_column].iloc[0] == "-0.35 [-0.35, -0.35]"
    assert panel[demand_column].iloc[0] == ""  # upper triangle and diagonal left blank
    assert panel[survival_column].iloc[1] == "0.00 [0.00, 0.00]"
