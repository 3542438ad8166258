"""Figures from fits: the numbers they draw, Chinese text without missing glyphs, and
byte-identical files on every save."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from _paper_fakes import fake_fit
from _pdf_fonts import non_truetype_fonts
from matplotlib.figure import Figure

from grassroots.data.simulate import config_from_overrides, simulate
from grassroots.estimands import survival_by_group
from grassroots.reporting.figures import save_figure
from grassroots.reporting.paper_figures import (
    caterpillar_frame,
    caterpillar_plot,
    coefficient_forest,
    kaplan_meier_frame,
    km_posterior_plot,
    ordinal_ppc_frame,
    ordinal_ppc_plot,
)


def glyph_warnings(fig: Figure) -> list[str]:
    """Warnings about missing glyphs when ``fig`` is really rendered (through Agg)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=40)
    return [str(w.message) for w in caught if "Glyph" in str(w.message)]


def saves_identically(fig: Figure, tmp_path: Path, stem: str) -> bool:
    """Whether two saves give the same bytes; fails at once on a PDF with a font that is not
    embedded as TrueType."""
    first = save_figure(fig, tmp_path / "a" / stem, dpi=50)
    second = save_figure(fig, tmp_path / "b" / stem, dpi=50)
    for pdf in (path for path in first if path.suffix == ".pdf"):
        assert non_truetype_fonts(pdf) == [], pdf.name
    return [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.fixture(scope="module")
def demand_fit(study_frame):
    return fake_fit("demand_fit_m2", study_frame)


def test_forest_plot_across_models(survival_fits, tmp_path: Path):
    fig = coefficient_forest(survival_fits, "zh")
    assert glyph_warnings(fig) == []
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # Default panels: the paper's concepts and the interactions (controls left out), with the
    # labels of Table 2: a main effect in M4's interactions says where it holds.
    assert labels[:3] == [
        "权力（M4：跨部门协作机制 = 0 时）",
        "资源",
        "技术能力（M4：外包开发 = 0 时）",
    ]
    assert "跨部门协作机制（M4：权力取均值时）" in labels
    assert "创新短视化（第 12 个月后）" in labels and "地区：西部" not in labels
    assert labels[-1] == "技术能力 × 外包开发"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["M1", "M2", "M3", "M4"]
    assert ax.get_xlabel() == "风险比（对数刻度）"
    assert saves_identically(fig, tmp_path, "forest_zh")
    en = coefficient_forest(survival_fits, "en", models=["M4"], panels=("remedies",))
    assert [t.get_text() for t in en.axes[0].get_yticklabels()] == [
        "Cross-department collaboration (at the mean of Authority)"
    ]


def test_caterpillar_sorted_with_extremes_named(survival_fits, tmp_path: Path):
    fit = survival_fits["M4"]
    frame = caterpillar_frame(fit, level="township")
    assert len(frame) == fit.counts["township"]
    assert frame["median"].is_monotonic_increasing
    draws = fit.posterior["survival_effect_township"].sel(township=frame["group"].iloc[0])
    assert frame["median"].iloc[0] == pytest.approx(float(np.median(draws)))
    fig = caterpillar_plot(fit, "zh", label_extremes=3)
    assert glyph_warnings(fig) == []
    county_ax, township_ax = fig.axes
    named = [t.get_text() for t in township_ax.get_xticklabels()]
    middle = frame["group"].iloc[(len(frame) - 1) // 2]
    assert named == [*frame["group"].head(3), middle, *frame["group"].tail(3)]
    # Every township is drawn, in rank order.
    points = [line for line in township_ax.get_lines() if line.get_marker() == "o"][0]
    assert np.allclose(points.get_ydata(), frame["median"])
    assert township_ax.get_title(loc="left") == f"乡镇（按后验中位数排序）（n = {len(frame)}）"
    assert county_ax.get_ylabel() == "县层效应（对数风险）"
    assert saves_identically(fig, tmp_path, "caterpillar_zh")


def _overlapping_tick_labels(fig, ax) -> list[tuple[str, str]]:
    fig.draw_without_rendering()
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    boxes = [t.get_window_extent() for t in labels]
    return [(labels[i].get_text(), labels[j].get_text())
            for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])]  # fmt: skip


