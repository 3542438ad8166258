"""What a model tells the engine: its outcomes, mediators and chunks of draws."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from grassroots.estimands.errors import EstimandError
from grassroots.models.design import Scaling

GROUP_EFFECTS = ("fitted", "new", "none")
MEDIATOR_MODES = ("modelled", "observed")
STATUS_QUO = "status_quo"


@dataclass(frozen=True)
class OutcomeInfo:
    """One outcome as the engine sees it.

    Attributes
    ----------
    name : str
    family : {"survival", "ordinal", "logistic"}
    quantities : tuple of str
        Labels of the predicted quantities, e.g. ``("S(12)", "S(24)", "S(36)")``,
        ``("P(>=4)", "E")`` or ``("P",)``.
    parents : tuple of str
        Modelled mediators that are predictors of this outcome (causal order).
    ancestors : tuple of str
        Modelled mediators upstream of this outcome (causal order; contains ``parents``).
    predictors : tuple of str
        The covariate columns the outcome's model reads (sorted).
    """

    name: str
    family: str
    quantities: tuple[str, ...]
    parents: tuple[str, ...] = ()
    ancestors: tuple[str, ...] = ()
    predictors: tuple[str, ...] = ()


class Chunk(Protocol):
    """Draws of one chunk: ``n_chains * n_draws`` samples, chain-major."""

    n_chains: int
    n_draws: int


class Model(Protocol):
    """What the engine needs from a model (see :class:`FitModel` and the truth model)."""

    name: str
    group_effects: str
    scaling: Scaling | None
    mediators: tuple[str, ...]
    mediator_columns: Mapping[str, str]
    outcomes: Mapping[str, OutcomeInfo]

    def predictors(self) -> set[str]:
        """Every covariate column the model reads."""

    def prepare(self, frame: pd.DataFrame) -> Any:
        """Per-table state reused across chunks (design matrices ...)."""

    def chunks(self, frame: pd.DataFrame, max_cells: int) -> Iterator[Chunk]:
        """Chunks of draws, with the group effects of ``frame``'s rows drawn once per chunk."""

    def predict(
        self,
        chunk: Chunk,
        state: Any,
        outcome: str,
        values: Mapping[str, int],
        quantities: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Quantities (S, rows, Q) of ``outcome`` with its mediator parents set to ``values``;
        only those at the indices ``quantities`` (in that order) when given."""


def quantity_labels(family: str, times: Sequence[float], threshold: int | float) -> tuple[str, ...]:
    """Labels of the quantities the engine reports for a family."""
    if family == "survival":
        return tuple(f"S({t:g})" for t in times)
    if family == "ordinal":
        return (f"P(>={threshold:g})", "E")
    return ("P",)


def mediator_graph(
    uses: Mapping[str, set[str]], binary_columns: Mapping[str, str]
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Mediators in causal order, each outcome's mediator parents and ancestors.

    Parameters
    ----------
    uses : Mapping[str, set of str]
        Outcome -> the columns its model reads.
    binary_columns : Mapping[str, str]
        Binary outcomes -> their column.

    Returns
    -------
    mediators, parents, ancestors
    """
    mediators = {
        name
        for name, column in binary_columns.items()
        if any(column in columns for other, columns in uses.items() if other != name)
    }
    parents = {
        name: {m for m in mediators if m != name and binary_columns[m] in columns}
        for name, columns in uses.items()
    }
    order: list[str] = []
    pending = set(mediators)
    while pending:
        ready = sorted(m for m in pending if parents[m] <= set(order))
        if not ready:
            raise EstimandError(
                f"the mediators {sorted(pending)} predict each other in a cycle; g-computation "
                "needs a causal order"
            )
        # Sorted by the outcomes' order within a stage, so the order is reproducible.
        stage = [m for m in uses if m in ready]
        order += stage
        pending -= set(stage)
    position = {m: k for k, m in enumerate(order)}

    def ancestors_of(name: str) -> set[str]:
        found: set[str] = set()
        stack = list(parents[name])
        while stack:
            m = stack.pop()
            if m not in found:
                found.add(m)
                stack += parents[m]
        return found

    def by_order(names: set[str]) -> tuple[str, ...]:
        return tuple(sorted(names, key=position.__getitem__))

    return (
        tuple(order),
        {name: by_order(p) for name, p in parents.items()},
        {name: by_order(ancestors_of(name)) for name in uses},
    )


def check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise EstimandError(f"{name} must be one of {list(allowed)}, not {value!r}")
