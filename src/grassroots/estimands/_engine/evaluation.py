"""Regimes, groupings and the evaluation loop over chunks of draws."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from grassroots.estimands._engine.model import Chunk, Model, OutcomeInfo
from grassroots.estimands.errors import EstimandError
from grassroots.estimands.settings import EstimandSettings

# Groupings with at most this many groups average by a batched matrix product (draws x groups x
# rows weights); larger ones (townships) by sorted sums.
_MATMUL_GROUPS = 16


@dataclass(frozen=True)
class Regime:
    """Which table each model part sees: the outcome's own model, and each mediator's.

    ``mediators`` lists (mediator, table key) for every modelled mediator; build regimes with
    :func:`regime` so that equal regimes compare equal.
    """

    outcome: str
    mediators: tuple[tuple[str, str], ...] = ()

    def table_of(self, mediator: str) -> str:
        return dict(self.mediators)[mediator]


def regime(
    model: Model, outcome_table: str, mediator_tables: Mapping[str, str] | None = None
) -> Regime:
    """A regime in canonical form: mediators not named see ``outcome_table``."""
    given = dict(mediator_tables or {})
    return Regime(outcome_table, tuple((m, given.get(m, outcome_table)) for m in model.mediators))


@dataclass(frozen=True)
class Grouping:
    """Rows split into groups for averaging (all rows: one group, ``"all"``).

    Attributes
    ----------
    name : str
        What the groups are (``"all"``, a column, ``"weakness"``, ``"township"``).
    codes : ndarray of int, shape (rows,)
        Each row's group, ``0 .. len(labels) - 1``.
    labels : tuple of str
    """

    name: str
    codes: np.ndarray
    labels: tuple[str, ...]

    @classmethod
    def overall(cls, n_rows: int) -> Grouping:
        return cls("all", np.zeros(n_rows, dtype=np.int64), ("all",))

    @classmethod
    def from_values(cls, name: str, values: pd.Series | np.ndarray) -> Grouping:
        """Groups from a column's values (categories in their order, else sorted)."""
        series = pd.Series(values).reset_index(drop=True)
        if series.isna().any():
            raise EstimandError(
                f"grouping {name!r} has {int(series.isna().sum())} missing value(s)"
            )
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = [c for c in series.cat.categories if (series == c).any()]
            codes = pd.Categorical(series, categories=present).codes.astype(np.int64)
            return cls(name, codes, tuple(str(c) for c in present))
        codes, uniques = pd.factorize(series, sort=True)
        return cls(name, codes.astype(np.int64), tuple(str(u) for u in uniques))

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=len(self.labels))

    def averaging_matrix(self) -> np.ndarray:
        """(groups, rows): ``1 / n_g`` where row ``i`` is in group ``g``, else 0."""
        members = self.codes[None, :] == np.arange(len(self.labels))[:, None]
        return members / self.counts[:, None]

    def average(self, array: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Row averages of ``weight * array`` within groups: (S, rows, Q) -> (S, groups, Q).

        Parameters
        ----------
        array : ndarray, shape (S, rows, Q)
        weight : ndarray, shape (S, rows), optional
            Per-draw row weights (the probability of the mediator values ``array`` assumes).
        """
        return _Averager([self])(array, weight)[self.name]


class _Averager:
    """Averages within every grouping at once.

    Groupings with few groups share one stacked averaging matrix, so that weighting and
    averaging are a single batched matrix product with no (S, rows, Q) temporary; groupings with
    many groups (townships) use sorted sums instead of a (draws, groups, rows) weight array.
    """

    def __init__(self, groupings: Sequence[Grouping]) -> None:
        # One group of every row: a weighted sum, with no (draws, 1, rows) weight array.
        self.whole = [(g.name, g.codes.size) for g in groupings if len(g.labels) == 1]
        small = [g for g in groupings if 1 < len(g.labels) <= _MATMUL_GROUPS]
        self.large = [g for g in groupings if len(g.labels) > _MATMUL_GROUPS]
        self.matrix = (
            np.concatenate([g.averaging_matrix() for g in small]) if small else np.zeros((0, 0))
        )
        bounds = np.cumsum([0, *(len(g.labels) for g in small)])
        self.small = [
            (g.name, slice(a, b)) for g, a, b in zip(small, bounds, bounds[1:], strict=False)
        ]
        self.sorted = []
        for g in self.large:
            order = np.argsort(g.codes, kind="stable")
            identity = np.array_equal(order, np.arange(order.size))
            starts = np.concatenate([[0], np.cumsum(g.counts)[:-1]])
            self.sorted.append((g.name, None if identity else order, starts, g.counts))

    def __call__(self, array: np.ndarray, weight: np.ndarray | None) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = {}
        if self.whole:
            total = (
                array.sum(axis=1, keepdims=True)
                if weight is None
                else np.matmul(weight[:, None, :], array)
            )
            result |= {name: total / max(size, 1) for name, size in self.whole}
        if self.small:
            left = self.matrix if weight is None else weight[:, None, :] * self.matrix[None]
            stacked = np.matmul(left, array)
            result |= {name: stacked[:, part] for name, part in self.small}
        if self.sorted:
            term = array if weight is None else array * weight[:, :, None]
            for name, order, starts, counts in self.sorted:
                ordered = term if order is None else term[:, order]
                result[name] = np.add.reduceat(ordered, starts, axis=1) / counts[None, :, None]
        return result


@dataclass(frozen=True)
class Request:
    """An outcome to average under some regimes, keeping some of its quantities."""

    outcome: str
    regimes: tuple[Regime, ...]
    quantities: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Plan:
    """What one estimand needs of the engine: its requests, averaged within its groupings, over
    the covariate tables ``tables`` (keys as in its requests' regimes)."""

    tables: Mapping[str, pd.DataFrame]
    requests: Sequence[Request]
    groupings: Sequence[Grouping]


def evaluate(
    model: Model,
    tables: Mapping[str, pd.DataFrame],
    requests: Sequence[Request],
    groupings: Sequence[Grouping],
    *,
    settings: EstimandSettings | None = None,
) -> Iterator[dict[tuple[str, Regime, str], np.ndarray]]:
    """Per chunk of draws: ``(outcome, regime, grouping) -> (chains, draws, groups, Q)``.

    Parameters
    ----------
    model : Model
    tables : Mapping[str, DataFrame]
        Covariate tables by key (the status quo and the scenarios), same rows in the same order.
    requests : sequence of Request
    groupings : sequence of Grouping
    settings : EstimandSettings, optional
        Its ``max_cells`` (draws x rows per chunk) and ``workers`` (threads evaluating chunks
        at once; the model's ``predict`` must then be safe to call from several threads: its
        per-table caches are filled by the first chunk, evaluated alone) are used.
    """
    for (out,) in evaluate_plans(model, [Plan(tables, requests, groupings)], settings=settings):
        yield out


def evaluate_plans(
    model: Model, plans: Sequence[Plan], *, settings: EstimandSettings | None = None
) -> Iterator[list[dict[tuple[str, Regime, str], np.ndarray]]]:
    """:func:`evaluate` of several plans in one pass over the draws: per chunk, one result of
    :func:`evaluate` per plan, each the same numbers it gives alone.

    Plans that predict the same outcome under the same table share the prediction (its
    exponentials are most of the work), the mediator probabilities and the chunks' draws.
    A table key names one table: plans that use a key must give it equal tables.
    """
    tables = _merged_tables(plans)
    first = next(iter(tables.values())).reset_index(drop=True)
    states = {key: model.prepare(table) for key, table in tables.items()}
    averagers = [_Averager(plan.groupings) for plan in plans]
    settings = settings or EstimandSettings()
    outcomes = list(dict.fromkeys(r.outcome for plan in plans for r in plan.requests))

    def run(chunk: Chunk) -> list[dict[tuple[str, Regime, str], np.ndarray]]:
        outs: list[dict[tuple[str, Regime, str], np.ndarray]] = [{} for _ in plans]
        cache: dict[tuple[str, str, tuple[int, ...]], np.ndarray] = {}
        joints: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[int, ...], Any]] = {}
        for outcome in outcomes:
            targets = [
                (request, averager, out)
                for plan, averager, out in zip(plans, averagers, outs, strict=True)
                for request in plan.requests
                if request.outcome == outcome
            ]
            _evaluate_outcome(model, chunk, states, outcome, targets, cache, joints)
        return [
            {
                key: value.reshape(chunk.n_chains, chunk.n_draws, *value.shape[1:])
                for key, value in out.items()
            }
            for out in outs
        ]

    # One BLAS thread: the products are thin (a few coefficients by many rows) and chunks
    # already run on every core; OpenBLAS's own threads make them several times slower on a
    # busy machine, and the last bits of the results would depend on the thread count.
    with threadpool_limits(limits=1, user_api="blas"):
        yield from _evaluate_chunks(model, first, settings.max_cells, settings.workers, run)


