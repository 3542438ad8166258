"""The simulator's true contrasts: the same g-computation applied to the true parameters.

:mod:`grassroots.data.simulate` records every true parameter in ``truth.json``. This module
turns them into an engine model, so that :func:`true_contrasts` and :func:`true_mediation` run
exactly the computation that :func:`~grassroots.estimands.contrasts.contrasts` and
:func:`~grassroots.estimands.mediation.mediation` run on a posterior, with one "draw" of known
parameters. The simulator's model, as its docstring and ``truth.json`` state it:

* every term enters as ``coef * (x - mean)``, an interaction ``a:b`` as ``coef * (a - mean_a) *
  (b - mean_b)``, a contrast ``c[level]`` as ``coef * (1[c = level] - mean)``; the means are the
  simulated data's and stay fixed under a scenario (they are parameters, not statistics of the
  counterfactual table);
* strategies and short-sightedness: ``logit P(y = 1) = intercept + terms + u_county +
  u_township``;
* survival: Weibull proportional hazards, ``H0(t) = (t / scale) ** shape``, with the
  short-sighted effect ``gamma`` only after the onset (12 months) and not centred::

      S(t | x) = exp(-exp(eta) * (H0(min(t, onset)) + exp(gamma * q) * (H0(t) - H0(min(t, onset)))))

* demand fit: cumulative logit with the true cut points, ``P(fit <= k) = logistic(c_k - eta)``,
  so ``P(fit >= k) = logistic(eta - c_{k-1})`` and ``E[fit] = 1 + sum_k logistic(eta - c_k)``.

Group effects: ``fitted`` uses the realised county and township effects of ``truth.json`` (by
id); ``new`` draws counties independently per outcome and townships from the correlated normal
of the simulator, ``EstimandSettings.truth_draws`` times (Monte Carlo; the truth is then the
``mean`` column); ``none`` sets them to zero.

For fits that hold the strategies at their observed values (single-outcome specs such as
``survival_m3``), compare with ``true_contrasts(..., mediators="observed")``; for the structural
fit, with the default ``mediators="modelled"`` (the strategies respond).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grassroots._paths import bundled_data_dir
from grassroots.estimands._engine import (
    GROUP_EFFECTS,
    MEDIATOR_MODES,
    EstimandError,
    Grouping,
    OutcomeInfo,
    check_choice,
    mediator_graph,
    quantity_labels,
)
from grassroots.estimands.contrasts import (
    ContrastResult,
    make_groupings,
    resolve_scenarios,
    run_contrasts,
)
from grassroots.estimands.mediation import MediationResult, run_mediation
from grassroots.estimands.scenarios import Scenario, ScenarioSet
from grassroots.estimands.settings import EstimandSettings

if TYPE_CHECKING:
    from grassroots.inference.fit_result import StudyLike

__all__ = ["TruthModel", "coverage", "load_truth", "true_contrasts", "true_mediation"]

_FAMILY = {
    "bernoulli": "logistic",
    "ordinal": "ordinal",
    "weibull_proportional_hazards": "survival",
}
_GROUP_COLUMNS = {"county": "county_id", "township": "township_id"}


def load_truth(path: str | Path | None = None) -> dict[str, Any]:
    """``truth.json`` of a simulated study (default: the bundled study's)."""
    path = Path(path) if path is not None else bundled_data_dir() / "synthetic_study" / "truth.json"
    if path.is_dir():
        path = path / "truth.json"
    if not path.is_file():
        raise EstimandError(f"{path}: no truth.json (only simulated studies have one)")
    return json.loads(path.read_text(encoding="utf-8"))


def _term_columns(term: str, record: Mapping[str, Any]) -> tuple[str, ...]:
    if record["kind"] == "interaction":
        return tuple(record["components"])
    return (record["column"],)


def _term_values(frame: pd.DataFrame, record: Mapping[str, Any]) -> np.ndarray:
    """A centred term of the simulator evaluated on ``frame``."""
    kind = record["kind"]
    if kind == "interaction":
        value = np.ones(len(frame))
        for column, component in record["components"].items():
            value = value * (frame[column].to_numpy(dtype=float) - float(component["mean"]))
        return value
    if kind == "contrast":
        indicator = (frame[record["column"]].astype(str) == record["level"]).to_numpy(float)
        return indicator - float(record["mean"])
    return frame[record["column"]].to_numpy(dtype=float) - float(record["mean"])


@dataclass
class _TruthChunk:
    n_chains: int
    n_draws: int
    effects: dict[str, np.ndarray]


@dataclass
class _TruthState:
    frame: pd.DataFrame
    cache: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, np.ndarray | None]] = field(
        default_factory=dict
    )


