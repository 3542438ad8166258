"""The coverage study: the truth on the model's scale, seeds, parameter groups, the summary
table, resuming."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grassroots.validation import coverage


def test_replicate_seeds_do_not_depend_on_how_many_are_run():
    assert coverage.replicate_seed(1, 3) == coverage.replicate_seed(1, 3)
    seeds = [coverage.replicate_seed(1, r) for r in range(50)]
    assert len(set(seeds)) == 50
    assert coverage.replicate_seed(2, 3) != coverage.replicate_seed(1, 3)


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ("survival_beta[authority]", ("survival", "coefficients")),
        ("demand_fit_beta[tech_capacity:outsourced]", ("demand_fit", "coefficients")),
        ("survival_beta_late[short_sighted]", ("survival", "late effect")),
        ("extensive_intercept", ("extensive", "intercept / cut points")),
        ("demand_fit_cutpoints[1|2]", ("demand_fit", "intercept / cut points")),
        ("short_sighted_sd_county", ("short_sighted", "county SD")),
        ("township_sd[expedient]", ("expedient", "township SD")),
        ("short_sighted_effect_county[C007]", ("short_sighted", "county effects")),
        ("township_effect[T0601, demand_fit]", ("demand_fit", "township effects")),
    ],
)
def test_parameter_groups(parameter, expected):
    assert coverage.parameter_group(parameter) == expected


def _rows(n_replicates: int, rng: np.random.Generator) -> pd.DataFrame:
    """Replicates whose posteriors are N(truth + e, 1) with e ~ N(0, 1): calibrated intervals."""
    rows = []
    for r in range(n_replicates):
        for parameter in ("survival_beta[authority]", "township_sd[survival]"):
            truth = 0.3
            centre = truth + rng.standard_normal()
            rows.append({
                "replicate": r, "parameter": parameter, "truth": truth, "mean": centre,
                "q05": centre - 1.6449, "q25": centre - 0.6745, "q75": centre + 0.6745,
                "q95": centre + 1.6449, "r_hat": 1.0 if r % 10 else 1.05,
                "ess_bulk": 800.0 if parameter.startswith("survival") else 300.0,
                "ess_tail": 900.0, "max_rhat": 1.0 if r % 10 else 1.05,
                "divergences": 0, "sample_seconds": 1.0,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_coverage_table_measures_calibrated_intervals_near_nominal():
    table = coverage.coverage_table(_rows(2000, np.random.default_rng(0)))
    overall = table[table["group"] == "all parameters"].iloc[0]
    assert overall["replicates"] == 2000 and overall["intervals"] == 4000
    assert abs(overall["coverage_50"] - 0.5) < 4 * overall["se_50"]
    assert abs(overall["coverage_90"] - 0.9) < 4 * overall["se_90"]
    assert abs(overall["rmse"] - 1.0) < 0.05
    by_group = table.set_index(["outcome", "group"])
    assert by_group.loc[("survival", "township SD"), "parameters"] == 1
    # Township SDs (ESS 300) and every 10th replicate (R-hat 1.05) miss the reporting standard.
    assert by_group.loc[("survival", "township SD"), "flagged"] == 1.0
    assert by_group.loc[("survival", "coefficients"), "flagged"] == pytest.approx(0.1)
    converged = coverage.coverage_table(_rows(100, np.random.default_rng(0)), converged_only=True)
    assert converged.iloc[-1]["replicates"] == 90 and converged.iloc[-1]["parameters"] == 1
    assert converged.iloc[-1]["flagged"] == 0.0


def test_biased_intervals_show_as_undercoverage():
    rows = _rows(500, np.random.default_rng(1))
    rows[["mean", "q05", "q25", "q75", "q95"]] += 2.0
    overall = coverage.coverage_table(rows).iloc[-1]
    assert overall["coverage_90"] < 0.7 and overall["mean_error"] == pytest.approx(2.0, abs=0.1)


def test_finished_replicates_are_read_back_and_skipped(tmp_path: Path, monkeypatch):
    _rows(3, np.random.default_rng(2)).query("replicate == 1").to_parquet(
        tmp_path / "replicate-0001.parquet", index=False
    )
    assert coverage.read_replicates(tmp_path)["replicate"].unique().tolist() == [1]
    messages = []
    records = coverage.run_coverage([1], seed=5, out_dir=tmp_path, echo=messages.append)
    assert records == [] and "running 0" in messages[0]


@pytest.fixture
def small_structural_fit(fake_sampler):
    """A structural fit (prior draws for a sampler) of a small simulated study, and its truth."""
    from grassroots.data.simulate import SimulationConfig, simulate
    from grassroots.inference import ConvergenceWarning, fit
    from grassroots.models import load_spec

    config = SimulationConfig(n_counties=5, townships_per_county=4, projects_per_township=3)
    study = simulate(seed=8, config=config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fit(study.flat(), load_spec("structural"), seed=8, chains=2, draws=20, tune=10,
                     progress=False, save=False, reuse=False)  # fmt: skip
    return fitted, study.truth


def test_every_true_value_is_a_summary_row_and_group_effects_sum_to_zero(small_structural_fit):
    fitted, truth = small_structural_fit
    values = coverage.true_values(fitted, truth, group_effects=True)
    summary = fitted.summary(prob=0.9, group_effects=True)
    assert not set(values.index) - set(summary.index)
    groups = pd.DataFrame([coverage.parameter_group(p) for p in values.index], index=values.index,
                          columns=["outcome", "group"])  # fmt: skip
    assert "other" not in set(groups["group"])
    effects = values[groups["group"].str.endswith("effects")]
    coords = fitted.posterior.coords
    assert len(effects) == 5 * (coords["county"].size + coords["township"].size)
    sums = effects.groupby([groups["outcome"], groups["group"]]).sum()
    assert np.allclose(sums, 0.0, atol=1e-12)
    without = coverage.true_values(fitted, truth)
    assert without.index.equals(values.index[: len(without)])


def test_a_constant_moved_between_intercept_and_group_effects_leaves_the_truth_unchanged(
    small_structural_fit,
):
    """Adding c to every county effect and -c to the intercept is the same simulator, and so is
    adding c to every township effect and c to the ordinal cut points."""
    fitted, truth = small_structural_fit
    shifted = copy.deepcopy(truth)
    effects = shifted["group_effects"]
    effects["county"]["effects"]["extensive"] = [
        e + 0.7 for e in effects["county"]["effects"]["extensive"]
    ]
    shifted["outcomes"]["extensive"]["intercept"] -= 0.7
    effects["township"]["effects"]["demand_fit"] = [
        e + 0.3 for e in effects["township"]["effects"]["demand_fit"]
    ]
    shifted["outcomes"]["demand_fit"]["cutpoints"] = [
        c + 0.3 for c in shifted["outcomes"]["demand_fit"]["cutpoints"]
    ]
    original = coverage.true_values(fitted, truth, group_effects=True)
    moved = coverage.true_values(fitted, shifted, group_effects=True)
    pd.testing.assert_series_equal(original, moved, atol=1e-12, rtol=0)
    # And the intercept does move when only the effects do.
    effects["county"]["effects"]["short_sighted"] = [
        e + 0.5 for e in effects["county"]["effects"]["short_sighted"]
    ]
    changed = coverage.true_values(fitted, shifted, group_effects=True) - original
    assert changed["short_sighted_intercept"] == pytest.approx(0.5)
    assert np.allclose(changed.drop("short_sighted_intercept"), 0.0, atol=1e-12)


def _shrunk_effects(sd_estimates: list[float], rng: np.random.Generator) -> pd.DataFrame:
    """Township effects u ~ N(0, 0.4) seen through y = u + N(0, 0.5), posteriors computed with
    each replicate's SD estimate: calibrated when it is right, too narrow when it is low."""
    true_sd, noise = 0.4, 0.5
    rows = []
    for r, sd in enumerate(sd_estimates):
        rows.append({"replicate": r, "parameter": "township_sd[extensive]", "truth": true_sd,
                     "mean": sd, "q05": sd / 2, "q25": sd, "q75": sd, "q95": sd * 2})  # fmt: skip
        u = rng.normal(0, true_sd, 400)
        shrink = sd**2 / (sd**2 + noise**2)
        centre = shrink * (u + rng.normal(0, noise, u.size))
        spread = np.sqrt(shrink) * noise
        for i in range(u.size):
            rows.append({
                "replicate": r, "parameter": f"township_effect[T{i:04d}, extensive]",
                "truth": u[i], "mean": centre[i],
                "q05": centre[i] - 1.6449 * spread, "q25": centre[i] - 0.6745 * spread,
                "q75": centre[i] + 0.6745 * spread, "q95": centre[i] + 1.6449 * spread,
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    return frame.assign(r_hat=1.0, ess_bulk=1000.0, ess_tail=1000.0, divergences=0)


def test_group_effects_cover_nominally_where_their_sd_was_estimated_well():
    estimates = [0.4] * 6 + [0.15] * 3 + [0.7] * 3
    table = coverage.coverage_by_sd_estimate(_shrunk_effects(estimates, np.random.default_rng(3)))
    by_bin = table.set_index("sd_estimate")
    assert table["level"].unique().tolist() == ["township"]
    assert by_bin["replicates"].to_dict() == {"below 0.8": 3, "0.8 to 1.2": 6, "above 1.2": 3}
    assert by_bin.loc["0.8 to 1.2", "mean_sd_ratio"] == pytest.approx(1.0)
    # 2,400 intervals: SE 0.006 at 90%, 0.010 at 50%.
    assert by_bin.loc["0.8 to 1.2", "coverage_90"] == pytest.approx(0.9, abs=0.025)
    assert by_bin.loc["0.8 to 1.2", "coverage_50"] == pytest.approx(0.5, abs=0.04)
    assert by_bin.loc["below 0.8", "coverage_90"] < 0.75
    assert by_bin.loc["above 1.2", "coverage_90"] > 0.93
