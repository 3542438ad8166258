"""Bad inputs to ``grassroots fit`` caught before sampling: exit code 2, a message naming the
problem, and nothing written anywhere (issue 13, items 2, 3 and 5).

:data:`FAULTS` is the table of every case: its pytest id, what is wrong, and what the command
does about it (a README table of all faults can be generated from it). :data:`ARRANGE` builds
each case's files in a fresh folder and returns the command's arguments. The two cases at the
end succeed: a flat table with only the spec's columns is enough.

Sampling is replaced by the fake sampler of ``tests/conftest.py``; it must not be called for
any fault.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from grassroots.cli import app

runner = CliRunner()


@dataclass(frozen=True)
class Fault:
    """One case of the table: ``id`` (the pytest id), the bad input, the expected outcome."""

    id: str
    description: str
    expected: str
    exit_code: int = 2
    message: str = ""  # a regex the command's output must match


FAULTS: tuple[Fault, ...] = (
    Fault("spec-name-parent", 'spec name = "../../escape"',
          "exit 2: the name must be a plain name; no bundle outside --fitted-dir",
          message=r"key 'name' must be a plain name.*not '\.\./\.\./escape'"),
    Fault("spec-name-slash", 'spec name = "sub/model"',
          "exit 2: the name must be a plain name", message=r"must be a plain name"),
    Fault("spec-name-absolute", "spec name = an absolute path",
          "exit 2: the name must be a plain name", message=r"must be a plain name"),
    Fault("spec-name-dotdot", 'spec name = "a..b"',
          "exit 2: the name must be a plain name", message=r"no '\.\.'"),
    Fault("prior-scale-negative", 'beta = { dist = "Normal", mu = 0, sigma = -1 }',
          "exit 2: the scale must be positive",
          message=r"priors\.beta'.*Normal parameter 'sigma' is a scale.*not -1"),
    Fault("prior-scale-zero", 'sd = { dist = "HalfNormal", sigma = 0 }',
          "exit 2: the scale must be positive",
          message=r"priors\.sd'.*HalfNormal parameter 'sigma' is a scale.*not 0"),
    Fault("mapping-path-parent", 'mapping [files] flat = "../outside/survey.csv"',
          "exit 2: the path leads outside the mapping's folder; no cell of that file is shown",
          message=r"files\.flat.*leads outside the mapping file's folder"),
    Fault("mapping-path-absolute", "mapping [files] flat = an absolute path elsewhere",
          "exit 2: the path leads outside the mapping's folder; no cell of that file is shown",
          message=r"files\.flat.*leads outside the mapping file's folder"),
    Fault("fitted-dir-is-file", "--fitted-dir names an existing file",
          "exit 2: not a folder", message=r"is a file, not a folder"),
    Fault("fitted-dir-under-file", "--fitted-dir is a folder inside a file (file/sub)",
          "exit 2: not a folder", message=r"is a file, not a folder \(it would hold"),
    Fault("fitted-dir-unwritable", "--fitted-dir lies in a folder the user cannot write to",
          "exit 2: cannot write there", message=r"cannot write in .*locked"),
    Fault("no-disk-space", "the disk of --fitted-dir has 1 KB free",
          "exit 2: the bundle needs more room than is free",
          message=r"fit bundles need about .* but the disk of .* has 1\.0 KB free"),
    Fault("survival-zero-events", "survival spec; discontinued is 0 on every row",
          "exit 2: no event, nothing to estimate", message=r"'discontinued' has no event"),
    Fault("binary-outcome-constant", "logistic spec; the outcome is 0 on every row",
          "exit 2: one value only", message=r"binary outcome 'extensive' is 0 on all"),
    Fault("one-county", "groups county_id, township_id; every row in one county",
          "exit 2: a level with one group", message=r"'county_id' holds one county"),
    Fault("one-township-per-county", "groups county_id, township_id; one township per county",
          "exit 2: township and county effects cannot be told apart",
          message=r"every group of 'county_id' holds a single township"),
    Fault("grouping-column-as-predictor", 'predictors = ["township_id"], also a group',
          "exit 2: an identifier as predictor",
          message=r"'township_id'.*is a grouping column of the spec"),
    Fault("codebook-id-as-predictor", 'predictors = ["project_id"]',
          "exit 2: an identifier as predictor", message=r"'project_id'.*is an id column"),
    Fault("text-id-as-predictor", "predictor = a text column with a new value on every row",
          "exit 2: an identifier as predictor",
          message=r"'respondent'.*holds a different text value on each of its"),
    Fault("spec-column-missing", 'predictors = ["authorty"] (a typo)',
          "exit 2: the column is named, with a did-you-mean",
          message=r"lack column\(s\) 'authorty' \(did you mean 'authority'\?\)"),
    Fault("simulate-out-is-file", "grassroots simulate --out names an existing file",
          "exit 2: not a folder (was a traceback)",
          message=r"grassroots simulate: .* is a file, not a folder"),
    Fault("describe-out-is-file", "grassroots describe --out names an existing file",
          "exit 2: not a folder (was a traceback)",
          message=r"grassroots describe: .* is a file, not a folder"),
    Fault("reproduce-out-is-file", "grassroots reproduce --out names an existing file",
          "exit 2 before validating the data", message=r"tables and figures cannot be saved"),
    Fault("reproduce-one-county", "grassroots reproduce on data with one county",
          "exit 2 before Table 1 and the first fit",
          message=r"grassroots reproduce: .*'county_id' holds one county"),
    Fault("ordinal-flat-without-survival-columns",
          "ordinal spec; a flat table without project_id, months, discontinued",
          "exit 0: fitted and saved", exit_code=0, message=r"saved .*ordinal_guard-seed"),
    Fault("survival-flat-without-ordinal-column",
          "survival spec; a flat table without project_id and demand_fit",
          "exit 0: fitted and saved", exit_code=0, message=r"saved .*survival_guard-seed"),
    Fault("mapping-path-outside-allowed",
          "mapping [files] outside its folder, with --allow-outside-files",
          "exit 0: fitted and saved", exit_code=0, message=r"saved .*ordinal_guard-seed"),
)

SAMPLER = "[sampler]\nchains = 1\ndraws = 10\ntune = 0\n"
ORDINAL = (
    'name = "{name}"\nfamily = "ordinal"\ngroups = ["county_id", "township_id"]\n'
    'predictors = {predictors}\n[outcome]\ncolumn = "demand_fit"\nlevels = [1, 2, 3, 4, 5]\n'
    "{priors}" + SAMPLER
)
SURVIVAL = (
    'name = "survival_guard"\nfamily = "survival"\ngroups = ["county_id", "township_id"]\n'
    'predictors = ["authority"]\n[outcome]\ntime = "months"\nevent = "discontinued"\n'
    "[baseline]\ncuts = [12, 24, 48]\n" + SAMPLER
)
LOGISTIC = (
    'name = "logistic_guard"\nfamily = "logistic"\ngroups = ["county_id", "township_id"]\n'
    'predictors = ["authority"]\n[outcome]\ncolumn = "extensive"\n' + SAMPLER
)
# Dates are left out: the survival columns then need not agree with them.
DROPPED = ["launch_date", "survey_date"]


def _ordinal(name: str = "ordinal_guard", predictors: str = '["authority"]', priors: str = ""):
    return ORDINAL.format(name=name, predictors=predictors, priors=priors)


@pytest.fixture(scope="module")
def flat() -> pd.DataFrame:
    """The bundled study's first four counties as one flat table, without dates."""
    from grassroots.data import load_dataset

    frame = load_dataset().flat().drop(columns=DROPPED)
    counties = sorted(frame["county_id"].unique())[:4]
    return frame[frame["county_id"].isin(counties)].reset_index(drop=True)