def test_caterpillar_names_a_readable_subset_of_hundreds_of_townships():
    config = config_from_overrides(n_counties=20, townships_per_county=25,
                                   projects_per_township=1)  # fmt: skip
    fit = fake_fit("survival_m1", simulate(seed=3, config=config).flat(), draws=50)
    frame = caterpillar_frame(fit, level="township")
    assert len(frame) > 400
    for lang in ("en", "zh"):
        fig = caterpillar_plot(fit, lang, label_extremes=5)
        township_ax = fig.axes[1]
        named = [t.get_text() for t in township_ax.get_xticklabels()]
        assert _overlapping_tick_labels(fig, township_ax) == []
        # The lowest and the highest township are always named, and a few more at each end.
        assert named[0] == frame["group"].iloc[0] and named[-1] == frame["group"].iloc[-1]
        assert 5 <= len(named) <= 11


def test_kaplan_meier_respects_censoring(survival_fits, study_frame):
    from lifelines import KaplanMeierFitter

    km = kaplan_meier_frame(survival_fits["M4"], study_frame, "region")
    east = study_frame[study_frame["region"] == "east"]
    direct = KaplanMeierFitter().fit(east["months"], east["discontinued"])
    curve = km[km["group"] == "east"]
    assert np.allclose(curve["survival"], direct.survival_function_.iloc[:, 0])
    assert curve["censored"].sum() == (east["discontinued"] == 0).sum()
    assert curve["n"].iloc[0] == len(east)
    assert list(dict.fromkeys(km["group"])) == [
        g for g in ["east", "central", "west"] if g in set(study_frame["region"])
    ]


def test_posterior_survival_is_the_predicted_average(survival_fits, study_frame):
    fit = survival_fits["M4"]
    frame = survival_by_group(fit, study_frame, by="extensive", times=[0, 12, 24, 200],
                              max_draws=50).table  # fmt: skip
    rows = study_frame[study_frame["extensive"] == 1]
    horizon = rows["months"].max()
    part = frame[frame["group"] == 1]
    # The grid stops at the group's longest follow-up.
    assert part["time"].tolist() == [t for t in [0.0, 12.0, 24.0, 200.0] if t <= horizon]
    # 2 chains x 100 draws thinned to at most 50: every 4th draw.
    predicted = fit.predict(rows, times=[0, 12, 24], average=True, outcomes=["survival"], thin=4)
    medians = predicted["survival_S"].median(("chain", "draw")).to_numpy()
    assert np.allclose(part["median"].to_numpy()[:3], medians)
    assert part["median"].iloc[0] == pytest.approx(1.0)
    assert (part["lower"] <= part["median"]).all() and (part["median"] <= part["upper"]).all()


@pytest.mark.parametrize(("by", "lang"), [("region", "zh"), ("extensive", "en")])
def test_km_figure(survival_fits, study_frame, tmp_path: Path, by: str, lang: str):
    fig = km_posterior_plot(survival_fits["M4"], study_frame, by, lang)
    assert glyph_warnings(fig) == []
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    if by == "region":
        assert titles[0].startswith("地区：东部（n = ")
    else:
        assert titles[0].startswith("Extensive innovation: no (n = ")
        assert titles[1].startswith("Extensive innovation: yes (n = ")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == 2
    assert saves_identically(fig, tmp_path, f"km_{by}_{lang}")


def test_km_figure_from_curves_computed_already_has_the_same_bytes(
    survival_fits, study_frame, tmp_path: Path
):
    curves = survival_by_group(survival_fits["M4"], study_frame, by="region").table
    given = km_posterior_plot(survival_fits["M4"], study_frame, "region", "zh", curves=curves)
    computed = km_posterior_plot(survival_fits["M4"], study_frame, "region", "zh")
    files = [save_figure(fig, tmp_path / name / "km", dpi=50)
             for fig, name in ((given, "given"), (computed, "computed"))]  # fmt: skip
    assert [p.read_bytes() for p in files[0]] == [p.read_bytes() for p in files[1]]
    # What is drawn is what was given: other curves give another figure.
    shifted = curves.assign(median=curves["median"] * 0.5)
    other = km_posterior_plot(survival_fits["M4"], study_frame, "region", "zh", curves=shifted)
    (png, *_) = save_figure(other, tmp_path / "shifted" / "km", dpi=50)
    assert png.read_bytes() != files[0][0].read_bytes()


