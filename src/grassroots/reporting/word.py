"""The Word renderer (python-docx): A4, caption above, a three-line table (三线表) with real
header rows, note below; Times New Roman for Latin and SimSun for Chinese text (:data:`DOCX_FONTS`).

The same table gives the same bytes: zip entries and core properties carry a fixed time
(``SOURCE_DATE_EPOCH`` overrides it).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING

from grassroots.reporting.latex import latex_plan
from grassroots.reporting.layout import layout, note_lead_in

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from docx.oxml.xmlchemy import BaseOxmlElement
    from docx.table import _Cell

    from grassroots.reporting.tables import Table

__all__ = ["DOCX_FONTS", "DOCX_PAGE_MM", "render_docx"]


DOCX_FONTS: Mapping[str, str] = {"latin": "Times New Roman", "east_asia": "SimSun"}
"""Fonts the Word file asks for: Latin text in Times New Roman, Chinese text in SimSun (宋体),
the usual pair of Chinese journals. Word substitutes a font the reader's machine lacks."""

# Zip entries and core properties carry this time instead of "now", so two writes of one table
# give identical bytes. SOURCE_DATE_EPOCH (reproducible-builds.org) overrides it.
_FIXED_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _build_time() -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    return _FIXED_TIME


_BORDER_SUCCESSORS: Mapping[str, tuple[str, ...]] = {
    "w:tblBorders": ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption"),
    "w:tcBorders": ("w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText",
                    "w:vAlign", "w:hideMark"),
}  # fmt: skip


