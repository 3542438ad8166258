"""Paper-style output: tables and figures, in English or Chinese.

Tables are data first, formatting second: a :class:`~grassroots.reporting.tables.Table` holds a
DataFrame of display-ready cells (multi-level column headers, row panels), its title, note,
convergence flags and the unformatted numbers behind it; one renderer per format
(:mod:`~grassroots.reporting.renderers`: Markdown, LaTeX, HTML, Word, CSV) turns it into a file.

=====================  ========================================================================
``tables``             :class:`Table` and builders of model tables (estimates by model, panels,
                       spanners)
``layout``             a table's structure read once for every renderer: header rows with
                       their spanners, body sections under panels, column alignment
``renderers``          one function per output format (Markdown, HTML, CSV here); deterministic
                       bytes
``latex``              the LaTeX renderer: page geometry, wrapped and landscape tables,
                       longtables for tables taller than a page
``word``               the Word renderer (python-docx), three-line tables on A4
``html_report``        the whole analysis as one self-contained HTML file: every table, the
                       figures embedded, a contents list, the convergence of every fit
``labels``             model terms and table furniture in en/zh, from the codebook
``convergence``        the "not converged" flag of a note and the diagnostics rows of a table
``figures``            CJK-capable style, deterministic PNG/PDF saving, forest and contrast plots
``descriptives``       Table 1
``model_tables``       Tables 2-4 from fits: HR/OR per SD, variance components and shares, LOO,
                       N per level, diagnostics, notes with the priors
``estimand_tables``    Tables 5-8b from contrast, mediation, subgroup and targeting summaries
``estimand_labels``    their row labels (quantities, subgroups, scenarios), checks, shared notes
``appendix``           appendix A (diagnostics), B (priors, prior sensitivity, scaled specs)
``frequentist``        appendix C: lifelines/statsmodels ML fits beside the Bayesian ones
``paper_figures``      forest plot across models, caterpillar, Kaplan-Meier vs posterior
                       predictive survival, ordinal posterior predictive check
``paper``              one import for every builder above
=====================  ========================================================================
"""