def _merged_tables(plans: Sequence[Plan]) -> dict[str, pd.DataFrame]:
    """Every plan's tables under their keys, each once (the first plan's order first)."""
    if not plans:
        raise EstimandError("no plan to evaluate")
    tables: dict[str, pd.DataFrame] = {}
    for plan in plans:
        for key, table in plan.tables.items():
            if key not in tables:
                tables[key] = table
            elif table is not tables[key] and not table.equals(tables[key]):
                raise EstimandError(
                    f"two plans give different tables under the key {key!r}; evaluate them "
                    "apart or give the tables distinct keys"
                )
    return tables


def _evaluate_chunks(
    model: Model,
    first: pd.DataFrame,
    max_cells: int,
    workers: int,
    run: Any,
) -> Iterator[dict[tuple[str, Regime, str], np.ndarray]]:
    chunks = iter(model.chunks(first, max_cells))
    # The first chunk alone: it fills the per-table caches (designs) that later chunks read.
    for chunk in itertools.islice(chunks, 1):
        yield run(chunk)
    if workers == 1:
        for chunk in chunks:
            yield run(chunk)
        return
    # Chunks are independent and their work is numpy and scipy ufuncs, which release the
    # GIL: threads use every core, and results come back in chunk order (bit-identical to
    # one worker). The next chunk's draws are read while the workers compute.
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[dict[tuple[str, Regime, str], np.ndarray]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(run, chunk))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _evaluate_outcome(
    model: Model,
    chunk: Chunk,
    states: Mapping[str, Any],
    outcome: str,
    targets: Sequence[tuple[Request, _Averager, dict[tuple[str, Regime, str], np.ndarray]]],
    cache: dict[tuple[str, str, tuple[int, ...]], np.ndarray],
    joints: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[int, ...], Any]],
) -> None:
    """Average ``outcome`` for every (request, its averager, its output) of ``targets``; each
    table's prediction is made once for all of them."""
    info = model.outcomes[outcome]
    requests = [request for request, _, _ in targets]
    # The quantities to predict: all of them when the requests differ (each keeps its own).
    asked = {request.quantities for request in requests}
    predicted = asked.pop() if len(asked) == 1 else None

    def predict(table: str, name: str, parent_values: tuple[int, ...]) -> np.ndarray:
        values = dict(zip(model.outcomes[name].parents, parent_values, strict=True))
        if model.outcomes[name].family != "logistic":
            # Only the requested quantities: the targeting list's S(24) skips the exponentials
            # of S(12) and S(36), most of its work.
            wanted = predicted if name == outcome else None
            return model.predict(chunk, states[table], name, values, wanted)
        # Binary outcomes are mediator probabilities of several outcomes: computed once per
        # chunk (small arrays, draws x rows).
        key = (table, name, parent_values)
        if key not in cache:
            cache[key] = model.predict(chunk, states[table], name, values)
        return cache[key]

    def probability(table: str, mediator: str, parent_values: tuple[int, ...]) -> np.ndarray:
        return predict(table, mediator, parent_values)[..., 0]

    # Weights of the parents' values, one set per assignment of tables to the ancestors.
    weights: dict[tuple[str, ...], dict[tuple[int, ...], np.ndarray | None]] = {}
    for request in requests:
        for reg in request.regimes:
            signature = tuple(reg.table_of(m) for m in info.ancestors)
            if signature not in weights:
                weights[signature] = _parent_weights(model, info, signature, probability, joints)
    tables = list(dict.fromkeys(reg.outcome for request in requests for reg in request.regimes))
    for parent_values in itertools.product((0, 1), repeat=len(info.parents)):
        for table in tables:
            prediction = predict(table, outcome, parent_values)
            for request, averager, out in targets:
                kept = prediction
                sliced = info.family == "logistic" or predicted is None
                if request.quantities is not None and sliced:
                    kept = prediction[..., list(request.quantities)]
                for reg in request.regimes:
                    if reg.outcome != table:
                        continue
                    signature = tuple(reg.table_of(m) for m in info.ancestors)
                    weight = weights[signature][parent_values]
                    for name, averaged in averager(kept, weight).items():
                        key = (outcome, reg, name)
                        out[key] = averaged if key not in out else out[key] + averaged


