"""Figures: identical bytes on every save, Chinese glyphs from the packaged font, and the forest
and contrast plots built from plain DataFrames."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from _pdf_fonts import non_truetype_fonts
from fontTools.ttLib import TTCollection
from matplotlib import font_manager
from matplotlib.figure import Figure

from grassroots.reporting.figures import (
    CJK_FAMILY,
    contrast_density_plot,
    figure_style,
    forest_plot,
    register_cjk_font,
    save_figure,
)


@pytest.fixture(scope="module")
def estimates() -> pd.DataFrame:
    rows = []
    for m, model in enumerate(["M1", "M2", "M3"]):
        for t, term in enumerate(["authority", "region[west]", "collaboration:authority"]):
            estimate = 0.7 + 0.1 * m + 0.2 * t
            rows.append((model, term, estimate, estimate * 0.8, estimate * 1.25))
    return pd.DataFrame(rows, columns=["model", "term", "estimate", "lower", "upper"])


@pytest.fixture(scope="module")
def draws() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    parts = [
        pd.DataFrame(
            {
                "scenario": scenario,
                "outcome": outcome,
                "draw": np.arange(200),
                "value": rng.normal(shift, 0.02, 200),
            }
        )
        for scenario, shift in [("resources", 0.02), ("all", 0.06)]
        for outcome in ["dS12", "dS24"]
    ]
    return pd.concat(parts, ignore_index=True)


def _glyph_warnings(fig: Figure) -> list[str]:
    """The "Glyph ... missing" warnings of really rendering ``fig`` (a bare Figure's canvas
    draws nothing, so render through Agg)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=40)
    return [str(w.message) for w in caught if "Glyph" in str(w.message)]


def test_two_saves_give_identical_bytes(tmp_path: Path, estimates: pd.DataFrame) -> None:
    fig = forest_plot(estimates, "zh", title="森林图")
    first = save_figure(fig, tmp_path / "a" / "forest", ["png", "pdf", "svg"], dpi=60)
    second = save_figure(fig, tmp_path / "b" / "forest.png", ["png", "pdf", "svg"], dpi=60)
    assert [p.name for p in first] == ["forest.png", "forest.pdf", "forest.svg"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    png, pdf, svg = (p.read_bytes() for p in first)
    assert png.startswith(b"\x89PNG") and b"tIME" not in png and b"Software" not in png
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
    assert b"<dc:date>" not in svg


def test_every_format_gets_the_first_formats_layout(
    tmp_path: Path, estimates: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    fig = forest_plot(estimates, "zh", title="森林图")
    engine = fig.get_layout_engine()
    layouts = []
    execute = type(engine).execute
    monkeypatch.setattr(
        type(engine), "execute", lambda self, f: layouts.append(1) or execute(self, f)
    )
    save_figure(fig, tmp_path / "forest", ["png", "pdf", "svg"], dpi=60)
    assert len(layouts) == 1
    # The figure keeps its layout engine: drawn again, it is laid out again.
    assert fig.get_layout_engine() is engine
    save_figure(fig, tmp_path / "again", ["pdf"], dpi=60)
    assert len(layouts) == 2


def test_save_figure_rejects_unknown_formats_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown figure format 'jpg'"):
        save_figure(Figure(), tmp_path / "f", ["png", "jpg"])
    assert list(tmp_path.iterdir()) == []


def test_the_packaged_font_has_chinese_glyphs() -> None:
    assert register_cjk_font() == CJK_FAMILY
    path = font_manager.findfont(
        font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False
    )
    assert Path(path).suffix.lower() == ".ttc"
    faces = TTCollection(path, lazy=True).fonts
    # TrueType outlines, Chinese glyphs, and a licence that allows embedding (fsType bit 1,
    # "restricted licence", unset).
    assert all("glyf" in face and "CFF " not in face for face in faces)
    assert all(ord("乡") in face["cmap"].getBestCmap() for face in faces)
    assert all(not face["OS/2"].fsType & 0x2 for face in faces)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_figures_embed_only_truetype_fonts(
    tmp_path: Path, estimates: pd.DataFrame, draws: pd.DataFrame, lang: str
) -> None:
    title = "森林图：风险比（M1−M3）" if lang == "zh" else "Forest plot (M1-M3)"
    figures = {
        "forest": forest_plot(estimates, lang, title=title),
        "density": contrast_density_plot(draws, lang, title=title),
    }
    for name, fig in figures.items():
        (pdf,) = save_figure(fig, tmp_path / f"{name}_{lang}", ["pdf"])
        assert non_truetype_fonts(pdf) == [], name


def test_the_pdf_font_check_would_catch_type3(tmp_path: Path, estimates: pd.DataFrame) -> None:
    # Written past save_figure with Type 3 fonts, the same figure must be reported.
    path = tmp_path / "type3.pdf"
    with mpl.rc_context({"pdf.fonttype": 3}):
        forest_plot(estimates, "zh", title="森林图").savefig(path, format="pdf")
    problems = non_truetype_fonts(path)
    assert problems and all("/Type3" in problem for problem in problems)


def test_chinese_title_draws_without_missing_glyphs() -> None:
    with figure_style("zh"):
        fig = Figure(figsize=(3, 2))
        ax = fig.add_subplot()
        ax.set_title("乡镇层标准差：项目存续月数")
        ax.set_xlabel("风险比（对数刻度）−1")
    # Drawn after the block: the Text objects keep the family they were made with.
    assert _glyph_warnings(fig) == []


def test_the_glyph_check_would_catch_tofu() -> None:
    # The same title in the Latin-only style must warn, or the test above proves nothing.
    with figure_style("en"):
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().set_title("乡镇")
    assert _glyph_warnings(fig)


def test_forest_plot(estimates: pd.DataFrame) -> None:
    fig = forest_plot(estimates, "zh", xlabel="风险比（对数刻度）")
    assert _glyph_warnings(fig) == []
    (ax, *_) = fig.axes
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "权力",
        "地区：西部",
        "跨部门协作机制 × 权力",
    ]
    assert ax.get_xlabel() == "风险比（对数刻度）"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["M1", "M2", "M3"]
    # One marker line per model, one interval segment per model and term.
    markers = [line for line in ax.get_lines() if line.get_label() in {"M1", "M2", "M3"}]
    assert [len(line.get_xdata()) for line in markers] == [3, 3, 3]
    reference = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert reference and reference[0].get_xdata()[0] == 1.0


def test_forest_plot_on_a_linear_scale_and_its_errors(estimates: pd.DataFrame) -> None:
    fig = forest_plot(estimates.assign(lower=-1.0), "en", log_scale=False)
    assert fig.axes[0].get_xscale() == "linear" and fig.axes[0].get_xlabel() == "Estimate"
    with pytest.raises(ValueError, match="needs positive ratios"):
        forest_plot(estimates.assign(lower=-1.0))
    with pytest.raises(ValueError, match=r"missing \['upper'\]"):
        forest_plot(estimates.drop(columns="upper"))


def test_contrast_density_plot(draws: pd.DataFrame) -> None:
    fig = contrast_density_plot(
        draws,
        "zh",
        scenario_labels={"resources": "资源 +1 SD", "all": "三项同时"},
        outcome_labels={"dS12": "ΔS(12)"},
    )
    assert _glyph_warnings(fig) == []
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in panels] == ["ΔS(12)", "dS24"]
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend_texts == ["资源 +1 SD", "三项同时"]
    assert fig.get_supxlabel() == "相对现状的差异"
    with pytest.raises(ValueError, match=r"missing \['value'\]"):
        contrast_density_plot(draws.drop(columns="value"))


