"""One import for the paper's tables and figures built from fits and estimand summaries.

==========================  ====================================================================
builder                     input
==========================  ====================================================================
:func:`table0_theory`       ``{"structural": fit}`` and the contrasts (``models/theory.toml``,
                            :mod:`.crosswalk`)
:func:`table1`              a study (descriptives, :mod:`.descriptives`)
:func:`table2_survival`     ``{"M0": fit, ..., "M4": fit}`` of the survival specs
:func:`table3_demand_fit`   the same for demand fit
:func:`table4_strategies`   ``{"extensive": fit, "expedient": fit, "short_sighted": fit}``
:func:`table5_contrasts`    contrast summaries (:mod:`.estimand_tables` lists the columns)
:func:`table5a_assumptions` the assumptions of each contrast and their positivity evidence
                            (:mod:`grassroots.estimands.identification`)
:func:`table5b_sensitivity` E-values of each contrast (:mod:`grassroots.estimands.sensitivity`)
:func:`table6_mediation`    mediation summaries
:func:`table7_heterogeneity`  subgroup contrast summaries
:func:`table8_targeting`    the ranked townships (``targeting(...).table``)
:func:`table9_structural`   the structural fit (:mod:`.structural_tables`)
:func:`table10_loo_comparison`  ``{"survival": {"M0": fit, ...}, "demand_fit": {...}}``
:func:`appendix_a_diagnostics`  every fit
:func:`appendix_b_priors`   every fit (or spec)
:func:`appendix_b_sensitivity`  key estimates under prior scales ×0.5, ×1, ×2
                            (:func:`sensitivity_estimates` of refits with :func:`scale_priors`)
:func:`appendix_b_sensitivity_structural`  the structural model under prior scales
                            (:func:`structural_sensitivity_estimates` of its refits)
:func:`appendix_c_frequentist`  fits and their data (ML refits without group effects)
==========================  ====================================================================

Figures: :func:`coefficient_forest`, :func:`caterpillar_plot`, :func:`km_posterior_plot`,
:func:`ordinal_ppc_plot`, :func:`prior_predictive_plot`, :func:`dag_plot` (the causal graph of
:func:`grassroots.models.dag.spec_dag`), :func:`sensitivity_plot` (Table 5b's E-values) (and
:func:`~grassroots.reporting.figures.contrast_density_plot` for the contrasts); write them with
:func:`save_figure`. Every builder takes ``lang="en"|"zh"``.

>>> from grassroots.reporting.paper import table2_survival        # doctest: +SKIP
>>> table2_survival(fits, "zh").write("reports/tables/zh")         # doctest: +SKIP
"""

from __future__ import annotations

from grassroots.reporting.appendix import (
    appendix_a_diagnostics,
    appendix_b_priors,
    appendix_b_sensitivity,
    scale_priors,
    sensitivity_estimates,
)
from grassroots.reporting.crosswalk import load_crosswalk, table0_theory
from grassroots.reporting.descriptives import table1
from grassroots.reporting.estimand_tables import (
    table5_contrasts,
    table6_mediation,
    table7_heterogeneity,
    table8_targeting,
)
from grassroots.reporting.figures import contrast_density_plot, save_figure
from grassroots.reporting.frequentist import appendix_c_frequentist, frequentist_estimates
from grassroots.reporting.identification_figures import dag_plot, sensitivity_plot
from grassroots.reporting.identification_tables import table5a_assumptions, table5b_sensitivity
from grassroots.reporting.model_tables import (
    coefficient_estimates,
    loo_summary,
    table2_survival,
    table3_demand_fit,
    table4_strategies,
    variance_components,
)
from grassroots.reporting.paper_figures import (
    caterpillar_plot,
    coefficient_forest,
    km_posterior_plot,
    ordinal_ppc_frame,
    ordinal_ppc_plot,
    prior_predictive_plot,
)
from grassroots.reporting.structural_tables import (
    appendix_b_sensitivity_structural,
    loo_comparison,
    structural_sensitivity_estimates,
    table9_structural,
    table10_loo_comparison,
)

__all__ = [
    "appendix_a_diagnostics",
    "appendix_b_priors",
    "appendix_b_sensitivity",
    "appendix_b_sensitivity_structural",
    "appendix_c_frequentist",
    "caterpillar_plot",
    "coefficient_estimates",
    "coefficient_forest",
    "contrast_density_plot",
    "dag_plot",
    "frequentist_estimates",
    "km_posterior_plot",
    "load_crosswalk",
    "loo_comparison",
    "loo_summary",
    "ordinal_ppc_frame",
    "ordinal_ppc_plot",
    "prior_predictive_plot",
    "save_figure",
    "scale_priors",
    "sensitivity_estimates",
    "sensitivity_plot",
    "structural_sensitivity_estimates",
    "table0_theory",
    "table1",
    "table2_survival",
    "table3_demand_fit",
    "table4_strategies",
    "table5_contrasts",
    "table5a_assumptions",
    "table5b_sensitivity",
    "table6_mediation",
    "table7_heterogeneity",
    "table8_targeting",
    "table9_structural",
    "table10_loo_comparison",
    "variance_components",
]
