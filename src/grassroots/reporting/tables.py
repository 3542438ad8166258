"""Tables are data first, formatting second.

A :class:`Table` holds a DataFrame of display-ready cells (its column index may have two or more
levels, for spanners such as "HR [95% CrI]" over M0...M4; an index level may name the row panels,
such as "Weaknesses" or "Fit and diagnostics"), its title, its note, convergence flags, and the
unformatted numbers behind the cells. :func:`layout` reads that structure once, and one renderer
per format (:mod:`grassroots.reporting.renderers`) turns the layout into Markdown, LaTeX, HTML,
Word or CSV.

Helpers build the display frames of the paper's model tables: :func:`format_estimate` for
"0.82 [0.71, 0.95]" cells, :func:`estimates_by_model` for one column per model,
:func:`stack_panels` for row panels and :func:`with_spanner` for a header above the model
columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from grassroots._io import write_bytes_atomic, write_text_atomic
from grassroots.data.schema import Lang
from grassroots.reporting.labels import term_label, text
from grassroots.reporting.layout import HeaderCell, Layout, Section, cell_text, layout
from grassroots.reporting.renderers import RENDERERS, render_markdown

__all__ = [
    "FORMATS",
    "PANEL",
    "HeaderCell",
    "Layout",
    "Section",
    "Table",
    "estimates_by_model",
    "format_estimate",
    "layout",
    "render_markdown",
    "stack_panels",
    "with_spanner",
]

FORMATS: tuple[str, ...] = ("md", "tex", "html", "docx", "csv")
PANEL = "panel"


@dataclass(frozen=True, eq=False)
class Table:
    """A paper-style table.

    Parameters
    ----------
    name
        File stem, e.g. ``"table1_descriptives"``.
    title
        Caption printed above the table, numbered as the paper numbers it ("Table 2. ...").
    frame
        The cells as they should appear (strings or numbers). Column labels may be tuples (a
        ``MultiIndex``): each level but the last becomes a spanner row of the header. The index
        is not rendered, except the level named by ``panel``.
    note
        Text printed under the table (data source, N, model, priors, diagnostics).
    data
        The unformatted numbers behind the cells, written to CSV so that readers can recompute.
    panel
        Name of an index level of ``frame`` holding each row's panel (section); consecutive rows
        of one panel are printed under its heading. ``None``: no panels.
    flags
        Warnings printed above the note and emphasised in every format, e.g. the
        :func:`~grassroots.reporting.convergence.convergence_note` of the fits behind the table.
        Empty strings are dropped, so a passing check can be passed as is.
    lang
        Language of the furniture the renderers add ("Note." or "注：").
    align
        One of ``l``, ``r``, ``c`` per rendered column; default: numbers right, text left.

    Examples
    --------
    >>> frame = pd.DataFrame({"Term": ["Authority"], "M1": ["0.82 [0.71, 0.95]"]})
    >>> print(Table("t2", "Table 2. Survival", frame, note="N = 10.").to_markdown())
    **Table 2. Survival**
    <BLANKLINE>
    | Term | M1 |
    |:---|---:|
    | Authority | 0.82 [0.71, 0.95] |
    <BLANKLINE>
    *Note.* N = 10.
    <BLANKLINE>
    """

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    data: pd.DataFrame | None = field(default=None, compare=False)
    panel: str | None = None
    flags: tuple[str, ...] = ()
    lang: Lang = "en"
    align: str | None = None

    def __post_init__(self) -> None:
        if self.panel is not None and self.panel not in (self.frame.index.names or []):
            raise ValueError(
                f"table {self.name!r}: panel={self.panel!r} is not an index level of the frame "
                f"(levels: {list(self.frame.index.names)}); build the frame with stack_panels() "
                "or frame.set_index(...)"
            )
        if self.align is not None:
            if len(self.align) != self.frame.shape[1] or set(self.align) - {"l", "r", "c"}:
                raise ValueError(
                    f"table {self.name!r}: align={self.align!r} needs one of 'l', 'r', 'c' per "
                    f"column ({self.frame.shape[1]} columns)"
                )
        if self.lang not in ("en", "zh"):
            raise ValueError(f"table {self.name!r}: lang must be 'en' or 'zh', not {self.lang!r}")
        # A tuple of flags keeps the dataclass hashable-minded and the order of warnings stable.
        object.__setattr__(self, "flags", tuple(flag for flag in self.flags if flag))

    def render(self, fmt: str) -> str | bytes:
        """The table in one format: text for ``md``, ``tex``, ``html``, ``csv``; bytes for
        ``docx``."""
        if fmt not in RENDERERS:
            raise ValueError(f"unknown table format {fmt!r}; choose from {list(RENDERERS)}")
        return RENDERERS[fmt](self)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown (:func:`~grassroots.reporting.renderers.render_markdown`)."""
        return render_markdown(self)

    def to_latex(self) -> str:
        """A booktabs ``table`` (:func:`~grassroots.reporting.latex.render_latex`)."""
        return str(self.render("tex"))

    def to_html(self) -> str:
        """A self-contained ``<table>`` (:func:`~grassroots.reporting.renderers.render_html`)."""
        return str(self.render("html"))

    def to_docx(self) -> bytes:
        """A Word document's bytes (:func:`~grassroots.reporting.word.render_docx`)."""
        result = self.render("docx")
        assert isinstance(result, bytes)
        return result

    def to_csv(self) -> str:
        """The unformatted numbers, else the cells
        (:func:`~grassroots.reporting.renderers.render_csv`)."""
        return str(self.render("csv"))

    def write(self, directory: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
        """Write the table in each format to ``directory/<name>.<fmt>`` (atomic per file).

        Every format is rendered before the first file is written, so an unknown format or a
        rendering error leaves the folder as it was.
        """
        rendered = [(fmt, self.render(fmt)) for fmt in formats]
        written = []
        for fmt, content in rendered:
            path = Path(directory) / f"{self.name}.{fmt}"
            if isinstance(content, bytes):
                write_bytes_atomic(path, content)
            else:
                write_text_atomic(path, content)
            written.append(path)
        return written

    def _repr_markdown_(self) -> str:
        """Jupyter shows a table as its Markdown rendering (title, flags and note included)."""
        return self.to_markdown()


# --- builders of display frames ----------------------------------------------------------------


def format_estimate(
    estimate: float, lower: float | None = None, upper: float | None = None, digits: int = 2
) -> str:
    """A point estimate with its interval, as the paper prints it.

    Examples
    --------
    >>> format_estimate(0.8234, 0.7101, 0.951)
    '0.82 [0.71, 0.95]'
    >>> format_estimate(float("nan"))
    ''
    """
    if estimate is None or pd.isna(estimate):
        return ""
    shown = f"{estimate:,.{digits}f}"
    if lower is None or upper is None or pd.isna(lower) or pd.isna(upper):
        return shown
    return f"{shown} [{lower:,.{digits}f}, {upper:,.{digits}f}]"


def estimates_by_model(
    estimates: pd.DataFrame,
    lang: Lang = "en",
    *,
    models: Sequence[str] | None = None,
    terms: Sequence[str] | None = None,
    digits: int = 2,
    label: Callable[[str, Lang], str] = term_label,
    label_column: str | None = None,
    missing: str = "—",
) -> pd.DataFrame:
    """One row per term, one column per model, cells "estimate [lower, upper]".

    Parameters
    ----------
    estimates
        Long frame with columns ``model, term, estimate, lower, upper`` (on the scale to print:
        exponentiate log-hazards before calling for HRs).
    lang
        Language of the term labels.
    models, terms
        Column and row order (default: order of first appearance); a term absent from a model
        gets ``missing``.
    label
        Term -> label (default :func:`~grassroots.reporting.labels.term_label`).
    label_column
        Header of the label column (default ``text("term", lang)``).

    Returns
    -------
    DataFrame
        Display strings; flat columns ``[label_column, *models]``, ready for
        :func:`stack_panels` and :func:`with_spanner`.
    """
    required = {"model", "term", "estimate", "lower", "upper"}
    if missing_columns := sorted(required - set(estimates.columns)):
        raise ValueError(f"estimates need columns {sorted(required)}; missing {missing_columns}")
    models = list(dict.fromkeys(estimates["model"].map(str))) if models is None else list(models)
    terms = list(dict.fromkeys(estimates["term"])) if terms is None else list(terms)
    label_column = label_column or text("term", lang)
    keyed = {
        (str(row.model), row.term): format_estimate(row.estimate, row.lower, row.upper, digits)
        for row in estimates.itertuples(index=False)
    }
    rows = [
        [label(term, lang), *(keyed.get((model, term), missing) for model in models)]
        for term in terms
    ]
    return pd.DataFrame(rows, columns=[label_column, *models])


def stack_panels(
    sections: Mapping[str, pd.DataFrame] | Sequence[tuple[str, pd.DataFrame]],
    name: str = PANEL,
) -> pd.DataFrame:
    """Stack display frames with the same columns under panel headings.

    Returns one frame whose index level ``name`` holds each row's panel; pass
    ``panel=name`` to :class:`Table`.

    Examples
    --------
    >>> a = pd.DataFrame({"Term": ["Authority"], "M1": ["0.82"]})
    >>> b = pd.DataFrame({"Term": ["SD, county"], "M1": ["0.31"]})
    >>> stack_panels({"Weaknesses": a, "Variance components": b}).index.tolist()
    ['Weaknesses', 'Variance components']
    """
    items = list(sections.items()) if isinstance(sections, Mapping) else list(sections)
    if not items:
        raise ValueError("stack_panels needs at least one (panel, frame) section")
    columns = items[0][1].columns
    for panel, frame in items:
        if not frame.columns.equals(columns):
            raise ValueError(
                f"panel {panel!r} has columns {list(frame.columns)}, the first panel has "
                f"{list(columns)}; give every panel the same columns"
            )
    parts = [
        frame.set_axis(pd.Index([panel] * len(frame), name=name), axis=0) for panel, frame in items
    ]
    return pd.concat(parts)


def with_spanner(frame: pd.DataFrame, spanner: str, first: int = 1) -> pd.DataFrame:
    """Put ``spanner`` over every column after the first ``first`` (two-level column index).

    Examples
    --------
    >>> frame = pd.DataFrame(columns=["Term", "M0", "M1"])
    >>> list(with_spanner(frame, "HR [95% CrI]").columns)
    [('', 'Term'), ('HR [95% CrI]', 'M0'), ('HR [95% CrI]', 'M1')]
    """
    columns = [
        ("" if i < first else spanner, cell_text(column)) for i, column in enumerate(frame.columns)
    ]
    return frame.set_axis(pd.MultiIndex.from_tuples(columns), axis=1)