def test_contrast_densities_get_one_panel_per_quantity_in_table_units() -> None:
    rng = np.random.default_rng(4)
    quantities = [("survival", "S(12)", 0.02), ("survival", "S(24)", 0.05),
                  ("survival", "S(36)", 0.08), ("demand_fit", "P(>=4)", 0.03),
                  ("demand_fit", "E", 0.2)]  # fmt: skip
    draws = pd.concat(
        [pd.DataFrame({"model": "structural", "scenario": "all", "outcome": outcome,
                       "quantity": quantity, "value": rng.normal(shift, 0.01, 300)})
         for outcome, quantity, shift in quantities],
        ignore_index=True,
    )  # fmt: skip
    for lang, titles, units in [
        ("en", ["S(12): still running at 12 months", "S(24): still running at 24 months",
                "S(36): still running at 36 months", "P(Demand fit ≥ 4)"],
         ["Δ, percentage points"] * 4 + ["Δ, rating points"]),
        ("zh", ["S(12)：12 个月时仍在运行"], ["Δ（百分点）"]),
    ]:  # fmt: skip
        fig = contrast_density_plot(draws, lang)
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == len(quantities)
        assert [ax.get_title(loc="left") for ax in panels][: len(titles)] == titles
        assert [ax.get_xlabel() for ax in panels][: len(units)] == units
    assert _glyph_warnings(fig) == []
    # The median tick sits at the median of the panel's own draws, in percentage points for
    # probabilities and rating points for the expected rating.
    en = [ax for ax in contrast_density_plot(draws).axes if ax.get_visible()]
    for ax, (outcome, quantity, _) in zip(en, quantities, strict=True):
        values = draws.loc[(draws["outcome"] == outcome) & (draws["quantity"] == quantity),
                           "value"].to_numpy()  # fmt: skip
        factor = 1.0 if quantity == "E" else 100.0
        tick = [line for line in ax.get_lines() if line.get_marker() == "|"][0]
        assert tick.get_xdata()[0] == pytest.approx(factor * np.median(values))


def test_plots_leave_global_settings_alone(estimates: pd.DataFrame) -> None:
    before = list(mpl.rcParams["font.family"])
    forest_plot(estimates, "zh")
    assert list(mpl.rcParams["font.family"]) == before


def test_a_missing_chinese_font_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import grassroots.reporting.figures as figures

    monkeypatch.setattr(figures, "CJK_FAMILY", "No Such Font SC")
    with pytest.raises(
        figures.FontNotAvailableError,
        match=r"no font 'No Such Font SC'.*apt-get install fonts-wqy-microhei",
    ):
        figures.register_cjk_font.__wrapped__()
