"""One renderer per output format, each a function ``Table -> str | bytes``.

Every renderer reads the same :func:`~grassroots.reporting.layout.layout` and escapes text for its
own format, so a table's content is decided once and only its look differs. Output is
byte-for-byte deterministic for the same table: no dates, no random ids, fixed zip timestamps in
the Word file.

=======  ======================================================================================
md       GitHub-flavoured Markdown; multi-level headers are flattened ("HR [95% CrI] / M1")
tex      ``table`` + booktabs rules (a ``longtable`` breaking across pages, its header repeated,
         when taller than a page); ``\\multicolumn``/``\\cmidrule`` spanners; wide tables on a
         landscape page, long text wrapped; pdfLaTeX-safe but for Chinese, which needs XeLaTeX
         with xeCJK (or ctex); packages in :data:`LATEX_PREAMBLE`
         (:mod:`~grassroots.reporting.latex`)
html     a complete HTML5 page around one self-contained ``<table>`` (inline styles only) with
         ``<caption>``, ``<thead>``, a ``<tbody>`` per panel and the note in ``<tfoot>``
docx     Word (python-docx), A4: caption above, a three-line table (三线表) with real header rows,
         note below; Times New Roman for Latin and SimSun for Chinese text
         (:mod:`~grassroots.reporting.word`)
csv      the unformatted numbers (``Table.data``), else the cells
=======  ======================================================================================
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from grassroots.reporting.latex import LATEX_PREAMBLE, render_latex
from grassroots.reporting.layout import layout, note_lead_in
from grassroots.reporting.word import render_docx

if TYPE_CHECKING:
    from grassroots.reporting.tables import Table

__all__ = [
    # LaTeX and Word live in their own modules (grassroots.reporting.latex, .word); the README
    # names this module for the preamble.
    "LATEX_PREAMBLE",
    "RENDERERS",
    "render_csv",
    "render_docx",
    "html_language",
    "html_table",
    "render_html",
    "render_latex",
    "render_markdown",
]


# --- Markdown ----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\|<>*`])")


def _md(value: str) -> str:
    # Backslash escapes are CommonMark for "print this character": a "<" never opens an HTML
    # tag, a "*" never starts emphasis, a "|" never splits a cell.
    return _MD_SPECIAL.sub(r"\\\1", value.replace("\n", " "))


def render_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown: bold title, pipe table, flags in bold, then the note.

    A panel heading is a row with the panel's name in bold in the first cell. Markdown has one
    header row, so a multi-level column label is flattened: its levels joined by " / ".
    """
    lay = layout(table)
    lines = [f"**{_md(table.title)}**", ""]
    lines.append("| " + " | ".join(_md(label) for label in lay.flat_columns) + " |")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines.append("|" + "|".join(rule[a] for a in lay.align) + "|")
    for section in lay.sections:
        if section.panel is not None:
            blanks = [""] * (lay.n_columns - 1)
            lines.append("| " + " | ".join([f"**{_md(section.panel)}**", *blanks]) + " |")
        lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in section.rows)
    for flag in table.flags:
        lines += ["", f"**{_md(flag)}**"]
    if table.note:
        lead, sep = note_lead_in(table)
        lines += ["", f"*{_md(lead)}*{sep}{_md(table.note)}"]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------

_HTML_ALIGN = {"l": "left", "r": "right", "c": "center"}
_RULE_THICK = "2px solid #000"
_RULE_THIN = "1px solid #000"


def _h(value: str) -> str:
    return html.escape(value, quote=True)


def html_language(lang: str) -> str:
    """The ``lang`` attribute of a page or table in ``lang`` ("en" or "zh")."""
    return "zh-CN" if lang == "zh" else "en"


