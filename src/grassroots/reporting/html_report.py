"""The whole analysis as one HTML file: every table and figure, a contents list and the
convergence of every fit, readable offline and mailable as a single attachment.

Figures are embedded as base64 ``data:`` URIs of their PNG files, tables as the same ``<table>``
as the ``.html`` table files (:func:`~grassroots.reporting.renderers.html_table`). Nothing in the
page depends on the time or the machine, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from grassroots.reporting.renderers import html_language, html_table
from grassroots.reporting.tables import Table

__all__ = ["convergence_table", "render_report"]

_STYLE = """body{font-family:"Times New Roman",SimSun,serif;max-width:60em;margin:2em auto;
padding:0 1em;line-height:1.4}
table.grassroots-table{margin:1em 0;font-size:90%}
table.grassroots-table td,table.grassroots-table th{padding:0.15em 0.6em}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto}
section{margin-bottom:2.5em}"""


def _anchor(name: str) -> str:
    """The id html_table gives a table of this name."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def convergence_table(fits: Mapping[str, Mapping[str, object]]) -> Table:
    """One row per fit: converged or not, worst R-hat, smallest bulk ESS, divergences.

    ``fits`` maps a fit's name to ``converged``, ``max_rhat``, ``min_ess_bulk`` and
    ``divergences``, as ``reports/reproduce.json`` records them.
    """
    required = ("converged", "max_rhat", "min_ess_bulk", "divergences")
    for name, info in fits.items():
        if missing := [key for key in required if key not in info]:
            raise ValueError(f"fit {name!r}: convergence record lacks {missing}")
    frame = pd.DataFrame(
        [
            [
                name,
                "yes" if info["converged"] else "no",
                f"{float(info['max_rhat']):.3f}",  # type: ignore[arg-type]
                f"{float(info['min_ess_bulk']):,.0f}",  # type: ignore[arg-type]
                f"{int(info['divergences']):d}",  # type: ignore[call-overload]
            ]
            for name, info in fits.items()
        ],
        columns=["Fit", "Converged", "Max R-hat", "Min bulk ESS", "Divergences"],
    )
    return Table(
        "convergence",
        "Convergence of every fit",
        frame,
        note="Converged: rank-normalised split R-hat ≤ 1.01, bulk and tail ESS ≥ 400 and no "
        "divergent transitions over every parameter element (Appendix Table A gives the rest).",
    )


def render_report(
    *,
    title: str,
    tables: Sequence[Table],
    figures: Sequence[Path],
    convergence: Table,
    lang: str = "en",
    preface: str = "",
) -> str:
    """The page: title, optional preface, contents, convergence, the tables, the figures.

    ``figures`` are PNG files, shown in the order given with their file stem as anchor and
    alternative text.
    """
    for path in figures:
        if path.suffix.lower() != ".png":
            raise ValueError(f"{path}: the report embeds PNG figures only; pass the .png file")
    entries = [(_anchor(convergence.name), convergence.title)]
    entries += [(_anchor(table.name), table.title) for table in tables]
    entries += [(_anchor(path.stem), path.stem) for path in figures]
    lines = [
        "<!DOCTYPE html>",
        f'<html lang="{html_language(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if preface:
        lines.append(f"<p>{html.escape(preface)}</p>")
    lines.append('<nav aria-label="Contents"><h2>Contents</h2><ol>')
    lines += [f'<li><a href="#{anchor}">{html.escape(text)}</a></li>' for anchor, text in entries]
    lines.append("</ol></nav>")
    # A table carries its name as id (html_table), which the contents link to.
    lines += [html_table(table).rstrip("\n") for table in (convergence, *tables)]
    for path in figures:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        anchor = _anchor(path.stem)
        lines += [
            f'<section id="{anchor}"><figure>',
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">',
            f"<figcaption>{html.escape(path.stem)}</figcaption>",
            "</figure></section>",
        ]
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)
