"""Prior predictive check: what the priors say about survival curves, ratings and probabilities.

The check draws every parameter from its prior, predicts every (sub-sampled) row of the data with
those draws, and averages over rows: one population survival curve, one rating distribution and
one mean probability per prior draw. Plausible priors give curves that neither all collapse at
month 1 nor stay flat at 1 for a decade, and ratings that are not all piled on one category.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from matplotlib.figure import Figure

from grassroots.models.builder import build_model, predict_draws
from grassroots.models.spec import ModelSpec, load_spec

DEFAULT_CHECK_TIMES: tuple[float, ...] = tuple(float(t) for t in range(0, 121, 3))


@dataclass(frozen=True)
class PriorPredictive:
    """Row-averaged prior predictions, one value per prior draw.

    Attributes
    ----------
    spec : ModelSpec
    draws : xarray.Dataset
        ``<o>_S`` (draw, ``<o>_time``) for survival outcomes; ``<o>_prob`` (draw,
        ``<o>_level``) and ``<o>_expected`` (draw) for ordinal ones; ``<o>_prob`` (draw) for
        logistic ones.
    """

    spec: ModelSpec
    draws: xr.Dataset

    def summary(self) -> pd.DataFrame:
        """Prior predictive 5%, 50% and 95% quantiles of every quantity, one row per element."""
        quantiles = self.draws.quantile([0.05, 0.5, 0.95], dim="draw")
        rows = []
        for name, array in quantiles.data_vars.items():
            if array.ndim == 1:
                rows.append(array.to_series().to_frame(name).T)
                continue
            frame = array.to_series().unstack("quantile")
            frame.index = [f"{name}[{key}]" for key in frame.index]
            rows.append(frame)
        return pd.concat(rows).rename(columns=lambda q: f"{100 * q:g}%")

    def figure(self) -> Figure:
        """One panel per outcome: survival curves, rating distributions, or probabilities."""
        return plot_prior_predictive(self)


def prior_predictive(
    spec: str | ModelSpec,
    data: pd.DataFrame,
    *,
    seed: int,
    draws: int = 200,
    times: Sequence[float] = DEFAULT_CHECK_TIMES,
    max_rows: int = 500,
) -> PriorPredictive:
    """Draw from the prior and predict the data's rows.

    Parameters
    ----------
    spec : str or ModelSpec
    data : DataFrame
        The flat table the model would be fitted to (its predictors and groups are used).
    seed : int
        Seeds the prior draws, the row sub-sample and new group effects.
    draws : int
        Prior draws.
    times : sequence of float
        Months at which survival curves are evaluated.
    max_rows : int
        Rows are sub-sampled to this many (memory: draws x rows x times).

    Returns
    -------
    PriorPredictive
    """
    spec = load_spec(spec)
    rng = np.random.default_rng(seed)
    built = build_model(spec, data)
    model = built.model
    names = [v.name for v in model.free_RVs + model.deterministics]
    logger = logging.getLogger("pymc")
    level = logger.level
    # PyMC logs the list of sampled variables; in a pipeline's output it is noise.
    logger.setLevel(logging.WARNING)
    try:
        with model, warnings.catch_warnings():
            # The induced-Dirichlet cut points' random draw has no numba kernel, so numba runs it
            # in object mode: slower for these few prior draws, never wrong, and not the user's
            # to act on.
            warnings.filterwarnings(
                "ignore",
                message="Numba will use object mode to run CustomDist",
                category=UserWarning,
            )
            prior = pm.sample_prior_predictive(
                draws=draws, var_names=names, random_seed=int(rng.integers(2**31))
            )
    finally:
        logger.setLevel(level)
    posterior = order_cutpoints(prior["prior"].to_dataset(), spec)
    frame = data.reset_index(drop=True)
    if len(frame) > max_rows:
        frame = frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]
    predicted = predict_draws(
        spec,
        built.inputs.scaling,
        posterior,
        frame,
        composite=built.inputs.groups.composite,
        group_effects="fitted",
        seed=seed,
        model_coords=built.inputs.coords(),
        times=list(times),
    )
    keep = [name for name in predicted.data_vars if not name.endswith("_prob_at_least")]
    averaged = predicted[keep].mean("row").isel(chain=0, drop=True)
    return PriorPredictive(spec, averaged)


def order_cutpoints(draws: xr.Dataset, spec: ModelSpec) -> xr.Dataset:
    """Sort forward-sampled cut points.

    The ordered transform constrains MCMC values only; forward (prior) draws of the i.i.d. prior
    are unordered. Sorting them gives the order statistics, which is exactly the ordered prior's
    distribution (the prior is exchangeable).
    """
    updates = {}
    for outcome in spec.outcomes:
        if outcome.family != "ordinal":
            continue
        for name in (f"{outcome.name}_cutpoints", f"{outcome.name}_cutpoints_centred"):
            if name in draws:
                array = draws[name]
                axis = array.dims.index(f"{outcome.name}_cut")
                updates[name] = array.copy(data=np.sort(array.to_numpy(), axis=axis))
    return draws.assign(updates)


def plot_prior_predictive(check: PriorPredictive, *, n_lines: int = 40) -> Figure:
    """Figure of a :class:`PriorPredictive`: 50% and 90% bands plus a few single draws."""
    outcomes = check.spec.outcomes
    figure = Figure(figsize=(4.2 * len(outcomes), 3.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(outcomes)))
    draws = check.draws
    for ax, outcome in zip(axes, outcomes, strict=True):
        name = outcome.name
        if outcome.family == "survival":
            curves = draws[f"{name}_S"]
            t = curves[f"{name}_time"].to_numpy()
            values = curves.transpose("draw", ...).to_numpy()
            for q_low, q_high, alpha in ((0.05, 0.95, 0.2), (0.25, 0.75, 0.35)):
                ax.fill_between(
                    t,
                    np.quantile(values, q_low, 0),
                    np.quantile(values, q_high, 0),
                    color="C0",
                    alpha=alpha,
                    linewidth=0,
                )
            for curve in values[:n_lines]:
                ax.plot(t, curve, color="C0", alpha=0.25, linewidth=0.6)
            ax.plot(t, np.median(values, 0), color="C0", linewidth=2)
            ax.set(
                xlabel="months",
                ylabel="S(t), row average",
                ylim=(0, 1.02),
                title=f"{name}: prior survival",
            )
        elif outcome.family == "ordinal":
            probs = draws[f"{name}_prob"].transpose("draw", ...)
            levels = [str(v) for v in probs[f"{name}_level"].to_numpy()]
            ax.boxplot(probs.to_numpy(), tick_labels=levels, showfliers=False)
            ax.set(
                xlabel="rating",
                ylabel="share of rows",
                ylim=(0, 1),
                title=f"{name}: prior rating shares",
            )
        else:
            ax.hist(draws[f"{name}_prob"].to_numpy(), bins=30, range=(0, 1), color="C0")
            ax.set(xlabel="P(1), row average", ylabel="prior draws", title=f"{name}: prior")
    return figure
