"""The prior predictive draws kept in the fitted folder: reused, never trusted when damaged,
drawn again when anything they depend on changes, and the same bytes either way."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from grassroots.inference import bundle, prior_predictive_store
from grassroots.inference.prior_predictive_store import DRAWS_FILE, prior_predictive_reused
from grassroots.models import spec_from_dict
from grassroots.models.prior_predictive import prior_predictive

SPEC = spec_from_dict({
    "name": "hospital_prior",
    "family": "structural",
    "groups": [{"column": "hospital", "name": "hospital"}],
    "outcomes": {
        "death": {"family": "survival", "time": "days", "event": "died",
                  "predictors": ["age", "treated"], "baseline": {"cuts": [10, 30, 60]}},
        "score": {"family": "ordinal", "column": "score", "predictors": ["age"]},
    },
})  # fmt: skip
SETTINGS = {"draws": 30, "times": (0.0, 10.0, 30.0), "max_rows": 60}


@pytest.fixture(scope="module")
def real_check(small_frame):
    """One real prior predictive check (compiling PyMC's forward sampler takes seconds)."""
    return prior_predictive(SPEC, small_frame, seed=3, **SETTINGS)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch, real_check) -> list[int]:
    """The seeds of the checks drawn rather than read from the folder; each "draw" returns
    ``real_check``, whose values are what the store must keep."""
    seeds = []

    def counted(spec, data, *, seed, **settings):
        seeds.append(seed)
        return real_check

    monkeypatch.setattr(prior_predictive_store, "prior_predictive", counted)
    return seeds


def _figure_bytes(check) -> bytes:
    buffer = io.BytesIO()
    check.figure().savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _folder(fitted_dir):
    (folder,) = [p for p in fitted_dir.iterdir() if p.name.startswith("prior_predictive-")]
    return folder


def test_stored_draws_are_reused_with_the_same_bytes(small_frame, tmp_path, drawn) -> None:
    first = prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    again = prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    assert drawn == [3], "the second call must read the stored draws"
    assert again.draws.identical(first.draws) and again.spec == first.spec
    assert first.draws is not again.draws, "read back from the folder, not the object drawn"
    assert _figure_bytes(again) == _figure_bytes(first)
    assert _folder(tmp_path).name.startswith("prior_predictive-hospital_prior-seed3-")


def test_damaged_draws_are_drawn_again(small_frame, tmp_path, drawn) -> None:
    first = prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    stored = _folder(tmp_path) / DRAWS_FILE
    # A plausible edit: the JSON still parses, only a number changed.
    document = json.loads(stored.read_text(encoding="utf-8"))
    document["draws"]["data_vars"]["death_S"]["data"][0][1] = 0.5
    stored.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
    with pytest.warns(bundle.BundleWarning, match="damaged prior predictive draws"):
        again = prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path,
                                        **SETTINGS)  # fmt: skip
    assert drawn == [3, 3]
    assert again.draws.identical(first.draws)
    # Written over: the next call reads it again, without a warning.
    bundle.verify_bundle(_folder(tmp_path))
    prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    assert drawn == [3, 3]


def test_draws_stored_under_another_key_are_not_read(small_frame, tmp_path, drawn) -> None:
    prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    stored = _folder(tmp_path) / DRAWS_FILE
    document = json.loads(stored.read_text(encoding="utf-8"))
    document["key"]["seed"] = 4
    stored.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
    bundle.write_manifest(stored.parent)  # checksums that hold: only the key tells
    with pytest.warns(bundle.BundleWarning, match="another key"):
        prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    assert drawn == [3, 3]


@pytest.mark.parametrize("change", ["seed", "data", "settings", "versions"])
def test_any_change_of_the_key_draws_again(
    small_frame, tmp_path, drawn, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    seed, frame, settings = 3, small_frame, dict(SETTINGS)
    if change == "seed":
        seed = 4
    elif change == "data":
        frame = small_frame.assign(age=small_frame["age"] + 1.0)
    elif change == "settings":
        settings["draws"] = 31
    else:
        versions = bundle.package_versions()
        monkeypatch.setattr(prior_predictive_store, "package_versions",
                            lambda: {**versions, "pymc": "0.0.1"})  # fmt: skip
    prior_predictive_reused(SPEC, frame, seed=seed, fitted_dir=tmp_path, **settings)
    assert drawn == [3, seed]
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("prior_predictive-")]) == 2


def test_the_fitted_folder_defaults_to_the_configured_one(
    small_frame: pd.DataFrame, tmp_path, drawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRASSROOTS_FITTED_DIR", str(tmp_path / "configured"))
    prior_predictive_reused(SPEC, small_frame, seed=3, **SETTINGS)
    assert _folder(tmp_path / "configured").is_dir()


def test_a_fitted_folder_that_cannot_be_written_still_answers(
    small_frame, tmp_path, drawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(target):
        raise PermissionError(f"{target}: read-only file system")

    monkeypatch.setattr(prior_predictive_store, "atomic_directory", refused)
    check = prior_predictive_reused(SPEC, small_frame, seed=3, fitted_dir=tmp_path, **SETTINGS)
    assert drawn == [3] and check.draws.sizes["draw"] == SETTINGS["draws"]
    assert not any(p.name.startswith("prior_predictive-") for p in tmp_path.iterdir())
