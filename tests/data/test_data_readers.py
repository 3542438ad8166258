"""Readers: each format read back with ids as text, numbers as numbers and the user's row numbers;
every unreadable file a DataValidationError naming the file and what to do."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

from grassroots.data import DataValidationError, read_table, row_number
from grassroots.data.readers import find_header_row
from grassroots.data.validation import DataValidationWarning

FRAME = pd.DataFrame(
    {
        "project_id": ["P001", "001", "0012"],
        "township_id": ["T1", "T2", "T3"],
        "months": [12.0, 3.5, 0.0],
        "discontinued": [1, 0, 1],
    }
)


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------------------------
# Round trips, one per format
# --------------------------------------------------------------------------------------------


def test_csv_keeps_ids_as_text_and_numbers_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "projects.csv"
    FRAME.to_csv(path, index=False)
    frame = read_table(path)
    assert frame["project_id"].tolist() == ["P001", "001", "0012"]
    assert frame["months"].dtype == "float64"
    assert frame["discontinued"].dtype == "int64"
    assert frame.index.tolist() == [2, 3, 4]  # header is row 1
    assert row_number(frame, 0) == 2
    assert frame.attrs["format"] == ".csv"


def test_csv_row_numbers_skip_blank_lines_but_keep_counting(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id,months\nP1,1\n\nP2,2\n,\nP3,3\n")
    frame = read_table(path)
    assert frame["project_id"].tolist() == ["P1", "P2", "P3"]
    assert frame.index.tolist() == [2, 4, 6]


def test_csv_row_numbers_count_records_with_quoted_line_breaks(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", 'project_id,note\nP1,"two\nlines"\nP2,x\n')
    frame = read_table(path)
    assert frame.loc[3, "project_id"] == "P2"  # a spreadsheet shows P2 on row 3


def test_csv_with_byte_order_mark(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "\ufeffproject_id,months\nP1,4\n")
    assert list(read_table(path).columns) == ["project_id", "months"]


def test_csv_in_gb18030_with_chinese_text(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "项目编码,存续月数,地区\nP1,4,东部\n", encoding="gb18030")
    frame = read_table(path)
    assert list(frame.columns) == ["项目编码", "存续月数", "地区"]
    assert frame.loc[2, "地区"] == "东部"


def test_csv_in_utf16_with_byte_order_mark(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id,months\nP1,4\n", encoding="utf-16")
    assert read_table(path).loc[2, "months"] == 4


def test_csv_stray_text_stays_text_for_validation(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id,months,authority\nP1,4,n/a\nP2,5,nan\nP3,6,7\n")
    frame = read_table(path)
    assert frame["months"].dtype == "int64"
    assert frame["authority"].tolist() == ["n/a", "nan", "7"]


def test_csv_zero_padded_and_long_codes_stay_text(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "village,code18,x\n007,330102001002003004,1.5\n010,1,2\n")
    frame = read_table(path)
    assert frame["village"].tolist() == ["007", "010"]
    assert frame["code18"].tolist() == ["330102001002003004", "1"]
    assert frame["x"].tolist() == [1.5, 2.0]


def test_csv_numbers_are_read_exactly(tmp_path: Path) -> None:
    # pandas' default float parser is off by one unit in the last place for some numbers;
    # the data hash and reproducibility need the exact value.
    values = np.random.default_rng(3).normal(size=2000) * 10.0 ** np.arange(-5, 5).repeat(200)
    path = tmp_path / "p.csv"
    pd.DataFrame({"x": values}).to_csv(path, index=False)
    assert np.array_equal(read_table(path)["x"].to_numpy(), values)


def test_csv_missing_is_only_an_empty_cell(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id,demand_fit,note\nP1,,NA\nP2,3,\n")
    frame = read_table(path)
    assert frame["demand_fit"].isna().tolist() == [True, False]
    assert frame.loc[2, "note"] == "NA"


def test_xlsx_first_sheet_rows_and_types(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "data"
    sheet.append(["project_id", "months", "authority"])
    sheet.append(["001", 12, 50.5])
    sheet.append([None, None, None])  # a blank row keeps the numbering of those after it
    sheet.append(["P3", 7, "n/a"])
    workbook.create_sheet("other").append(["x"])
    workbook.save(path)
    frame = read_table(path)
    assert frame.index.tolist() == [2, 4]
    assert frame["project_id"].tolist() == ["001", "P3"]
    assert frame["months"].tolist() == [12, 7]
    assert frame["authority"].tolist() == [50.5, "n/a"]  # mixed: kept as cells


def test_xlsx_named_sheet(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"a": [1]}).to_excel(writer, sheet_name="first", index=False)
        FRAME.to_excel(writer, sheet_name="Sheet2", index=False)
    frame = read_table(path, sheet="Sheet2")
    assert frame["project_id"].tolist() == ["P001", "001", "0012"]
    assert frame.index.tolist() == [2, 3, 4]


def test_xlsx_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    FRAME.to_excel(path, index=False, sheet_name="数据")
    with pytest.raises(DataValidationError, match=r"no sheet named 'Sheet9'") as info:
        read_table(path, sheet="Sheet9")
    assert "'数据'" in info.value.problems.loc[0, "hint"]


def test_parquet_rows_count_from_one(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    FRAME.to_parquet(path, index=False)
    frame = read_table(path)
    assert frame.index.tolist() == [1, 2, 3]
    assert frame["project_id"].tolist() == ["P001", "001", "0012"]
    assert frame["discontinued"].dtype == "int64"


def test_stata_rows_ids_and_value_labels(tmp_path: Path) -> None:
    path = tmp_path / "p.dta"
    frame = FRAME.assign(region=[1.0, 2.0, 3.0])
    pyreadstat.write_dta(
        frame, path, variable_value_labels={"region": {1: "东部", 2: "中部", 3: "西部"}}
    )
    result = read_table(path)
    assert result.index.tolist() == [1, 2, 3]
    assert result["project_id"].tolist() == ["P001", "001", "0012"]
    assert result["region"].tolist() == [1, 2, 3]  # codes, not labels
    assert result.attrs["value_labels"]["region"][1] == "东部"


def test_spss_rows_ids_and_value_labels(tmp_path: Path) -> None:
    path = tmp_path / "p.sav"
    frame = FRAME.assign(region=[1.0, 2.0, 3.0])
    pyreadstat.write_sav(frame, path, variable_value_labels={"region": {1.0: "east"}})
    result = read_table(path)
    assert result.index.tolist() == [1, 2, 3]
    assert result["project_id"].tolist() == ["P001", "001", "0012"]
    assert result.attrs["value_labels"]["region"] == {1.0: "east"}


# --------------------------------------------------------------------------------------------
# Files that cannot be read
# --------------------------------------------------------------------------------------------


def test_unknown_extension(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.txt", "a\n1\n")
    with pytest.raises(DataValidationError, match=r"p\.txt.*unknown file type '\.txt'") as info:
        read_table(path)
    assert ".csv" in info.value.problems.loc[0, "hint"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"nothere\.csv: file not found"):
        read_table(tmp_path / "nothere.csv")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".dta", ".sav"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"the file is empty") as info:
        read_table(path)
    assert info.value.problems.loc[0, "file"] == str(path)


def test_whitespace_only_csv_is_empty(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"the file is empty"):
        read_table(_csv(tmp_path / "p.csv", "\n  \n"))


def test_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"project_id,months\n\xff\xfe\xfa,1\n")
    with pytest.raises(DataValidationError, match=r"bytes are not utf-8 text") as info:
        read_table(path)
    problem = info.value.problems.loc[0]
    assert (problem["row"], problem["column"], problem["value"]) == (
        2,
        "project_id",
        "bytes FF FE FA",
    )
    assert "UTF-8" in problem["hint"]


def test_duplicate_column_names_in_the_header(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id,months,months\nP1,1,2\n")
    with pytest.raises(
        DataValidationError, match=r"the header has 2 columns named 'months' \(columns 2, 3\)"
    ) as info:
        read_table(path)
    assert info.value.problems.loc[0, "column"] == "months"


def test_duplicate_column_names_in_a_sheet(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["a", "b", "a"])
    workbook.active.append([1, 2, 3])
    workbook.save(path)
    with pytest.raises(DataValidationError, match=r"2 columns named 'a'"):
        read_table(path)


def test_corrupt_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DataValidationError, match=r"cannot be read as an Excel workbook"):
        read_table(path)


def test_xlsx_that_is_a_zip_without_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(DataValidationError, match=r"save it again as \.xlsx"):
        read_table(path)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1 garbage")
    with pytest.raises(DataValidationError, match=r"p\.parquet.*cannot be read as parquet"):
        read_table(path)


@pytest.mark.parametrize(("suffix", "kind"), [(".dta", "Stata"), (".sav", "SPSS")])
def test_corrupt_stata_and_spss(tmp_path: Path, suffix: str, kind: str) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_bytes(b"\x00\x01 garbage " * 20)
    with pytest.raises(DataValidationError, match=rf"cannot be read as a {kind} file"):
        read_table(path)


def test_semicolon_separated_csv(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id;months\nP1;1\n")
    with pytest.raises(DataValidationError, match=r"separated by ';'"):
        read_table(path)


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "project_id,months\nP1,1\nP2,2,3\n")
    with pytest.raises(DataValidationError, match=r"cannot be read as CSV.*line 3"):
        read_table(path)


def test_fast_and_fallback_csv_readers_agree(tmp_path: Path) -> None:
    # A blank line sends the file through pandas (arrow would skip it and shift row numbers).
    text = "project_id,months,note,code\nP1,1.25,a,007\nP2,,b,010\nP3,3e-05,n/a,011\n"
    fast = read_table(_csv(tmp_path / "fast.csv", text))
    slow = read_table(_csv(tmp_path / "slow.csv", text.replace("P2", "\nP2")))
    assert slow.index.tolist() == [2, 4, 5]
    pd.testing.assert_frame_equal(fast.reset_index(drop=True), slow.reset_index(drop=True))


# --------------------------------------------------------------------------------------------
# Issue 13: title rows above a sheet's header; one encoding per CSV file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected", "header"),
    [
        ([("project_id", "months"), ("P1", 3)], (), 0),
        ([("调查表", None), (None, None), ("project_id", "months"), ("P1", 3)], (), 2),
        ([("project_id",), ("P1",), ("P2",)], (), 0),  # one column: no title to skip
        ([("note",), ("P1", 3)], (), 0),  # the row below holds numbers: it is data
        ([("调查表",), ("a", "b"), ("project_id", "months")], ("project_id",), 0),
        ([("project_id",), ("P1", "x")], ("project_id",), 0),
    ],
)
def test_find_header_row(rows, expected, header) -> None:
    assert find_header_row(rows, expected) == header


def test_first_blank_rows_of_a_sheet_are_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([None])
    sheet.append(["project_id", "months"])
    sheet.append(["P1", 4])
    workbook.save(path)
    with pytest.warns(DataValidationWarning, match=r"row 1 above the header are empty"):
        frame = read_table(path)
    assert frame.index.tolist() == [3] and frame.columns.tolist() == ["project_id", "months"]


def test_a_utf8_file_with_gbk_cells_is_never_decoded_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("project_id,地区\nP1,东部\nP2,".encode() + "西部".encode("gbk") + b"\nP3,\n")
    with pytest.raises(DataValidationError, match=r"row 3, column '地区'") as info:
        read_table(path)
    assert info.value.problems["value"].tolist() == ["bytes CE F7 B2 BF"]
    assert "as GBK they would read '西部'" in info.value.problems.loc[0, "problem"]


def test_explicit_encoding_decodes_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("project_id,地区\nP1,东部\n".encode("gbk"))
    assert read_table(path, encoding="gbk")["地区"].tolist() == ["东部"]
    with pytest.raises(DataValidationError, match=r"unknown text encoding 'nope'"):
        read_table(path, encoding="nope")