@dataclass
class Case:
    """A fresh project folder: ``root`` holds the inputs, ``fitted`` the bundles."""

    root: Path
    flat: pd.DataFrame
    monkeypatch: pytest.MonkeyPatch

    @property
    def fitted(self) -> Path:
        return self.root / "project" / "models" / "fitted"

    def spec(self, text: str) -> Path:
        path = self.root / "project" / "spec.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def data(self, frame: pd.DataFrame | None = None, name: str = "project/survey.csv") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (self.flat if frame is None else frame).to_csv(path, index=False)
        return path

    def fit(self, spec: Path, data: Path, *extra: str) -> list[str]:
        return ["fit", str(spec), "--data", str(data), "--fitted-dir", str(self.fitted), *extra]


def _ordinal_fit(case: Case, spec_text: str) -> list[str]:
    return case.fit(case.spec(spec_text), case.data())


def _outside_mapping(case: Case, *, absolute: bool, secret: bool) -> Path:
    """A mapping in project/ whose [files] names ../outside/survey.csv; with ``secret``, that
    file holds an invalid cell whose value a data error would quote."""
    frame = case.flat.astype({"months": object})
    if secret:
        frame.loc[0, "months"] = "SECRET-CELL-VALUE"
    outside = case.data(frame, name="outside/survey.csv")
    target = str(outside) if absolute else "../outside/survey.csv"
    mapping = case.root / "project" / "mapping.toml"
    mapping.parent.mkdir(parents=True, exist_ok=True)
    mapping.write_text(f'[files]\nflat = "{target}"\n', encoding="utf-8")
    return mapping