def _expit(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


class TruthModel:
    """The simulator's true model as an engine model (see the module docstring).

    Parameters
    ----------
    truth : Mapping
        The parsed ``truth.json``.
    group_effects : {"fitted", "new", "none"}
    mediators : {"modelled", "observed"}
    settings : EstimandSettings, optional
        Its ``seed`` (new group effects; ``None`` means 0), ``truth_draws`` (Monte-Carlo draws
        of new group effects, ``group_effects="new"``), ``times`` and ``threshold`` are used.
    """

    def __init__(
        self,
        truth: Mapping[str, Any],
        *,
        group_effects: str = "fitted",
        mediators: str = "modelled",
        settings: EstimandSettings | None = None,
    ) -> None:
        check_choice("group_effects", group_effects, GROUP_EFFECTS)
        check_choice("mediators", mediators, MEDIATOR_MODES)
        settings = settings or EstimandSettings()
        self.truth = truth
        self.name = "truth"
        self.scaling = None
        self.group_effects = group_effects
        self.seed = 0 if settings.seed is None else settings.seed
        self.n_new = settings.truth_draws
        self.times = settings.times
        self.threshold = settings.threshold
        records = truth["outcomes"]
        # The simulator's outcome order (that of the township-effect correlation matrix), so
        # that mediators come in the same causal order as in the structural spec.
        listed = truth.get("group_effects", {}).get("township_correlation", {}).get("outcomes")
        names = [n for n in (listed or []) if n in records] + sorted(
            n for n in records if n not in (listed or [])
        )
        self._records = {name: records[name] for name in names}
        self._family = {}
        for name, record in self._records.items():
            if record["family"] not in _FAMILY:
                raise EstimandError(f"truth outcome {name!r}: unknown family {record['family']!r}")
            self._family[name] = _FAMILY[record["family"]]
        uses = {
            name: {
                column
                for term, rec in record["terms"].items()
                for column in _term_columns(term, rec)
            }
            | set(record.get("time_varying", {}))
            for name, record in self._records.items()
        }
        self._uses = uses
        binary = {name: name for name, family in self._family.items() if family == "logistic"}
        if mediators == "modelled":
            order, parents, ancestors = mediator_graph(uses, binary)
        else:
            order, parents, ancestors = (), {n: () for n in uses}, {n: () for n in uses}
        self.mediators = order
        self.mediator_columns = {m: binary[m] for m in order}
        self.outcomes = {
            name: OutcomeInfo(
                name,
                self._family[name],
                quantity_labels(self._family[name], self.times, self.threshold),
                parents[name],
                ancestors[name],
                tuple(sorted(uses[name])),
            )
            for name in self._records
        }
        for name, family in self._family.items():
            if family == "ordinal":
                levels = len(self._records[name]["cutpoints"]) + 1
                if float(self.threshold) not in {float(k) for k in range(1, levels + 1)}:
                    raise EstimandError(
                        f"threshold {self.threshold!r} is not a rating 1..{levels} of {name!r}"
                    )

    def predictors(self) -> set[str]:
        return set().union(*self._uses.values())

    def prepare(self, frame: pd.DataFrame) -> _TruthState:
        return _TruthState(frame.reset_index(drop=True))

    # ----- group effects -------------------------------------------------------------------

    def _positions(self, frame: pd.DataFrame, level: str) -> np.ndarray:
        column = _GROUP_COLUMNS[level]
        table = self.truth["group_effects"][level]
        ids = pd.Index([str(i) for i in table["ids"]])
        if column not in frame.columns:
            raise EstimandError(f"the data lack the grouping column {column!r}")
        position = ids.get_indexer(frame[column].astype(str))
        if (position < 0).any():
            unknown = frame[column][position < 0].astype(str).unique()[:3].tolist()
            raise EstimandError(
                f"{column} {unknown} of the data are not in truth.json: the true group effects "
                "are known only for the simulated study's groups"
            )
        return position

    def chunks(self, frame: pd.DataFrame, max_cells: int) -> Iterator[_TruthChunk]:
        frame = frame.reset_index(drop=True)
        n = len(frame)
        if self.group_effects == "none":
            yield _TruthChunk(1, 1, {o: np.zeros((1, n)) for o in self._records})
            return
        county = self._positions(frame, "county")
        township = self._positions(frame, "township")
        effects = self.truth["group_effects"]
        if self.group_effects == "fitted":
            yield _TruthChunk(
                1,
                1,
                {
                    o: (
                        np.asarray(effects["county"]["effects"][o], dtype=float)[county]
                        + np.asarray(effects["township"]["effects"][o], dtype=float)[township]
                    )[None, :]
                    for o in self._records
                },
            )
            return
        # Every group's standard normals for all draws at once (they are small: draws x groups
        # x outcomes), so the draws do not depend on how rows and draws are chunked.
        rng = np.random.default_rng(self.seed)
        order = list(effects["township_correlation"]["outcomes"])
        corr = np.asarray(effects["township_correlation"]["matrix"], dtype=float)
        sd_t = np.array([effects["sd"]["township"][o] for o in order])
        chol = np.linalg.cholesky(corr) * sd_t[:, None]
        z_county = rng.standard_normal((self.n_new, len(effects["county"]["ids"]), len(order)))
        u_township = (
            rng.standard_normal((self.n_new, len(effects["township"]["ids"]), len(order))) @ chol.T
        )
        per_chunk = max(1, max_cells // max(1, n))
        for start in range(0, self.n_new, per_chunk):
            draws = slice(start, min(start + per_chunk, self.n_new))
            drawn = {}
            for k, o in enumerate(order):
                if o not in self._records:
                    continue
                sd_c = float(effects["sd"]["county"][o])
                drawn[o] = (
                    sd_c * z_county[draws, :, k][:, county] + u_township[draws, :, k][:, township]
                )
            yield _TruthChunk(1, draws.stop - draws.start, drawn)

    # ----- predictions ---------------------------------------------------------------------

    def _linear(
        self, state: _TruthState, outcome: str, values: Mapping[str, int]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Fixed part of the linear predictor (rows,) and, for survival, the late part."""
        parents = self.outcomes[outcome].parents
        key = (outcome, tuple(int(values[m]) for m in parents))
        if key not in state.cache:
            frame = state.frame
            if parents:
                frame = frame.assign(**{self.mediator_columns[m]: int(values[m]) for m in parents})
            record = self._records[outcome]
            eta = np.full(len(frame), float(record.get("intercept", 0.0)))
            for rec in record["terms"].values():
                eta = eta + float(rec["coef"]) * _term_values(frame, rec)
            late = None
            varying = record.get("time_varying", {})
            if varying:
                onsets = {float(v["onset_months"]) for v in varying.values()}
                if len(onsets) > 1:
                    raise EstimandError("the truth has time-varying effects with several onsets")
                # Not centred: the simulator's late term is gamma * x after the onset.
                late = sum(
                    float(v["log_hr"]) * frame[column].to_numpy(dtype=float)
                    for column, v in varying.items()
                )
            state.cache[key] = (eta, late)
        return state.cache[key]

    def predict(
        self,
        chunk: _TruthChunk,
        state: _TruthState,
        outcome: str,
        values: Mapping[str, int],
        quantities: Sequence[int] | None = None,
    ) -> np.ndarray:
        predicted = self._predict_all(chunk, state, outcome, values)
        return predicted if quantities is None else predicted[..., list(quantities)]

    def _predict_all(
        self, chunk: _TruthChunk, state: _TruthState, outcome: str, values: Mapping[str, int]
    ) -> np.ndarray:
        fixed, late = self._linear(state, outcome, values)
        eta = fixed[None, :] + chunk.effects[outcome]
        record = self._records[outcome]
        family = self._family[outcome]
        if family == "logistic":
            return _expit(eta)[..., None]
        if family == "ordinal":
            cuts = np.asarray(record["cutpoints"], dtype=float)
            above = _expit(eta[..., None] - cuts)  # P(fit > k), k = 1 .. K-1
            k = int(self.threshold)
            at_least = above[..., k - 2] if k >= 2 else np.ones_like(eta)
            return np.stack([at_least, 1.0 + above.sum(axis=-1)], axis=-1)
        shape, scale = float(record["weibull_shape"]), float(record["weibull_scale"])
        times = np.asarray(self.times)
        total = (times / scale) ** shape
        varying = record.get("time_varying", {})
        if late is None or not varying:
            cumulative = np.exp(eta)[..., None] * total
        else:
            onset = float(next(iter(varying.values()))["onset_months"])
            early = (np.minimum(times, onset) / scale) ** shape
            cumulative = np.exp(eta)[..., None] * (
                early + np.exp(late)[None, :, None] * (total - early)
            )
        return np.exp(-cumulative)


def _resolve(data: Any, truth: Mapping[str, Any] | str | Path | None) -> tuple[pd.DataFrame, Any]:
    if data is None:
        from grassroots.data.study import load_dataset

        frame = load_dataset().flat()
    else:
        from grassroots.inference.fit_result import resolve_data

        frame, _ = resolve_data(data)
    truth = truth if isinstance(truth, Mapping) else load_truth(truth)
    return frame, truth


def true_contrasts(
    data: pd.DataFrame | StudyLike | None = None,
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None = None,
    *,
    truth: Mapping[str, Any] | str | Path | None = None,
    group_effects: str = "fitted",
    mediators: str = "modelled",
    by: Sequence[str | Grouping] = (),
    outcomes: Sequence[str] | None = None,
    settings: EstimandSettings | None = None,
) -> ContrastResult:
    """The simulator's true contrasts of scenarios against the status quo.

    Parameters
    ----------
    data : DataFrame or study, optional
        The simulated study's data (default: the bundled study).
    scenarios : optional
        Default: the built-in remedies.
    truth : Mapping, str or Path, optional
        ``truth.json`` (parsed, or its path); default: the bundled study's.
    group_effects : {"fitted", "new", "none"}
        ``fitted``: the realised true effects of the study's counties and townships.
    mediators : {"modelled", "observed"}
        ``modelled``: the strategies and short-sightedness respond to the scenario (compare with
        the structural fit); ``observed``: held at their observed values (compare with
        single-outcome fits that use them as predictors).
    by, outcomes
        As in :func:`grassroots.estimands.contrasts.contrasts`.
    settings : EstimandSettings, optional
        New group effects take its ``seed`` (``None`` means 0) and ``truth_draws`` Monte-Carlo
        draws; ``times``, ``threshold``, ``max_cells`` and ``workers`` as for a fit.

    Returns
    -------
    ContrastResult
        Model name ``"truth"``; the true contrast is the ``mean`` column (with ``fitted`` or
        ``none`` group effects there is one draw, and mean = median = lower = upper).

    Examples
    --------
    >>> truth = true_contrasts(scenarios="resources_plus_1sd")
    >>> row = truth.table.query("outcome == 'survival' and quantity == 'S(24)'")
    >>> bool(row["mean"].iloc[0] > 0)
    True
    """
    frame, truth = _resolve(data, truth)
    model = TruthModel(truth, group_effects=group_effects, mediators=mediators, settings=settings)
    return run_contrasts(
        model,
        frame,
        resolve_scenarios(scenarios),
        groupings=make_groupings(frame.reset_index(drop=True), by),
        outcomes=outcomes,
        settings=settings,
    )


def true_mediation(
    data: pd.DataFrame | StudyLike | None = None,
    scenarios: Scenario | ScenarioSet | Sequence[Scenario | str] | str | None = None,
    *,
    truth: Mapping[str, Any] | str | Path | None = None,
    group_effects: str = "fitted",
    outcomes: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    settings: EstimandSettings | None = None,
) -> MediationResult:
    """The simulator's true total, direct and indirect effects (see :mod:`.mediation`)."""
    frame, truth = _resolve(data, truth)
    model = TruthModel(truth, group_effects=group_effects, settings=settings)
    return run_mediation(
        model,
        frame,
        resolve_scenarios(scenarios),
        outcomes=outcomes,
        order=order,
        settings=settings,
    )


def coverage(estimates: ContrastResult, truth: ContrastResult, prob: float = 0.9) -> pd.DataFrame:
    """Whether each estimated contrast's ``prob`` interval covers the true contrast.

    Parameters
    ----------
    estimates : ContrastResult
        From :func:`~grassroots.estimands.contrasts.contrasts` (any number of fits).
    truth : ContrastResult
        From :func:`true_contrasts` with the same scenarios, times and threshold.
    prob : float
        Interval mass (0.9 for the bundled-study check).

    Returns
    -------
    DataFrame
        The estimates' rows with ``median``, ``lower``, ``upper`` at ``prob``, the ``truth``,
        ``covered``, and ``comparable``, false when the two are different estimands:

        * the group effects differ;
        * the outcome's model reads none of the scenario's columns (its contrast is 0 by
          construction) while the truth is not 0;
        * the fit holds at their observed values strategies that respond in the truth (a
          single-outcome fit such as ``survival_m3`` against the default truth: compare it with
          ``true_contrasts(..., mediators="observed")``).

        A fit that leaves the strategies out (``survival_m1``) estimates the total effect and is
        comparable with the default truth. Rows without a matching truth are dropped.

    Warns
    -----
    UserWarning
        When some rows are not comparable.
    """
    keys = ["scenario", "outcome", "quantity", "group_by", "group"]
    table = estimates.summary(prob)
    true_table = truth.table[[*keys, "mean", "group_effects", "mediators"]].rename(
        columns={
            "mean": "truth",
            "group_effects": "truth_group_effects",
            "mediators": "truth_mediators",
        }
    )
    merged = table.merge(true_table, on=keys, how="inner")

    def names(text: Any) -> set[str]:
        return set(filter(None, str(text).split(", ")))

    predictors: dict[tuple[str, str], set[str]] = {}
    variables: dict[tuple[str, str], set[str]] = {}
    for model, draws in estimates.draws.items():
        for outcome, columns in zip(
            draws.coords["outcome"].values, draws.coords["predictors"].values, strict=True
        ):
            predictors[(model, str(outcome))] = names(columns)
        for scenario, columns in zip(
            draws.coords["scenario"].values, draws.coords["variables"].values, strict=True
        ):
            variables[(model, str(scenario))] = names(columns)

    comparable = []
    for row in merged.itertuples(index=False):
        responding, true_responding = names(row.mediators), names(row.truth_mediators)
        seen = predictors.get((row.model, row.outcome), set())
        held = (seen & true_responding) - responding
        # A model without the scenario's columns (nor a mediator that responds) cannot move:
        # its 0 estimates the truth only where the truth is 0, too.
        blind = (
            not (seen & variables.get((row.model, row.scenario), set()))
            and not responding
            and row.truth != 0
        )
        comparable.append(
            row.group_effects == row.truth_group_effects
            and not held
            and not blind
            and responding <= true_responding
        )
    merged["comparable"] = comparable
    if not merged["comparable"].all():
        warnings.warn(
            f"{int((~merged['comparable']).sum())} contrast(s) are not the truth's estimand: "
            "different group effects, a model without the scenario's columns, or strategies held "
            "at their observed values that respond in the truth (pass true_contrasts the same "
            "group_effects, and mediators='observed' for fits that use the strategies as "
            "predictors)",
            UserWarning,
            stacklevel=2,
        )
    merged["covered"] = (merged["lower"] <= merged["truth"]) & (merged["truth"] <= merged["upper"])
    columns = [
        "model",
        *keys,
        "median",
        "lower",
        "upper",
        "truth",
        "covered",
        "comparable",
        "group_effects",
        "mediators",
        "truth_mediators",
    ]
    return merged[columns]
