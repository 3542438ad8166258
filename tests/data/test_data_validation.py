"""Validation: each check triggered once, with its file, row, column and value; all problems
reported together; the limit; dropping rows on request; nothing written on invalid input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _study_factories import flatten, make_tables, write_tables

from grassroots.data import DataValidationError, DataValidationWarning, load_study
from grassroots.data.validation import (
    MONTHS_TOLERANCE,
    ProblemLog,
    format_problems,
    group_problems,
)


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return make_tables(n_counties=3, n_townships=6, n_projects=12)


def _as_object(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.astype(dict.fromkeys(columns, object))


def _problems(
    folder: Path, tables: dict[str, pd.DataFrame], *, match: str, mapping: str | None = None
) -> pd.DataFrame:
    """Write the tables, load them, and return the problems of the expected error."""
    write_tables(folder, tables)
    mapping_path = None
    if mapping is not None:
        mapping_path = folder.parent / "mapping.toml"
        mapping_path.write_text(mapping, encoding="utf-8")
    with pytest.raises(DataValidationError, match=match) as info:
        load_study(folder, mapping=mapping_path)
    return info.value.problems


def _only(problems: pd.DataFrame, column: str) -> pd.Series:
    chosen = problems[problems["column"] == column]
    assert len(chosen) == 1, problems
    return chosen.iloc[0]


# --------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------


def test_required_project_column_missing(tmp_path: Path, tables) -> None:
    tables["projects"] = tables["projects"].rename(columns={"months": "Months"})
    problems = _problems(tmp_path / "s", tables, match=r"required column 'months' is missing")
    problem = _only(problems, "months")
    assert pd.isna(problem["row"])
    assert problem["file"].endswith("projects.csv")
    assert "map it in [columns]" in problem["hint"]
    assert "did you mean 'Months'" in problem["hint"]


def test_level_id_missing(tmp_path: Path, tables) -> None:
    tables["townships"] = tables["townships"].drop(columns="county_id")
    problems = _problems(tmp_path / "s", tables, match=r"required column 'county_id' is missing")
    problem = _only(problems, "county_id")
    assert problem["file"].endswith("townships.csv")
    assert "grouping level 'county'" in problem["problem"]


def test_mapped_column_missing_from_the_files(tmp_path: Path, tables) -> None:
    problems = _problems(
        tmp_path / "s",
        tables,
        mapping='[columns]\nmonths = "存续月数"\n',
        match=r"column '存续月数', mapped to months, is in none of the data files",
    )
    problem = _only(problems, "columns.months")
    assert problem["file"].endswith("mapping.toml")
    assert problem["value"] == "存续月数"


def test_column_in_the_file_of_another_table(tmp_path: Path, tables) -> None:
    tables["townships"]["region"] = "east"
    problems = _problems(
        tmp_path / "s", tables, match=r"'region' is a column of the counties table"
    )
    problem = _only(problems, "region")
    assert problem["file"].endswith("townships.csv")
    assert "counties.csv" in problem["hint"]


def test_canonical_and_mapped_column_both_present(tmp_path: Path, tables) -> None:
    tables["projects"]["月数"] = tables["projects"]["months"]
    _problems(
        tmp_path / "s",
        tables,
        mapping='[columns]\nmonths = "月数"\n',
        match=r"the file has both 'months' and '月数'",
    )


def test_table_without_rows(tmp_path: Path, tables) -> None:
    tables["counties"] = tables["counties"].iloc[:0]
    problems = _problems(tmp_path / "s", tables, match=r"the table has no data rows")
    assert (problems["problem"] == "county_id not found in counties.csv").sum() == 6


# --------------------------------------------------------------------------------------------
# Values, one column at a time
# --------------------------------------------------------------------------------------------


def test_duplicate_ids(tmp_path: Path, tables) -> None:
    tables["projects"].loc[5, "project_id"] = tables["projects"].loc[1, "project_id"]
    problems = _problems(tmp_path / "s", tables, match=r"row 7, column 'project_id'")
    problem = _only(problems, "project_id")
    assert problem["row"] == 7
    assert problem["value"] == "P000002"
    assert "appears more than once (first in row 3)" in problem["problem"]


def test_missing_id(tmp_path: Path, tables) -> None:
    tables["projects"].loc[0, "project_id"] = None
    problem = _only(_problems(tmp_path / "s", tables, match=r"project_id is missing"), "project_id")
    assert problem["row"] == 2


def test_project_township_not_in_townships(tmp_path: Path, tables) -> None:
    tables["projects"].loc[3, "township_id"] = "T9999"
    problems = _problems(tmp_path / "s", tables, match=r"township_id not found in townships.csv")
    problem = _only(problems, "township_id")
    assert (problem["row"], problem["value"]) == (5, "T9999")


def test_township_county_not_in_counties(tmp_path: Path, tables) -> None:
    tables["townships"].loc[2, "county_id"] = "C404"
    problems = _problems(tmp_path / "s", tables, match=r"county_id not found in counties.csv")
    problem = _only(problems, "county_id")
    assert (problem["row"], problem["value"]) == (4, "C404")
    assert problem["file"].endswith("townships.csv")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-3, r"months must lie in \[0, inf\)"),
        (np.inf, r"months must be finite"),
        ("abc", r"months must be a number, not text"),
    ],
)
def test_months_finite_and_not_negative(tmp_path: Path, tables, value, message) -> None:
    tables["projects"] = _as_object(tables["projects"], "months")
    tables["projects"].loc[4, "months"] = value
    problem = _only(_problems(tmp_path / "s", tables, match=message), "months")
    assert problem["row"] == 6
    assert problem["value"] == str(value)


@pytest.mark.parametrize("value", [2, "yes", 0.5])
def test_discontinued_is_zero_or_one(tmp_path: Path, tables, value) -> None:
    tables["projects"] = _as_object(tables["projects"], "discontinued")
    tables["projects"].loc[0, "discontinued"] = value
    problems = _problems(tmp_path / "s", tables, match=r"discontinued must be one of \{0, 1\}")
    problem = _only(problems, "discontinued")
    assert (problem["row"], problem["value"]) == (2, str(value))
    assert problem["hint"].startswith("recode to 0/1")


def test_other_binary_columns_are_zero_or_one(tmp_path: Path, tables) -> None:
    tables["counties"].loc[1, "collaboration"] = 2
    problems = _problems(tmp_path / "s", tables, match=r"collaboration must be one of \{0, 1\}")
    assert _only(problems, "collaboration")["row"] == 3


@pytest.mark.parametrize("value", [0, 6, 2.5])
def test_demand_fit_is_a_rating_from_1_to_5(tmp_path: Path, tables, value) -> None:
    tables["projects"] = _as_object(tables["projects"], "demand_fit")
    tables["projects"].loc[2, "demand_fit"] = value
    problems = _problems(tmp_path / "s", tables, match=r"demand_fit must be one of \{1, 2, 3")
    assert _only(problems, "demand_fit")["row"] == 4


def test_demand_fit_may_be_missing(tmp_path: Path, tables) -> None:
    tables["projects"]["demand_fit"] = pd.NA
    study = load_study(write_tables(tmp_path / "s", tables))
    assert study.projects["demand_fit"].isna().all()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("n/a", r"authority must be a number, not text"),
        ("abc", r"authority must be a number, not text"),
        ("1,200", r"authority must be a number, not text"),
        (np.inf, r"authority must be finite"),
        (np.nan, r"authority is missing"),
    ],
)
def test_predictors_numeric_and_finite(tmp_path: Path, tables, value, message) -> None:
    tables["townships"] = _as_object(tables["townships"], "authority")
    tables["townships"].loc[3, "authority"] = value
    problem = _only(_problems(tmp_path / "s", tables, match=message), "authority")
    assert problem["row"] == 5
    assert problem["file"].endswith("townships.csv")
    if pd.isna(value):
        assert problem["value"] is None
        assert "drop_rows_with_missing_predictors" in problem["hint"]
    else:
        assert problem["value"] == str(value)


def test_unknown_category_level(tmp_path: Path, tables) -> None:
    tables["counties"].loc[0, "region"] = "东部"
    problems = _problems(tmp_path / "s", tables, match=r"unknown region level")
    problem = _only(problems, "region")
    assert (problem["row"], problem["value"]) == (2, "东部")
    assert "east, central, west" in problem["hint"]
    assert "[categories.region]" in problem["hint"]


def test_categories_are_recoded_by_the_mapping(tmp_path: Path, tables) -> None:
    tables["counties"]["region"] = tables["counties"]["region"].map(
        {"east": "东部", "central": "中部", "west": "west"}
    )
    folder = write_tables(tmp_path / "s", tables)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[categories.region]\n"东部" = "east"\n"中部" = "central"\n', "utf-8")
    study = load_study(folder, mapping=mapping)
    assert study.counties["region"].tolist() == make_tables()["counties"]["region"].tolist()
    assert list(study.counties["region"].cat.categories) == ["east", "central", "west"]


@pytest.mark.parametrize("value", ["01/02/2024", "2023-02-30", "soon"])
def test_dates_must_parse(tmp_path: Path, tables, value) -> None:
    tables["projects"].loc[1, "launch_date"] = value
    problems = _problems(tmp_path / "s", tables, match=r"launch_date is not a date")
    assert (_only(problems, "launch_date")["row"], _only(problems, "launch_date")["value"]) == (
        3,
        value,
    )


def test_other_date_spellings_are_read(tmp_path: Path, tables) -> None:
    tables["projects"].loc[0, "launch_date"] = "2023年5月1日"
    tables["projects"].loc[1, "launch_date"] = "2023/05/01 00:00:00"
    study = load_study(write_tables(tmp_path / "s", tables))
    assert (study.projects.loc[:1, "launch_date"] == pd.Timestamp("2023-05-01")).all()


def test_launch_before_survey(tmp_path: Path, tables) -> None:
    tables["projects"].loc[6, "launch_date"] = "2026-01-01"
    problems = _problems(tmp_path / "s", tables, match=r"launch_date is not before survey_date")
    problem = _only(problems, "launch_date")
    assert (problem["row"], problem["value"]) == (8, "2026-01-01")


def test_months_within_launch_to_survey(tmp_path: Path, tables) -> None:
    projects = tables["projects"]
    window = (
        pd.Timestamp("2025-06-30") - pd.to_datetime(projects["launch_date"])
    ).dt.days / 30.4375
    projects.loc[0, "months"] = window[0] + MONTHS_TOLERANCE / 2  # within the tolerance
    projects.loc[1, "months"] = window[1] + 2 * MONTHS_TOLERANCE
    problems = _problems(tmp_path / "s", tables, match=r"months is longer than the .* months")
    problem = _only(problems, "months")
    assert problem["row"] == 3


def test_survey_date_from_the_mapping(tmp_path: Path, tables) -> None:
    tables["projects"] = tables["projects"].drop(columns="survey_date")
    folder = write_tables(tmp_path / "s", tables)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[options]\nsurvey_date = "2025-06-30"\n', "utf-8")
    study = load_study(folder, mapping=mapping)
    assert (study.projects["survey_date"] == pd.Timestamp("2025-06-30")).all()
    # ... which the date checks then use
    mapping.write_text('[options]\nsurvey_date = "2020-01-01"\n', "utf-8")
    with pytest.raises(DataValidationError, match="launch_date is not before survey_date"):
        load_study(folder, mapping=mapping)


# --------------------------------------------------------------------------------------------
# A flat table: each level's columns constant within the level
# --------------------------------------------------------------------------------------------


def _flat_problems(tmp_path: Path, flat: pd.DataFrame, match: str) -> pd.DataFrame:
    path = tmp_path / "flat.csv"
    flat.to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=match) as info:
        load_study(path)
    return info.value.problems


def test_flat_township_columns_constant_within_township(tmp_path: Path, tables) -> None:
    flat = flatten(tables)
    rows_of_t1 = flat.index[flat["township_id"] == "T0001"]
    flat.loc[rows_of_t1[1], "authority"] = 99.5
    problems = _flat_problems(tmp_path, flat, r"authority differs within township 'T0001'")
    problem = _only(problems, "authority")
    assert (problem["row"], problem["value"]) == (rows_of_t1[1] + 2, "99.5")
    assert f"in row {rows_of_t1[0] + 2}" in problem["problem"]


def test_flat_county_columns_constant_within_county(tmp_path: Path, tables) -> None:
    flat = flatten(tables)
    rows_of_c2 = flat.index[flat["county_id"] == "C002"]
    flat.loc[rows_of_c2[2], "region"] = (
        "west" if flat.loc[rows_of_c2[0], "region"] != "west" else "east"
    )
    problems = _flat_problems(tmp_path, flat, r"region differs within county 'C002'")
    assert _only(problems, "region")["row"] == rows_of_c2[2] + 2


def test_flat_every_township_in_exactly_one_county(tmp_path: Path, tables) -> None:
    flat = flatten(tables)
    rows_of_t2 = flat.index[flat["township_id"] == "T0002"]
    flat.loc[rows_of_t2[1], "county_id"] = "C003"
    problems = _flat_problems(tmp_path, flat, r"county_id differs within township 'T0002'")
    problem = _only(problems, "county_id")
    assert (problem["row"], problem["value"]) == (rows_of_t2[1] + 2, "C003")
    assert "exactly one county" in problem["hint"]
    # the move does not also make the county columns look inconsistent
    assert set(problems["column"]) == {"county_id"}


# --------------------------------------------------------------------------------------------
# All at once, the limit, and the message
# --------------------------------------------------------------------------------------------


def test_three_different_errors_give_three_problems(tmp_path: Path, tables) -> None:
    projects = _as_object(tables["projects"], "months", "discontinued")
    projects.loc[0, "months"] = -1
    projects.loc[1, "discontinued"] = 7
    tables["projects"] = projects
    tables["townships"].loc[0, "township_type"] = "village"
    problems = _problems(tmp_path / "s", tables, match=r"^3 problems found")
    assert sorted(problems["column"]) == ["discontinued", "months", "township_type"]


def test_problems_are_sorted_by_file_and_row(tmp_path: Path, tables) -> None:
    projects = _as_object(tables["projects"], "months", "discontinued")
    projects.loc[5, "months"] = -1
    projects.loc[1, "discontinued"] = 7
    tables["projects"] = projects
    problems = _problems(tmp_path / "s", tables, match=r"2 problems")
    assert problems["row"].tolist() == [3, 7]


def test_the_message_lists_up_to_the_limit(tmp_path: Path, tables) -> None:
    columns = ["months", "discontinued", "extensive", "expedient", "short_sighted"]
    tables["projects"] = _as_object(tables["projects"], *columns)
    for position, column in enumerate(columns):  # five causes: one bad cell in five columns
        tables["projects"].loc[position, column] = "x"
    folder = write_tables(tmp_path / "s", tables)
    with pytest.raises(DataValidationError, match=r"\.\.\. and 3 more") as info:
        load_study(folder, max_problems=2)
    message = str(info.value)
    assert message.startswith("5 problems found")
    assert "  2. " in message and "  3. " not in message
    assert len(info.value.problems) == 5  # every problem is kept in the table


def test_many_bad_cells_of_one_cause_are_one_entry(tmp_path: Path) -> None:
    tables = make_tables(n_projects=80)
    tables["projects"]["discontinued"] = 3
    folder = write_tables(tmp_path / "s", tables)
    with pytest.raises(DataValidationError) as info:
        load_study(folder)
    message = str(info.value)
    assert message.startswith("80 problems found (1 cause)")
    assert "rows 2, 3, 4, 5, 6 and 75 more, column 'discontinued' [80 cells]" in message
    assert "Values: '3' (80x)" in message
    assert "  2. " not in message
    assert len(info.value.problems) == 80  # the table still has one row per cell


def test_problem_table_columns_and_message_format() -> None:
    problems = pd.DataFrame(
        {
            "file": ["a.csv"],
            "row": [3],
            "column": ["months"],
            "value": ["-1"],
            "problem": ["months must lie in [0, inf)"],
            "hint": ["fix it"],
        }
    )
    error = DataValidationError(problems)
    assert list(error.problems.columns) == ["file", "row", "column", "value", "problem", "hint"]
    assert str(error) == format_problems(error.problems)
    assert "a.csv, row 3, column 'months', value '-1': months must lie in [0, inf)" in str(error)
    assert "Fix: fix it" in str(error)
    assert isinstance(error, ValueError)


# --------------------------------------------------------------------------------------------
# Missing predictors: an error, or dropped rows on request
# --------------------------------------------------------------------------------------------


def test_drop_rows_with_missing_predictors(tmp_path: Path, tables) -> None:
    tables["projects"].loc[[2, 5], "funding_source"] = None  # two projects
    tables["townships"].loc[0, "resources"] = np.nan  # a township and its two projects
    folder = write_tables(tmp_path / "s", tables)
    with pytest.raises(DataValidationError, match=r"3 problems"):
        load_study(folder)
    mapping = tmp_path / "m.toml"
    mapping.write_text("[options]\ndrop_rows_with_missing_predictors = true\n", "utf-8")
    with pytest.warns(DataValidationWarning, match=r"dropped 4 project rows") as record:
        study = load_study(folder, mapping=mapping)
    assert "projects.csv: 4 rows (2, 4, 7, 8)" in str(record[0].message)
    assert study.dropped_rows == 4
    assert study.n == {"county": 3, "township": 5, "project": 8}
    assert "T0001" not in set(study.projects["township_id"])
    assert study.townships["resources"].notna().all()


def test_drop_option_does_not_excuse_text_or_outcomes(tmp_path: Path, tables) -> None:
    tables["townships"] = _as_object(tables["townships"], "authority")
    tables["townships"].loc[0, "authority"] = "n/a"
    tables["projects"].loc[0, "months"] = np.nan
    mapping = "[options]\ndrop_rows_with_missing_predictors = true\n"
    problems = _problems(tmp_path / "s", tables, match=r"2 problems", mapping=mapping)
    assert set(problems["column"]) == {"authority", "months"}


def test_no_warning_when_nothing_is_dropped(tmp_path: Path, tables) -> None:
    folder = write_tables(tmp_path / "s", tables)
    mapping = tmp_path / "m.toml"
    mapping.write_text("[options]\ndrop_rows_with_missing_predictors = true\n", "utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_study(folder, mapping=mapping).dropped_rows == 0


# --------------------------------------------------------------------------------------------
# Users' own columns, and nothing written
# --------------------------------------------------------------------------------------------


def test_own_columns_are_kept_untouched(tmp_path: Path, tables) -> None:
    tables["projects"]["village_code"] = ["007"] * 12
    tables["projects"]["budget_note"] = ["n/a"] + ["ok"] * 11
    tables["townships"]["party_secretary_age"] = np.arange(40, 46)
    study = load_study(write_tables(tmp_path / "s", tables))
    assert study.projects["village_code"].tolist() == ["007"] * 12
    assert study.projects["budget_note"].iloc[0] == "n/a"
    assert study.townships["party_secretary_age"].tolist() == list(range(40, 46))
    assert "party_secretary_age" in study.flat().columns


def test_nothing_is_written_on_invalid_input(tmp_path: Path, tables) -> None:
    tables["projects"].loc[0, "discontinued"] = 5
    folder = write_tables(tmp_path / "s", tables)
    (tmp_path / "m.toml").write_text("[options]\nsurvey_date = 2025-06-30\n", "utf-8")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    with pytest.raises(DataValidationError):
        load_study(folder, mapping=tmp_path / "m.toml")
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_group_problems_one_row_per_cause() -> None:
    log = ProblemLog()
    log.add(
        "a.csv",
        "x must be 0/1",
        "recode",
        column="x",
        rows=[9, 2, 5, 3, 4, 8, 7],
        values=["是", "否", "是", "是", "否", "是", "2"],
    )
    log.add("a.csv", "y is missing", "fill in y", column="y", rows=[6])
    groups = group_problems(log.frame())
    assert groups["column"].tolist() == ["x", "y"]
    first = groups.iloc[0]
    assert (first["count"], first["rows"]) == (7, [2, 3, 4, 5, 7])
    assert first["values"] == [("是", 4), ("否", 2), ("2", 1)]
    message = format_problems(log.frame())
    assert message.startswith("8 problems found (2 causes)")
    assert "a.csv, rows 2, 3, 4, 5, 7 and 2 more, column 'x' [7 cells]: x must be 0/1" in message
    assert "a.csv, row 6, column 'y': y is missing" in message
