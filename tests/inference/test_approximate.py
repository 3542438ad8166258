"""Approximate fits (``method="advi" | "fullrank_advi"``): bundles, determinism, flags, CLI.

Two tiny real ADVI runs (a few hundred iterations of a seven-parameter logistic model) check the
PyMC path and byte-for-byte determinism; the other tests replace the optimisation with prior
draws, as ``fake_sampler`` replaces NUTS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.inference import ApproximationWarning, ConvergenceWarning, Fit, fit
from grassroots.inference.approximate import ApproximationResult
from grassroots.inference.fitting import bundle_name
from grassroots.models import SpecError, spec_from_dict
from grassroots.reporting.convergence import convergence_note, summary_notes

NOTE = "approximate (ADVI): not NUTS; validate before reporting"

TINY = {
    "name": "tiny",
    "family": "logistic",
    "groups": [{"column": "hospital", "name": "hospital"}],
    "predictors": ["age", "treated"],
    "outcome": {"column": "readmitted"},
    "sampler": {"chains": 2, "draws": 50, "iterations": 300},
}


@pytest.fixture
def tiny_spec():
    return spec_from_dict(TINY)


@pytest.fixture
def fake_approximation(monkeypatch):
    """Replace the variational optimisation in fit() with prior draws; counts the calls."""
    calls = []

    def approximate(model, settings, *, seed, progress=True, initial_points=None):
        calls.append((settings.method, seed))
        _, draws = settings.draw_shape
        names = [v.name for v in model.free_RVs + model.deterministics]
        with model:
            prior = pm.sample_prior_predictive(draws=draws, var_names=names, random_seed=seed)
        losses = np.linspace(200.0, 100.0, settings.iterations)
        trace = xr.DataTree.from_dict(
            {
                "posterior": prior["prior"].to_dataset(),
                "optimisation": xr.Dataset({"loss": ("iteration", losses)}),
            }
        )
        optimisation = {
            "method": settings.method, "iterations": settings.iterations,
            "max_iterations": settings.iterations, "tolerance": settings.tolerance,
            "check_every": 1000, "converged": True, "final_elbo": -100.0, "elbo_window": 1000,
            "latent_dimensions": 7,
        }  # fmt: skip
        return ApproximationResult(trace, optimisation, 0.5, 0.25)

    monkeypatch.setattr("grassroots.inference.fitting.approximate", approximate)
    return calls


@pytest.fixture(scope="module")
def real_advi(tmp_path_factory, small_frame):
    """Two real ADVI fits of the same spec, data and seed, into separate folders."""
    spec = spec_from_dict(TINY)
    fits = []
    for folder in ("first", "second"):
        with pytest.warns(ApproximationWarning):
            fits.append(
                fit(small_frame, spec, seed=3, method="advi", progress=False,
                    fitted_dir=tmp_path_factory.mktemp(folder))
            )  # fmt: skip
    return fits


def test_real_advi_fit_is_one_chain_of_draws_with_its_optimisation(real_advi):
    fitted, _ = real_advi
    assert fitted.method == "advi" and fitted.backend == "pymc"
    assert dict(fitted.posterior.sizes)["chain"] == 1
    assert dict(fitted.posterior.sizes)["draw"] == 100  # chains x draws of the spec
    run = fitted.diagnostics.optimisation
    assert run["iterations"] == run["max_iterations"] == 300
    assert run["converged"] is False  # 300 steps end before the first check at 1,000
    assert np.isfinite(run["final_elbo"]) and run["latent_dimensions"] == 7
    assert fitted.trace["optimisation"]["loss"].size == 300
    assert set(fitted.timings) == {"fit_seconds", "draw_seconds", "sample_seconds"}
    assert fitted.path.name.startswith("tiny-advi-seed3-")


def test_predictions_take_an_approximate_fit_unchanged(real_advi, small_frame):
    fitted, _ = real_advi
    predicted = fitted.predict(small_frame)["readmitted_prob"]
    assert dict(predicted.sizes) == {"chain": 1, "draw": 100, "row": 120}
    assert float(predicted.min()) > 0 and float(predicted.max()) < 1


def test_same_seed_gives_identical_bytes(real_advi):
    first, second = real_advi
    assert first.path != second.path
    for name, values in first.posterior.data_vars.items():
        assert values.to_numpy().tobytes() == second.posterior[name].to_numpy().tobytes(), name
    reloaded = [Fit.load(f.path) for f in real_advi]
    for name in first.posterior.data_vars:
        assert (
            reloaded[0].posterior[name].to_numpy().tobytes()
            == reloaded[1].posterior[name].to_numpy().tobytes()
        )


def test_bundle_round_trip(real_advi, small_frame):
    fitted, _ = real_advi
    loaded = Fit.load(fitted.path, small_frame)
    xr.testing.assert_identical(loaded.posterior, fitted.posterior)
    assert loaded.method == "advi" and loaded.spec.hash() == fitted.spec.hash()
    assert loaded.diagnostics.method == "advi"
    assert loaded.diagnostics.optimisation == fitted.diagnostics.optimisation
    assert loaded.diagnostics.n_samples == 100
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    # Reused, not refitted: and still announced as approximate.
    with pytest.warns(ApproximationWarning, match="not NUTS"):
        again = fit(small_frame, fitted.spec, seed=3, progress=False,
                    fitted_dir=fitted.path.parent)  # fmt: skip
    assert again.path == fitted.path


def test_method_is_in_the_bundle_key(fake_sampler, fake_approximation, small_frame, tiny_spec,
                                     tmp_path):  # fmt: skip
    names = {m: bundle_name(tiny_spec.with_sampler(method=m), "hash", 1)
             for m in ("nuts", "advi", "fullrank_advi")}  # fmt: skip
    assert len(set(names.values())) == 3
    assert names["nuts"] == bundle_name(tiny_spec, "hash", 1)  # a NUTS key is as before
    assert names["nuts"].startswith("tiny-seed1-")
    assert names["advi"].startswith("tiny-advi-seed1-")
    assert names["fullrank_advi"].startswith("tiny-fullrank_advi-seed1-")
    with pytest.warns(ConvergenceWarning):  # prior draws as NUTS draws, and the approximations
        nuts = fit(small_frame, tiny_spec, seed=1, fitted_dir=tmp_path, progress=False)
        advi = fit(small_frame, tiny_spec, seed=1, method="advi", fitted_dir=tmp_path,
                   progress=False)  # fmt: skip
        fullrank = fit(small_frame, tiny_spec, seed=1, method="fullrank_advi",
                       fitted_dir=tmp_path, progress=False)  # fmt: skip
        reused = [fit(small_frame, tiny_spec, seed=1, method=m, fitted_dir=tmp_path,
                      progress=False) for m in ("nuts", "advi", "fullrank_advi")]  # fmt: skip
    assert len({nuts.path, advi.path, fullrank.path}) == 3
    assert [f.path for f in reused] == [nuts.path, advi.path, fullrank.path]
    assert len(fake_sampler) == 1 and fake_approximation == [("advi", 1), ("fullrank_advi", 1)]
    assert (nuts.posterior.sizes["chain"], nuts.posterior.sizes["draw"]) == (2, 50)
    assert (advi.posterior.sizes["chain"], advi.posterior.sizes["draw"]) == (1, 100)


def test_approximate_fit_is_never_presented_as_nuts(fake_approximation, small_frame, tiny_spec,
                                                    tmp_path):  # fmt: skip
    with pytest.warns(ApproximationWarning, match="R-hat and ESS do not apply"):
        fitted = fit(small_frame, tiny_spec, seed=2, method="advi", fitted_dir=tmp_path,
                     progress=False)  # fmt: skip
    table = fitted.summary()
    assert NOTE in summary_notes(table)["convergence_note"]
    assert table["r_hat"].isna().all() and table["ess_bulk"].isna().all()
    assert not fitted.diagnostics.converged
    assert fitted.diagnostics.problems()[0].startswith(NOTE)
    overview = fitted.diagnostics.overview()
    assert overview["method"] == "advi"
    assert convergence_note({"M4": overview}) == f"⚠ M4: {NOTE}."
    assert "非 NUTS" in convergence_note({"M4": overview}, "zh")
    assert "approximate (full-rank ADVI)" in convergence_note(
        {"M4": {**overview, "method": "fullrank_advi"}}
    )
    not_converged = {**overview, "optimisation_converged": False, "max_iterations": 300}
    assert "did not converge within 300 iterations" in convergence_note({"M4": not_converged})
    assert "method='advi'" in repr(fitted)


def test_nuts_summary_note_is_unchanged(fake_sampler, small_frame, tiny_spec, tmp_path):
    with pytest.warns(ConvergenceWarning):
        fitted = fit(small_frame, tiny_spec, seed=2, fitted_dir=tmp_path, progress=False)
    note = summary_notes(fitted.summary())["convergence_note"]
    assert note == convergence_note({"tiny": fitted.diagnostics.overview()})
    assert "approximate" not in note
    assert fitted.diagnostics.method == "nuts" and fitted.method == "nuts"


def test_an_unknown_method_is_refused_clearly(small_frame, tiny_spec, tmp_path):
    with pytest.raises(SpecError, match=r"'method' must be one of \('nuts', 'advi', "
                       r"'fullrank_advi'\).*not 'pathfinder'"):  # fmt: skip
        fit(small_frame, tiny_spec, seed=1, method="pathfinder", fitted_dir=tmp_path)
    with pytest.raises(SpecError, match="'tolerance' must be a positive number"):
        tiny_spec.with_sampler(tolerance=0)
    assert list(tmp_path.iterdir()) == []


def test_cli_fit_method(tmp_path: Path, fake_approximation):
    runner = CliRunner()
    study = tmp_path / "study"
    made = runner.invoke(app, ["simulate", "--seed", "3", "--counties", "4", "--out", str(study)])
    assert made.exit_code == 0, made.output
    bundles = tmp_path / "bundles"
    args = ["fit", "survival_m1", "--data", str(study), "--chains", "1", "--draws", "40",
            "--method", "advi", "--fitted-dir", str(bundles)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    [bundle] = bundles.iterdir()
    assert bundle.name.startswith("survival_m1-advi-seed20250325-")
    assert f"WARNING: {NOTE}" in result.output
    assert "method advi" in result.output and "final ELBO" in result.output
    summary = runner.invoke(app, ["summary", str(bundle)])
    assert summary.exit_code == 0 and NOTE in summary.output
    bad = runner.invoke(app, [*args[:-4], "--method", "pathfinder"])
    assert bad.exit_code == 2
    assert "pathfinder" in bad.output and "advi" in bad.output
