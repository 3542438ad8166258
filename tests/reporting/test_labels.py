"""Model terms to readers' labels, every kind of term in both languages."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pandas as pd
import pytest

from grassroots.pipeline import _write_table
from grassroots.reporting.labels import (
    DATA_HEADERS_ZH,
    NOTES,
    TEXT,
    localised_data,
    model_label,
    note_text,
    term_label,
    text,
)
from grassroots.reporting.model_tables import table2_survival
from grassroots.reporting.zh_style import ALLOWED_LATIN


@pytest.mark.parametrize(
    ("term", "en", "zh"),
    [
        ("authority", "Authority", "权力"),
        ("tech_capacity", "Technical capacity", "技术能力"),
        ("region[west]", "Region: West", "地区：西部"),
        ("township_type[subdistrict]", "Township type: Sub-district", "乡镇类型：街道"),
        (
            "collaboration:authority",
            "Cross-department collaboration × Authority",
            "跨部门协作机制 × 权力",
        ),
        ("region[west]:resources", "Region: West × Resources", "地区：西部 × 资源"),
        ("sd_township", "SD, township", "乡镇层标准差"),
        ("survival_sd_county", "SD, county", "县层标准差"),
        ("demand_fit_sd_township_id", "SD, township", "乡镇层标准差"),
        ("demand_fit_cutpoints[1|2]", "Cut point 1|2", "切点 1|2"),
        ("cutpoints[4|5]", "Cut point 4|5", "切点 4|5"),
        ("Intercept", "Intercept", "截距"),
    ],
)
def test_term_labels(term: str, en: str, zh: str) -> None:
    assert term_label(term, "en") == en
    assert term_label(term, "zh") == zh


def test_terms_outside_the_codebook_keep_their_names() -> None:
    assert term_label("my_index") == "my_index"
    assert term_label("my_factor[b]", "zh") == "my_factor：b"
    assert term_label("region[north]") == "Region: north"


def test_every_piece_of_furniture_exists_in_both_languages() -> None:
    assert all(set(words) == {"en", "zh"} and all(words.values()) for words in TEXT.values())
    assert text("note", "zh") == "注："


def test_every_note_has_both_languages_and_plain_named_fields() -> None:
    for key, words in NOTES.items():
        assert set(words) == {"en", "zh"} and words["en"], key
        for template in words.values():
            for _, field, spec, conversion in string.Formatter().parse(template):
                if field is None:
                    continue
                # Plain {name} fields only: zh_style masks them, and numbers are the caller's.
                assert re.fullmatch(r"[a-z_]+", field), (key, field)
                assert not spec and conversion is None, (key, field)


def test_note_text_fills_the_fields_of_either_language() -> None:
    assert note_text("n_of_units", "zh", n=3, total=8, units="个县") == "3/8 个县"
    # A field only the other language wants is ignored.
    assert note_text("gain_rating", "en", label="Rating", label_lower="rating") == (
        "the change in rating summed over projects"
    )
    assert (
        note_text("gain_rating", "zh", label="评分", label_lower="rating") == "各项目评分变化之和"
    )


def test_note_text_fails_loudly_on_a_missing_note_or_field() -> None:
    with pytest.raises(KeyError, match="no note 'no_such_note' in 'en'"):
        note_text("no_such_note", "en")
    with pytest.raises(KeyError, match="no note 'n_of_units' in 'fr'"):
        note_text("n_of_units", "fr")  # type: ignore[arg-type]
    with pytest.raises(
        KeyError, match=r"needs the field\(s\) \['total', 'units'\]; given: \['n'\]"
    ):
        note_text("n_of_units", "en", n=3)


def test_every_note_is_used_by_the_reporting_code() -> None:
    """A note whose caller is gone is dead text: each key is named in the code, literally or by
    a prefix the code completes (``f"units_{level}"``, ``_words_or_value("tercile_", ...)``)."""
    folder = Path(__file__).parents[2] / "src" / "grassroots" / "reporting"
    code = "\n".join(
        path.read_text(encoding="utf-8") for path in folder.glob("*.py") if path.name != "labels.py"
    )
    literals = set(re.findall(r"[\"']([a-z][a-z0-9_]*)[\"']", code))
    prefixes = set(re.findall(r"f[\"']([a-z_]+_)\{", code)) | {
        w for w in literals if w.endswith("_")
    }
    unused = [
        key for key in NOTES
        if key not in literals and not any(key.startswith(prefix) for prefix in prefixes)
    ]  # fmt: skip
    assert unused == []


@pytest.mark.parametrize(
    ("model", "en", "zh"),
    [
        ("survival_m4", "Project survival M4", "项目存续 M4"),
        ("Survival M4", "Project survival M4", "项目存续 M4"),
        (
            "demand_fit_m2_prior_x0.5",
            "Demand fit M2 (prior scale ×0.5)",
            "需求匹配度 M2（先验尺度 ×0.5）",
        ),
        ("structural", "Joint structural model", "联合结构模型"),
        ("extensive", "Extensive innovation", "粗放式创新"),
        ("M3", "M3", "M3"),
    ],
)
def test_model_label(model: str, en: str, zh: str) -> None:
    assert (model_label(model, "en"), model_label(model, "zh")) == (en, zh)


_CODE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def test_the_csv_of_a_chinese_table_has_chinese_headers_and_row_labels(
    survival_fits, tmp_path: Path
) -> None:
    table = table2_survival(survival_fits, "zh")
    written: list[Path] = []
    _write_table(table, tmp_path, "zh", written)
    (csv,) = [path for path in written if path.suffix == ".csv"]
    assert csv.name == "table2_survival_zh.csv"
    frame = pd.read_csv(csv, keep_default_na=False)
    assert list(frame.columns) == [DATA_HEADERS_ZH[c] for c in table.data.columns]
    assert not [c for c in frame.columns if _CODE_NAME.match(c)]
    for column in ("模型", "板块", "变量", "统计量"):
        codes = [
            v for v in frame[column].astype(str) if _CODE_NAME.match(v) and v not in ALLOWED_LATIN
        ]
        assert codes == [], f"{column}: {codes[:5]}"
    assert "权力" in frame["变量"].tolist() and "风险比" in frame["统计量"].tolist()
    # The numbers are the table's own, untouched.
    assert frame["估计值"].to_numpy() == pytest.approx(
        table.data["estimate"].to_numpy(), nan_ok=True
    )


def test_english_data_keeps_its_code_names(survival_fits) -> None:
    data = table2_survival(survival_fits, "en").data
    assert localised_data(data, "en") is data


def test_subgroups_and_categories_are_read_with_their_column() -> None:
    frame = pd.DataFrame({
        "variable": ["region", "township_type"], "category": ["west", "town"],
        "group_by": ["weakness", "all"], "group": ["high", "all"], "scenario": ["s1", "s2"],
    })  # fmt: skip
    out = localised_data(frame, "zh", scenario_labels={"s1": "情景一"})
    assert out.to_dict("list") == {
        "变量": ["地区", "乡镇类型"], "类别": ["西部", "镇"], "分组变量": ["weakness", "all"],
        "分组": ["高", "全部项目"], "情景": ["情景一", "s2"],
    }  # fmt: skip
