"""How estimands are computed and summarised: one set of options for every estimand function.

:func:`~grassroots.estimands.contrasts.contrasts`, :func:`~grassroots.estimands.heterogeneity.
targeting`, :func:`~grassroots.estimands.mediation.mediation`, the truth functions and their
``run_*`` engines all take ``settings: EstimandSettings | None`` (``None``: the defaults below).
What an estimand *is* (scenarios, outcomes, group effects, mediators) stays a keyword of each
function; how it is computed and summarised lives here.

Examples
--------
>>> from grassroots.estimands import EstimandSettings
>>> EstimandSettings(prob=0.9, times=(24,)).times
(24.0,)
>>> EstimandSettings(seed=7).prob
0.95
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from grassroots.estimands.errors import EstimandError
from grassroots.inference.intervals import DEFAULT_PROB

__all__ = [
    "DEFAULT_MAX_CELLS",
    "DEFAULT_PROB",
    "DEFAULT_THRESHOLD",
    "DEFAULT_TIMES",
    "DEFAULT_TRUTH_DRAWS",
    "DEFAULT_WORKERS",
    "EstimandSettings",
]

#: Times (months) at which survival outcomes give S(t).
DEFAULT_TIMES: tuple[float, ...] = (12.0, 24.0, 36.0)
#: P(rating >= threshold) for ordinal outcomes ("fit >= 4").
DEFAULT_THRESHOLD = 4
#: Draws x rows per chunk: with n rows and c chains a chunk holds max_cells / (n c) draws per
#: chain. A chunk of the structural model keeps a few dozen (draws, rows) arrays (mediator
#: probabilities and their weights under every regime): about 250 MB at 250,000 cells.
DEFAULT_MAX_CELLS = 250_000
#: Threads evaluating chunks of draws at once: the usable cores, at most 2 (each chunk in flight
#: holds its working set: ~0.4 GB at national size, whose budget is 4 GiB in all).
DEFAULT_WORKERS = min(
    2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
#: Monte-Carlo draws of new group effects for the simulator's true contrasts.
DEFAULT_TRUTH_DRAWS = 200


@dataclass(frozen=True)
class EstimandSettings:
    """Options shared by every estimand computation, validated when made.

    Attributes
    ----------
    prob : float
        Mass of the equal-tailed intervals, in (0, 1).
    times : sequence of float
        Months of the survival probabilities S(t); positive and distinct, stored as a tuple of
        floats.
    threshold : int or float
        ``P(rating >= threshold)`` for ordinal outcomes (checked against each fit's levels).
    seed : int, optional
        Seed of new group effects (``group_effects="new"``); ``None``: each fit's own seed, and
        0 for the simulator's truth. The same seed gives the same numbers.
    thin : int
        Keep every ``thin``-th posterior draw.
    truth_draws : int
        Monte-Carlo draws of new group effects in the simulator's true contrasts.
    max_cells : int
        Draws x rows per chunk of the engine (bounds memory).
    workers : int
        Threads evaluating chunks of draws at once (the engine's ``ThreadPoolExecutor``);
        results do not depend on it.
    """

    prob: float = DEFAULT_PROB
    times: tuple[float, ...] = DEFAULT_TIMES
    threshold: int | float = DEFAULT_THRESHOLD
    seed: int | None = None
    thin: int = 1
    truth_draws: int = DEFAULT_TRUTH_DRAWS
    max_cells: int = DEFAULT_MAX_CELLS
    workers: int = DEFAULT_WORKERS

    def __post_init__(self) -> None:
        if not _is_real(self.prob) or not 0 < self.prob < 1:
            raise EstimandError(
                "EstimandSettings.prob must lie strictly between 0 and 1 (the interval's mass, "
                f"e.g. 0.95), not {self.prob!r}"
            )
        object.__setattr__(self, "times", _times(self.times))
        if not _is_real(self.threshold) or not math.isfinite(self.threshold):
            raise EstimandError(
                "EstimandSettings.threshold must be a finite number (a rating level, e.g. 4), "
                f"not {self.threshold!r}"
            )
        if self.seed is not None and not (_is_integer(self.seed) and self.seed >= 0):
            raise EstimandError(
                f"EstimandSettings.seed must be a non-negative integer or None, not {self.seed!r}"
            )
        for name in ("thin", "truth_draws", "max_cells", "workers"):
            value = getattr(self, name)
            if not _is_integer(value) or value < 1:
                raise EstimandError(
                    f"EstimandSettings.{name} must be a positive integer, not {value!r}"
                )


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _times(times: Sequence[float]) -> tuple[float, ...]:
    items = () if isinstance(times, str | bytes) else tuple(_iterate(times))
    if not items:
        raise EstimandError(
            f"EstimandSettings.times must be a non-empty sequence of months, not {times!r}"
        )
    if not all(_is_real(t) and math.isfinite(t) and t > 0 for t in items):
        raise EstimandError(
            f"EstimandSettings.times must be positive, finite months, not {list(items)!r}"
        )
    result = tuple(float(t) for t in items)
    if len(set(result)) != len(result):
        raise EstimandError(f"EstimandSettings.times has a month twice: {list(items)!r}")
    return result


def _iterate(values: object) -> Iterable[object]:
    try:
        return iter(values)  # type: ignore[call-overload]
    except TypeError:
        return ()
