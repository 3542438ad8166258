"""Estimand results kept in the fitted folder: read back while their inputs hold, else computed."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_estimands_mediation import _spec, _values

from grassroots.estimands import (
    EstimandSettings,
    Scenario,
    Shift,
    estimand_reused,
    heterogeneity,
    mediation,
    result_reused,
    survival_by_group,
    targeting,
)
from grassroots.estimands import store as estimand_store
from grassroots.inference.bundle import BundleWarning

UP = Scenario("up", (Shift("resources", 1.0),))
TECH = Scenario("tech", (Shift("tech_capacity", 1.0),))
SETTINGS = EstimandSettings(seed=5)


@pytest.fixture(scope="module")
def saved_fit(frame, tmp_path_factory):
    from _fakes import fake_fit

    fit = fake_fit(_spec(), frame, _values(frame), chains=2, draws=3)
    fit.save(tmp_path_factory.mktemp("fits") / "structural-fake")
    return fit


class Counted:
    """An estimand function that counts its calls."""

    def __init__(self, function):
        self.function, self.calls = function, 0
        self.__name__ = function.__name__
        self.__module__, self.__qualname__ = function.__module__, function.__qualname__

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


def assert_same_result(first, second) -> None:
    assert type(first) is type(second)
    for field in dataclasses.fields(first):
        a, b = getattr(first, field.name), getattr(second, field.name)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            for column in a.select_dtypes(include=object).columns:
                # Missing cells read back as the missing value they were (NaN is not None).
                assert [type(x) for x in a[column] if not isinstance(x, str)] == [
                    type(x) for x in b[column] if not isinstance(x, str)
                ], column
        elif isinstance(a, xr.DataArray):
            xr.testing.assert_identical(a, b)
            assert {c: a[c].dtype for c in a.coords} == {c: b[c].dtype for c in b.coords}
        elif isinstance(a, dict):
            assert list(a) == list(b)
            for name in a:
                xr.testing.assert_identical(a[name], b[name])
        else:
            assert a == b and type(a) is type(b), field.name


def stored_folders(tmp_path):
    return sorted(p.name for p in tmp_path.glob(f"{estimand_store.STORE_PREFIX}*"))


@pytest.mark.parametrize(
    ("function", "options"),
    [
        (heterogeneity, {}),
        (mediation, {}),
        (targeting, {"outcome": "survival", "quantity": "S(24)"}),
    ],
    ids=["heterogeneity", "mediation", "targeting"],
)
def test_a_stored_result_reads_back_equal_and_is_not_recomputed(
    saved_fit, frame, tmp_path, function, options
):
    counted = Counted(function)
    computed = estimand_reused(
        counted, saved_fit, frame, [UP, TECH], settings=SETTINGS, fitted_dir=tmp_path, **options
    )
    read = estimand_reused(
        counted, saved_fit, frame, [UP, TECH], settings=SETTINGS, fitted_dir=tmp_path, **options
    )
    assert counted.calls == 1
    assert_same_result(computed, read)
    assert_same_result(computed, function(saved_fit, frame, [UP, TECH], settings=SETTINGS,
                                          **options))  # fmt: skip
    (folder,) = stored_folders(tmp_path)
    named = f"{function.__name__}." if options else f"{function.__name__}-"
    assert folder.startswith(f"estimands-structural-fake-{named}")


def test_a_result_of_the_draws_alone_is_kept_once_per_options(saved_fit, frame, tmp_path):
    counted = Counted(survival_by_group)
    options = {"outcome": "survival", "max_draws": 4}
    groupings = ("region", "extensive")
    computed = [result_reused(counted, saved_fit, frame, by=by, **options, fitted_dir=tmp_path)
                for by in groupings]  # fmt: skip
    read = [result_reused(counted, saved_fit, frame, by=by, **options, fitted_dir=tmp_path)
            for by in groupings]  # fmt: skip
    assert counted.calls == 2
    for by, first, again in zip(groupings, computed, read, strict=True):
        assert_same_result(first, again)
        assert_same_result(first, survival_by_group(saved_fit, frame, by=by, **options))
    # The two groupings are two results, each kept: neither replaces the other.
    assert len(stored_folders(tmp_path)) == 2
    assert all(name.split("-")[-2].startswith("survival_by_group.")
               for name in stored_folders(tmp_path))  # fmt: skip
    result_reused(counted, saved_fit, frame, by="region", outcome="survival", max_draws=2,
                  fitted_dir=tmp_path)  # fmt: skip
    assert counted.calls == 3


def _changed_inputs(saved_fit, frame, tmp_path_factory):
    from _fakes import fake_fit

    other_fit = fake_fit(_spec(), frame, _values(frame, seed=1), chains=2, draws=3)
    other_fit.save(tmp_path_factory.mktemp("other") / "structural-fake")
    other_frame = frame.assign(resources=frame["resources"] + 0.5)
    return {
        "seed": {"settings": EstimandSettings(seed=6)},
        "prob": {"settings": EstimandSettings(seed=5, prob=0.9)},
        "thin": {"settings": EstimandSettings(seed=5, thin=2)},
        "scenarios": {"scenarios": [UP]},
        "scenario step": {"scenarios": [Scenario("up", (Shift("resources", 2.0),)), TECH]},
        "option": {"order": ("expedient", "extensive", "short_sighted")},
        "data": {"data": other_frame},
        "fit draws": {"fit": other_fit},
    }


def test_any_changed_input_computes_again(saved_fit, frame, tmp_path, tmp_path_factory):
    counted = Counted(mediation)
    base = {"fit": saved_fit, "data": frame, "scenarios": [UP, TECH], "settings": SETTINGS}
    for name, change in _changed_inputs(saved_fit, frame, tmp_path_factory).items():
        folder = tmp_path / name
        estimand_reused(counted, **base, fitted_dir=folder)
        estimand_reused(counted, **base, fitted_dir=folder)
        calls = counted.calls
        changed = estimand_reused(counted, **{**base, **change}, fitted_dir=folder)
        assert counted.calls == calls + 1, name
        direct = mediation(**{**base, **change})
        assert_same_result(changed, direct)


def test_edited_code_computes_again(saved_fit, frame, tmp_path, monkeypatch):
    counted = Counted(mediation)
    call = {"settings": SETTINGS, "fitted_dir": tmp_path}
    estimand_reused(counted, saved_fit, frame, [UP], **call)
    monkeypatch.setattr(estimand_store, "_package_source_hash", lambda: "edited")
    estimand_reused(counted, saved_fit, frame, [UP], **call)
    assert counted.calls == 2


def test_the_thread_count_is_not_part_of_the_key(saved_fit, frame, tmp_path):
    counted = Counted(mediation)
    for workers in (1, 2):
        settings = dataclasses.replace(SETTINGS, workers=workers)
        estimand_reused(counted, saved_fit, frame, [UP], settings=settings, fitted_dir=tmp_path)
    assert counted.calls == 1


def test_a_new_result_replaces_the_fits_older_one(saved_fit, frame, tmp_path):
    for seed in (1, 2, 3):
        estimand_reused(mediation, saved_fit, frame, [UP], settings=EstimandSettings(seed=seed),
                        fitted_dir=tmp_path)  # fmt: skip
    estimand_reused(targeting, saved_fit, frame, [UP], settings=SETTINGS, fitted_dir=tmp_path)
    assert [name.split("-")[-2] for name in stored_folders(tmp_path)] == [
        "mediation",
        "targeting",
    ]


def test_a_damaged_result_is_computed_again_with_a_warning(saved_fit, frame, tmp_path):
    counted = Counted(heterogeneity)
    call = {"settings": SETTINGS, "fitted_dir": tmp_path}
    first = estimand_reused(counted, saved_fit, frame, [UP], **call)
    (folder,) = tmp_path.glob(f"{estimand_store.STORE_PREFIX}*")
    chunk = next(p for p in sorted(folder.rglob("*")) if p.is_file() and "/c/" in p.as_posix())
    chunk.write_bytes(b"\0" + chunk.read_bytes()[1:])
    with pytest.warns(BundleWarning, match="damaged stored estimand"):
        again = estimand_reused(counted, saved_fit, frame, [UP], **call)
    assert counted.calls == 2
    assert_same_result(first, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten whole: read back cleanly
        estimand_reused(counted, saved_fit, frame, [UP], **call)
    assert counted.calls == 2


def test_a_result_stored_under_another_key_is_not_read(saved_fit, frame, tmp_path, monkeypatch):
    counted = Counted(mediation)
    call = {"settings": SETTINGS, "fitted_dir": tmp_path}
    estimand_reused(counted, saved_fit, frame, [UP], **call)
    # Same folder name (a clash of the key's 12-digit digest), other key inside.
    real_key = estimand_store._key
    monkeypatch.setattr(
        estimand_store, "_key", lambda *a: {**real_key(*a), "data_hash": "another"}
    )
    monkeypatch.setattr(estimand_store.hashlib, "sha256", _fixed_sha256)
    estimand_reused(counted, saved_fit, frame, [UP], **call)  # written under the fixed digest
    monkeypatch.setattr(estimand_store, "_key", real_key)
    with pytest.warns(BundleWarning, match="another key"):
        estimand_reused(counted, saved_fit, frame, [UP], **call)
    assert counted.calls == 3


class _fixed_sha256:
    def __init__(self, *_args):
        pass

    def update(self, _data):
        pass

    def hexdigest(self):
        return "0" * 64


def test_an_unsaved_fit_is_computed_every_time(frame, tmp_path):
    from _fakes import fake_fit

    unsaved = fake_fit(_spec(), frame, _values(frame), chains=2, draws=3)
    counted = Counted(mediation)
    for _ in range(2):
        estimand_reused(counted, unsaved, frame, [UP], settings=SETTINGS, fitted_dir=tmp_path)
    assert counted.calls == 2
    assert stored_folders(tmp_path) == []


def test_a_folder_that_cannot_be_written_still_answers(saved_fit, frame, tmp_path, monkeypatch):
    def refuse(*_args):
        raise PermissionError("read-only")

    monkeypatch.setattr(estimand_store, "_write", refuse)
    result = estimand_reused(mediation, saved_fit, frame, [UP], settings=SETTINGS,
                             fitted_dir=tmp_path)  # fmt: skip
    assert_same_result(result, mediation(saved_fit, frame, [UP], settings=SETTINGS))
    assert stored_folders(tmp_path) == []


def test_missing_text_cells_keep_their_kind(tmp_path):
    from grassroots.estimands.mediation import MediationResult

    table = pd.DataFrame({"via": ["a", np.nan, "b"], "order": ["x", None, "y"], "v": [1.0, 2, 3]})
    draws = xr.DataArray(np.arange(6.0).reshape(1, 2, 3), dims=("scenario", "chain", "draw"),
                         coords={"scenario": ["up"]}, name="delta")  # fmt: skip
    result = MediationResult(table, draws, ("a", "b"), 0.9)
    estimand_store._write(tmp_path / "stored", {"k": 1}, result)
    assert_same_result(result, estimand_store._read(tmp_path / "stored", {"k": 1}))


def test_the_code_in_the_key_is_the_estimands_layer_and_those_below(tmp_path):
    package = tmp_path / "grassroots"
    for module in ("_io.py", "__init__.py", "cli.py", "pipeline.py", "data/read.py",
                   "models/ordinal.py", "inference/fit.py", "estimands/contrasts.py",
                   "reporting/tables.py", "validation/sbc.py"):  # fmt: skip
        (package / module).parent.mkdir(parents=True, exist_ok=True)
        (package / module).write_text(f"# {module}\n", encoding="utf-8")
    original = estimand_store.source_hash(package)
    for module, counts in (("reporting/tables.py", False), ("validation/sbc.py", False),
                           ("cli.py", False), ("pipeline.py", False), ("_io.py", True),
                           ("__init__.py", True), ("data/read.py", True),
                           ("models/ordinal.py", True), ("inference/fit.py", True),
                           ("estimands/contrasts.py", True)):  # fmt: skip
        before = (package / module).read_text(encoding="utf-8")
        (package / module).write_text(before + "x = 1\n", encoding="utf-8")
        assert (estimand_store.source_hash(package) != original) == counts, module
        (package / module).write_text(before, encoding="utf-8")
    (package / "estimands" / "new.py").write_text("", encoding="utf-8")
    assert estimand_store.source_hash(package) != original
