"""The LaTeX renderer: a booktabs ``table`` (a ``longtable`` breaking across pages, its header
repeated, when taller than a page), ``\\multicolumn``/``\\cmidrule`` spanners, wide tables on a
landscape page and long text wrapped, as :func:`latex_plan` decides from the page geometry.

pdfLaTeX-safe but for Chinese, which needs XeLaTeX with xeCJK (or ctex); the packages every
table needs are :data:`LATEX_PREAMBLE`. The Word renderer (:mod:`grassroots.reporting.word`)
turns its page the way :func:`latex_plan` does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grassroots.reporting.labels import text
from grassroots.reporting.layout import Layout, layout, note_lead_in

if TYPE_CHECKING:
    from grassroots.reporting.tables import Table

__all__ = ["LATEX_PREAMBLE", "LatexPlan", "latex_plan", "render_latex"]


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def _has_cjk(table: Table) -> bool:
    pieces = [table.title, table.note, *table.flags, table.frame.to_string()]
    return any(_CJK.search(piece) for piece in pieces)


LATEX_PREAMBLE = r"""\usepackage{booktabs}
\usepackage{array}
\usepackage{tabularx}
\usepackage{pdflscape}
\usepackage{longtable}
"""
"""The packages every ``.tex`` table needs, all in TeX Live's latex-base and latex-recommended
(Debian ``texlive-latex-base``, ``texlive-latex-recommended``): booktabs rules, tabularx columns
that wrap long text, pdflscape pages for wide tables, longtable for tables taller than a page.
Chinese tables add ``\\usepackage{xeCJK}`` and compile with XeLaTeX."""

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "µ": "mu",
    "ν": "nu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon",
    "φ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta",
    "Θ": "Theta", "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon",
    "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega",
}  # fmt: skip
# Symbols the default fonts of pdfLaTeX lack (it stops at the first one): math mode has them in
# every engine. Dashes as macros, not "--" ligatures, which a font without TeX ligatures prints
# as two hyphens.
_TEX_MATH: Mapping[str, str] = {
    **{char: "\\" + name for char, name in _GREEK.items()},
    "−": "-",
    "×": r"\times",
    "±": r"\pm",
    "≤": r"\leq",
    "≥": r"\geq",
    "≈": r"\approx",
    "≠": r"\neq",
    "∞": r"\infty",
    "←": r"\leftarrow",
    "→": r"\rightarrow",
    "↔": r"\leftrightarrow",
    "·": r"\cdot",
    "÷": r"\div",
    "√": r"\surd",
    "²": "^{2}",
    "³": "^{3}",
    "¹": "^{1}",
}
_TEX_CHARS: Mapping[str, str] = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "–": r"\textendash{}",
    "—": r"\textemdash{}",
    "“": r"\textquotedblleft{}",
    "”": r"\textquotedblright{}",
    "‘": r"\textquoteleft{}",
    "’": r"\textquoteright{}",
    "…": r"\dots{}",
    "⚠": "(!)",
    "\n": " ",
    **{char: rf"\ensuremath{{{math}}}" for char, math in _TEX_MATH.items()},
}
_TEX_SPECIAL = re.compile("|".join(re.escape(char) for char in _TEX_CHARS))
# A letter with a combining circumflex ("R̂", "σ̂"): a hat in math mode.
_TEX_HAT = re.compile("(.)\u0302")
_TEX_MINUS = re.compile(r"(?<![\w.])-(?=\d)")
_TITLE_NUMBER = re.compile(r"^\s*(?:Table\s+[A-Z]?\d+[.:]?|附?表\s*[A-Z]?\d+[.:：]?)\s*")


def _tex_hat(match: re.Match[str]) -> str:
    base = match.group(1)
    return rf"\ensuremath{{\hat{{{_TEX_MATH.get(base, base)}}}}}"


def _tex(value: str) -> str:
    escaped = _TEX_SPECIAL.sub(lambda match: _TEX_CHARS[match.group(0)], value)
    escaped = _TEX_HAT.sub(_tex_hat, escaped)
    # A minus sign, not a hyphen, before a figure ("-0.41").
    escaped = _TEX_MINUS.sub(r"\\ensuremath{-}", escaped)
    # A cell that opens with "[" would be read as the optional argument of the "\\" before it.
    return "{[}" + escaped[1:] if escaped.startswith("[") else escaped


def _tex_row(cells: list[str]) -> str:
    return " & ".join(cells) + r" \\"


def _tex_cell(cell: str, align: str, plan: LatexPlan) -> str:
    parts = _stacked(cell) if plan.stack_intervals else None
    if parts is None:
        return _tex(cell)
    # _tex guards the interval's opening "[" from being read as an optional argument.
    estimate, interval = (_tex(part) for part in parts)
    # [t]: the estimate on the row's baseline, the interval under it.
    return rf"\begin{{tabular}}[t]{{@{{}}{align}@{{}}}}{estimate} \\ {interval}\end{{tabular}}"


def _tex_label(label: str, chars: int | None, align: str) -> str:
    if chars is None:
        return _tex(label)
    # A one-column tabular stacks the lines; [b] keeps the last line on the header's baseline.
    lines = r" \\ ".join(_tex(line) for line in _break_lines(label, chars))
    return rf"\begin{{tabular}}[b]{{@{{}}{align}@{{}}}}{lines}\end{{tabular}}"


def _tex_header(lay: Layout, plan: LatexPlan) -> list[str]:
    lines = []
    *spanners, columns = lay.header
    for row in spanners:
        cells, rules = [], []
        for cell in row:
            if cell.span == 1 and not cell.text:
                cells.append("")
                continue
            cells.append(rf"\multicolumn{{{cell.span}}}{{c}}{{{_tex(cell.text)}}}")
            if cell.text:
                first, last = cell.start + 1, cell.start + cell.span
                rules.append(rf"\cmidrule(lr){{{first}-{last}}}")
        lines.append(_tex_row(cells))
        if rules:
            lines.append(" ".join(rules))
    lines.append(
        _tex_row(
            [
                _tex_label(cell.text, chars, align)
                for cell, chars, align in zip(columns, plan.header_chars, lay.align, strict=True)
            ]
        )
    )
    return lines


# Page geometry the column plan is made for: the text block of LaTeX's article class on A4
# (345 pt wide, 550 pt high, so 550 pt wide on a landscape page), the narrowest a journal uses.
# A character of the table's \small type is at most 4.6 pt wide on average (digits 4.5 pt), of
# \footnotesize 4.1 pt, of \scriptsize 3.6 pt; each column adds 2 x \tabcolsep = 12 pt.
_TEXT_WIDTH_PT = 345.0
_TEXT_HEIGHT_PT = 550.0
_INTERVAL_CELL = re.compile(r"^(\S+)\s+(\[[^\]]+\]\S*)$")
_FONT_SIZES = (r"\small", r"\footnotesize", r"\scriptsize")
_CHAR_PT = {r"\small": 4.6, r"\footnotesize": 4.1, r"\scriptsize": 3.6}
_COLUMN_SEP_PT = 12.0
# More columns than this go on a landscape page even when they would fit: a portrait page
# squeezes them into a block the eye cannot scan.
_MAX_PORTRAIT_COLUMNS = 6
# Line heights (\baselineskip) of those sizes; a table row is one line high per line of text.
_LINE_PT = {r"\small": 11.0, r"\footnotesize": 9.5, r"\scriptsize": 8.0}
# Caption, rules and the space around them, in \small lines: what a table adds to its rows.
_FURNITURE_LINES = 5
# A float may fill the page, but the height is an estimate: a table within this fraction of the
# page height already breaks across pages rather than risk "Float too large for page".
_FLOAT_PAGE_FRACTION = 0.85
# The share of the line a longtable's fixed-width wrapped columns leave to the estimate's error.
_LONGTABLE_SLACK = 0.05
# Text columns narrower than this never wrap: a line break inside "M4" or "yes" helps no one.
_MIN_WRAP_CHARS = 12
# A wrapped column gets at least this fraction of its longest cell's width: five lines or so,
# which a reader takes in better than a table turned sideways.
_WRAP_MIN_FRACTION = 0.2


@dataclass(frozen=True)
class LatexPlan:
    """How a table is set in LaTeX: on a landscape page or not, which text columns wrap
    (tabularx ``X`` columns, with their share of the free width), and which column labels break
    into lines no wider than their figures."""

    landscape: bool
    column_specs: tuple[str, ...]
    header_chars: tuple[int | None, ...] = ()
    """Per column, the line length its label breaks at (``None``: one line)."""
    font: str = _FONT_SIZES[0]
    """The type size: ``\\small``; smaller only for a table a landscape page cannot hold."""
    stack_intervals: bool = False
    """Whether an "estimate [lower, upper]" cell puts its interval on a second line."""
    long: bool = False
    """Whether the table is taller than a page: a ``longtable``, whose wrapped columns are
    ``p`` columns of a fixed share of the line (tabularx cannot break across pages)."""

    @property
    def wraps(self) -> bool:
        return any(re.search(r"X$|p\{", spec) for spec in self.column_specs)


def _chars(value: str) -> int:
    """Width of ``value`` in Latin characters: a Chinese character is about two."""
    return len(value) + len(_CJK.findall(value))


def _words(value: str) -> list[str]:
    """The pieces no line break splits: xeCJK breaks between any two Chinese characters."""
    return [word for word in re.split(rf"\s+|({_CJK.pattern})", value) if word]


def _body_chars(lay: Layout, *, stack: bool = False) -> list[int]:
    """The widest body cell of each column in characters (``stack``: an interval cell as wide
    as its wider line); a spanner wider than its columns widens the last of them, as LaTeX
    does."""
    widths = [0] * lay.n_columns
    indent = 2 if lay.has_panels else 0
    for section in lay.sections:
        for row in section.rows:
            for position, cell in enumerate(row):
                parts = _stacked(cell) if stack else None
                chars = max(map(_chars, parts)) if parts else _chars(cell)
                widths[position] = max(widths[position], chars + (indent * (position == 0)))
    for row in lay.header[:-1]:
        for cell in row:
            spanned = range(cell.start, cell.start + cell.span)
            deficit = _chars(cell.text) - sum(widths[i] for i in spanned)
            if deficit > 0:
                widths[spanned[-1]] += deficit
    return widths


def _longest_words(lay: Layout) -> list[int]:
    """The longest word of each column's body, header label included: the narrowest a wrapped
    column can be."""
    longest = [0] * lay.n_columns
    cells = [(cell.start, cell.text) for cell in lay.header[-1]]
    cells += [(i, cell) for section in lay.sections for row in section.rows
              for i, cell in enumerate(row)]  # fmt: skip
    for i, cell in cells:
        longest[i] = max([longest[i], *(_chars(word) for word in _words(cell))])
    return longest


def _break_lines(label: str, chars: int) -> list[str]:
    """``label`` broken at spaces into lines of at most ``chars`` (a longer word stays whole)."""
    lines: list[str] = []
    for word in label.split():
        if lines and _chars(lines[-1]) + 1 + _chars(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _stacked(cell: str) -> tuple[str, str] | None:
    """An "estimate [lower, upper]" cell as its two parts, else ``None``."""
    match = _INTERVAL_CELL.match(cell)
    return (match.group(1), match.group(2)) if match else None


def latex_plan(lay: Layout, notes: Sequence[str] = ()) -> LatexPlan:
    """Portrait when the table fits the text block, wrapping its long text columns if need be;
    else (and always for more than six columns) a landscape page, wrapping there if need be;
    one still too wide takes smaller type, then sets intervals under their estimates.

    A table too wide for a portrait page first breaks each column label longer than its
    column's cells into lines as wide as those cells (or its longest word). Then the widest text
    columns wrap, until the rest leaves each wrapped column room for its longest cell in about
    five lines; each gets a share of the free width in proportion to its longest cell.

    A table whose estimated height (:func:`_height_pt`), with the ``notes`` (flags and note)
    set under it, nears its page's is ``long``: a ``longtable``, its wrapped columns ``p``
    columns of those shares less a margin for error.
    """
    longest_words = _longest_words(lay)
    labels = [cell.text for cell in lay.header[-1]]

    def attempt(
        available: float, font: str, stack: bool
    ) -> tuple[bool, list[int], list[int | None], list[int]]:
        char_pt = _CHAR_PT[font]
        body = _body_chars(lay, stack=stack)
        widths = [max(width, _chars(label)) for width, label in zip(body, labels, strict=True)]
        header_chars: list[int | None] = [None] * lay.n_columns
        if sum(widths) * char_pt + lay.n_columns * _COLUMN_SEP_PT > _TEXT_WIDTH_PT:
            for i, label in enumerate(labels):
                chars = max([body[i], *(_chars(word) for word in label.split())])
                if chars < _chars(label):
                    header_chars[i] = chars
                    lines = _break_lines(label, chars)
                    widths[i] = max([body[i], *(_chars(line) for line in lines)])

        def free_width(wrapped: list[int]) -> float:
            kept = [width for j, width in enumerate(widths) if j not in wrapped]
            return available - sum(kept) * char_pt - lay.n_columns * _COLUMN_SEP_PT

        def fits(wrapped: list[int]) -> bool:
            return free_width(wrapped) >= char_pt * sum(
                max(_WRAP_MIN_FRACTION * widths[j], longest_words[j]) for j in wrapped
            )

        candidates = sorted(
            (i for i, a in enumerate(lay.align) if a == "l" and widths[i] >= _MIN_WRAP_CHARS),
            key=lambda i: (-widths[i], i),
        )
        wrapped: list[int] = []
        for i in candidates:
            if fits(wrapped):
                break
            wrapped.append(i)
        return fits(wrapped), wrapped, header_chars, widths

    font, stack, available = _FONT_SIZES[0], False, _TEXT_WIDTH_PT
    fitted, wrapped, header_chars, widths = attempt(available, font, stack)
    landscape = lay.n_columns > _MAX_PORTRAIT_COLUMNS or not fitted
    if landscape:
        available = _TEXT_HEIGHT_PT
        # Smaller type, then intervals under their estimates, only when a landscape page is
        # not wide enough without.
        for stack in (False, True):
            for font in _FONT_SIZES:
                fitted, wrapped, header_chars, widths = attempt(available, font, stack)
                if fitted:
                    break
            if fitted:
                break
    char_pt = _CHAR_PT[font]
    kept = [width for j, width in enumerate(widths) if j not in wrapped]
    free = available - sum(kept) * char_pt - lay.n_columns * _COLUMN_SEP_PT
    specs = list(lay.align)
    wrapped_pt: dict[int, float] = {}
    if wrapped:
        # Each wrapped column gets its longest word, then a share of what is left in
        # proportion to its longest cell; tabularx takes the shares as \hsize factors summing
        # to the number of X columns.
        free = max(free, 1.0)
        floors = {i: longest_words[i] * char_pt for i in wrapped}
        left = max(free - sum(floors.values()), 0.0)
        total = sum(widths[i] for i in wrapped)
        for i in wrapped:
            width = floors[i] + left * widths[i] / total
            share = len(wrapped) * width / (sum(floors.values()) + left)
            specs[i] = rf">{{\raggedright\arraybackslash\hsize={share:.3f}\hsize}}X"
            wrapped_pt[i] = width
    page_height = _TEXT_WIDTH_PT if landscape else _TEXT_HEIGHT_PT
    height = _height_pt(lay, font, stack, wrapped_pt, header_chars)
    # The notes, a paragraph each in \footnotesize across the line.
    note_lines = sum(
        math.ceil(_chars(note) * _CHAR_PT[r"\footnotesize"] / available) for note in notes
    )
    height += note_lines * _LINE_PT[r"\footnotesize"]
    long = height > _FLOAT_PAGE_FRACTION * page_height
    if long and wrapped_pt:
        # Fixed widths cannot give way as tabularx's do, and the other columns' widths are
        # averages: capitals and CJK punctuation run wider. The wrapped columns leave them some
        # of the line. \linewidth is the page's width, turned or not.
        slack = min(_LONGTABLE_SLACK * available / sum(wrapped_pt.values()), 0.5)
        for i, width in wrapped_pt.items():
            fraction = width * (1 - slack) / available
            specs[i] = rf">{{\raggedright\arraybackslash}}p{{{fraction:.3f}\linewidth}}"
    return LatexPlan(
        landscape=landscape,
        column_specs=tuple(specs),
        header_chars=tuple(header_chars),
        font=font,
        stack_intervals=stack,
        long=long,
    )


def _height_pt(
    lay: Layout,
    font: str,
    stack: bool,
    wrapped_pt: Mapping[int, float],
    header_chars: list[int | None],
) -> float:
    """An upper estimate of the table's height: lines of its header, rows (a wrapped cell as
    many lines as its text fills at the widest character width) and panel headings, plus the
    caption and rules."""
    char_pt = _CHAR_PT[font]

    def lines(position: int, cell: str) -> int:
        if position in wrapped_pt:
            return max(1, math.ceil(_chars(cell) * char_pt / wrapped_pt[position]))
        return 2 if stack and _stacked(cell) else 1

    header = (
        len(lay.header)
        - 1
        + max(
            len(_break_lines(cell.text, chars)) if chars else 1
            for cell, chars in zip(lay.header[-1], header_chars, strict=True)
        )
    )
    body = sum(
        max((lines(i, cell) for i, cell in enumerate(row)), default=1)
        for section in lay.sections
        for row in section.rows
    )
    panels = sum(section.panel is not None for section in lay.sections)
    return (header + body + 1.5 * panels) * _LINE_PT[font] + _FURNITURE_LINES * _LINE_PT[r"\small"]


def render_latex(table: Table) -> str:
    """LaTeX ``table`` with booktabs rules, caption, label and the flags and note below.

    The caption drops the title's own "Table 2." / "表2" so that LaTeX numbers the table (and
    ``\\ref{tab:<name>}`` works). A table with more than six columns, or wider than a portrait
    page, is set on a landscape page; one still too wide wraps its long text columns
    (:func:`latex_plan`). A table taller than its page is a ``longtable`` instead of a float: it
    breaks across pages, with the column header repeated at the top of each. Everything but
    Chinese text compiles with pdfLaTeX: Greek letters and symbols are set in math mode. The
    first lines are comments naming the preamble it needs (:data:`LATEX_PREAMBLE`) and, when a
    cell, label, title or note holds Chinese (Table 0 quotes the paper's terms in English too),
    that it compiles with XeLaTeX and xeCJK.
    """
    lay = layout(table)
    plan = latex_plan(lay, notes=(*table.flags, table.note))
    lines = ["% Generated by grassroots. Preamble: " + LATEX_PREAMBLE.replace("\n", " ").strip()]
    if _has_cjk(table):
        lines.append(
            "% Chinese text: compile with XeLaTeX and \\usepackage{xeCJK} (or a ctex class)."
        )
    label = re.sub(r"[^A-Za-z0-9:_-]", "-", table.name)
    columns = "".join(plan.column_specs)
    caption = [
        rf"\caption{{{_tex(_TITLE_NUMBER.sub('', table.title))}}}",
        rf"\label{{tab:{label}}}",
    ]
    header = [r"\toprule", *_tex_header(lay, plan), r"\midrule"]
    if plan.landscape:
        lines.append(r"\begin{landscape}")
    if plan.long:
        # A group keeps the type size to the table; longtable's own \caption ends with "\\".
        lines += [r"\begingroup", plan.font, rf"\begin{{longtable}}{{{columns}}}"]
        # Pages after the first repeat the header under "Table n (continued)" (\caption[]: not
        # listed again in the list of tables) and end with a pointer to the next page.
        title = _tex(_TITLE_NUMBER.sub("", table.title))
        continued = rf"\caption[]{{{title} {_tex(text('continued', table.lang))}}} \\"
        overleaf = _tex(text("continued_overleaf", table.lang))
        lines += [caption[0] + caption[1] + r" \\", *header, r"\endfirsthead"]
        lines += [continued, *header, r"\endhead"]
        lines += [
            r"\bottomrule",
            rf"\multicolumn{{{lay.n_columns}}}{{r}}{{\footnotesize {overleaf}}}",
        ]
        lines += [r"\endfoot", r"\bottomrule", r"\endlastfoot"]
        tabular_end = r"\end{longtable}"
    else:
        tabular_begin, tabular_end = (
            (rf"\begin{{tabularx}}{{\linewidth}}{{{columns}}}", r"\end{tabularx}")
            if plan.wraps
            else (rf"\begin{{tabular}}{{{columns}}}", r"\end{tabular}")
        )
        lines += [r"\begin{table}[htbp]", r"\centering", plan.font, *caption, tabular_begin]
        lines += header
    for index, section in enumerate(lay.sections):
        indent = ""
        if section.panel is not None:
            if index:
                lines.append(r"\addlinespace")
            heading = rf"\multicolumn{{{lay.n_columns}}}{{l}}{{\textit{{{_tex(section.panel)}}}}}"
            lines.append(heading + r" \\")
            indent = r"\quad "
        for row in section.rows:
            cells = [
                _tex_cell(cell, align, plan) for cell, align in zip(row, lay.align, strict=True)
            ]
            if cells and cells[0]:
                cells[0] = indent + cells[0]
            lines.append(_tex_row(cells))
    if not plan.long:
        lines.append(r"\bottomrule")
    lines.append(tabular_end)
    if table.flags or table.note:
        # Below the rules, as wide as the text block, in note type: what threeparttable's
        # tablenotes do, without needing texlive-latex-extra.
        # \noindent: after a longtable the note starts a paragraph of the text, indented.
        lines += [r"\par\smallskip", r"\noindent\begin{minipage}{\linewidth}"]
        lines.append(r"\footnotesize\raggedright")
        lines += [rf"\textbf{{{_tex(flag)}}}\par" for flag in table.flags]
        if table.note:
            lead, sep = note_lead_in(table)
            lines.append(rf"\textit{{{_tex(lead)}}}{sep}{_tex(table.note)}\par")
        lines.append(r"\end{minipage}")
    lines.append(r"\endgroup" if plan.long else r"\end{table}")
    if plan.landscape:
        lines.append(r"\end{landscape}")
    return "\n".join(lines) + "\n"
