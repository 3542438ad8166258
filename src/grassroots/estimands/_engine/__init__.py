"""The g-computation engine shared by contrasts, mediation, heterogeneity and the truth.

A *model* (a posterior fit, or the simulator's true parameters) predicts, for every draw and
every row of a covariate table, each outcome's quantities (S(t); P(Y >= k) and E[Y]; P(Y = 1))
with the outcome's *mediator parents* set to given 0/1 values. The engine turns these into
averages over rows (overall or within groups) under a *regime*: which covariate table
(status quo or a scenario) each outcome model and each mediator model sees.

Mediators are the binary outcomes of the same model that other outcomes use as predictors
(extensive, expedient, short_sighted in the structural spec). Given covariates and group
effects they are conditionally independent except through their own arrows (short_sighted
depends on the two strategies), so for an outcome ``Y`` with mediator ancestors ``A`` (in causal
order) and mediator parents ``pa(Y)``::

    E[Y | regime] = sum_{m in {0,1}^A} prod_{j in A} P(M_j = m_j | x_{r(j)}, m_pa(j)) *
                    E[Y | x_{r(Y)}, m_pa(Y)]

exactly: no Monte-Carlo draw of a mediator. ``r(j)`` is the table the regime gives mediator
``j``'s model, ``r(Y)`` the table of the outcome's own model. Everything is vectorised over
draws and rows; draws are processed in chunks of whole draws (all chains) so that memory stays
bounded by ``EstimandSettings.max_cells`` (draws x rows per chunk), on
``EstimandSettings.workers`` threads, chunk results joined in draw order. A fit loaded lazily
(a national-size bundle) is read chunk by chunk.

Modules: :mod:`.model` (what a model tells the engine), :mod:`.fit_model` (a posterior fit as
a model), :mod:`.kernels` (its compiled kernels), :mod:`.evaluation` (regimes, groupings and
the evaluation loop).
"""

from __future__ import annotations

from grassroots.estimands._engine.evaluation import (
    Grouping,
    Plan,
    Regime,
    Request,
    concatenate,
    evaluate,
    evaluate_plans,
    regime,
    summarise,
)
from grassroots.estimands._engine.fit_model import FitModel
from grassroots.estimands._engine.model import (
    GROUP_EFFECTS,
    MEDIATOR_MODES,
    STATUS_QUO,
    Chunk,
    Model,
    OutcomeInfo,
    check_choice,
    mediator_graph,
    quantity_labels,
)
from grassroots.estimands.errors import EstimandError

__all__ = [
    "GROUP_EFFECTS",
    "MEDIATOR_MODES",
    "STATUS_QUO",
    "Chunk",
    "EstimandError",
    "FitModel",
    "Grouping",
    "Model",
    "OutcomeInfo",
    "Plan",
    "Regime",
    "Request",
    "check_choice",
    "concatenate",
    "evaluate",
    "evaluate_plans",
    "mediator_graph",
    "quantity_labels",
    "regime",
    "summarise",
]
