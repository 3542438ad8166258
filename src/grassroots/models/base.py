"""The contract every model family fulfils; the shared machinery lives in :mod:`.builder`.

A family declares only its maths (lifelines-style): how to check and encode its outcome
(:meth:`Family.prepare`), which parameters and likelihood to add to a PyMC model given the linear
predictor (:meth:`Family.add_likelihood`), and how to turn posterior draws and a linear predictor
into predictions (:meth:`Family.predict`). Design matrices, scaling, group effects, coordinates,
sampling and saving are the same for every family and live elsewhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from grassroots.models.spec import OutcomeSpec


@dataclass(frozen=True)
class OutcomeData:
    """One outcome's encoded data.

    Attributes
    ----------
    observed : ndarray of bool, shape (rows,)
        Rows whose outcome is observed; only they enter this outcome's likelihood.
    values : Mapping[str, ndarray]
        Family-specific arrays over the observed rows (times, events, exposure, codes ...).
    coords : Mapping[str, list]
        Family-specific coordinates (intervals, cut points, levels).
    """

    observed: np.ndarray
    values: Mapping[str, np.ndarray] = field(default_factory=dict)
    coords: Mapping[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    """A family's prediction: arrays with their dims (sample dims first, then ``row``)."""

    arrays: Mapping[str, tuple[tuple[str, ...], np.ndarray]]
    coords: Mapping[str, list[Any]] = field(default_factory=dict)


class Family(ABC):
    """Maths of one outcome family.

    Subclasses set :attr:`name`, :attr:`ratio` (the label of exponentiated coefficients) and
    implement the three methods below. Parameter names are prefixed with the outcome's name, so
    the same family can appear several times in one joint model.
    """

    name: ClassVar[str]
    ratio: ClassVar[str]

    @abstractmethod
    def prepare(self, outcome: OutcomeSpec, frame: pd.DataFrame) -> OutcomeData:
        """Check and encode the outcome column(s); raise ``ModelDataError`` naming the column."""

    @abstractmethod
    def add_likelihood(
        self,
        outcome: OutcomeSpec,
        data: OutcomeData,
        eta: Any,
        priors: tuple[Mapping, ...],
        shift: Any,
    ) -> None:
        """Add the family's own parameters and the likelihood to the model on the context stack.

        Parameters
        ----------
        outcome : OutcomeSpec
        data : OutcomeData
        eta : TensorVariable, shape (observed rows,)
            The linear predictor without intercept, on the *centred* design: centred design
            matrix times coefficients plus group effects.
        priors : tuple of Mapping
            Prior tables, lowest precedence first (spec-wide, then outcome-specific).
        shift : TensorVariable (scalar)
            ``column means of the design @ beta``: the uncentred linear predictor is
            ``eta + shift``. The family samples its intercept-like parameters (baseline, cut
            points, intercept) at the average profile, ``<name>_centred``, where they are nearly
            uncorrelated with the coefficients, and stores their value at the reference profile
            (all design columns 0) under the public name as a deterministic (as brms does).
        """

    @abstractmethod
    def information_per_observation(self, data: OutcomeData) -> float:
        """Fisher information about a shift of the linear predictor, per observed row, at the
        outcome's observed frequencies (no predictors): how much one row tells about its group's
        effect. :func:`grassroots.models.parameterization.choose_parameterizations` weighs it
        against the group SD's prior to choose a centred or non-centred parameterisation."""

    @abstractmethod
    def location_scores(self, data: OutcomeData) -> np.ndarray:
        """Per observed row, the score (derivative of its log likelihood) with respect to a
        shift of the linear predictor, at the fit without predictors or groups; they sum to
        zero. Summed over a group and divided by the group's information they estimate the
        group's effect, from which the spread of group effects is estimated."""

    def initial_points(self, outcome: OutcomeSpec, data: OutcomeData) -> dict[str, np.ndarray]:
        """Starting values the sampler needs for parameters whose default start is invalid."""
        return {}

    @abstractmethod
    def parameter_names(self, outcome: OutcomeSpec) -> tuple[str, ...]:
        """Names of the family's own parameters (baseline, cut points, intercept)."""

    @abstractmethod
    def predict(
        self,
        outcome: OutcomeSpec,
        params: Mapping[str, np.ndarray],
        eta: np.ndarray,
        *,
        coords: Mapping[str, list[Any]],
        **options: Any,
    ) -> Prediction:
        """Predictions from posterior draws.

        Parameters
        ----------
        params : Mapping[str, ndarray]
            The family's parameters, each with a leading sample axis of length S.
        eta : ndarray, shape (S, rows)
            Linear predictor (without intercept) of every row under every draw.
        coords : Mapping
            The fitted model's coordinates.
        """