def test_ordinal_ppc(demand_fit, study_frame, tmp_path: Path):
    frame = ordinal_ppc_frame(demand_fit, study_frame, max_draws=50)
    rated = study_frame["demand_fit"].dropna().astype(int)
    observed = rated.value_counts(normalize=True).sort_index()
    assert frame["level"].tolist() == [1, 2, 3, 4, 5]
    assert np.allclose(frame["observed"], observed.reindex([1, 2, 3, 4, 5], fill_value=0))
    assert ((frame["lower"] <= frame["median"]) & (frame["median"] <= frame["upper"])).all()
    assert frame.equals(ordinal_ppc_frame(demand_fit, study_frame, max_draws=50))
    # Replicated shares carry sampling noise: their intervals are wider than a point.
    assert (frame["upper"] - frame["lower"] > 0).all()
    fig = ordinal_ppc_plot(demand_fit, study_frame, "zh", max_draws=50)
    assert glyph_warnings(fig) == []
    ax = fig.axes[0]
    assert [round(p.get_height(), 10) for p in ax.patches] == [
        round(v, 10) for v in frame["observed"]
    ]
    assert ax.get_xlabel() == "需求匹配度评分"
    assert saves_identically(fig, tmp_path, "ppc_zh")
    # Shares computed already (for the other language) draw the same figure; others do not.
    given = ordinal_ppc_plot(demand_fit, study_frame, "zh", shares=frame)
    ax = given.axes[0]
    assert [line.get_ydata().tolist() for line in ax.lines][0] == frame["median"].tolist()
    halved = frame.assign(**{c: frame[c] / 2 for c in ("median", "lower", "upper")})
    other = ordinal_ppc_plot(demand_fit, study_frame, "zh", shares=halved)
    assert other.axes[0].lines[0].get_ydata().tolist() == halved["median"].tolist()


def test_wrong_families_are_refused(survival_fits, demand_fit, study_frame):
    with pytest.raises(ValueError, match="not ordinal"):
        ordinal_ppc_frame(survival_fits["M1"], study_frame)
    with pytest.raises(ValueError, match="not a survival outcome"):
        kaplan_meier_frame(demand_fit, study_frame, "region")
    with pytest.raises(ValueError, match="no coefficients"):
        coefficient_forest({"M0": survival_fits["M0"]})


def test_caterpillar_of_a_correlated_level(study_frame):
    fit = fake_fit("structural", study_frame)
    frame = caterpillar_frame(fit, outcome="demand_fit", level="township")
    effects = fit.posterior["township_effect"].sel(outcome="demand_fit")
    expected = effects.median(("chain", "draw")).to_numpy()
    assert np.allclose(np.sort(expected), frame["median"])
    fig = caterpillar_plot(fit, "en", outcome="demand_fit", levels=["township"])
    assert fig.axes[0].get_ylabel() == "Township effect (logit)"


@pytest.fixture(scope="module")
def prior_check(study_frame):
    from grassroots.models.prior_predictive import prior_predictive

    return prior_predictive("structural", study_frame, seed=3, draws=30, max_rows=100)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_prior_predictive_figure_is_labelled_from_the_codebook(prior_check, lang: str):
    from grassroots.reporting.paper_figures import prior_predictive_plot

    fig = prior_predictive_plot(prior_check, lang)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5  # survival, demand fit and the three binary outcomes
    if lang == "zh":
        assert titles[0] == "项目存续：先验生存曲线" and "粗放式创新" in titles[2]
    else:
        assert titles[0] == "Project survival: prior survival"
        assert titles[1].endswith("prior rating shares")
    assert fig.axes[0].get_xlabel() == ("上线后月数" if lang == "zh" else "Months since launch")


def test_chinese_figure_text_follows_the_house_style(survival_fits, demand_fit, study_frame):
    from grassroots.reporting.zh_style import check_texts

    figures = {
        "forest": coefficient_forest(survival_fits, "zh"),
        "caterpillar": caterpillar_plot(survival_fits["M4"], "zh", label_extremes=3),
        "km": km_posterior_plot(survival_fits["M4"], study_frame, "region", "zh"),
        "ppc": ordinal_ppc_plot(demand_fit, study_frame, "zh"),
    }
    texts = [
        (name, type(artist).__name__, artist.get_text())
        for name, fig in figures.items()
        for artist in fig.findobj(lambda artist: hasattr(artist, "get_text"))
        if artist.get_text()
    ]
    assert any(name == "km" for name, _, _ in texts)
    problems = check_texts(texts)
    assert problems == [], "\n".join(map(str, problems))