def render_html(table: Table) -> str:
    """A complete HTML5 page holding the table (:func:`html_table`): doctype, language, UTF-8,
    the table's title as the page title."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{html_language(table.lang)}">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{_h(table.title)}</title>",
            "</head>",
            "<body>",
            html_table(table).rstrip("\n"),
            "</body>",
            "</html>",
            "",
        ]
    )


def html_table(table: Table) -> str:
    """One ``<table>`` that is safe to paste into any page: escaped text, inline styles only,
    a ``<tbody>`` per panel (headed by a ``scope="rowgroup"`` cell) and the note in ``<tfoot>``.
    """
    lay = layout(table)
    lang = ' lang="zh-CN"' if table.lang == "zh" else ""
    ident = re.sub(r"[^A-Za-z0-9_-]", "-", table.name)
    lines = [
        f'<table class="grassroots-table" id="{_h(ident)}"{lang} '
        f'style="border-collapse:collapse;border-top:{_RULE_THICK};'
        f'border-bottom:{_RULE_THICK}">',
        f'<caption style="text-align:left;font-weight:bold">{_h(table.title)}</caption>',
        "<thead>",
    ]
    *spanners, columns = lay.header
    for row in spanners:
        cells = []
        for cell in row:
            if cell.span == 1 and not cell.text:
                cells.append("<th></th>")
                continue
            span = f' colspan="{cell.span}"' if cell.span > 1 else ""
            rule = f";border-bottom:{_RULE_THIN}" if cell.text else ""
            cells.append(
                f'<th scope="colgroup"{span} style="text-align:center{rule}">{_h(cell.text)}</th>'
            )
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append(
        "<tr>"
        + "".join(
            f'<th scope="col" style="text-align:{_HTML_ALIGN[align]};'
            f'border-bottom:{_RULE_THIN}">{_h(cell.text)}</th>'
            for cell, align in zip(columns, lay.align, strict=True)
        )
        + "</tr>"
    )
    lines.append("</thead>")
    for section in lay.sections:
        lines.append("<tbody>")
        if section.panel is not None:
            lines.append(
                f'<tr><th scope="rowgroup" colspan="{lay.n_columns}" '
                f'style="text-align:left;font-style:italic">{_h(section.panel)}</th></tr>'
            )
        for row in section.rows:
            cells = []
            for position, (cell, align) in enumerate(zip(row, lay.align, strict=True)):
                style = f"text-align:{_HTML_ALIGN[align]}"
                if position == 0 and section.panel is not None:
                    style += ";padding-left:1.5em"
                cells.append(f'<td style="{style}">{_h(cell)}</td>')
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</tbody>")
    if table.flags or table.note:
        lines.append("<tfoot>")
        for flag in table.flags:
            lines.append(
                f'<tr><td colspan="{lay.n_columns}" style="text-align:left">'
                f"<strong>{_h(flag)}</strong></td></tr>"
            )
        if table.note:
            lead, sep = note_lead_in(table)
            lines.append(
                f'<tr><td colspan="{lay.n_columns}" style="text-align:left">'
                f"<em>{_h(lead)}</em>{sep}{_h(table.note)}</td></tr>"
            )
        lines.append("</tfoot>")
    lines.append("</table>")
    return "\n".join(lines) + "\n"


# --- CSV ---------------------------------------------------------------------------------------


def render_csv(table: Table) -> str:
    """The unformatted numbers (``table.data``) when the table has them, else the cells (with
    the panel as a first column)."""
    if table.data is not None:
        return table.data.to_csv(index=False, lineterminator="\n")
    lay = layout(table)
    # One header row (levels flattened as in Markdown), so that any CSV reader takes it in.
    columns = list(lay.flat_columns)
    frame = table.frame.set_axis(columns, axis=1)
    if table.panel is not None:
        frame.insert(0, table.panel, table.frame.index.get_level_values(table.panel))
    return frame.to_csv(index=False, lineterminator="\n")


RENDERERS: Mapping[str, Callable[[Table], str | bytes]] = {
    "md": render_markdown,
    "tex": render_latex,
    "html": render_html,
    "docx": render_docx,
    "csv": render_csv,
}
