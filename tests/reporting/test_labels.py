"""Model terms to readers' labels, every kind of term in both languages."""

from __future__ import annotations

import pytest

from grassroots.reporting.labels import TEXT, term_label, text


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
