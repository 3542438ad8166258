"""fit(), the Fit bundle, saving, loading and reuse (sampler mocked)."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest

from grassroots.data.identity import data_hash
from grassroots.inference import DataMismatchError, Fit, fit
from grassroots.inference.fitting import BundleError
from grassroots.models import spec_from_dict

# The fake sampler draws from the prior: its "chains" never agree.
pytestmark = pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")

SPEC = {
    "name": "hospital_joint",
    "family": "structural",
    "groups": [{"column": "hospital", "name": "hospital"}],
    "categorical": {"sex": "f"},
    "sampler": {"chains": 2, "draws": 30, "tune": 10},
    "outcomes": {
        "death": {
            "family": "survival",
            "time": "days",
            "event": "died",
            "predictors": ["age", "sex", "treated"],
            "baseline": {"cuts": [10, 30, 60]},
            "time_varying": {"treated": 30},
        },
        "score": {"family": "ordinal", "column": "score", "predictors": ["age", "treated"]},
        "readmitted": {
            "family": "logistic",
            "column": "readmitted",
            "predictors": ["age", "treated"],
            "interactions": ["age:treated"],
        },
    },
}


class FakeStudy:
    def __init__(self, frame: pd.DataFrame):
        self._frame = frame

    def flat(self) -> pd.DataFrame:
        return self._frame

    def data_hash(self) -> str:
        return "study-hash-1"


@pytest.fixture
def fitted(fake_sampler, small_frame, tmp_path):
    return fit(small_frame, spec_from_dict(SPEC), seed=4, fitted_dir=tmp_path, progress=False)


def test_fit_returns_a_bundle(fitted, small_frame, tmp_path):
    assert isinstance(fitted, Fit)
    assert fitted.path is not None and fitted.path.parent == tmp_path
    assert fitted.path.name.startswith("hospital_joint-seed4-")
    assert fitted.data_hash == data_hash(small_frame)
    assert fitted.counts == {
        "rows": 120,
        "death_observed": 120,
        "score_observed": 110,
        "readmitted_observed": 120,
        "hospital": 4,
    }
    assert fitted.posterior.sizes["chain"] == 2 and fitted.posterior.sizes["draw"] == 30
    assert set(fitted.versions) >= {"pymc", "nutpie", "arviz-stats", "python", "grassroots"}
    meta = json.loads((fitted.path / "fit.json").read_text())
    assert meta["seed"] == 4 and meta["spec"]["name"] == "hospital_joint"
    assert meta["scaling"]["age"]["kind"] == "continuous"


def test_summary_table(fitted):
    table = fitted.summary()
    assert {
        "mean",
        "sd",
        "2.5%",
        "97.5%",
        "r_hat",
        "ess_bulk",
        "ess_tail",
        "ratio",
        "ratio_median",
        "ratio_2.5%",
        "ratio_97.5%",
        "per",
    } <= set(table.columns)
    assert not any("_z" in label or "effect" in label for label in table.index)
    hidden = ("_centred", "_steps", "_chol[")
    assert not any(part in label for label in table.index for part in hidden)
    row = table.loc["death_beta[age]"]
    assert (row["outcome"], row["parameter"], row["term"], row["ratio"], row["per"]) == (
        "death",
        "beta",
        "age",
        "HR",
        "SD",
    )
    assert table.loc["death_beta[sex[m]]", "per"] == "vs f"
    assert table.loc["readmitted_beta[treated]", "per"] == "1 vs 0"
    assert table.loc["readmitted_beta[age:treated]", "per"] == "product"
    assert table.loc["score_beta[age]", "ratio"] == "OR"
    late = table.loc["death_beta_late[treated]"]
    assert (late["ratio"], late["per"]) == ("HR", "1 vs 0, after month 30")
    draws = fitted.posterior["death_beta"].sel(death_term="age").to_numpy().ravel()
    assert row["mean"] == pytest.approx(draws.mean())
    assert row["2.5%"] == pytest.approx(np.quantile(draws, 0.025))
    assert row["ratio_median"] == pytest.approx(np.exp(np.median(draws)))
    assert "death_log_hazard[[0, 10)]" in table.index
    assert not any("[h1]" in label for label in table.index)
    assert list(table["outcome"].iloc[:3]) == ["death"] * 3
    assert table.index[-1] == "hospital_corr[readmitted, score]"
    wide = fitted.summary(prob=0.9, group_effects=True)
    assert "5%" in wide.columns and "hospital_effect[h1, death]" in wide.index


@pytest.mark.filterwarnings("error::pandas.errors.SettingWithCopyWarning")
def test_summary_adds_its_columns_to_a_frame_it_owns(fitted):
    """A profiler or debugger that holds the frames a summary builds on the way keeps every
    parent of a row selection alive, which is when pandas warns about setting on a copy."""
    held = []

    def hold_each_table(frame, event, arg):
        if frame.f_code is not Fit._summary.__code__:
            return None

        def on_line(frame, event, arg):
            held.append(frame.f_locals.get("table"))
            return on_line

        return on_line

    previous = sys.gettrace()
    sys.settrace(hold_each_table)
    try:
        table = fitted.summary(prob=0.9)
    finally:
        sys.settrace(previous)
    assert "ratio_5%" in table.columns
    assert sum(isinstance(kept, pd.DataFrame) for kept in held) > 1


def test_save_load_round_trip(fitted, small_frame):
    loaded = Fit.load(fitted.path, small_frame)
    assert loaded.spec == fitted.spec
    assert loaded.scaling == fitted.scaling
    assert loaded.seed == 4 and loaded.composite == fitted.composite
    np.testing.assert_array_equal(loaded.posterior["death_beta"], fitted.posterior["death_beta"])
    assert list(loaded.posterior.coords["hospital"].values) == ["h1", "h2", "h3", "h4"]
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    assert loaded.diagnostics.overview() == fitted.diagnostics.overview()
    a = loaded.predict(small_frame.head(5), times=[5, 50])
    b = fitted.predict(small_frame.head(5), times=[5, 50])
    np.testing.assert_allclose(a["death_S"], b["death_S"])
    assert a["score_prob"].sizes["score_level"] == 3


def test_bundle_chunks_split_draws_and_lazy_load_reads_the_same(fitted, small_frame, monkeypatch):
    import grassroots.inference.bundle as bundle

    stored = json.loads(
        (fitted.path / "trace.zarr" / "posterior" / "death_beta" / "zarr.json").read_text()
    )
    # One chain per chunk, so that a slice of draws reads its chunks only.
    assert stored["chunk_grid"]["configuration"]["chunk_shape"][0] == 1
    eager = Fit.load(fitted.path, small_frame)
    lazy = Fit.load(fitted.path, small_frame, lazy=True)
    assert eager.posterior["death_beta"].variable._in_memory
    assert not lazy.posterior["death_beta"].variable._in_memory
    np.testing.assert_array_equal(lazy.posterior["death_beta"], eager.posterior["death_beta"])
    a = lazy.predict(small_frame.head(5), times=[5, 50], average=True)
    b = eager.predict(small_frame.head(5), times=[5, 50], average=True)
    np.testing.assert_array_equal(a["death_S"], b["death_S"])
    # Large posteriors load lazily by default.
    monkeypatch.setattr(bundle, "LAZY_BYTES", 0)
    assert not Fit.load(fitted.path).posterior["death_beta"].variable._in_memory


def test_load_refuses_other_data(fitted, small_frame):
    other = small_frame.assign(age=small_frame["age"] + 1)
    with pytest.raises(DataMismatchError, match="was fitted to other data"):
        Fit.load(fitted.path, other)
    with pytest.raises(DataMismatchError, match="refit the model"):
        Fit.load(fitted.path, data_hash="0" * 64)
    with pytest.raises(BundleError, match="is not a fit bundle"):
        Fit.load(fitted.path.parent / "nothing")


def test_fit_reuses_a_matching_bundle(fake_sampler, small_frame, tmp_path):
    spec = spec_from_dict(SPEC)
    first = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False)
    second = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False)
    assert fake_sampler == [4]  # sampled once, then reused
    np.testing.assert_array_equal(
        first.posterior["score_cutpoints"], second.posterior["score_cutpoints"]
    )
    fit(small_frame, spec, seed=5, fitted_dir=tmp_path, progress=False)
    fit(small_frame, spec, seed=4, draws=20, fitted_dir=tmp_path, progress=False)
    fit(small_frame.iloc[:-1], spec, seed=4, fitted_dir=tmp_path, progress=False)
    fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False, reuse=False)
    assert fake_sampler == [4, 5, 4, 4, 4]
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.filterwarnings("default::grassroots.inference.ConvergenceWarning")
def test_fit_warnings_point_at_the_callers_line(fake_sampler, small_frame, tmp_path):
    """The convergence warning names this file, not a line inside the package (a counted
    stacklevel went stale when fit() came to run through start_fit and PendingFit)."""
    from grassroots.inference import ConvergenceWarning

    with pytest.warns(ConvergenceWarning) as caught:
        fit(small_frame, spec_from_dict(SPEC), seed=4, fitted_dir=tmp_path, progress=False)
    ours = [record for record in caught if record.category is ConvergenceWarning]
    assert ours and {record.filename for record in ours} == {__file__}


def test_old_directory_keyword_still_works_with_a_deprecation_warning(
    fake_sampler, small_frame, tmp_path
):
    spec = spec_from_dict(SPEC)
    with pytest.warns(
        DeprecationWarning, match=r"fit\(directory=\.\.\.\) is deprecated.*fitted_dir"
    ):
        old = fit(small_frame, spec, seed=4, directory=tmp_path / "old", progress=False)
    assert old.path.parent == tmp_path / "old"
    with pytest.raises(TypeError, match="fitted_dir= or its old name directory=, not both"):
        fit(small_frame, spec, seed=4, fitted_dir=tmp_path, directory=tmp_path, progress=False)


def test_the_fitted_folder_is_chosen_once(monkeypatch, tmp_path):
    from grassroots._paths import fitted_dir

    monkeypatch.delenv("GRASSROOTS_FITTED_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert fitted_dir() == tmp_path / "models" / "fitted"
    monkeypatch.setenv("GRASSROOTS_FITTED_DIR", str(tmp_path / "env"))
    assert fitted_dir() == tmp_path / "env"
    assert fitted_dir(tmp_path / "chosen") == tmp_path / "chosen"


def test_study_objects_are_accepted(fake_sampler, small_frame, tmp_path):
    spec = spec_from_dict(
        {
            **SPEC,
            "outcomes": {"readmitted": SPEC["outcomes"]["readmitted"]},
            "spec_family": "logistic",
        }
    )
    fitted = fit(FakeStudy(small_frame), spec, seed=1, fitted_dir=tmp_path, progress=False)
    assert fitted.data_hash == "study-hash-1"
    assert fitted.spec.family == "logistic"
    Fit.load(fitted.path, FakeStudy(small_frame))
    with pytest.raises(TypeError, match="must be a pandas DataFrame or an object with .flat"):
        fit([1, 2], spec, seed=1, fitted_dir=tmp_path)


def test_no_save(fake_sampler, small_frame, tmp_path):
    fitted = fit(
        small_frame, spec_from_dict(SPEC), seed=2, fitted_dir=tmp_path, save=False, progress=False
    )
    assert fitted.path is None and not list(tmp_path.iterdir())
    saved = fitted.save(tmp_path / "here")
    assert (saved / "fit.json").is_file() and (saved / "trace.zarr").is_dir()


def test_loo_estimates_are_kept_in_the_bundle(fake_sampler, small_frame, tmp_path, monkeypatch):
    import arviz_stats as azs

    spec = spec_from_dict(SPEC)
    outcome = spec.outcomes[0].name
    first = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False,
                log_likelihood=True)  # fmt: skip
    direct = azs.loo(first.trace, var_name=outcome)
    estimates = first.loo_estimates(outcome)
    # Prior draws (the fake sampler) can make the estimate NaN: compare NaN-aware.
    np.testing.assert_equal(
        [estimates["elpd"], estimates["se"], estimates["p_loo"], estimates["n_high_k"]],
        [float(direct.elpd), float(direct.se), float(direct.p),
         int((direct.pareto_k > direct.good_k).sum())],
    )  # fmt: skip
    np.testing.assert_equal(json.loads((first.path / "loo.json").read_text())[outcome], estimates)

    def no_recompute(*args, **kwargs):
        raise AssertionError("PSIS-LOO recomputed although the bundle holds it")

    monkeypatch.setattr(azs, "loo", no_recompute)
    again = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False,
                log_likelihood=True)  # fmt: skip
    np.testing.assert_equal(again.loo_estimates(outcome), estimates)
    assert fake_sampler == [4]


def test_pointwise_loo_is_kept_in_the_bundle(fake_sampler, small_frame, tmp_path, monkeypatch):
    """Model comparison (Table 10) needs every observation's elpd and Pareto k: computed once,
    then rebuilt from ``loo_pointwise.json`` without the log-likelihood."""
    import arviz_stats as azs

    from grassroots.inference import verify_bundle

    spec = spec_from_dict(SPEC)
    outcome = spec.outcomes[0].name
    first = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False,
                log_likelihood=True)  # fmt: skip
    direct = azs.loo(first.trace, var_name=outcome, pointwise=True)
    computed = first.loo(outcome)
    assert computed.log_weights is None  # draws x rows: not held
    assert "loo_pointwise.json" in verify_bundle(first.path)

    def no_recompute(*args, **kwargs):
        raise AssertionError("PSIS-LOO recomputed although the bundle holds it")

    monkeypatch.setattr(azs, "loo", no_recompute)
    again = Fit.load(first.path, lazy=True).loo(outcome)
    for result in (computed, again):
        np.testing.assert_array_equal(result.elpd_i.to_numpy(), direct.elpd_i.to_numpy())
        np.testing.assert_array_equal(result.pareto_k.to_numpy(), direct.pareto_k.to_numpy())
        assert result.elpd_i.dims == direct.elpd_i.dims
        np.testing.assert_equal(
            [result.elpd, result.se, result.p, result.good_k, result.n_samples],
            [direct.elpd, direct.se, direct.p, direct.good_k, direct.n_samples],
        )
    # What the comparison reads is the same from the stored values as from the draws.
    shifted = dataclasses.replace(direct, elpd_i=direct.elpd_i - 0.01, elpd=direct.elpd - 1.2)
    pd.testing.assert_frame_equal(
        azs.compare({"a": again, "b": shifted}, round_to="none"),
        azs.compare({"a": direct, "b": shifted}, round_to="none"),
    )


def test_a_reused_bundle_can_stay_on_disk(fake_sampler, small_frame, tmp_path):
    spec = spec_from_dict(SPEC)
    first = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False)
    assert not first.draws_on_disk
    lazy = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False, lazy=True)
    loaded = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False)
    assert fake_sampler == [4]
    assert lazy.draws_on_disk and not loaded.draws_on_disk
    for name in first.posterior.data_vars:
        assert not lazy.posterior[name].variable._in_memory
        np.testing.assert_array_equal(lazy.posterior[name].values, first.posterior[name].values)


def test_summary_is_computed_once_and_handed_out_as_copies(fitted, monkeypatch):
    import arviz_stats as azs

    first = fitted.summary()
    first.loc[first.index[0], "mean"] = 99.0
    first.attrs["prior_dominated"].append("changed")

    def no_recompute(*args, **kwargs):
        raise AssertionError("summary recomputed for the same fit and arguments")

    monkeypatch.setattr(azs, "summary", no_recompute)
    again = fitted.summary()
    assert again.loc[again.index[0], "mean"] != 99.0
    assert "changed" not in again.attrs["prior_dominated"]
    with pytest.raises(AssertionError, match="summary recomputed"):
        fitted.summary(prob=0.9)


def test_loo_estimates_without_a_stored_log_likelihood(fake_sampler, small_frame, tmp_path):
    spec = spec_from_dict(SPEC)
    fitted = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False)
    assert fitted.loo_estimates(spec.outcomes[0].name) is None


def test_the_manifest_holds_the_checksum_of_every_file(fitted):
    from grassroots.inference.fitting import MANIFEST_FILE, file_sha256

    manifest = json.loads((fitted.path / MANIFEST_FILE).read_text())
    files = sorted(
        p.relative_to(fitted.path).as_posix()
        for p in fitted.path.rglob("*")
        if p.is_file() and p.name != MANIFEST_FILE
    )
    assert "fit.json" in files and any(name.startswith("trace.zarr/posterior/") for name in files)
    assert sorted(manifest["files"]) == files
    assert manifest["files"]["fit.json"] == file_sha256(fitted.path / "fit.json")
    assert json.loads((fitted.path / "fit.json").read_text())["format"] == 2


def test_loo_json_is_added_to_the_manifest(fake_sampler, small_frame, tmp_path):
    from grassroots.inference import verify_bundle

    spec = spec_from_dict(SPEC)
    outcome = spec.outcomes[0].name
    fitted = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False,
                 log_likelihood=True)  # fmt: skip
    assert "loo.json" not in verify_bundle(fitted.path)
    estimates = fitted.loo_estimates(outcome)
    assert "loo.json" in verify_bundle(fitted.path)
    np.testing.assert_equal(Fit.load(fitted.path)._stored_loo()[outcome], estimates)


def test_saving_over_a_bundle_leaves_none_of_its_files(fake_sampler, small_frame, tmp_path):
    """A bundle is written whole: the loo.json of the posterior it replaces must not survive."""
    spec = spec_from_dict(SPEC)
    first = fit(small_frame, spec, seed=4, fitted_dir=tmp_path, progress=False,
                log_likelihood=True)  # fmt: skip
    first.loo_estimates(spec.outcomes[0].name)
    (first.path / "notes.txt").write_text("stale\n")
    other = fit(small_frame, spec, seed=5, save=False, progress=False)
    other.save(first.path)
    assert sorted(p.name for p in first.path.iterdir()) == [
        "fit.json",
        "manifest.json",
        "trace.zarr",
    ]
    assert Fit.load(first.path).seed == 5