def _unwritable(case: Case) -> list[str]:
    locked = case.root / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    # Root may write anywhere; the check asks os.access, which answers for the user running.
    real_access = os.access
    case.monkeypatch.setattr(
        "grassroots.inference.preflight.os.access",
        lambda path, mode: False if Path(path) == locked else real_access(path, mode),
    )
    spec, data = case.spec(_ordinal()), case.data()
    return ["fit", str(spec), "--data", str(data), "--fitted-dir", str(locked / "fitted")]


def _no_disk_space(case: Case) -> list[str]:
    def tiny(path):
        return shutil._ntuple_diskusage(total=10**12, used=10**12 - 1024, free=1024)

    case.monkeypatch.setattr("grassroots.inference.preflight.shutil.disk_usage", tiny)
    return _ordinal_fit(case, _ordinal())


def _with(case: Case, **columns) -> pd.DataFrame:
    return case.flat.assign(**columns)


def _one_township_per_county(case: Case) -> pd.DataFrame:
    first = case.flat.groupby("county_id")["township_id"].transform("first")
    return case.flat[case.flat["township_id"] == first]


ARRANGE: dict[str, Callable[[Case], list[str]]] = {
    "spec-name-parent": lambda c: _ordinal_fit(c, _ordinal(name="../../escape")),
    "spec-name-slash": lambda c: _ordinal_fit(c, _ordinal(name="sub/model")),
    "spec-name-absolute": lambda c: _ordinal_fit(c, _ordinal(name=str(c.root / "abs"))),
    "spec-name-dotdot": lambda c: _ordinal_fit(c, _ordinal(name="a..b")),
    "prior-scale-negative": lambda c: _ordinal_fit(
        c, _ordinal(priors='[priors]\nbeta = { dist = "Normal", mu = 0, sigma = -1 }\n')
    ),
    "prior-scale-zero": lambda c: _ordinal_fit(
        c, _ordinal(priors='[priors]\nsd = { dist = "HalfNormal", sigma = 0 }\n')
    ),
    "mapping-path-parent": lambda c: [
        "fit", str(c.spec(_ordinal())), "--data",
        str(_outside_mapping(c, absolute=False, secret=True)), "--fitted-dir", str(c.fitted),
    ],
    "mapping-path-absolute": lambda c: [
        "fit", str(c.spec(_ordinal())), "--data",
        str(_outside_mapping(c, absolute=True, secret=True)), "--fitted-dir", str(c.fitted),
    ],
    "fitted-dir-is-file": lambda c: [
        *_ordinal_fit(c, _ordinal())[:-2], "--fitted-dir", str(c.data(name="project/taken")),
    ],
    "fitted-dir-under-file": lambda c: [
        *_ordinal_fit(c, _ordinal())[:-2], "--fitted-dir",
        str(c.data(name="project/taken") / "fitted"),
    ],
    "fitted-dir-unwritable": _unwritable,
    "no-disk-space": _no_disk_space,
    "survival-zero-events": lambda c: c.fit(c.spec(SURVIVAL), c.data(_with(c, discontinued=0))),
    "binary-outcome-constant": lambda c: c.fit(c.spec(LOGISTIC), c.data(_with(c, extensive=0))),
    "one-county": lambda c: c.fit(
        c.spec(_ordinal()), c.data(c.flat[c.flat["county_id"] == c.flat["county_id"].iloc[0]])
    ),
    "one-township-per-county": lambda c: c.fit(
        c.spec(_ordinal()), c.data(_one_township_per_county(c))
    ),
    "grouping-column-as-predictor": lambda c: _ordinal_fit(
        c, _ordinal(predictors='["authority", "township_id"]')
    ),
    "codebook-id-as-predictor": lambda c: _ordinal_fit(c, _ordinal(predictors='["project_id"]')),
    "text-id-as-predictor": lambda c: c.fit(
        c.spec(_ordinal(predictors='["respondent"]')),
        c.data(_with(c, respondent=[f"R{i:05d}" for i in range(len(c.flat))])),
    ),
    "spec-column-missing": lambda c: _ordinal_fit(c, _ordinal(predictors='["authorty"]')),
    "simulate-out-is-file": lambda c: [
        "simulate", "--counties", "2", "--out", str(c.data(name="project/simulated")),
    ],
    "describe-out-is-file": lambda c: [
        "describe", str(c.data()), "--out", str(c.data(name="project/reports")),
    ],
    "reproduce-out-is-file": lambda c: [
        "reproduce", str(c.data()), "--quick", "--out", str(c.data(name="project/reports")),
        "--fitted-dir", str(c.fitted),
    ],
    "reproduce-one-county": lambda c: [
        "reproduce", str(c.data(c.flat[c.flat["county_id"] == c.flat["county_id"].iloc[0]])),
        "--quick", "--out", str(c.root / "project" / "reports"), "--fitted-dir", str(c.fitted),
    ],
    "ordinal-flat-without-survival-columns": lambda c: c.fit(
        c.spec(_ordinal()),
        c.data(c.flat.drop(columns=["project_id", "months", "discontinued"])),
    ),
    "survival-flat-without-ordinal-column": lambda c: c.fit(
        c.spec(SURVIVAL), c.data(c.flat.drop(columns=["project_id", "demand_fit"]))
    ),
    "mapping-path-outside-allowed": lambda c: [
        "fit", str(c.spec(_ordinal())), "--data",
        str(_outside_mapping(c, absolute=False, secret=False)), "--fitted-dir", str(c.fitted),
        "--allow-outside-files",
    ],
}


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (``None``) under ``folder``, dotfiles too."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def test_every_fault_has_a_case() -> None:
    ids = [fault.id for fault in FAULTS]
    assert len(ids) == len(set(ids)) == len(ARRANGE)
    assert set(ids) == set(ARRANGE)
    assert sum(fault.exit_code == 2 for fault in FAULTS) >= 15


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
def test_fault(
    fault: Fault,
    tmp_path: Path,
    flat: pd.DataFrame,
    fake_sampler: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = Case(tmp_path / "case", flat, monkeypatch)
    case.root.mkdir()
    monkeypatch.chdir(case.root)  # the default fitted folder, too, lies inside the case
    args = ARRANGE[fault.id](case)
    before = _tree(case.root)
    result = runner.invoke(app, args)
    assert result.exit_code == fault.exit_code, result.output
    assert re.search(fault.message, " ".join(result.output.split()), re.DOTALL), result.output
    assert "Traceback" not in result.output
    if fault.exit_code == 2:
        assert fake_sampler == [], "the fault must be found before sampling"
        assert _tree(case.root) == before, "nothing may be written on exit code 2"
        assert "SECRET-CELL-VALUE" not in result.output
    else:
        assert len(fake_sampler) == 1
        [bundle] = case.fitted.iterdir()
        assert (bundle / "fit.json").is_file()


# ---------------------------------------------------------------------------------------------
# The Python API raises the specific exception types


def test_fit_raises_unfittable_data_error_before_sampling(
    tmp_path: Path, flat: pd.DataFrame, fake_sampler: list
) -> None:
    from grassroots.inference import UnfittableDataError, fit
    from grassroots.models import ModelDataError, spec_from_dict

    spec = spec_from_dict(tomllib.loads(SURVIVAL))
    with pytest.raises(UnfittableDataError, match="'discontinued' has no event") as caught:
        fit(flat.assign(discontinued=0), spec, seed=1, fitted_dir=tmp_path / "fitted")
    assert isinstance(caught.value, ModelDataError)
    assert fake_sampler == [] and not (tmp_path / "fitted").exists()


def test_fit_raises_output_folder_error_when_the_disk_cannot_take_the_bundle(
    tmp_path: Path, flat: pd.DataFrame, fake_sampler: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grassroots.inference import OutputFolderError, fit
    from grassroots.models import spec_from_dict

    spec = spec_from_dict(tomllib.loads(_ordinal()))
    free = {"bytes": 10**12}
    monkeypatch.setattr(
        "grassroots.inference.preflight.shutil.disk_usage",
        lambda path: shutil._ntuple_diskusage(10**12, 10**12 - free["bytes"], free["bytes"]),
    )
    fitted = fit(flat, spec, seed=1, fitted_dir=tmp_path / "fitted", reuse=False)
    size = sum(p.stat().st_size for p in fitted.path.rglob("*") if p.is_file())
    free["bytes"] = size  # the estimate is an upper bound: exactly the room needed is too little
    with pytest.raises(OutputFolderError, match="need about"):
        fit(flat, spec, seed=2, fitted_dir=tmp_path / "fitted", reuse=False)
    assert len(fake_sampler) == 1, "the second fit must stop before sampling"


def test_reproduce_run_checks_every_spec_before_writing(
    tmp_path: Path, flat: pd.DataFrame, fake_sampler: list
) -> None:
    from grassroots.data import load_study
    from grassroots.inference import UnfittableDataError
    from grassroots.pipeline import ReproduceSettings, run

    path = tmp_path / "survey.csv"
    flat.assign(discontinued=0).to_csv(path, index=False)
    reports = tmp_path / "reports"
    settings = ReproduceSettings.quick(fitted_dir=tmp_path / "fitted")
    with pytest.raises(UnfittableDataError, match="'discontinued' has no event"):
        run(load_study(path), reports, settings)
    assert fake_sampler == [] and sorted(tmp_path.iterdir()) == [path]
