"""Faults in reading a user's survey files (issue 13): each bad input gets a clear message
naming file, row and column, exit code 2 and nothing written; each input that a careful user
would call fine loads to the same study as the clean files.

:data:`FAULTS` is the table of every case, ``(id, description, expected outcome)``, kept at
module level so that a README table of all faults can be generated from it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from grassroots.cli import app
from grassroots.data import DataValidationError, load_study
from grassroots.data.validation import DataValidationWarning

TEMPLATES = Path(__file__).parents[2] / "data" / "templates"
N_PROJECTS = 12

# (id, description, expected outcome)
FAULTS: list[tuple[str, str, str]] = [
    (
        "gbk_cell_in_utf8",
        "a UTF-8 CSV with one cell saved as GBK",
        "error: file, row, column and the cell's bytes; re-save as UTF-8 or --encoding gbk",
    ),
    (
        "gbk_header_in_utf8",
        "a UTF-8 CSV whose header has one GBK column name",
        "error: row 1 and the column's position",
    ),
    (
        "whole_gbk_without_flag",
        "a CSV wholly in GBK, no encoding given",
        "loads: read as GB18030, the whole file consistently",
    ),
    ("whole_gbk_with_flag", "a CSV wholly in GBK, encoding='gbk' given", "loads"),
    (
        "whole_gbk_read_as_utf8",
        "a CSV wholly in GBK, encoding='utf-8' given",
        "error: the cells that are not UTF-8, with row and column",
    ),
    ("unknown_encoding", "encoding='nope'", "error: unknown text encoding"),
    ("utf8_bom", "a UTF-8 CSV with a byte-order mark (Excel's CSV UTF-8)", "loads"),
    (
        "binary_shi_fou_mapped",
        "是/否 in a 0/1 column, mapped in [categories.outsourced]",
        "loads: 是 -> 1, 否 -> 0",
    ),
    ("binary_true_false_mapped", "TRUE/FALSE text in a 0/1 column, mapped", "loads"),
    (
        "binary_unmapped_label",
        "是/否 in a 0/1 column without a mapping",
        "error: one entry for the column, the labels with counts and first rows, "
        "hint [categories.outsourced]",
    ),
    ("binary_partly_mapped", "是 mapped, 否 not", "error: only 否 listed"),
    ("xlsx_booleans", "TRUE/FALSE cells (booleans) of an .xlsx in a 0/1 column", "loads"),
    (
        "authority_1e300",
        "authority = 1e300 (codebook range [0, 100])",
        "error before any model work: must lie in [0, 100]",
    ),
    ("months_minus_inf", "months = -inf", "error: must be finite"),
    ("authority_inf_text", "authority = 'inf' as text", "error: must be finite"),
    ("homogeneity_above_one", "homogeneity = 1.5 (a share, [0, 1])", "error: must lie in [0, 1]"),
    ("rating_out_of_range", "demand_fit = 6 (ratings 1-5)", "error: must be one of {1, ..., 5}"),
    (
        "xlsx_title_row",
        "an .xlsx with a title row above the header",
        "loads, with a warning naming the skipped row and the header's row",
    ),
    (
        "xlsx_two_title_rows",
        "an .xlsx with two title rows above the header",
        "loads, with a warning naming rows 1-2",
    ),
    (
        "csv_title_row",
        "a CSV saved from a sheet with a title row above the header",
        "loads, with a warning naming the skipped row",
    ),
    ("xlsx_header_row_given", "title rows and header_row = 3 in the mapping", "loads"),
    (
        "xlsx_header_row_outside",
        "header_row beyond the sheet's last row",
        "error: header_row outside the sheet",
    ),
    ("three_sheets", "one workbook with sheets counties, townships, projects", "loads"),
    ("three_sheets_mapped", "one workbook, Chinese sheet names given in [files] sheets", "loads"),
    (
        "missing_sheet",
        "[files] sheets names a sheet the workbook lacks",
        "error: no sheet named ..., with the workbook's sheets",
    ),
    (
        "bad_cell_in_sheet",
        "one workbook, a bad value on the projects sheet",
        "error naming the workbook, the sheet and the sheet's row",
    ),
    (
        "renamed_columns_in_messages",
        "columns renamed by the mapping (权力 = authority)",
        "error names the user's column 权力",
    ),
    (
        "renamed_dates_in_messages",
        "launch after survey, dates renamed by the mapping (上线日期, 调查日期)",
        "error names 上线日期 and 调查日期 in the column and the message",
    ),
    (
        "many_bad_cells_one_cause",
        "every row holds the same bad value",
        "error: one entry with the count of cells, not one per cell",
    ),
    (
        "problems_csv_written_atomically",
        "--problems-csv on invalid data",
        "error; every problem (one row per cell) in the CSV, no temporary left, nothing else",
    ),
]


# ----------------------------------------------------------------------------------------------
# Clean tables, and how each case spoils them
# ----------------------------------------------------------------------------------------------


def clean_tables() -> dict[str, pd.DataFrame]:
    """The templates' one county and township, and twelve projects."""
    tables = {
        name: pd.read_csv(TEMPLATES / f"{name}.csv", dtype=str)
        for name in ("counties", "townships", "projects")
    }
    projects = pd.concat([tables["projects"]] * N_PROJECTS, ignore_index=True)
    projects["project_id"] = [f"P{i:02d}" for i in range(1, N_PROJECTS + 1)]
    projects["outsourced"] = ["1", "0"] * (N_PROJECTS // 2)
    tables["projects"] = projects
    return tables


def write_csv(folder: Path, tables: dict[str, pd.DataFrame], encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        (folder / f"{name}.csv").write_bytes(frame.to_csv(index=False).encode(encoding))
    return folder


def write_workbook(
    path: Path,
    tables: dict[str, pd.DataFrame],
    *,
    title_rows: int = 0,
    sheet_names: dict[str, str] | None = None,
) -> Path:
    """The tables as typed sheets (numbers as numbers), each under ``title_rows`` title rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path) as writer:
        for name, frame in tables.items():
            sheet = (sheet_names or {}).get(name, name)
            typed = frame.apply(_numbers_where_possible)
            typed.to_excel(writer, sheet_name=sheet, index=False, startrow=title_rows)
            if title_rows:
                writer.sheets[sheet]["A1"] = "2025年乡镇数字公共服务项目调查"
    return path


def _numbers_where_possible(column: pd.Series) -> pd.Series:
    if column.name in ("project_id", "township_id", "county_id"):
        return column
    try:
        return pd.to_numeric(column)
    except ValueError:  # text: labels, dates
        return column


def mapping_file(folder: Path, text: str) -> Path:
    path = folder / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Case:
    source: Path
    mapping: Path | None = None
    options: dict[str, object] = field(default_factory=dict)  # load_study keywords
    cli: list[str] = field(default_factory=list)  # the same on the command line
    match: str = ""  # error cases: the message must match
    warns: str = ""  # cases that load: the warning must match
    spoils: bool = True  # False: the input holds the clean data, only written differently


CASES: dict[str, Callable[[Path], Case]] = {}


def case(function: Callable[[Path], Case]) -> Callable[[Path], Case]:
    CASES[function.__name__] = function
    return function


_LABELS = '[categories.project_type]\n"小程序" = "mini_program"\n'


def _chinese_labels(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    tables["projects"]["project_type"] = "小程序"
    return tables


@case
def gbk_cell_in_utf8(folder: Path) -> Case:
    tables = _chinese_labels(clean_tables())
    data = write_csv(folder / "s", tables)
    path = data / "projects.csv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace("小程序".encode(), "小程序".encode("gbk"))  # row 5
    path.write_bytes(b"\n".join(lines))
    return Case(
        data,
        mapping_file(folder, _LABELS),
        match=r"(?s)projects\.csv, row 5, column 'project_type', value 'bytes "
        r"D0 A1 B3 CC D0 F2'.*not utf-8.*--encoding gbk",
    )


@case
def gbk_header_in_utf8(folder: Path) -> Case:
    # UTF-8 Chinese labels in the body: the file is UTF-8, so the GBK name is an error. (With
    # no other Chinese text, the whole file would decode consistently as GB18030 and load.)
    data = write_csv(folder / "s", _chinese_labels(clean_tables()))
    path = data / "projects.csv"
    path.write_bytes(path.read_bytes().replace(b"outsourced", "外包".encode("gbk"), 1))
    return Case(
        data,
        mapping_file(folder, _LABELS),
        match=r"projects\.csv, row 1, column 'column 5'.*not utf-8",
    )


@case
def whole_gbk_without_flag(folder: Path) -> Case:
    data = write_csv(folder / "s", _chinese_labels(clean_tables()), encoding="gbk")
    return Case(data, mapping_file(folder, _LABELS), spoils=False)


@case
def whole_gbk_with_flag(folder: Path) -> Case:
    data = write_csv(folder / "s", _chinese_labels(clean_tables()), encoding="gbk")
    return Case(
        data,
        mapping_file(folder, _LABELS),
        {"encoding": "gbk"},
        ["--encoding", "gbk"],
        spoils=False,
    )


@case
def whole_gbk_read_as_utf8(folder: Path) -> Case:
    data = write_csv(folder / "s", _chinese_labels(clean_tables()), encoding="gbk")
    return Case(
        data,
        mapping_file(folder, _LABELS),
        {"encoding": "utf-8"},
        ["--encoding", "utf-8"],
        match=r"rows 2, 3, 4, 5, 6 and 7 more, column 'project_type' \[12 cells\]",
    )


@case
def unknown_encoding(folder: Path) -> Case:
    data = write_csv(folder / "s", clean_tables())
    return Case(
        data,
        options={"encoding": "nope"},
        cli=["--encoding", "nope"],
        match=r"unknown text encoding 'nope'",
    )


@case
def utf8_bom(folder: Path) -> Case:
    return Case(write_csv(folder / "s", clean_tables(), encoding="utf-8-sig"), spoils=False)


def _labelled(labels: dict[str, str]) -> dict[str, pd.DataFrame]:
    tables = clean_tables()
    tables["projects"]["outsourced"] = tables["projects"]["outsourced"].map(labels)
    return tables


@case
def binary_shi_fou_mapped(folder: Path) -> Case:
    data = write_csv(folder / "s", _labelled({"1": "是", "0": "否"}))
    mapping = mapping_file(folder, '[categories.outsourced]\n"是" = 1\n"否" = 0\n')
    return Case(data, mapping, spoils=False)


@case
def binary_true_false_mapped(folder: Path) -> Case:
    data = write_csv(folder / "s", _labelled({"1": "TRUE", "0": "FALSE"}))
    mapping = mapping_file(folder, '[categories.outsourced]\n"TRUE" = true\n"FALSE" = false\n')
    return Case(data, mapping, spoils=False)


@case
def binary_unmapped_label(folder: Path) -> Case:
    data = write_csv(folder / "s", _labelled({"1": "是", "0": "否"}))
    return Case(
        data,
        match=r"(?s)12 problems found \(1 cause\).*rows 2, 3, 4, 5, 6 and 7 more, "
        r"column 'outsourced' \[12 cells\].*'是' \(6x\), '否' \(6x\)"
        r".*\[categories\.outsourced\]",
    )


@case
def binary_partly_mapped(folder: Path) -> Case:
    data = write_csv(folder / "s", _labelled({"1": "是", "0": "否"}))
    mapping = mapping_file(folder, '[categories.outsourced]\n"是" = 1\n')
    return Case(
        data,
        mapping,
        match=r"(?s)rows 3, 5, 7, 9, 11 and 1 more, column 'outsourced' "
        r"\[6 cells\].*Values: '否' \(6x\)\n",
    )


@case
def xlsx_booleans(folder: Path) -> Case:
    tables = clean_tables()
    path = write_workbook(folder / "survey.xlsx", tables)
    import openpyxl

    workbook = openpyxl.load_workbook(path)
    sheet = workbook["projects"]
    column = list(tables["projects"].columns).index("outsourced") + 1
    for row in range(2, N_PROJECTS + 2):
        sheet.cell(row, column).value = bool(sheet.cell(row, column).value)
    workbook.save(path)
    return Case(path, spoils=False)


def _spoiled(table: str, column: str, value: str) -> dict[str, pd.DataFrame]:
    tables = clean_tables()
    tables[table].loc[0, column] = value
    return tables


@case
def authority_1e300(folder: Path) -> Case:
    data = write_csv(folder / "s", _spoiled("townships", "authority", "1e300"))
    return Case(
        data,
        match=r"townships\.csv, row 2, column 'authority', value '1e\+300': "
        r"authority must lie in \[0, 100\]",
    )


@case
def months_minus_inf(folder: Path) -> Case:
    data = write_csv(folder / "s", _spoiled("projects", "months", "-inf"))
    return Case(data, match=r"projects\.csv, row 2, column 'months'.*months must be finite")


@case
def authority_inf_text(folder: Path) -> Case:
    data = write_csv(folder / "s", _spoiled("townships", "authority", "inf"))
    return Case(data, match=r"row 2, column 'authority'.*authority must be finite")


@case
def homogeneity_above_one(folder: Path) -> Case:
    data = write_csv(folder / "s", _spoiled("townships", "homogeneity", "1.5"))
    return Case(data, match=r"row 2, column 'homogeneity'.*must lie in \[0, 1\]")


@case
def rating_out_of_range(folder: Path) -> Case:
    data = write_csv(folder / "s", _spoiled("projects", "demand_fit", "6"))
    return Case(data, match=r"row 2, column 'demand_fit', value '6': demand_fit must be one of")


@case
def xlsx_title_row(folder: Path) -> Case:
    path = write_workbook(folder / "survey.xlsx", clean_tables(), title_rows=1)
    return Case(
        path,
        warns=r"sheet 'projects': row 1 above the header look like a title "
        r"\('2025年.*the header was read from row 2",
        spoils=False,
    )


@case
def xlsx_two_title_rows(folder: Path) -> Case:
    path = write_workbook(folder / "survey.xlsx", clean_tables(), title_rows=2)
    return Case(path, warns=r"sheet 'projects': rows 1-2 above the header .* row 3", spoils=False)


@case
def csv_title_row(folder: Path) -> Case:
    data = write_csv(folder / "s", clean_tables())
    path = data / "projects.csv"
    path.write_text("2025年项目调查,,,\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    return Case(
        data,
        warns=r"projects\.csv: row 1 above the header look like a title \('2025年项目调查'\) "
        r"and were skipped; the header was read from row 2",
        spoils=False,
    )


@case
def xlsx_header_row_given(folder: Path) -> Case:
    path = write_workbook(folder / "survey.xlsx", clean_tables(), title_rows=2)
    return Case(path, options={"header_row": 3}, cli=["--header-row", "3"], spoils=False)


@case
def xlsx_header_row_outside(folder: Path) -> Case:
    path = write_workbook(folder / "survey.xlsx", clean_tables())
    return Case(
        path,
        options={"header_row": 99},
        cli=["--header-row", "99"],
        match=r"header_row 99 is outside the sheet 'counties'",
    )


@case
def three_sheets(folder: Path) -> Case:
    return Case(write_workbook(folder / "survey.xlsx", clean_tables()), spoils=False)


_SHEETS = {"counties": "县", "townships": "乡镇", "projects": "项目"}


def _workbook_mapping(folder: Path, sheets: dict[str, str]) -> Path:
    listed = ", ".join(f'{table} = "{sheet}"' for table, sheet in sheets.items())
    return mapping_file(
        folder,
        '[files]\ncounties = "survey.xlsx"\ntownships = "survey.xlsx"\n'
        f'projects = "survey.xlsx"\nsheets = {{ {listed} }}\n',
    )


@case
def three_sheets_mapped(folder: Path) -> Case:
    write_workbook(folder / "survey.xlsx", clean_tables(), sheet_names=_SHEETS)
    return Case(_workbook_mapping(folder, _SHEETS), spoils=False)


@case
def missing_sheet(folder: Path) -> Case:
    write_workbook(folder / "survey.xlsx", clean_tables(), sheet_names=_SHEETS)
    return Case(
        _workbook_mapping(folder, {**_SHEETS, "projects": "项目表"}),
        match=r"(?s)no sheet named '项目表'.*'县', '乡镇', '项目'",
    )


@case
def bad_cell_in_sheet(folder: Path) -> Case:
    tables = _spoiled("projects", "months", "-3")
    write_workbook(folder / "survey.xlsx", tables, sheet_names=_SHEETS)
    return Case(
        _workbook_mapping(folder, _SHEETS),
        match=r"survey\.xlsx \[sheet 项目\], row 2, column 'months', value '-3'",
    )


@case
def renamed_columns_in_messages(folder: Path) -> Case:
    tables = _spoiled("townships", "authority", "1e300")
    tables["townships"] = tables["townships"].rename(columns={"authority": "权力"})
    data = write_csv(folder / "s", tables)
    mapping = mapping_file(folder, '[columns]\nauthority = "权力"\n')
    return Case(
        data,
        mapping,
        match=r"row 2, column '权力', value '1e\+300': 权力 \(authority\) "
        r"must lie in \[0, 100\]",
    )


@case
def renamed_dates_in_messages(folder: Path) -> Case:
    tables = _spoiled("projects", "launch_date", "2026-01-01")
    names = {"launch_date": "上线日期", "survey_date": "调查日期"}
    tables["projects"] = tables["projects"].rename(columns=names)
    data = write_csv(folder / "s", tables)
    mapping = mapping_file(
        folder, "[columns]\n" + "".join(f'{k} = "{v}"\n' for k, v in names.items())
    )
    return Case(
        data,
        mapping,
        match=r"row 2, column '上线日期', value '2026-01-01': 上线日期 \(launch_date\) is not "
        r"before 调查日期 \(survey_date\)",
    )


@case
def many_bad_cells_one_cause(folder: Path) -> Case:
    tables = clean_tables()
    tables["projects"]["months"] = "n/a"
    return Case(
        write_csv(folder / "s", tables),
        match=r"(?s)^12 problems found \(1 cause\).*\[12 cells\].*'n/a' \(12x\)",
    )


@case
def problems_csv_written_atomically(folder: Path) -> Case:
    tables = clean_tables()
    tables["projects"]["discontinued"] = "2"
    return Case(write_csv(folder / "s", tables), match=r"wrote all 12 problems to")


# ----------------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------------

runner = CliRunner()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_every_fault_has_a_case_and_vice_versa() -> None:
    assert [fault_id for fault_id, _, _ in FAULTS] == list(CASES)
    assert len(FAULTS) >= 20


@pytest.fixture(scope="module")
def clean_hash(tmp_path_factory: pytest.TempPathFactory) -> str:
    return load_study(write_csv(tmp_path_factory.mktemp("clean"), clean_tables())).data_hash()


@pytest.mark.parametrize(
    ("fault_id", "description", "expected"), FAULTS, ids=[fault[0] for fault in FAULTS]
)
def test_fault(
    fault_id: str, description: str, expected: str, tmp_path: Path, clean_hash: str
) -> None:
    spec = CASES[fault_id](tmp_path / "input")
    reports = tmp_path / "reports"
    problems_csv = tmp_path / "problems" / "problems.csv"
    problems_csv.parent.mkdir()
    args = ["describe", str(spec.source), "--out", str(reports), *spec.cli]
    if spec.mapping is not None:
        args += ["--mapping", str(spec.mapping)]
    if fault_id == "problems_csv_written_atomically":
        args += ["--problems-csv", str(problems_csv)]
    if expected.startswith("error"):
        with pytest.raises(DataValidationError):
            load_study(spec.source, mapping=spec.mapping, **spec.options)
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert _files(reports) == []  # nothing written
        assert re.search(spec.match, result.output), result.output
        if fault_id == "problems_csv_written_atomically":
            problems = pd.read_csv(problems_csv)
            assert len(problems) == N_PROJECTS and problems["row"].tolist() == list(range(2, 14))
            assert _files(problems_csv.parent) == [problems_csv]
        else:
            assert _files(problems_csv.parent) == []
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = load_study(spec.source, mapping=spec.mapping, **spec.options)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataValidationWarning)]
    if spec.warns:
        assert any(re.search(spec.warns, m) for m in messages), messages
    else:
        assert messages == []
    if not spec.spoils:
        assert study.data_hash() == clean_hash
