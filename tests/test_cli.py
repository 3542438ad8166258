"""The ``grassroots`` command: exit codes, output files, and nothing written on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from grassroots.cli import app

runner = CliRunner()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def invalid_flat(tmp_path: Path) -> Path:
    """A flat table with a negative duration on the third data row (line 4 of the file)."""
    flat = pd.read_csv(Path(__file__).parents[1] / "data" / "templates" / "flat.csv", dtype=str)
    rows = pd.concat([flat] * 3, ignore_index=True)
    rows["project_id"] = ["P1", "P2", "P3"]
    rows.loc[2, "months"] = "-4"
    path = tmp_path / "survey.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["simulate", "validate", "describe", "reproduce"])
def test_every_command_explains_itself(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--" in result.output and len(result.output.splitlines()) > 5


def test_validate_bundled_study_exits_zero() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid:")
    assert "synthetic" in result.output


def test_validate_invalid_file_exits_two_and_names_row_and_column(invalid_flat: Path) -> None:
    result = runner.invoke(app, ["validate", str(invalid_flat)])
    assert result.exit_code == 2
    assert "survey.csv" in result.output
    assert "months" in result.output
    assert "4" in result.output  # the user's line number: header is line 1


def test_python_dash_m_exit_code_on_invalid_data(invalid_flat: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "grassroots", "validate", str(invalid_flat)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert "months" in completed.stderr


def test_missing_file_exits_two_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["describe", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "nope.csv" in result.output
    assert _files(tmp_path) == []


def test_describe_writes_table1_and_nothing_on_invalid_input(
    tmp_path: Path, invalid_flat: Path
) -> None:
    out = tmp_path / "reports"
    bad = runner.invoke(app, ["describe", str(invalid_flat), "--out", str(out)])
    assert bad.exit_code == 2
    assert _files(out) == []

    good = runner.invoke(app, ["describe", "--out", str(out), "--lang", "zh"])
    assert good.exit_code == 0, good.output
    assert [p.name for p in _files(out)] == [
        f"table1_descriptives.{fmt}" for fmt in ("csv", "docx", "html", "md", "tex")
    ]
    markdown = (out / "tables" / "table1_descriptives.md").read_text(encoding="utf-8")
    assert "表1" in markdown and "权力" in markdown


def test_simulate_writes_same_bytes_for_same_seed(tmp_path: Path) -> None:
    args = ["simulate", "--seed", "11", "--counties", "6"]
    for name in ("a", "b"):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert [p.name for p in files_a] == [
        "counties.csv", "projects.csv", "townships.csv", "truth.json"
    ]
    assert [p.read_bytes() for p in files_a] == [p.read_bytes() for p in files_b]
    counties = pd.read_csv(tmp_path / "a" / "counties.csv")
    assert len(counties) == 6


def test_simulate_rejects_bad_sizes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--counties", "0", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_reproduce_on_invalid_data_exits_two_before_fitting(
    tmp_path: Path, invalid_flat: Path, fake_sampler
) -> None:
    out = tmp_path / "reports"
    result = runner.invoke(app, ["reproduce", str(invalid_flat), "--quick", "--out", str(out)])
    assert result.exit_code == 2
    assert "months" in result.output
    assert fake_sampler == [] and _files(out) == []


def test_reproduce_without_the_chinese_font_stops_before_fitting(
    tmp_path: Path, fake_sampler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The font the Chinese figures need is checked with the folders and the data, not found
    missing after the fits' minutes."""
    import grassroots.reporting.figures as figures

    study = tmp_path / "study"
    made = runner.invoke(app, ["simulate", "--seed", "3", "--counties", "4", "--out", str(study)])
    assert made.exit_code == 0, made.output
    monkeypatch.setattr(figures, "CJK_FAMILY", "No Such Font SC")
    monkeypatch.setattr(figures, "register_cjk_font", figures.register_cjk_font.__wrapped__)
    out, fitted = tmp_path / "reports", tmp_path / "fitted"
    result = runner.invoke(app, ["reproduce", str(study), "--quick", "--out", str(out),
                                 "--fitted-dir", str(fitted)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no font 'No Such Font SC'" in result.stderr
    assert "apt-get install fonts-wqy-microhei" in result.stderr
    assert "Traceback" not in result.output
    assert fake_sampler == [] and _files(out) == [] and _files(fitted) == []


def test_fit_and_reproduce_save_bundles_under_fitted_dir(
    tmp_path: Path, fake_sampler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--fitted-dir: fit saves its bundle there (not under models/fitted/) and reuses it from
    there; reproduce passes the folder on to its settings."""
    from grassroots.inference.fitting import fitted_dir

    study = tmp_path / "study"
    made = runner.invoke(app, ["simulate", "--seed", "3", "--counties", "4", "--out", str(study)])
    assert made.exit_code == 0, made.output
    default = fitted_dir()
    before = sorted(default.iterdir()) if default.is_dir() else []
    bundles = tmp_path / "bundles"
    args = ["fit", "survival_m1", "--data", str(study), "--chains", "2", "--draws", "20",
            "--tune", "0", "--fitted-dir", str(bundles)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    [bundle] = bundles.iterdir()
    assert bundle.name.startswith("survival_m1-seed20250325-")
    assert f"saved {bundle}" in first.output
    assert (sorted(default.iterdir()) if default.is_dir() else []) == before
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert len(fake_sampler) == 1, "the saved fit under --fitted-dir must be reused"

    seen = []
    monkeypatch.setattr(
        "grassroots.pipeline.run", lambda study, reports, settings, **_: seen.append(settings) or []
    )
    for quick in ([], ["--quick"]):
        result = runner.invoke(
            app, ["reproduce", str(study), *quick, "--out", str(tmp_path / "reports"),
                  "--fitted-dir", str(bundles)],
        )
        assert result.exit_code == 0, result.output
    assert [s.fitted_dir for s in seen] == [bundles, bundles]
    assert [s.draws for s in seen] == [None, 60]
    assert [(s.workers, s.scheduler) for s in seen] == [(1, None), (1, None)]
    result = runner.invoke(
        app, ["reproduce", str(study), "--out", str(tmp_path / "reports"), "--workers", "2",
              "--scheduler", "tcp://127.0.0.1:8786"],
    )
    assert result.exit_code == 0, result.output
    assert (seen[-1].workers, seen[-1].scheduler) == (2, "tcp://127.0.0.1:8786")


# --------------------------------------------------------------------------------------------
# Issue 13: the problem table, --problems-csv, --encoding
# --------------------------------------------------------------------------------------------


@pytest.fixture
def many_bad_cells(tmp_path: Path) -> Path:
    """A flat table whose 30 rows all hold 是/否 in the 0/1 column outsourced: one cause."""
    flat = pd.read_csv(Path(__file__).parents[1] / "data" / "templates" / "flat.csv", dtype=str)
    rows = pd.concat([flat] * 30, ignore_index=True)
    rows["project_id"] = [f"P{i}" for i in range(30)]
    rows["outsourced"] = ["是", "否"] * 15
    path = tmp_path / "survey.csv"
    rows.to_csv(path, index=False)
    return path


def test_validate_prints_one_entry_per_cause(many_bad_cells: Path) -> None:
    result = runner.invoke(app, ["validate", str(many_bad_cells)])
    assert result.exit_code == 2
    assert "30 problems found (1 cause)" in result.output
    assert "rows 2, 3, 4, 5, 6 and 25 more, column 'outsourced' [30 cells]" in result.output
    assert "'是' (15x), '否' (15x)" in result.output
    assert "[categories.outsourced]" in result.output
    assert "  2. " not in result.output


def test_problems_csv_holds_every_cell(many_bad_cells: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "problems.csv"
    out.parent.mkdir()
    result = runner.invoke(app, ["validate", str(many_bad_cells), "--problems-csv", str(out)])
    assert result.exit_code == 2
    assert f"wrote all 30 problems to {out}" in result.output
    problems = pd.read_csv(out)
    assert list(problems.columns) == ["file", "row", "column", "value", "problem", "hint"]
    assert problems["row"].tolist() == list(range(2, 32))
    assert _files(out.parent) == [out]  # no temporary left beside it


def test_problems_csv_on_valid_data_has_no_rows(tmp_path: Path) -> None:
    out = tmp_path / "problems.csv"
    result = runner.invoke(app, ["validate", "--problems-csv", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out).empty


def test_describe_problems_csv_and_nothing_else_written(
    many_bad_cells: Path, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    out = tmp_path / "problems.csv"
    result = runner.invoke(
        app, ["describe", str(many_bad_cells), "--out", str(reports), "--problems-csv", str(out)]
    )
    assert result.exit_code == 2
    assert out.is_file() and _files(reports) == []


def test_encoding_option_reads_a_whole_gbk_file(tmp_path: Path) -> None:
    flat = pd.read_csv(Path(__file__).parents[1] / "data" / "templates" / "flat.csv", dtype=str)
    flat = flat.rename(columns={"region": "地区"})
    path = tmp_path / "survey.csv"
    path.write_bytes(flat.to_csv(index=False).encode("gbk"))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[columns]\nregion = "地区"\n', encoding="utf-8")
    as_utf8 = runner.invoke(app, ["validate", str(path), "-m", str(mapping), "--encoding", "utf-8"])
    assert as_utf8.exit_code == 2
    assert "bytes are not utf-8 text" in as_utf8.output
    as_gbk = runner.invoke(app, ["validate", str(path), "-m", str(mapping), "--encoding", "gbk"])
    assert as_gbk.exit_code == 0, as_gbk.output


def test_problems_csv_that_cannot_be_written_exits_two(many_bad_cells: Path) -> None:
    out = many_bad_cells / "problems.csv"  # inside a file, not a folder
    result = runner.invoke(app, ["validate", str(many_bad_cells), "--problems-csv", str(out)])
    assert result.exit_code == 2
    assert "cannot write the problem table" in result.output
    assert "Traceback" not in result.output


def test_fit_saves_bundles_in_the_current_folder_by_default(
    tmp_path: Path, fake_sampler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --fitted-dir, bundles go to ./models/fitted of the folder the user works in (or
    $GRASSROOTS_FITTED_DIR), never into the package or its checkout."""
    from grassroots.inference.fitting import fitted_dir

    monkeypatch.delenv("GRASSROOTS_FITTED_DIR", raising=False)
    study = tmp_path / "study"
    made = runner.invoke(app, ["simulate", "--seed", "3", "--counties", "4", "--out", str(study)])
    assert made.exit_code == 0, made.output
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    args = ["fit", "survival_m1", "--data", str(study), "--chains", "2", "--draws", "20",
            "--tune", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    [bundle] = (project / "models" / "fitted").iterdir()
    assert f"saved {bundle}" in result.output

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("GRASSROOTS_FITTED_DIR", str(elsewhere))
    assert fitted_dir() == elsewhere
    result = runner.invoke(app, [*args, "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert [p.name.split("-")[1] for p in elsewhere.iterdir()] == ["seed5"]


def test_fit_on_a_flat_table_needs_only_the_spec_columns(tmp_path: Path, fake_sampler) -> None:
    """An ordinal spec's table needs no project_id, months or discontinued; a missing outcome
    column of the spec is named with the spec that reads it."""
    from grassroots.data import load_dataset

    flat = load_dataset().flat()
    flat = flat[flat["county_id"].isin(sorted(flat["county_id"].unique())[:4])]
    table = tmp_path / "ratings.csv"
    flat.drop(columns=["project_id", "months", "discontinued"]).to_csv(table, index=False)
    bundles = tmp_path / "bundles"
    base = ["fit", "--data", str(table), "--chains", "1", "--draws", "10", "--tune", "0",
            "--fitted-dir", str(bundles)]
    result = runner.invoke(app, [base[0], "demand_fit_m1", *base[1:]])
    assert result.exit_code == 0, result.output
    assert [p.name.split("-")[0] for p in bundles.iterdir()] == ["demand_fit_m1"]

    result = runner.invoke(app, [base[0], "survival_m1", *base[1:]])
    assert result.exit_code == 2
    assert "required column 'months' is missing: spec 'survival_m1' fits it" in result.output
    assert len(fake_sampler) == 1 and len(list(bundles.iterdir())) == 1


def test_fit_prints_the_prior_dominance_note_instead_of_a_warning(
    tmp_path: Path, fake_sampler
) -> None:
    """The fake sampler returns prior draws, so every coefficient's prior dominates: the summary
    says so in words, and no Python warning (with its source line) reaches the user."""
    result = runner.invoke(
        app,
        ["fit", "demand_fit_m1", "--chains", "1", "--draws", "20", "--tune", "0",
         "--fitted-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "⚠ Prior dominates" in result.output
    assert "PriorDominanceWarning" not in result.output


# --------------------------------------------------------------------------------------------
# Issue 15: reproduce's progress (live on a terminal, lines in logs, --quiet)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def progress_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``reproduce`` with the pipeline replaced by one that reports two fits (one converged),
    as the real one does; returns the arguments to invoke it with."""
    from grassroots.pipeline import STAGES, FitProgress, Step

    def run(study, reports, settings, *, on_step, on_fit, **_):
        on_step(Step(3, STAGES, "fitting the model specs"))
        for number, (spec, converged) in enumerate(
            [("survival_m0", True), ("demand_fit_m4", False)], start=1
        ):
            on_fit(FitProgress(number, 2, spec))
            on_fit(FitProgress(number, 2, spec, seconds=1.5 * number, converged=converged))
        on_step(Step(5, STAGES, "tables and figures"))
        return [reports / "README.md"]

    monkeypatch.setattr("grassroots.pipeline.run", run)
    study = tmp_path / "study"
    made = runner.invoke(app, ["simulate", "--seed", "3", "--counties", "4", "--out", str(study)])
    assert made.exit_code == 0, made.output
    return ["reproduce", str(study), "--out", str(tmp_path / "reports"),
            "--fitted-dir", str(tmp_path / "fitted")]  # fmt: skip


def test_reproduce_logs_one_line_per_step_when_stderr_is_not_a_terminal(
    progress_run: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    result = runner.invoke(app, progress_run)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "[1/5] validating the data",
        "[1/5] valid: 4 counties, 44 townships, 206 projects",
        "[3/5] fitting the model specs",
        "      [ 1/2] survival_m0                     1.5 s  converged",
        "      [ 2/2] demand_fit_m4                   3.0 s  NOT converged",
        "[5/5] tables and figures",
    ]
    assert "\x1b[" not in result.stderr
    assert result.stdout.startswith("wrote 1 files under ")


def test_reproduce_shows_a_live_display_on_a_terminal(
    progress_run: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    result = runner.invoke(app, progress_run)
    assert result.exit_code == 0, result.output
    assert "\x1b[" in result.stderr, "a terminal gets rich's live display"
    assert "fit 2/2 demand_fit_m4" in result.stderr
    assert "[ 2/2] demand_fit_m4                   3.0 s  NOT converged" in result.stderr


def test_reproduce_quiet_prints_nothing_but_errors(
    progress_run: list[str], tmp_path: Path, invalid_flat: Path
) -> None:
    result = runner.invoke(app, [*progress_run, "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    failed = runner.invoke(
        app, ["reproduce", str(invalid_flat), "--quiet", "--out", str(tmp_path / "out")]
    )
    assert failed.exit_code == 2
    assert "months" in failed.stderr


@pytest.mark.filterwarnings("ignore:The effect of Potentials:UserWarning")
def test_fit_in_county_shards_prints_and_writes_the_combined_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import fake_sample

    from grassroots.data import load_dataset
    from grassroots.inference.sampling import StartedSampling

    monkeypatch.setattr(
        "grassroots.inference.consensus.start_sampling",
        lambda *a, **k: StartedSampling.finished(fake_sample(*a, **k)),
    )
    flat = load_dataset().flat()
    flat = flat[flat["county_id"].isin(sorted(flat["county_id"].unique())[:8])]
    table = tmp_path / "survey.csv"
    flat.to_csv(table, index=False)
    bundles, summary = tmp_path / "bundles", tmp_path / "out" / "summary.csv"
    base = ["fit", "strategy_expedient", "--data", str(table), "--chains", "2", "--draws", "20",
            "--tune", "0", "--fitted-dir", str(bundles), "--shards", "2"]  # fmt: skip
    result = runner.invoke(app, [*base, "--summary-csv", str(summary)])
    assert result.exit_code == 0, result.output
    assert "consensus Monte Carlo over 2 county shards (4, 4 counties)" in result.output
    assert "NOT CONVERGED" in result.output  # 2 x 20 prior draws
    assert "shard 2/2: 4 counties" in result.output
    written = pd.read_csv(summary, index_col=0)
    assert "expedient_sd_county" in written.index and "r_hat" in written.columns
    assert _files(bundles) == []

    result = runner.invoke(app, [*base, "--method", "advi"])
    assert result.exit_code == 2 and "--shards combines NUTS fits" in result.output
    result = runner.invoke(app, [*base[:-2], "--summary-csv", str(summary)])
    assert result.exit_code == 2 and "go with --shards" in result.output
    result = runner.invoke(app, [*base[:-1], "9"])
    assert result.exit_code == 2 and "use at most 8 shards" in result.output
