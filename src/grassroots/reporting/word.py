"""The Word renderer (python-docx): A4, caption above, a three-line table (三线表) with real
header rows, note below; Times New Roman for Latin and SimSun for Chinese text (:data:`DOCX_FONTS`).

The same table gives the same bytes: zip entries and core properties carry a fixed time
(``SOURCE_DATE_EPOCH`` overrides it).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from grassroots.reporting.latex import latex_plan
from grassroots.reporting.layout import layout, note_lead_in

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from docx.oxml.xmlchemy import BaseOxmlElement

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


_JUSTIFICATION: Mapping[str, str] = {"l": "left", "r": "right", "c": "center"}
# A panel's row labels are indented 10 pt; w:ind counts twentieths of a point.
_PANEL_INDENT_TWIPS = 200


def _cell_xml(
    value: str,
    align: str,
    column_width: int,
    *,
    span: int = 1,
    italic: bool = False,
    indent: bool = False,
    rule: int | None = None,
) -> str:
    """One ``w:tc``: ``span`` grid columns wide, its text in one run, an optional rule under it
    (``rule`` in eighths of a point)."""
    properties = f'<w:tcW w:type="dxa" w:w="{column_width * span}"/>'
    if span > 1:
        properties += f'<w:gridSpan w:val="{span}"/>'
    if rule is not None:
        properties += (
            f'<w:tcBorders><w:bottom w:val="single" w:sz="{rule}" w:space="0" '
            f'w:color="000000"/></w:tcBorders>'
        )
    paragraph = f'<w:ind w:left="{_PANEL_INDENT_TWIPS}"/>' if indent else ""
    paragraph += f'<w:jc w:val="{_JUSTIFICATION[align]}"/>'
    # italic=None in python-docx terms: inherit from the style, so an empty w:rPr.
    run_properties = "<w:rPr><w:i/></w:rPr>" if italic else "<w:rPr/>"
    return (
        f"<w:tc><w:tcPr>{properties}</w:tcPr><w:p><w:pPr>{paragraph}</w:pPr>"
        f"<w:r>{run_properties}{_run_content(value)}</w:r></w:p></w:tc>"
    )


def _run_content(value: str) -> str:
    """A run's text as python-docx's ``Run.text`` writes it: tabs and line breaks as
    ``w:tab`` and ``w:br``, whitespace at either end of a piece kept."""
    pieces = []
    for piece in re.split(r"([\t\r\n])", value):
        if piece == "\t":
            pieces.append("<w:tab/>")
        elif piece in {"\r", "\n"}:
            pieces.append("<w:br/>")
        elif piece:
            space = ' xml:space="preserve"' if piece.strip() != piece else ""
            pieces.append(f"<w:t{space}>{escape(piece)}</w:t>")
    return "".join(pieces)


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
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls
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

    document.add_paragraph(table.title, style="Caption")

    n_header = len(lay.header)
    grid = document.add_table(rows=0, cols=lay.n_columns)
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    # 三线表: heavy top and bottom rules (1.5 pt; w:sz counts eighths of a point), the thin
    # rules under the header are the cells'; nothing else, no vertical lines.
    _border(
        grid._tbl.tblPr,
        {"top": 12, "left": 0, "bottom": 12, "right": 0, "insideH": 0, "insideV": 0},
        "w:tblBorders",
    )

    # The rows are written as XML and parsed once: python-docx's cell objects (merge,
    # paragraph.alignment, add_run) took most of the time of writing every table of a report.
    # The elements are the ones those calls make, attribute for attribute.
    column_width = int(grid._tbl.tblGrid.gridCol_lst[0].w.twips)
    rows_xml = []
    for r, header_row in enumerate(lay.header):
        last = r == n_header - 1
        cells_xml = []
        for cell in header_row:
            # The rule under the column labels runs across; a spanner's rule only under it.
            rule = 6 if last else 4 if cell.text else None
            align = lay.align[cell.start] if last else "c"
            cells_xml.append(_cell_xml(cell.text, align, column_width, span=cell.span, rule=rule))
        # Header rows repeat on every page of a long table.
        rows_xml.append(
            f'<w:tr><w:trPr><w:tblHeader w:val="true"/></w:trPr>{"".join(cells_xml)}</w:tr>'
        )
    for section in lay.sections:
        if section.panel is not None:
            panel = _cell_xml(section.panel, "l", column_width, span=lay.n_columns, italic=True)
            rows_xml.append(f"<w:tr>{panel}</w:tr>")
        indent = section.panel is not None
        for values in section.rows:
            cells_xml = [
                _cell_xml(value, lay.align[c], column_width, indent=indent and c == 0)
                for c, value in enumerate(values)
            ]
            rows_xml.append(f"<w:tr>{''.join(cells_xml)}</w:tr>")
    parsed = parse_xml(f"<w:tbl {nsdecls('w')}>{''.join(rows_xml)}</w:tbl>")
    grid._tbl.extend(list(parsed))

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
