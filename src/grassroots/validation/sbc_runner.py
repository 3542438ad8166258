"""SBC runs: simuk on the package's models, one chunk of simulations, chunks saved to resume."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import simuk
import xarray as xr
from arviz_base import extract

from grassroots._io import write_text_atomic
from grassroots.models import ModelSpec, build_model, prepare_inputs
from grassroots.models.prior_predictive import order_cutpoints
from grassroots.validation.sbc_designs import (
    MAX_KEPT,
    MIN_KEPT,
    ChunkTask,
    covariate_frame,
)
from grassroots.validation.sbc_outcomes import OutcomeSimulator
from grassroots.validation.sbc_quantities import (
    LOG_LIK,
    Quantity,
    as_samples,
    fit_diagnostics,
    kept_size,
    log_lik_quantities,
    point_log_lik,
    test_quantities,
    thin_draws,
)

# In PyTensor 3, FAST_RUN with the default linker ("auto") is the numba backend, not C
# (pytensor.compile.mode.get_mode); the C backend would be "CVM".
COMPILE_MODE = "FAST_RUN"


class GrassrootsSBC(simuk.SBC):
    """:class:`simuk.SBC` (prior SBC) on a package model, rebuilt from each simulated data set.

    Parameters
    ----------
    spec : ModelSpec
        Its ``sampler`` settings set chains, draws, tune and target_accept of every fit.
    frame : DataFrame
        Fixed covariates (:func:`covariate_frame`).
    num_simulations : int
    seed : int
        simuk's seed: the reference draws, their order and every fit's seed follow from it.
    max_kept, min_kept : int
        Bounds of the draws kept per fit (see :func:`kept_size`).
    simulated : bool
        Draw the data with :class:`OutcomeSimulator` (else with PyMC's prior predictive).
    """

    def __init__(
        self,
        spec: ModelSpec,
        frame: pd.DataFrame,
        *,
        num_simulations: int,
        seed: int,
        max_kept: int = MAX_KEPT,
        min_kept: int = MIN_KEPT,
        simulated: bool = True,
    ) -> None:
        self.spec = spec
        self.frame = frame.reset_index(drop=True)
        self.inputs = prepare_inputs(spec, self.frame)
        built = build_model(spec, self.inputs)
        self.quantities = test_quantities(spec, built.model)
        self.log_lik_quantities = log_lik_quantities(spec)
        self.max_kept, self.min_kept = max_kept, min_kept
        self.fits: list[dict[str, Any]] = []
        self.failure: str | None = None
        settings = spec.sampler
        sample_kwargs = {
            "draws": settings.draws,
            "tune": settings.tune,
            "chains": settings.chains,
            "cores": 1,  # Dask runs the chunks in parallel; a worker process has one core
            "nuts_sampler": "pymc",  # PyMC 6 would pick nutpie, whose numba compile dominates
            "target_accept": settings.target_accept,
            "max_treedepth": settings.max_treedepth,
            "compile_kwargs": {"mode": COMPILE_MODE},
        }
        simulator = OutcomeSimulator(spec, self.inputs, self.frame) if simulated else None
        # simuk warns (root logger) that the simulator replaces the model's observed variables,
        # which is the intent here.
        logging.disable(logging.WARNING)
        try:
            super().__init__(
                built.model,
                num_simulations=num_simulations,
                sample_kwargs=sample_kwargs,
                seed=seed,
                simulator=simulator,
                progress_bar=False,
            )
        finally:
            logging.disable(logging.NOTSET)

    def _get_prior_predictive_samples(self):
        if self.simulator is None:
            return super()._get_prior_predictive_samples()
        # The survival likelihood cannot be drawn by PyMC: draw the parameters only and leave
        # the data to the simulator. Forward draws of ordered cut points are unordered; sorted,
        # they are draws of the ordered prior that MCMC targets.
        names = [v.name for v in (*self.model.free_RVs, *self.model.deterministics)]
        with self.model:
            idata = pm.sample_prior_predictive(
                draws=self.num_simulations, var_names=names, random_seed=self._seeds[0]
            )
        prior = order_cutpoints(extract(idata, group="prior", keep_dataset=True), self.spec)
        return prior, self._get_simulator_data(prior)

    def _frame_with(self, replicated: Mapping[str, np.ndarray]) -> pd.DataFrame:
        frame = self.frame.copy()
        if self.simulator is not None:  # the simulator returns data columns
            for column, values in replicated.items():
                frame[column] = np.asarray(values)
            return frame
        # PyMC's draws are each outcome's observed variable, in the model's encoding.
        for outcome in self.spec.outcomes:
            values = np.asarray(replicated[outcome.name])
            if outcome.family == "ordinal":
                values = self.inputs.outcomes[outcome.name].values["levels"][values]
            frame[outcome.columns["column"]] = values
        return frame

    def _get_posterior_samples(self, replicated_data):
        idx = self._simulations_complete
        seed = int(self._seeds[idx])
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            frame = self._frame_with(replicated_data)
            built = build_model(self.spec, prepare_inputs(self.spec, frame, self.inputs.scaling))
            with built.model:
                trace = pm.sample(
                    **self.sample_kwargs,
                    random_seed=seed,
                    initvals=dict(built.initial_points) or None,
                )
            fit = {"simulation": idx, "seed": seed}
            fit |= fit_diagnostics(trace, self.quantities)
            posterior = trace["posterior"].to_dataset()
            fit["kept_draws"] = kept_size(
                fit["min_ess_bulk"],
                posterior.sizes["chain"],
                posterior.sizes["draw"],
                self.min_kept,
                self.max_kept,
            )
            kept = thin_draws(posterior, fit["kept_draws"])
            free = [rv.name for rv in built.model.free_RVs]
            reference = self.ref_params.isel(sample=[idx])
            # The reference draw goes last, so one compiled function serves all draws.
            points = xr.concat([as_samples(kept, free), as_samples(reference, free)], "sample")
            log_lik = point_log_lik(built.model, points)
        except Exception:
            self.failure = f"simulation {idx} (seed {seed}):\n{traceback.format_exc()}"
            raise
        if idx == 0:
            self._rank_test_quantities_only()
        for q in self._ll:
            # In place: simuk ranks against ref_params after its loop.
            self.ref_params[q.variable].values[idx] = log_lik[self._outcome_of(q)][-1]
        kept = kept.assign(
            {
                q.variable: (
                    ("chain", "draw"),
                    log_lik[self._outcome_of(q)][:-1].reshape(
                        kept.sizes["chain"], kept.sizes["draw"]
                    ),
                )
                for q in self._ll
            }
        )
        fit["seconds"] = time.perf_counter() - started
        # CPU time too: on a shared machine the wall time says more about the neighbours.
        fit["cpu_seconds"] = time.process_time() - cpu_started
        self.fits.append(fit)
        return extract(kept[self.var_names], keep_dataset=True)

    def _rank_test_quantities_only(self) -> None:
        """Make simuk rank the test quantities, log-likelihood included, and nothing else.

        With a simulator, simuk ranks every variable of the prior draws (deterministics too),
        and its pure-Python ranking then costs seconds per simulation; the reference
        log-likelihoods are filled in as the fits come.
        """
        n = self.ref_params.sizes["sample"]
        self.ref_params = self.ref_params.assign(
            {q.variable: ("sample", np.full(n, np.nan)) for q in self._ll}
        )
        self.var_names = sorted({q.variable for q in (*self.quantities, *self._ll)})

    @property
    def _ll(self) -> list[Quantity]:
        return self.log_lik_quantities

    @staticmethod
    def _outcome_of(quantity: Quantity) -> str:
        return quantity.variable.split("__", 1)[1] if "__" in quantity.variable else LOG_LIK

    def quantity_ranks(self) -> pd.DataFrame:
        """Ranks (0..L of each fit) of every test quantity: one row per completed simulation."""
        quantities = [*self.quantities, *self._ll]
        ranks = self.simulations["prior_sbc"]  # computed by simuk at the end of its loop
        return pd.DataFrame(
            {q.label: ranks[q.variable].to_numpy()[0][(slice(None), *q.index)] for q in quantities}
        ).astype(np.int64)


@dataclass
class ChunkResult:
    """What a chunk sends back: the ranks, one row of fit diagnostics per simulation, timing."""

    family: str
    chunk: int
    seed: int
    ranks: pd.DataFrame
    fits: pd.DataFrame
    started: float
    seconds: float
    error: str | None = None


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Run one chunk of simulations; an error comes back in ``error`` (no partial ranks)."""
    started_wall, started = time.time(), time.perf_counter()
    spec = task.design.spec()
    frame = covariate_frame(task.data_seed, task.design.size)
    sbc = None
    try:
        with warnings.catch_warnings(), pytensor.config.change_flags(traceback__limit=0):
            # Divergence and ESS warnings of individual fits are recorded per fit instead.
            warnings.simplefilter("ignore")
            sbc = GrassrootsSBC(
                spec,
                frame,
                num_simulations=task.n_simulations,
                seed=task.seed,
                max_kept=task.design.max_kept,
                min_kept=task.design.min_kept,
                simulated=task.design.simulated,
            )
            sbc.run_simulations()
        if sbc._simulations_complete < task.n_simulations:
            raise RuntimeError(sbc.failure or "simuk stopped early without a recorded error")
        ranks = sbc.quantity_ranks()
    except Exception as error:
        message = sbc.failure if sbc is not None and sbc.failure else traceback.format_exc()
        return ChunkResult(
            task.family,
            task.chunk,
            task.seed,
            pd.DataFrame(),
            pd.DataFrame(sbc.fits if sbc is not None else []),
            started_wall,
            time.perf_counter() - started,
            error=f"{type(error).__name__}: {message}",
        )
    fits = pd.DataFrame(sbc.fits)
    fits.insert(0, "chunk", task.chunk)
    ranks.insert(0, "simulation", fits["simulation"].to_numpy())
    ranks.insert(0, "chunk", task.chunk)
    return ChunkResult(
        task.family,
        task.chunk,
        task.seed,
        ranks,
        fits,
        started_wall,
        time.perf_counter() - started,
    )


def _chunk_identity(task: ChunkTask) -> dict[str, Any]:
    design = json.dumps(dataclasses.asdict(task.design), sort_keys=True, default=str)
    return {
        "family": task.family,
        "chunk": task.chunk,
        "n_simulations": task.n_simulations,
        "seed": task.seed,
        "data_seed": task.data_seed,
        "design": hashlib.sha256(design.encode()).hexdigest(),
    }


def chunk_path(folder: str | Path, task: ChunkTask) -> Path:
    return Path(folder) / f"{task.family}-{task.chunk:03d}.json"


def save_chunk(folder: str | Path, task: ChunkTask, result: ChunkResult) -> Path:
    """Save a finished chunk (atomically), with what identifies it, as JSON."""
    payload = {
        **_chunk_identity(task),
        "started": result.started,
        "seconds": result.seconds,
        "ranks": result.ranks.to_dict(orient="split"),
        "fits": result.fits.to_dict(orient="split"),
    }
    target = chunk_path(folder, task)
    write_text_atomic(target, json.dumps(payload, default=_json_scalar) + "\n")
    return target


def load_chunk(folder: str | Path, task: ChunkTask) -> ChunkResult | None:
    """A chunk saved by :func:`save_chunk` for this very task, or ``None``."""
    path = chunk_path(folder, task)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if any(payload.get(k) != v for k, v in _chunk_identity(task).items()):
        return None
    return ChunkResult(
        task.family,
        task.chunk,
        task.seed,
        pd.DataFrame(**payload["ranks"]),
        pd.DataFrame(**payload["fits"]),
        float(payload["started"]),
        float(payload["seconds"]),
    )


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
