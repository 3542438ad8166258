"""The TOML column-mapping file: what it accepts, and every problem named with file and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from grassroots.data import DataValidationError, Mapping, load_mapping


def _mapping(tmp_path: Path, text: str, files: tuple[str, ...] = ()) -> Path:
    for name in files:
        (tmp_path / name).write_text("project_id\nP1\n", encoding="utf-8")
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_mapping_is_read(tmp_path: Path) -> None:
    path = _mapping(
        tmp_path,
        """
[files]
counties = "c.csv"
townships = "t.csv"
projects = "data/p.csv"
sheet = "Sheet1"
[levels]
groups = ["county", "township"]
[columns]
project_id = "项目编号"
months = "存续月数"
[categories.region]
"东部" = "east"
[options]
drop_rows_with_missing_predictors = true
survey_date = "2025-06-30"
""",
        files=("c.csv", "t.csv"),
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "p.csv").write_text("x\n1\n", encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.files == {
        "counties": (tmp_path / "c.csv").resolve(),
        "townships": (tmp_path / "t.csv").resolve(),
        "projects": (tmp_path / "data" / "p.csv").resolve(),
    }
    assert mapping.sheet == "Sheet1"
    assert mapping.levels == ("county", "township")
    assert mapping.columns == {"project_id": "项目编号", "months": "存续月数"}
    assert mapping.rename_map() == {"项目编号": "project_id", "存续月数": "months"}
    assert mapping.categories == {"region": {"东部": "east"}}
    assert mapping.drop_rows_with_missing_predictors is True
    assert mapping.survey_date == dt.date(2025, 6, 30)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [("[]", ()), ('["township"]', ("township",)), ('["county"]', ("county",))],
)
def test_level_variants(tmp_path: Path, groups: str, expected: tuple[str, ...]) -> None:
    assert load_mapping(_mapping(tmp_path, f"[levels]\ngroups = {groups}\n")).levels == expected


def test_an_empty_mapping_infers_everything(tmp_path: Path) -> None:
    mapping = load_mapping(_mapping(tmp_path, ""))
    assert mapping.levels is None and mapping.columns == {} and mapping.files == {}
    assert Mapping().drop_rows_with_missing_predictors is False


def test_toml_date_is_accepted_for_survey_date(tmp_path: Path) -> None:
    mapping = load_mapping(_mapping(tmp_path, "[options]\nsurvey_date = 2024-12-31\n"))
    assert mapping.survey_date == dt.date(2024, 12, 31)


# --------------------------------------------------------------------------------------------
# Errors: one per rule, each naming the mapping file and the key
# --------------------------------------------------------------------------------------------


def _error(path: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_mapping(path)
    assert (info.value.problems["file"] == str(path)).all()
    return info.value


def test_bad_toml_names_its_line(tmp_path: Path) -> None:
    path = _mapping(tmp_path, '[columns]\nmonths = "存续月数"\nproject_id = 项目编号\n')
    with pytest.raises(DataValidationError, match=r"mapping\.toml, row 3: not valid TOML") as info:
        load_mapping(path)
    assert info.value.problems.loc[0, "row"] == 3
    assert "quotes" in info.value.problems.loc[0, "hint"]


def test_unknown_canonical_name_suggests_the_closest(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[columns]\nmonth = "存续月数"\n'))
    assert error.problems.loc[0, "column"] == "columns.month"
    assert "did you mean 'months'?" in error.problems.loc[0, "problem"]
    assert "column 'columns.month'" in str(error)


def test_value_not_a_string(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, "[columns]\nmonths = 3\n"))
    assert error.problems.loc[0, "column"] == "columns.months"
    assert error.problems.loc[0, "problem"].startswith("must be a non-empty string")
    assert error.problems.loc[0, "value"] == "3"


def test_two_canonical_names_mapped_to_one_column(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[columns]\nmonths = "月数"\nauthority = "月数"\n'))
    assert error.problems.loc[0, "column"] == "columns.months, columns.authority"
    assert "2 canonical names are mapped to the same column '月数'" in str(error)


def test_unknown_level(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[levels]\ngroups = ["province", "township"]\n'))
    assert error.problems.loc[0, "column"] == "levels.groups"
    assert "unknown level 'province'" in error.problems.loc[0, "problem"]


def test_levels_out_of_order(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[levels]\ngroups = ["township", "county"]\n'))
    assert "outer to inner" in error.problems.loc[0, "problem"]


def test_levels_not_a_list(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[levels]\ngroups = "township"\n'))
    assert "must be a list" in error.problems.loc[0, "problem"]


def test_listed_file_that_does_not_exist(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[files]\nprojects = "projets.csv"\n'))
    assert error.problems.loc[0, "column"] == "files.projects"
    assert "file 'projets.csv' does not exist" in error.problems.loc[0, "problem"]


def test_flat_and_tables_together(tmp_path: Path) -> None:
    text = '[files]\nflat = "a.csv"\nprojects = "b.csv"\n'
    error = _error(_mapping(tmp_path, text, files=("a.csv", "b.csv")))
    assert "both a flat table and separate tables" in str(error)


def test_tables_without_projects(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[files]\ntownships = "t.csv"\n', files=("t.csv",)))
    assert error.problems.loc[0, "column"] == "files.projects"


def test_unknown_category_target(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[categories.region]\n"东部" = "eastern"\n'))
    assert error.problems.loc[0, "column"] == "categories.region.东部"
    assert "unknown level 'eastern' for region (did you mean 'east'?)" in str(error)
    assert "east, central, west" in error.problems.loc[0, "hint"]


def test_categories_for_a_non_categorical_variable(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[categories.regions]\n"东部" = "east"\n'))
    assert "'regions' is not a categorical or binary variable (did you mean 'region'?)" in str(
        error
    )


def test_unknown_section_and_option(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, "[column]\n[options]\ndrop_rows = true\n"))
    assert error.problems["column"].tolist() == ["column", "options.drop_rows"]
    assert "did you mean 'columns'" in error.problems.loc[0, "problem"]
    assert "did you mean 'drop_rows_with_missing_predictors'" in error.problems.loc[1, "problem"]


def test_option_types(tmp_path: Path) -> None:
    text = '[options]\ndrop_rows_with_missing_predictors = "yes"\nsurvey_date = "30/06/2025"\n'
    error = _error(_mapping(tmp_path, text))
    assert error.problems["column"].tolist() == [
        "options.drop_rows_with_missing_predictors",
        "options.survey_date",
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        '[files]\nprojects = "missing.csv"\n[levels]\ngroups = ["village"]\n'
        '[columns]\nmonth = "m"\n[categories.region]\n"x" = "north"\n'
    )
    error = _error(_mapping(tmp_path, text))
    assert len(error.problems) == 4
    assert str(error).startswith("4 problems found")


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"mapping file not found"):
        load_mapping(tmp_path / "nope.toml")


# --------------------------------------------------------------------------------------------
# Issue 13: binary categories, sheets of one workbook, header_row, encoding
# --------------------------------------------------------------------------------------------


def test_binary_categories_take_one_or_zero(tmp_path: Path) -> None:
    mapping = load_mapping(
        _mapping(tmp_path, '[categories.outsourced]\n"是" = 1\n"否" = "0"\n"TRUE" = true\n')
    )
    assert mapping.categories["outsourced"] == {"是": "1", "否": "0", "TRUE": "1"}


def test_binary_category_other_than_one_or_zero(tmp_path: Path) -> None:
    error = _error(_mapping(tmp_path, '[categories.outsourced]\n"是" = 2\n"否" = "no"\n'))
    assert error.problems["column"].tolist() == [
        "categories.outsourced.是",
        "categories.outsourced.否",
    ]
    assert (error.problems["problem"] == "must be 1 or 0").all()


def test_sheets_header_row_and_encoding(tmp_path: Path) -> None:
    text = (
        '[files]\nprojects = "s.xlsx"\ntownships = "s.xlsx"\nencoding = "gbk"\nheader_row = 3\n'
        'sheets = { projects = "项目", townships = "乡镇" }\n'
    )
    (tmp_path / "s.xlsx").write_bytes(b"")
    mapping = load_mapping(_mapping(tmp_path, text))
    assert mapping.sheets == {"projects": "项目", "townships": "乡镇"}
    assert (mapping.header_row, mapping.encoding) == (3, "gbk")


def test_bad_sheets_and_header_row(tmp_path: Path) -> None:
    text = (
        '[files]\nprojects = "p.csv"\nheader_row = 0\nsheets = { project = "x", counties = "y" }\n'
    )
    error = _error(_mapping(tmp_path, text, files=("p.csv",)))
    problems = dict(zip(error.problems["column"], error.problems["problem"], strict=True))
    assert problems["files.header_row"] == "must be a whole number from 1"
    assert problems["files.sheets.project"] == "unknown table (did you mean 'projects'?)"
    assert problems["files.sheets"] == "sheets are named for tables without a file: counties"


@pytest.mark.parametrize("kind", ["parent", "absolute", "link"])
def test_files_outside_the_mappings_folder_are_refused_unless_allowed(
    tmp_path: Path, kind: str
) -> None:
    """A mapping from elsewhere must not make the package read (and quote) any file."""
    outside = tmp_path / "elsewhere" / "private.csv"
    outside.parent.mkdir()
    outside.write_text("project_id\nP1\n", encoding="utf-8")
    folder = tmp_path / "survey"
    folder.mkdir()
    if kind == "link":
        (folder / "linked.csv").symlink_to(outside)
    value = {"parent": "../elsewhere/private.csv", "absolute": str(outside), "link": "linked.csv"}
    path = _mapping(folder, f'[files]\nflat = "{value[kind]}"\n')
    error = _error(path)
    assert error.problems.loc[0, "column"] == "files.flat"
    assert "leads outside the mapping file's folder" in error.problems.loc[0, "problem"]
    assert "--allow-outside-files" in error.problems.loc[0, "hint"]
    allowed = load_mapping(path, allow_outside_files=True)
    assert allowed.files["flat"].resolve() == outside.resolve()


# --------------------------------------------------------------------------------------------
# Issue 15: the structure is checked by pydantic models; problems keep the package's words and
# name the key's line
# --------------------------------------------------------------------------------------------


def test_problems_name_the_line_of_their_key(tmp_path: Path) -> None:
    text = (
        '[files]\nprojects = "p.csv"\nheader_row = 0\n\n[levels]\ngroups = ["county", 3]\n'
        '\n[columns]\nmonths = "   "\nmonth = "m"\n\n[categories.outsourced]\n"是" = 2\n'
    )
    error = _error(_mapping(tmp_path, text, files=("p.csv",)))
    found = error.problems[["row", "column", "problem"]].values.tolist()
    assert found == [
        [3, "files.header_row", "must be a whole number from 1"],
        [6, "levels.groups[1]", "must be a level name (county or township)"],
        [9, "columns.months", "must be a non-empty string (your column's name)"],
        [10, "columns.month", "'month' is not a canonical column name (did you mean 'months'?)"],
        [13, "categories.outsourced.是", "must be 1 or 0"],
    ]
    assert "mapping.toml, row 9, column 'columns.months'" in str(error)
    assert "pydantic" not in str(error) and "Input should" not in str(error)


@pytest.mark.parametrize(
    ("text", "column", "problem", "hint"),
    [
        ("columns = 3\n", "columns", "must be a section [columns]", "write [columns]"),
        ("[files]\nsheet = 1\n", "files.sheet", "must be a string", 'write sheet = "Sheet1"'),
        (
            '[files]\nsheets = { flat = " " }\n',
            "files.sheets.flat",
            "must be a sheet name",
            'write flat = "Sheet1"',
        ),
        (
            "[options]\nsurvey_date = 20250630\n",
            "options.survey_date",
            "must be a date",
            'write survey_date = "2025-06-30" (YYYY-MM-DD)',
        ),
        ("[levels]\ngroup = []\n", "levels.group", "unknown key (did you mean 'groups'?)", None),
    ],
)
def test_structural_problems_in_the_packages_words(
    tmp_path: Path, text: str, column: str, problem: str, hint: str | None
) -> None:
    error = _error(_mapping(tmp_path, text))
    assert error.problems.loc[0, ["column", "problem"]].tolist() == [column, problem]
    if hint is not None:
        assert error.problems.loc[0, "hint"] == hint