def _border(element: BaseOxmlElement, edges: Mapping[str, int], tag: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    container = element.find(qn(tag))
    if container is None:
        container = OxmlElement(tag)
        # The schema fixes the order of a property's children; Word rejects a file that breaks
        # it. Edges must likewise come in the order top, left, bottom, right, insideH, insideV.
        successors = {qn(name) for name in _BORDER_SUCCESSORS[tag]}
        later = [child for child in element if child.tag in successors]
        if later:
            later[0].addprevious(container)
        else:
            element.append(container)
    for edge, size in edges.items():
        line = OxmlElement(f"w:{edge}")
        line.set(qn("w:val"), "single" if size else "nil")
        line.set(qn("w:sz"), str(size))
        line.set(qn("w:space"), "0")
        line.set(qn("w:color"), "000000")
        container.append(line)


def _cell_border(cell: _Cell, **edges: int) -> None:
    _border(cell._tc.get_or_add_tcPr(), edges, "w:tcBorders")


def _set_fonts(document: DocxDocument, latin: str, east_asia: str, lang: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    for style_name in ("Normal", "Caption"):
        style = document.styles[style_name]
        style.font.name = latin
        style.font.size = Pt(10)
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.find(qn("w:rFonts"))
        fonts.set(qn("w:eastAsia"), east_asia)
        language = rpr.find(qn("w:lang"))
        if language is None:
            language = OxmlElement("w:lang")
            rpr.append(language)
        # Word picks proofing and line-breaking rules from these.
        language.set(qn("w:val"), "zh-CN" if lang == "zh" else "en-US")
        language.set(qn("w:eastAsia"), "zh-CN")
    # Table rows as tight as Word's own tables; the template's Normal adds space after every
    # paragraph, which would make each row a line taller.
    normal = document.styles["Normal"].paragraph_format
    normal.space_before = normal.space_after = Pt(0)
    normal.line_spacing = 1.0
    caption = document.styles["Caption"]
    caption.paragraph_format.space_after = Pt(4)
    caption.font.bold = True
    caption.font.italic = False
    caption.font.color.rgb = None


DOCX_PAGE_MM: Mapping[str, float] = {"width": 210.0, "height": 297.0, "margin": 25.0}
"""A4 with 25 mm margins, the page Chinese and most European journals ask for."""


def _set_page(document: DocxDocument, *, landscape: bool) -> None:
    """A4 (python-docx's template is US Letter), turned for a table LaTeX sets in landscape."""
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm

    section = document.sections[0]
    width, height = Mm(DOCX_PAGE_MM["width"]), Mm(DOCX_PAGE_MM["height"])
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        width, height = height, width
    section.page_width, section.page_height = width, height
    margin = Mm(DOCX_PAGE_MM["margin"])
    section.left_margin = section.right_margin = margin
    section.top_margin = section.bottom_margin = margin


def _normalise_zip(data: bytes, when: dt.datetime) -> bytes:
    """Rewrite a zip with fixed entry times and attributes (python-docx stamps "now")."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            # Unix, regular file rw-r--r--: what an unzip shows, whoever wrote the file.
            entry.create_system = 3
            entry.external_attr = 0o100644 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()


def render_docx(
    table: Table,
    *,
    latin_font: str = DOCX_FONTS["latin"],
    east_asian_font: str = DOCX_FONTS["east_asia"],
) -> bytes:
    """A Word document holding the table: caption paragraph, the table, flags and note below,
    on an A4 page (:data:`DOCX_PAGE_MM`; landscape when :func:`latex_plan` turns the table).

    The table is a three-line table (thick top and bottom rules, thin rule under the header, thin
    rules under spanners), the header rows repeat on every page, a panel heading is one merged
    italic row. Returns the .docx bytes, identical for identical input.
    """
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    lay = layout(table)
    document = Document()
    _set_page(document, landscape=latex_plan(lay).landscape)
    _set_fonts(document, latin_font, east_asian_font, table.lang)
    when = _build_time()
    props = document.core_properties
    props.title = table.title
    props.author = "grassroots"
    props.last_modified_by = "grassroots"
    props.comments = ""
    props.revision = 1
    props.created = when.replace(tzinfo=None)
    props.modified = when.replace(tzinfo=None)

    alignment = {
        "l": WD_ALIGN_PARAGRAPH.LEFT,
        "r": WD_ALIGN_PARAGRAPH.RIGHT,
        "c": WD_ALIGN_PARAGRAPH.CENTER,
    }
    document.add_paragraph(table.title, style="Caption")

    n_header = len(lay.header)
    n_body = sum(len(s.rows) + (s.panel is not None) for s in lay.sections)
    grid = document.add_table(rows=n_header + n_body, cols=lay.n_columns)
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    # 三线表: heavy top and bottom rules (1.5 pt; w:sz counts eighths of a point), the thin
    # rules under the header are the cells'; nothing else, no vertical lines.
    _border(
        grid._tbl.tblPr,
        {"top": 12, "left": 0, "bottom": 12, "right": 0, "insideH": 0, "insideV": 0},
        "w:tblBorders",
    )

    def put(cell: _Cell, value: str, align: str, *, italic: bool = False) -> None:
        paragraph = cell.paragraphs[0]
        paragraph.alignment = alignment[align]
        # None, not False: inherit from the style instead of writing an explicit "off".
        paragraph.add_run(value).italic = italic or None

    # Cells are taken row by row: python-docx's table.cell(r, c) walks the whole table on every
    # call, which makes a 50-row table take seconds.
    rows = iter(grid.rows)
    for r, header_row in enumerate(lay.header):
        row = next(rows)
        # Repeat header rows on every page of a long table.
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        row._tr.get_or_add_trPr().append(repeat)
        last = r == n_header - 1
        cells = row.cells
        for cell in header_row:
            target = cells[cell.start]
            if cell.span > 1:
                target = target.merge(cells[cell.start + cell.span - 1])
            put(target, cell.text, lay.align[cell.start] if last else "c")
            # The rule under the column labels runs across; a spanner's rule only under it.
            if last:
                _cell_border(target, bottom=6)
            elif cell.text:
                _cell_border(target, bottom=4)

    for section in lay.sections:
        if section.panel is not None:
            cells = next(rows).cells
            put(cells[0].merge(cells[-1]), section.panel, "l", italic=True)
        for values in section.rows:
            cells = next(rows).cells
            for c, value in enumerate(values):
                put(cells[c], value, lay.align[c])
            if section.panel is not None:
                cells[0].paragraphs[0].paragraph_format.left_indent = Pt(10)

    for flag in table.flags:
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(3)
        paragraph.add_run(flag).bold = True
    if table.note:
        lead, sep = note_lead_in(table)
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(3)
        paragraph.add_run(lead).italic = True
        paragraph.add_run(sep + table.note)

    buffer = io.BytesIO()
    document.save(buffer)
    return _normalise_zip(buffer.getvalue(), when)
