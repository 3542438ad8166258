"""Table 1 on the bundled study: the numbers match the tables, the labels the codebook."""

from __future__ import annotations

import docx
import pandas as pd
import pytest

from grassroots.data import load_dataset
from grassroots.reporting.descriptives import descriptives, table1
from grassroots.reporting.tables import Table


@pytest.fixture(scope="module")
def study():
    return load_dataset()


@pytest.fixture(scope="module")
def stats(study) -> pd.DataFrame:
    return descriptives(study).set_index(["table", "variable", "category"])


def test_continuous_statistics_are_computed_at_their_own_level(study, stats) -> None:
    authority = study.townships["authority"]
    row = stats.loc[("townships", "authority", "")]
    assert row["n"] == len(study.townships) == 602
    assert row["mean"] == pytest.approx(authority.mean())
    assert row["sd"] == pytest.approx(authority.std(ddof=1))
    assert row["median"] == pytest.approx(authority.median())
    assert (row["min"], row["max"]) == (authority.min(), authority.max())


def test_binary_is_a_percentage_and_categories_sum_to_100(study, stats) -> None:
    assert stats.loc[("counties", "collaboration", ""), "mean"] == pytest.approx(
        100 * study.counties["collaboration"].mean()
    )
    regions = stats.xs(("counties", "region"), level=("table", "variable"))
    assert list(regions.index) == ["east", "central", "west"]
    assert regions["mean"].sum() == pytest.approx(100.0)
    assert regions["n"].sum() == len(study.counties)


def test_missing_ratings_are_counted(study, stats) -> None:
    row = stats.loc[("projects", "demand_fit", "")]
    assert row["missing"] == study.projects["demand_fit"].isna().sum() > 0
    assert row["n"] + row["missing"] == len(study.projects)


def test_labels_follow_the_language(study) -> None:
    english = table1(study, lang="en").to_markdown()
    chinese = table1(study, lang="zh").to_markdown()
    assert "Region: East" in english and "Technical capacity (index)" in english
    assert "地区：东部" in chinese and "技术能力（指数）" in chinese
    assert "Counties N = 48; Townships N = 602; Projects N = 2,694" in english


def test_markdown_right_aligns_numbers_and_escapes_pipes() -> None:
    frame = pd.DataFrame({"name": ["a|b", "c"], "value": ["1,200.5", "3"]})
    text = Table(name="t", title="T", frame=frame, note="n").to_markdown()
    assert "|:---|---:|" in text
    assert "a\\|b" in text
    assert text.endswith("*Note.* n\n")


def test_csv_holds_the_unformatted_numbers(study, tmp_path) -> None:
    table = table1(study)
    (csv_path,) = table.write(tmp_path, formats=["csv"])
    written = pd.read_csv(csv_path, keep_default_na=False)
    assert list(written.columns[:3]) == ["table", "variable", "category"]
    authority = written[written["variable"] == "authority"].iloc[0]
    assert float(authority["mean"]) == pytest.approx(study.townships["authority"].mean())


def test_table1_is_written_in_every_format(study, tmp_path) -> None:
    table = table1(study, lang="zh")
    paths = table.write(tmp_path)
    assert [p.name for p in paths] == [
        f"table1_descriptives.{fmt}" for fmt in ("md", "tex", "html", "docx", "csv")
    ]
    markdown, latex, html = (p.read_text(encoding="utf-8") for p in paths[:3])
    # Levels are panels: a heading each, not a column repeated on every row.
    assert "| **乡镇（街道）** |" in markdown and "| 变量 | N |" in markdown
    assert r"\multicolumn{8}{l}{\textit{乡镇（街道）}} \\" in latex and "xeCJK" in latex
    assert '<th scope="rowgroup" colspan="8"' in html and "地区：东部" in html
    grid = docx.Document(str(paths[3])).tables[0]
    assert [c.text for c in grid.rows[0].cells][:3] == ["变量", "N", "均值 / %"]
    assert grid.rows[1].cells[0].text == "县（市、区）"
    assert table.write(tmp_path / "again") and all(
        p.read_bytes() == (tmp_path / "again" / p.name).read_bytes() for p in paths
    )
