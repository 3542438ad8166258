"""Centred or non-centred group effects, chosen per grouping level from the data.

A group effect ``u_j ~ Normal(0, tau)`` can be sampled as itself (*centred*) or as
``u_j = tau * z_j`` with ``z_j ~ Normal(0, 1)`` (*non-centred*). Which one mixes better depends on
how much the data say about each ``u_j`` compared with the prior. In the normal hierarchical
model with ``n`` observations of noise variance ``sigma^2`` per group, the centred Gibbs sampler
converges at rate ``1 / (1 + n tau^2 / sigma^2)`` and the non-centred one at rate
``n tau^2 / sigma^2 / (1 + n tau^2 / sigma^2)`` (Papaspiliopoulos, Roberts & Sköld 2007,
*Statistical Science* 22(1): 59-73, section 2): the centred form wins exactly when the data's
precision about a group effect, ``n / sigma^2``, exceeds the prior's, ``1 / tau^2``. Betancourt &
Girolami (2015, "Hamiltonian Monte Carlo for hierarchical models", in *Current Trends in Bayesian
Methodology with Applications*) show the same split for HMC: the centred form's funnel stalls
NUTS when groups are weakly informed, the non-centred form's when they are strongly informed.

For a likelihood other than the normal one, ``1 / sigma^2`` becomes the Fisher information about a
shift of the linear predictor per observation (:meth:`grassroots.models.base.Family.
information_per_observation`: ``p (1 - p)`` for a logit, the event share for proportional
hazards, the cumulative-logit information for an ordinal rating), at the outcome's observed
frequencies. The rule, per level and outcome::

    ratio = median over groups of (observed rows in the group) x information per row x tau^2
    centred when ratio > 1, non-centred otherwise

``tau`` is the spread of the groups' effects, estimated from the data by the method of moments
(as DerSimonian & Laird's between-study variance): each group's effect is estimated by its rows'
summed scores over its information, ``u_j = S_j / (n_j I)`` (:meth:`~grassroots.models.base.
Family.location_scores`, at the fit without predictors), with sampling variance ``1 / (n_j I)``;
``tau^2 = max(0, mean(u_j^2) - mean(1 / (n_j I)))``. Predictors are left out, so ``tau`` is the
groups' total spread, at least the residual spread the model's SD describes. A first version
used the median of the SD prior (0.674 for HalfNormal(1)) instead: on the bundled study it
centred the counties' demand-fit effects, whose spread is small (tau 0.26, ratio 0.96 against
6.7 with the prior's), and their SD's bulk ESS fell from 254 (non-centred) to 34
(``reports/benchmarks/README.md``). The median group stands for the level because one
parameterisation serves all its groups. The correlated level of a joint model has one
multivariate effect per group, so it is centred only when the rule says so for every outcome:
one weakly informed outcome puts its funnel into the whole block.

A spec chooses per level: ``groups = [{ column = "county_id", parameterization = "auto" },
...]`` applies the rule; ``centred`` or ``non_centred`` (the default) force the form. The default
stays non-centred because the rule did not win robustly on the structural model: see
``reports/benchmarks/README.md`` ("Centred or non-centred group effects").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from grassroots.models.design import GroupIndex
from grassroots.models.spec import ModelSpec

AUTO = "auto"
CENTRED = "centred"
NON_CENTRED = "non_centred"
#: ``ratio`` above which a level is centred: where the data's precision about a group effect
#: equals the prior's, the two parameterisations' convergence rates cross (see above).
CENTRED_ABOVE = 1.0


@dataclass(frozen=True)
class LevelParameterization:
    """How one level's effects of one outcome (``outcome=None``: the correlated level, all
    outcomes at once) are sampled, and why.

    Attributes
    ----------
    level : str
    outcome : str or None
    requested : {"auto", "centred", "non_centred"}
        What the spec asks for.
    chosen : {"centred", "non_centred"}
        What the model uses.
    ratio : float
        The rule's ratio (the smallest over outcomes for the correlated level).
    """

    level: str
    outcome: str | None
    requested: str
    chosen: str
    ratio: float

    @property
    def centred(self) -> bool:
        return self.chosen == CENTRED


def group_spread(codes: np.ndarray, n_groups: int, scores: np.ndarray, information: float) -> float:
    """Method-of-moments SD of the group effects (see the module): ``sqrt(max(0, mean(u_j^2) -
    mean(1 / (n_j I))))`` over the groups with rows, ``u_j = S_j / (n_j I)``."""
    if information <= 0:
        return 0.0
    sizes = np.bincount(codes, minlength=n_groups)
    sums = np.bincount(codes, weights=scores, minlength=n_groups)
    seen = sizes > 0
    precision = sizes[seen] * information
    estimates = sums[seen] / precision
    return math.sqrt(max(0.0, float(np.mean(estimates**2) - np.mean(1.0 / precision))))


def information_ratio(group_sizes: np.ndarray, information: float, sd: float) -> float:
    """``median(group_sizes) * information * sd**2``, the rule's ratio (see the module)."""
    return float(np.median(group_sizes)) * information * sd**2


def choose_parameterizations(
    spec: ModelSpec,
    groups: GroupIndex,
    observed: Mapping[str, np.ndarray],
    information: Mapping[str, float],
    scores: Mapping[str, np.ndarray],
) -> dict[tuple[str, str | None], LevelParameterization]:
    """The parameterisation of every level (and outcome, for independent levels).

    Parameters
    ----------
    spec : ModelSpec
    groups : GroupIndex
        The groups of every row.
    observed : Mapping[str, ndarray of bool]
        Per outcome, the rows whose outcome is observed.
    information : Mapping[str, float]
        Per outcome, the Fisher information per observed row
        (:meth:`~grassroots.models.base.Family.information_per_observation`).
    scores : Mapping[str, ndarray]
        Per outcome, each observed row's score (:meth:`~grassroots.models.base.Family.
        location_scores`).

    Returns
    -------
    dict
        ``(level, outcome)`` -> choice for independent levels, ``(level, None)`` for the
        correlated one.
    """
    choices: dict[tuple[str, str | None], LevelParameterization] = {}
    for level, codes, labels in zip(spec.groups, groups.codes, groups.labels, strict=True):
        ratios = {}
        for outcome in spec.outcomes:
            rows = codes[observed[outcome.name]]
            sizes = np.bincount(rows, minlength=len(labels))
            sd = group_spread(rows, len(labels), scores[outcome.name], information[outcome.name])
            ratios[outcome.name] = information_ratio(
                sizes[sizes > 0], information[outcome.name], sd
            )
        if level.name == spec.correlated:
            ratio = min(ratios.values())
            choices[(level.name, None)] = _decide(level.name, None, level.parameterization, ratio)
            continue
        for outcome_name, ratio in ratios.items():
            choices[(level.name, outcome_name)] = _decide(
                level.name, outcome_name, level.parameterization, ratio
            )
    return choices


def _decide(level: str, outcome: str | None, requested: str, ratio: float) -> LevelParameterization:
    if requested == AUTO:
        chosen = CENTRED if math.isfinite(ratio) and ratio > CENTRED_ABOVE else NON_CENTRED
    else:
        chosen = requested
    return LevelParameterization(level, outcome, requested, chosen, ratio)
