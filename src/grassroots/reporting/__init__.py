"""Paper-style output: tables and figures, in English or Chinese.

Tables are data first, formatting second: a :class:`~grassroots.reporting.tables.Table` holds a
DataFrame of display-ready cells (multi-level column headers, row panels), its title, note,
convergence flags and the unformatted numbers behind it; one renderer per format
(:mod:`~grassroots.reporting.renderers`: Markdown, LaTeX, HTML, Word, CSV) turns it into a file.

=====================  ========================================================================
``tables``             :class:`Table`, its layout, builders of model tables (estimates by model,
                       panels, spanners)
``renderers``          one function per output format; deterministic bytes
``labels``             model terms and table furniture in en/zh, from the codebook
``convergence``        the "not converged" flag of a note and the diagnostics rows of a table
``figures``            CJK-capable style, deterministic PNG/PDF saving, forest and contrast plots
``descriptives``       Table 1
=====================  ========================================================================
"""
