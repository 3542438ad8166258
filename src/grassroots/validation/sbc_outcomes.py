"""SBC data: outcomes drawn from a reference draw of the parameters, in causal order.

The survival likelihood is logp-only, forward draws of cut points ignore their ordering, and the
joint model draws its mediators before the outcomes that use them; so :class:`OutcomeSimulator`
draws the outcomes itself (see the notes of :mod:`grassroots.validation.sbc`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from grassroots.data.simulate import event_times
from grassroots.models import ModelSpec
from grassroots.models.builder import ModelInputs
from grassroots.models.design import design_matrix, late_design_matrix
from grassroots.models.survival import interval_starts


def piecewise_event_times(
    exponential: np.ndarray,
    eta: np.ndarray,
    late_eta: np.ndarray,
    log_hazard: np.ndarray,
    cuts: Sequence[float],
    onset: float | None,
) -> np.ndarray:
    """Event times of a piecewise-constant PH model with late effects, by exact inversion.

    Row ``i``'s hazard on interval ``j`` is ``exp(log_hazard[j] + eta[i] + late_eta[i] *
    1[start_j >= onset])``; the time at which its cumulative hazard reaches ``exponential[i]``
    (a unit exponential draw) is returned.
    """
    starts = interval_starts(cuts)
    widths = np.diff(np.append(starts, np.inf))
    after = starts >= (onset if onset is not None else np.inf)
    rate = np.exp(log_hazard[None, :] + eta[:, None] + late_eta[:, None] * after[None, :])
    # Cumulative hazard at the start of every interval; the last interval never ends.
    at_start = np.concatenate(
        [np.zeros((eta.size, 1)), np.cumsum(rate[:, :-1] * widths[None, :-1], axis=1)], axis=1
    )
    piece = (at_start <= exponential[:, None]).sum(axis=1) - 1
    rows = np.arange(eta.size)
    return starts[piece] + (exponential - at_start[rows, piece]) / rate[rows, piece]


def _outcome_columns(outcome) -> tuple[str, ...]:
    return tuple(outcome.columns.values())


def _causal_order(spec: ModelSpec) -> list:
    """Outcomes ordered so that an outcome used as another's predictor is drawn first."""
    produced = {column: o.name for o in spec.outcomes for column in _outcome_columns(o)}
    pending, ordered, done = list(spec.outcomes), [], set()
    while pending:
        for outcome in pending:
            needs = {produced[c] for c in outcome.predictors if c in produced} - {outcome.name}
            if needs <= done:
                ordered.append(outcome)
                done.add(outcome.name)
                pending.remove(outcome)
                break
        else:
            raise ValueError(f"{spec.name}: the outcomes predict each other in a cycle")
    return ordered


class OutcomeSimulator:
    """simuk's ``simulator``: the outcome columns of one data set drawn from one prior draw.

    The linear predictors mirror :func:`grassroots.models.build_model`: design columns centred
    at the data's means (recomputed after each mediator is drawn) times ``beta``, plus the
    group effects; the intercept, cut points and baseline are the sampled ``*_centred``
    parameters. Event times are censored at the column ``follow_up``.

    Parameters
    ----------
    spec : ModelSpec
    inputs : ModelInputs
        The inputs of the fixed covariate frame (scaling, group codes).
    frame : DataFrame
        The fixed covariates, with ``follow_up``.
    """

    def __init__(self, spec: ModelSpec, inputs: ModelInputs, frame: pd.DataFrame) -> None:
        self.spec = spec
        self.inputs = inputs
        self.frame = frame
        self.order = _causal_order(spec)

    def __call__(self, seed: int, **params: np.ndarray) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        frame = self.frame.copy()
        drawn: dict[str, np.ndarray] = {}
        for outcome in self.order:
            eta = self._eta(outcome, frame, params)
            name = outcome.name
            if outcome.family == "logistic":
                logit = params[f"{name}_intercept_centred"] + eta
                values = {outcome.columns["column"]: (rng.random(eta.size) < _sigmoid(logit))}
            elif outcome.family == "ordinal":
                levels = self.inputs.outcomes[name].values["levels"]
                latent = eta + rng.logistic(size=eta.size)
                code = (latent[:, None] > params[f"{name}_cutpoints_centred"][None, :]).sum(1)
                values = {outcome.columns["column"]: levels[code]}
            else:
                values = self._survival(outcome, frame, params, eta, rng)
            for column, value in values.items():
                array = np.asarray(value)
                array = array.astype(np.int64) if array.dtype == bool else array
                frame[column] = array
                drawn[column] = array
        return drawn

    def _eta(self, outcome, frame: pd.DataFrame, params: Mapping[str, np.ndarray]) -> np.ndarray:
        name = outcome.name
        _, matrix = design_matrix(frame, outcome, self.inputs.scaling)
        eta = np.zeros(len(frame))
        if matrix.shape[1]:
            eta = eta + (matrix - matrix.mean(axis=0)) @ params[f"{name}_beta"]
        position = self.spec.outcome_names.index(name)
        for level, codes in zip(self.spec.groups, self.inputs.groups.codes, strict=True):
            if level.name == self.spec.correlated:
                effect = params[f"{level.name}_effect"][:, position]
            else:
                effect = params[f"{name}_effect_{level.name}"]
            eta = eta + effect[codes]
        return eta

    def _survival(self, outcome, frame, params, eta, rng) -> dict[str, np.ndarray]:
        name = outcome.name
        late_eta = np.zeros(eta.size)
        if outcome.time_varying:
            _, late = late_design_matrix(frame, outcome, self.inputs.scaling)
            late_eta = late @ params[f"{name}_beta_late"]
        exponential = rng.standard_exponential(eta.size)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if outcome.baseline.kind == "piecewise":
                steps = params[f"{name}_log_hazard_steps"]
                log_hazard = params[f"{name}_log_hazard_start_centred"] + np.concatenate(
                    [[0.0], np.cumsum(steps)]
                )
                times = piecewise_event_times(
                    exponential, eta, late_eta, log_hazard, outcome.baseline.cuts, outcome.onset
                )
            else:
                # event_times takes one late column times one log HR; the late linear predictor
                # with a unit "log HR" is the same product.
                times = event_times(
                    exponential,
                    eta,
                    late_eta,
                    shape=float(params[f"{name}_shape"]),
                    scale=float(params[f"{name}_scale_centred"]),
                    log_hr_late=1.0,
                    onset=outcome.onset if outcome.onset is not None else np.inf,
                )
        follow_up = frame["follow_up"].to_numpy(dtype=float)
        return {
            outcome.columns["time"]: np.minimum(times, follow_up),
            outcome.columns["event"]: (times < follow_up).astype(np.int64),
        }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))