def _parent_weights(
    model: Model,
    info: OutcomeInfo,
    signature: tuple[str, ...],
    probability: Any,
    joints: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[tuple[int, ...], Any]],
) -> dict[tuple[int, ...], np.ndarray | None]:
    """P(parents of Y = m) for every m: the joint over the ancestors, summed over the others.

    Ancestors are visited in causal order, so each mediator's own parents already have values
    when its probability is needed. ``joints`` keeps the joints of leading ancestors (and the
    tables they see) for the other outcomes of the chunk: outcomes share upstream mediators.
    """
    ancestors = info.ancestors
    if not ancestors:
        return {(): None}
    joint: dict[tuple[int, ...], np.ndarray | None] = {(): None}
    for position, mediator in enumerate(ancestors):
        prefix = (ancestors[: position + 1], signature[: position + 1])
        if prefix in joints:
            joint = joints[prefix]
            continue
        own_parents = model.outcomes[mediator].parents
        extended: dict[tuple[int, ...], np.ndarray | None] = {}
        for combo, weight in joint.items():
            assigned = dict(zip(ancestors[:position], combo, strict=True))
            p = probability(signature[position], mediator, tuple(assigned[m] for m in own_parents))
            if weight is None:
                extended[(*combo, 1)], extended[(*combo, 0)] = p, 1.0 - p
            else:
                extended[(*combo, 1)] = with_mediator = weight * p
                extended[(*combo, 0)] = weight - with_mediator
        joint = extended
        if position < len(ancestors) - 1:
            # Leading ancestors only: the whole joint of an outcome's ancestors is its own.
            joints[prefix] = extended
    index = [ancestors.index(m) for m in info.parents]
    marginal: dict[tuple[int, ...], np.ndarray | None] = {}
    for combo, weight in joint.items():
        key = tuple(combo[k] for k in index)
        marginal[key] = weight if key not in marginal else marginal[key] + weight
    return marginal


def concatenate(
    chunks: Iterable[dict[Any, np.ndarray]],
) -> dict[Any, np.ndarray]:
    """Join per-chunk arrays (chains, draws, ...) along the draw axis."""
    pieces: dict[Any, list[np.ndarray]] = {}
    for chunk in chunks:
        for key, value in chunk.items():
            pieces.setdefault(key, []).append(value)
    return {key: np.concatenate(values, axis=1) for key, values in pieces.items()}


def summarise(values: np.ndarray, prob: float) -> dict[str, np.ndarray]:
    """Mean, median, equal-tailed interval and Pr(> 0) over the last axis (the samples)."""
    if not 0 < prob < 1:
        raise EstimandError(f"prob must lie in (0, 1), not {prob!r}")
    tail = (1.0 - prob) / 2.0
    lower, median, upper = np.quantile(values, [tail, 0.5, 1.0 - tail], axis=-1)
    return {
        "mean": values.mean(axis=-1),
        "median": median,
        "lower": lower,
        "upper": upper,
        "pr_positive": (values > 0).mean(axis=-1),
    }
