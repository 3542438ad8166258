"""The table files a journal gets, each opened by the tool that reads it: every English ``.tex``
without Chinese compiled by pdfLaTeX, every one with Chinese by XeLaTeX, none overflowing the
page (a table taller than a page breaks across pages), every ``.html`` parsed as a complete
document, every ``.docx`` opened by python-docx for its page and its three rules, and the
one-file HTML report parsed for its contents, anchors and embedded figures."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import docx
import lxml.html
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pypdf
import pytest
from _paper_fakes import DEMAND_FIT, STRATEGIES, SURVIVAL, fake_fit, fits_of
from docx.oxml.ns import qn

from grassroots.data import load_dataset
from grassroots.reporting import paper
from grassroots.reporting.crosswalk import table0_theory
from grassroots.reporting.figures import save_figure
from grassroots.reporting.html_report import convergence_table, render_report
from grassroots.reporting.latex import LATEX_PREAMBLE, LatexPlan, latex_plan
from grassroots.reporting.layout import layout
from grassroots.reporting.tables import Table, stack_panels, with_spanner

# An overfull box of a few points is invisible in print; more would stick out of the text block.
OVERFULL_TOLERANCE_PT = 2.0


def wide_table() -> Table:
    """Nine columns, a long text column and every symbol pdfLaTeX's fonts lack."""
    rows = [
        [
            "Proximity to residents raises demand fit through quick, low-cost adaptation of "
            "each project to what residents ask for",
            "ΔS(24) ≥ 0.05",
            "σ²_county",
            "1.39 [1.26, 1.54]",
            "0.41 × 2",
            "R̂ ≤ 1.01",
            "α = 0.05; β ≈ 1",
            "12–24 months ← μ",
            "—",
        ],
        ["Authority", "−0.12", "0.30", "0.82 [0.71, 0.95]", "1.00", "1.00", "0.5", "6", "·"],
    ]
    columns = [
        "Mechanism (paper's wording, quoted in full)",
        "Δ",
        "σ",
        "OR [95% CrI]",
        "Scale ÷ sd(x)",
        "R̂",
        "Prior",
        "Window",
        "Note",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return Table(
        "wide_symbols",
        "Table 99. Symbols – all of them",
        stack_panels({"Strengths": frame, "Weaknesses": frame}),
        note="σ²_l / (Σσ² + π²/3) ≥ 0; 5% ≤ p — quoted “as is”.",
        panel="panel",
        flags=("⚠ Not converged: M2",),
    )


def long_text_table() -> Table:
    """Four columns of sentences, like Table 0: fits in portrait only when they wrap."""
    sentence = "Townships closer to residents launch projects that fit residents' needs better"
    frame = pd.DataFrame(
        [[f"Claim {i}", sentence, sentence + " and last longer", "supported"] for i in range(6)],
        columns=["Claim", "Hypothesis", "Implication tested", "Verdict"],
    )
    return Table("long_text", "Table 98. Claims", with_spanner(frame, "Evidence", first=2))


def interval_table() -> Table:
    """Nine columns of "estimate [lower, upper]", like Table 7: too wide for \\small type."""
    cell = "-1.3 [-12.7, 10.9]"
    frame = pd.DataFrame(
        [[f"Region: {region}", *[cell] * 9] for region in ("East", "Central", "West")],
        columns=["Subgroup", *(f"P(outcome {k} in the subgroup)" for k in range(9))],
    )
    return Table("intervals", "Table 97. Subgroups", frame)


def tall_table(*, wide: bool = False, lang: str = "en") -> Table:
    """120 townships, like the targeting table: taller than a page (``wide``: nine columns, on a
    landscape page), every third reason a sentence that wraps."""
    reason = (
        "离群众近，能按群众所提需求迅速而低成本地调整项目" if lang == "zh"
        else "Close to residents, adapts the project quickly and cheaply to what they ask for"
    )  # fmt: skip
    n_scores = 6 if wide else 1
    rows = [
        [f"Township {i:03d}", reason if i % 3 == 0 else "-",
         f"{i / 7:.2f} [{i / 9:.2f}, {i / 5:.2f}]",
         *[f"{(i * k) % 97 / 10:.1f}" for k in range(1, n_scores + 1)]]
        for i in range(120)
    ]  # fmt: skip
    scores = [f"Score {k}" for k in range(1, n_scores + 1)]
    frame = pd.DataFrame(rows, columns=["Township", "Reason", "Priority [95% CrI]", *scores])
    name = "tall_wide" if wide else "tall"
    return Table(name, "Table 95. Targeting", frame, note="Ranked by priority.", lang=lang)


class FakeContrasts:
    """``ContrastResult.values`` for Table 0's remedies: seeded draws of a small gain."""

    def values(self, scenario: str, outcome: str, quantity: str) -> np.ndarray:
        return np.random.default_rng(7).normal(0.03, 0.01, 400)


@pytest.fixture(scope="module")
def english_tables(study_frame: pd.DataFrame) -> list[Table]:
    """A representative set: the paper's tables built from fake fits, plus the hard cases."""
    survival = fits_of(SURVIVAL, study_frame, M2={"log_likelihood": True})
    demand_fit = fits_of(DEMAND_FIT, study_frame)
    strategies = fits_of(STRATEGIES, study_frame)
    every_fit = {**survival, **{f"d{k}": v for k, v in demand_fit.items()}}
    return [
        paper.table1(load_dataset()),
        paper.table2_survival(survival),
        paper.table3_demand_fit(demand_fit),
        paper.table4_strategies(strategies),
        paper.appendix_a_diagnostics(every_fit),
        paper.appendix_b_priors(survival),
        wide_table(),
        long_text_table(),
        interval_table(),
        tall_table(),
        tall_table(wide=True),
    ]


def test_wide_tables_go_landscape_and_long_text_wraps() -> None:
    wide = latex_plan(layout(wide_table()))
    assert wide.landscape and wide.wraps
    # The long text wraps; figures and short labels never do.
    assert "X" in wide.column_specs[0]
    assert (wide.column_specs[2], wide.column_specs[3]) == ("l", "r")
    long_text = latex_plan(layout(long_text_table()))
    assert not long_text.landscape and long_text.wraps
    assert [("X" in spec) for spec in long_text.column_specs] == [False, True, True, False]
    assert (wide.font, long_text.font) == (r"\small", r"\small")
    assert not (wide.stack_intervals or long_text.stack_intervals)
    # Nine intervals side by side fit a landscape page only in small type, one under each
    # estimate.
    intervals = latex_plan(layout(interval_table()))
    assert (intervals.font, intervals.stack_intervals) == (r"\scriptsize", True)
    assert r"\begin{tabular}[t]{@{}r@{}}-1.3 \\ {[}-12.7, 10.9]\end{tabular}" in (
        interval_table().to_latex().replace(r"\ensuremath{-}", "-")
    )
    # Taller than a page: wrapped columns of a fixed width, since tabularx cannot break pages.
    tall, tall_wide = latex_plan(layout(tall_table())), latex_plan(layout(tall_table(wide=True)))
    assert tall.long and not tall.landscape and tall.wraps
    assert tall.column_specs[1].startswith(r">{\raggedright\arraybackslash}p{")
    assert tall_wide.long and tall_wide.landscape
    assert not any(latex_plan(layout(t)).long for t in (wide_table(), long_text_table()))
    narrow = latex_plan(layout(Table("t", "T", pd.DataFrame({"a": ["x"], "b": ["1.0"]}))))
    assert narrow == LatexPlan(False, ("l", "r"), header_chars=(None, None))


def test_english_latex_is_ascii() -> None:
    """pdfLaTeX stops at the first character its fonts lack: Greek, arrows, maths."""
    tex = wide_table().to_latex()
    assert not re.findall(r"[^\x00-\x7f]", tex)
    assert r"\ensuremath{\Delta}S(24) \ensuremath{\geq} 0.05" in tex
    assert r"\ensuremath{\hat{R}} \ensuremath{\leq} 1.01" in tex
    assert r"12\textendash{}24 months \ensuremath{\leftarrow} \ensuremath{\mu}" in tex
    assert r"\ensuremath{\sigma}\ensuremath{^{2}}\_county" in tex


def _overfull_points(log: str) -> list[float]:
    return [float(points) for points in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]


_CHINESE_COMMENT = "% Chinese text: compile with XeLaTeX"


def _compile(table: Table, engine: str, directory: Path) -> str:
    """Compile ``table`` alone in an A4 article with ``engine``; fail on an error, on a box
    sticking out of the text block or on a float taller than the page. Returns the log."""
    body = table.to_latex()
    chinese = "\\usepackage{xeCJK}\n\\setCJKmainfont{WenQuanYi Micro Hei}\n"
    source = directory / f"{table.name}_{table.lang}_{engine}.tex"
    source.write_text(
        "\\documentclass[a4paper]{article}\n" + LATEX_PREAMBLE
        + (chinese if engine == "xelatex" else "")
        + "\\begin{document}\n" + body + "\\end{document}\n",
        encoding="utf-8",
    )  # fmt: skip
    run = subprocess.run(
        [engine, "-halt-on-error", "-interaction=nonstopmode", source.name],
        cwd=directory, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    log = source.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    where = f"{table.name} ({table.lang}, {engine})"
    assert run.returncode == 0, f"{where}: failed\n{log[-3000:]}"
    assert source.with_suffix(".pdf").stat().st_size > 0
    too_wide = [pt for pt in _overfull_points(log) if pt > OVERFULL_TOLERANCE_PT]
    assert not too_wide, f"{where}: overfull boxes {too_wide} pt\n{body}"
    assert "Float too large" not in log, f"{where}: taller than the page\n{body}"
    return log


def _pages(log: str) -> int:
    return int(re.search(r"Output written on .*? \((\d+) pages?", log).group(1))


def _assert_continued_pages(table: Table, engine: str, log: str, directory: Path) -> None:
    """A long table breaks across pages; every page after the first repeats its caption with
    "(continued)" and its header, and every page but the last points to the next one."""
    assert _pages(log) > 1, table.name
    pdf = pypdf.PdfReader(directory / f"{table.name}_{table.lang}_{engine}.pdf")
    texts = [re.sub(r"\s+", "", page.extract_text()) for page in pdf.pages]
    # The note may follow on a page of its own.
    table_pages = [page for page in texts if "Priority[95%CrI]" in page]
    assert len(table_pages) > 1, table.name
    chinese = table.lang == "zh"
    continued, overleaf = (
        ("（续）", "接下页") if chinese else ("(continued)", "Continuedonnextpage")
    )
    after_first = [True] * (len(table_pages) - 1)
    assert [continued in page for page in table_pages] == [False, *after_first], table.name
    assert [overleaf in page for page in table_pages] == [*after_first, False], table.name


needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed: run scripts/setup-tools (make test does) or install "
    "Debian's texlive-latex-base and texlive-latex-recommended",
)
needs_xelatex = pytest.mark.skipif(
    shutil.which("xelatex") is None,
    reason="xelatex is not installed: Chinese tables need Debian's texlive-xetex and "
    "texlive-lang-chinese (scripts/setup-tools names them)",
)


@needs_pdflatex
def test_every_english_table_compiles_with_pdflatex_inside_the_page(
    english_tables: list[Table], tmp_path: Path
) -> None:
    for table in english_tables:
        assert _CHINESE_COMMENT not in table.to_latex(), table.name
        log = _compile(table, "pdflatex", tmp_path)
        if table.name.startswith("tall"):
            _assert_continued_pages(table, "pdflatex", log, tmp_path)


@needs_xelatex
def test_table0_quotes_chinese_terms_in_english_and_says_it_needs_xelatex(
    study_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """The English crosswalk quotes the paper's own Chinese terms: pdfLaTeX cannot set them, so
    the file's leading comments name XeLaTeX and xeCJK, with which it compiles."""
    fits = {"structural": fake_fit("structural", study_frame)}
    table = table0_theory(fits, "en", contrasts=FakeContrasts())
    tex = table.to_latex()
    comments = tex.split("\n")[:2]
    assert comments[1].startswith(_CHINESE_COMMENT), comments
    assert "(贴近群众)" in tex
    _compile(table, "xelatex", tmp_path)


@needs_xelatex
def test_chinese_tables_compile_with_xelatex_inside_the_page(
    study_frame: pd.DataFrame, tmp_path: Path
) -> None:
    survival = fits_of(SURVIVAL, study_frame, M2={"log_likelihood": True})
    demand_fit = fits_of(DEMAND_FIT, study_frame)
    every_fit = {**survival, **{f"d{k}": v for k, v in demand_fit.items()}}
    for table in (
        paper.table1(load_dataset(), lang="zh"),
        paper.table2_survival(survival, "zh"),
        paper.table3_demand_fit(demand_fit, "zh"),
        paper.table4_strategies(fits_of(STRATEGIES, study_frame), "zh"),
        paper.appendix_a_diagnostics(every_fit, "zh"),
        paper.appendix_b_priors(survival, "zh"),
        tall_table(lang="zh"),
        tall_table(wide=True, lang="zh"),
    ):
        log = _compile(table, "xelatex", tmp_path)
        if table.name.startswith("tall"):
            _assert_continued_pages(table, "xelatex", log, tmp_path)


@pytest.fixture(scope="module")
def every_table(english_tables: list[Table], survival_fits, study_frame) -> list[Table]:
    chinese = [
        paper.table2_survival(survival_fits, "zh"),
        paper.appendix_a_diagnostics(survival_fits, "zh"),
    ]
    return [*english_tables, *chinese]


def test_every_html_table_is_a_complete_document(every_table: list[Table]) -> None:
    for table in every_table:
        page = lxml.html.document_fromstring(table.to_html())
        tree = page.getroottree()
        assert tree.docinfo.doctype == "<!DOCTYPE html>", table.name
        assert page.get("lang") == ("zh-CN" if table.lang == "zh" else "en")
        assert page.xpath("/html/head/meta/@charset") == ["utf-8"]
        assert page.findtext("head/title") == table.title
        (grid,) = page.xpath("/html/body/table")
        lay = layout(table)
        header_cells = grid.xpath("thead/tr[last()]/th")
        assert [cell.text_content() for cell in header_cells] == [c.text for c in lay.header[-1]]
        body_rows = grid.xpath("tbody/tr[td]")
        assert len(body_rows) == sum(len(section.rows) for section in lay.sections)
        assert all(len(row.xpath("td")) == lay.n_columns for row in body_rows)


def _edges(element, tag: str) -> dict[str, tuple[str, str]]:
    container = element.find(qn(tag))
    if container is None:
        return {}
    return {
        child.tag.split("}")[1]: (child.get(qn("w:val")), child.get(qn("w:sz")))
        for child in container
    }


def test_every_word_table_is_a_three_line_table_on_a4(every_table: list[Table]) -> None:
    for table in every_table:
        document = docx.Document(io.BytesIO(table.to_docx()))
        section = document.sections[0]
        # Word stores twentieths of a point: A4 to a tenth of a millimetre.
        size = sorted([section.page_width.mm, section.page_height.mm])
        assert size == pytest.approx([210, 297], abs=0.1), table.name
        landscape = latex_plan(layout(table)).landscape
        assert (section.page_width > section.page_height) == landscape, table.name
        margins = [section.left_margin, section.right_margin, section.top_margin]
        assert [margin.mm for margin in margins] == pytest.approx([25] * 3, abs=0.1)
        (grid,) = document.tables
        # Heavy top and bottom rules; no frame at the sides, no inner rules of the table.
        assert _edges(grid._tbl.tblPr, "w:tblBorders") == {
            "top": ("single", "12"),
            "left": ("nil", "0"),
            "bottom": ("single", "12"),
            "right": ("nil", "0"),
            "insideH": ("nil", "0"),
            "insideV": ("nil", "0"),
        }
        n_header = len(layout(table).header)
        for r, row in enumerate(grid.rows):
            for cell in row.cells:
                edges = _edges(cell._tc.tcPr, "w:tcBorders") if cell._tc.tcPr is not None else {}
                # No vertical line anywhere.
                assert set(edges) <= {"bottom"}, (table.name, r, edges)
                if r == n_header - 1:
                    # One thin rule under the column labels, right across.
                    assert edges == {"bottom": ("single", "6")}, (table.name, r)
                elif r >= n_header:
                    assert edges == {}, (table.name, r, edges)


def test_html_report_holds_every_table_and_figure_in_one_file(
    english_tables: list[Table], tmp_path: Path
) -> None:
    figure, axes = plt.subplots(figsize=(2, 2))
    axes.plot([0, 1], [1, 0])
    figures = save_figure(figure, tmp_path / "figure1_line", formats=("png",))
    plt.close(figure)
    convergence = convergence_table({
        "survival_m4": {"converged": True, "max_rhat": 1.004, "min_ess_bulk": 812.0,
                        "divergences": 0},
        "structural": {"converged": False, "max_rhat": 1.07, "min_ess_bulk": 95.0,
                       "divergences": 3},
    })  # fmt: skip
    options = {"title": "Results", "tables": english_tables, "figures": figures,
               "convergence": convergence, "preface": "Synthetic data."}  # fmt: skip
    text = render_report(**options)
    assert render_report(**options) == text, "same inputs, same bytes"

    page = lxml.html.document_fromstring(text)
    assert page.getroottree().docinfo.doctype == "<!DOCTYPE html>"
    assert page.get("lang") == "en" and page.findtext("head/title") == "Results"
    assert page.xpath("/html/head/meta/@charset") == ["utf-8"]
    targets = [href.removeprefix("#") for href in page.xpath("//nav//a/@href")]
    ids = page.xpath("//@id")
    assert len(ids) == len(set(ids)), "ids are unique"
    assert targets == ["convergence", *(t.name for t in english_tables), "figure1_line"]
    assert set(targets) <= set(ids)
    assert len(page.xpath("//body/table")) == 1 + len(english_tables)
    rows = page.get_element_by_id("convergence").xpath("tbody/tr/td[2]/text()")
    assert rows == ["yes", "no"]
    (image,) = page.xpath("//figure/img/@src")
    prefix = "data:image/png;base64,"
    assert image.startswith(prefix)
    assert base64.b64decode(image.removeprefix(prefix)) == figures[0].read_bytes()
    # Self-contained: nothing is fetched from elsewhere.
    assert not page.xpath("//@src[not(starts-with(., 'data:'))] | //link | //script")


def test_html_report_refuses_a_figure_it_cannot_embed(tmp_path: Path) -> None:
    convergence = convergence_table({})
    with pytest.raises(ValueError, match=r"figure\.pdf: the report embeds PNG figures only"):
        render_report(title="R", tables=[], figures=[tmp_path / "figure.pdf"],
                      convergence=convergence)  # fmt: skip
    with pytest.raises(ValueError, match=r"fit 'm1': convergence record lacks \['divergences'\]"):
        convergence_table({"m1": {"converged": True, "max_rhat": 1.0, "min_ess_bulk": 1.0}})
