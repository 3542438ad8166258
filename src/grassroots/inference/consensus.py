"""Consensus Monte Carlo over shards of whole groups: a posterior of a study too large for one
NUTS run.

The method is Scott, Blocker, Bonassi, Chipman, George and McCulloch (2016), "Bayes and big
data: the consensus Monte Carlo algorithm", *International Journal of Management Science and
Engineering Management* 11(2), 78-88. The study is cut into ``S`` shards along its outermost
grouping level (whole counties, so every township and project stays with its county). Given the
parameters every group shares (coefficients, intercepts, cut points, baseline, group SDs and
correlations), the shards' likelihoods are independent, so

    p(shared | y)  is proportional to  prod_s [ p(shared)^(1/S) p(y_s | shared) ],

each factor integrating over its own shard's group effects. Each shard is fitted by NUTS (the
package's own sampler, model and diagnostics) with the shared parameters' prior raised to the
power ``1/S``; the shards' draws of the shared parameters, on the unconstrained scale (log SDs,
the Cholesky factor's log diagonal), are then combined draw by draw as a matrix-weighted mean,
each shard weighted by the inverse of its draws' covariance. The combination is exact when each
shard's posterior is Gaussian, and close when each shard holds many groups; it needs one
compile and one NUTS run per shard, which can run on separate cores or machines.

What it does not give: the group effects themselves (each shard's are conditional on that
shard's draws of the shared parameters, not on the combined ones), posterior predictions and
LOO. Two approximations beyond the Gaussian one: the effects of a level sum to zero within each
shard rather than over the whole study (``S - 1`` fewer degrees of freedom for the group SDs,
negligible with many groups a shard), and the shards' intercepts are combined as the same
parameter although each is relative to its own shard's groups (their weighted mean is the
study's, up to the weights' spread).

Why this and not a nested Laplace approximation of the group effects (INLA, TMB): three of the
structural model's five outcomes are binary with ~4 projects a township, the case in which the
Laplace approximation of a group's effect is known to be poorest and to bias variance components
(Joe 2008, "Accuracy of Laplace approximation for discrete response mixed models",
*Computational Statistics & Data Analysis* 52(12)); the consensus error instead shrinks as the
shards grow, and a national study's shards hold a hundred counties each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pymc.distributions.transforms import CholeskyCovPacked
from pytensor.graph.traversal import ancestors

from grassroots.inference.diagnostics import Diagnostics, compute_diagnostics, flatten
from grassroots.inference.fit_result import StudyLike, resolve_data
from grassroots.inference.preflight import UnfittableDataError, check_data
from grassroots.inference.sampling import exact_compile, start_sampling
from grassroots.models.builder import BuiltModel, build_model, design_centres, prepare_inputs
from grassroots.models.design import Scaling
from grassroots.models.spec import ModelSpec, load_spec

#: The potential that raises the shared parameters' prior to the power 1/S in each shard.
PRIOR_FRACTION = "consensus_prior_fraction"


def shard_rows(frame: pd.DataFrame, column: str, shards: int) -> list[np.ndarray]:
    """Row positions of ``frame`` cut into ``shards`` parts of whole groups of ``column``.

    Groups go, largest first, to the part with the fewest rows so far (ties: the earlier part;
    equal groups: by label), so the parts' sizes differ by at most one group's rows and the cut
    depends on the data alone.
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")
    labels = frame[column].astype(str).to_numpy()
    groups, codes, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    if shards > len(groups):
        raise ValueError(
            f"cannot cut {len(groups)} {column!r} groups into {shards} shards: use at most "
            f"{len(groups)} shards"
        )
    order = sorted(range(len(groups)), key=lambda g: (-sizes[g], groups[g]))
    load = np.zeros(shards, dtype=int)
    part_of_group = np.empty(len(groups), dtype=int)
    for group in order:
        part = int(np.argmin(load))
        part_of_group[group] = part
        load[part] += sizes[group]
    parts = part_of_group[codes]
    return [np.flatnonzero(parts == part) for part in range(shards)]


@dataclass(frozen=True)
class ConsensusPosterior:
    """The combined posterior of the shared parameters, and how each shard's fit went.

    Attributes
    ----------
    posterior : xarray.Dataset
        Draws ``(chain, draw)`` of every shared parameter and of the quantities computed from
        them alone (township SDs and correlations, intercepts and cut points at the reference
        profile), named as in a :class:`~grassroots.inference.Fit`'s posterior.
    shards : DataFrame
        One row per shard: its groups, rows, seed, compile and sampling seconds, and its fit's
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences`` and ``converged``.
    diagnostics : Diagnostics
        R-hat and ESS of the combined draws (chains combined chain by chain).
    spec : ModelSpec
    seed : int
    """

    posterior: xr.Dataset
    shards: pd.DataFrame
    diagnostics: Diagnostics
    spec: ModelSpec
    seed: int

    @property
    def converged(self) -> bool:
        """Every shard's fit converged, and so did the combined draws."""
        return bool(self.shards["converged"].all()) and self.diagnostics.converged

    def summary(self) -> pd.DataFrame:
        """Mean, SD, 94% equal-tailed interval, R-hat and ESS per element (index
        ``name[coord]``); the packed Cholesky factor is left out, as in a fit's summary."""
        kept = [name for name in self.posterior.data_vars if not str(name).endswith("_chol")]
        posterior = self.posterior[kept]
        sample = ("chain", "draw")
        table = pd.DataFrame(
            {
                "mean": flatten(posterior.mean(sample)),
                "sd": flatten(posterior.std(sample, ddof=1)),
                "q3%": flatten(posterior.quantile(0.03, dim=sample).drop_vars("quantile")),
                "q97%": flatten(posterior.quantile(0.97, dim=sample).drop_vars("quantile")),
            }
        )
        table.index.name = "parameter"
        return table.join(self.diagnostics.table)


def fit_consensus(
    data: pd.DataFrame | StudyLike,
    spec: str | Path | ModelSpec,
    *,
    shards: int,
    seed: int,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    target_accept: float | None = None,
    cores: int | None = None,
    progress: bool = False,
    on_shard: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> ConsensusPosterior:
    """Fit ``spec`` to ``data`` in ``shards`` parts of whole outermost groups, and combine them.

    Parameters
    ----------
    data : DataFrame or Study
    spec : str, Path or ModelSpec
        A spec with group levels (the outermost one is cut).
    shards : int
        Parts to cut the study into (1 fits the whole study, as :func:`fit` would, without
        saving it). More shards: each fit smaller and faster, the Gaussian combination rougher;
        keep many groups in each (a hundred counties a shard at national size).
    seed : int
        The one seed: shard ``s`` samples with the ``s``-th seed spawned from it.
    chains, draws, tune, target_accept : optional
        Override the spec's sampler settings for every shard.
    cores : int, optional
        Chains run in parallel within a shard's fit (default: one a core).
    progress : bool
        Show each shard's sampler progress.
    on_shard : callable, optional
        Called with each shard's row of :attr:`ConsensusPosterior.shards` as it finishes.
    workers, scheduler : optional
        Fit the shards as Dask tasks: on a local cluster of ``workers`` processes, or on the
        cluster at ``scheduler``. By default they are fitted in this process, one after the
        other, each compiling while the one before samples. The result does not depend on
        where the shards ran.

    Returns
    -------
    ConsensusPosterior
    """
    spec = load_spec(spec).with_sampler(
        chains=chains, draws=draws, tune=tune, target_accept=target_accept
    )
    if spec.sampler.approximate:
        raise ValueError(f"consensus Monte Carlo combines NUTS fits, not {spec.sampler.method!r}")
    if not spec.groups:
        raise ValueError(f"spec {spec.name!r} has no group levels to cut the data along")
    frame, _ = resolve_data(data)
    frame = frame.reset_index(drop=True)
    check_data(spec, frame)
    whole = prepare_inputs(spec, frame)
    outer = spec.groups[0].column
    seeds = [
        int(s.generate_state(1, dtype=np.uint32)[0])
        for s in np.random.SeedSequence(seed).spawn(shards)
    ]
    centres = design_centres(whole)
    jobs = [
        _ShardJob(number, spec, frame.iloc[rows].reset_index(drop=True), whole.scaling, centres,
                  shards, seeds[number], outer)
        for number, rows in enumerate(shard_rows(frame, outer, shards))
    ]  # fmt: skip
    for job in jobs:
        try:
            check_data(spec, job.frame)
        except UnfittableDataError as error:
            raise UnfittableDataError(
                f"shard {job.number + 1} of {shards} ({len(job.frame):,d} rows): {error}; use "
                "fewer shards"
            ) from error
    finished: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}

    def keep(result: tuple[np.ndarray, dict[str, Any]]) -> None:
        finished[result[1]["shard"]] = result
        if on_shard is not None:
            on_shard(result[1])

    if workers is None and scheduler is None:
        # The next shard compiles while this one samples (nutpie runs sample one at a time).
        following = jobs[0].start(progress, cores)
        for number in range(shards):
            running = following
            if number + 1 < shards:
                following = jobs[number + 1].start(progress, cores)
            keep(running.finish())
        # Any shard's model maps the combined draws back (the shared parameters are the same).
        mapping = running.model
    else:
        from dask.distributed import as_completed

        from grassroots._dask import dask_client

        with dask_client(workers or 2, scheduler) as client:
            futures = [client.submit(_fit_shard, job, cores, pure=False) for job in jobs]
            for future in as_completed(futures):
                keep(future.result())
        mapping = jobs[0].model()
    combined = combine_draws([finished[number][0] for number in range(shards)])
    chains_, draws_ = spec.sampler.chains, spec.sampler.draws
    posterior = mapping.constrained(combined.reshape(chains_, draws_, -1))
    diagnostics = compute_diagnostics(xr.DataTree.from_dict({"posterior": posterior}))
    rows = pd.DataFrame([finished[number][1] for number in range(shards)])
    return ConsensusPosterior(posterior, rows, diagnostics, spec, seed)


@dataclass(frozen=True)
class _ShardJob:
    """One shard's fit: everything a worker needs (sent to Dask as is)."""

    number: int
    spec: ModelSpec
    frame: pd.DataFrame
    scaling: Scaling
    centres: dict[str, np.ndarray]
    shards: int
    seed: int
    outer: str

    def model(self) -> _ShardModel:
        inputs = prepare_inputs(self.spec, self.frame, self.scaling)
        return _ShardModel(build_model(self.spec, inputs, centres=self.centres), self.shards)

    def start(self, progress: bool, cores: int | None) -> _ShardRun:
        model = self.model()
        began = time.perf_counter()
        started = start_sampling(
            model.built.model,
            self.spec.sampler,
            seed=self.seed,
            progress=progress,
            cores=cores,
            initial_points=model.built.initial_points,
        )
        return _ShardRun(self, model, started, began)


@dataclass(frozen=True)
class _ShardRun:
    job: _ShardJob
    model: _ShardModel
    started: Any
    began: float

    def finish(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The shard's draws of the shared parameters (unconstrained), and its report row."""
        result = self.started.result()
        overview = compute_diagnostics(result.trace).overview()
        draws = self.model.unconstrained(result.trace["posterior"].to_dataset())
        job = self.job
        row = {
            "shard": job.number,
            "groups": int(job.frame[job.outer].nunique()),
            "rows": len(job.frame),
            "seed": job.seed,
            "compile_seconds": result.compile_seconds,
            "sample_seconds": result.sample_seconds,
            "wall_seconds": time.perf_counter() - self.began,
            "max_rhat": overview["max_rhat"],
            "min_ess_bulk": overview["min_ess_bulk"],
            "min_ess_tail": overview["min_ess_tail"],
            "divergences": overview["n_divergent"],
            "converged": overview["converged"],
        }
        return draws, row


def _fit_shard(job: _ShardJob, cores: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """A Dask task: one shard fitted, its shared parameters' draws and report row."""
    return job.start(progress=False, cores=cores).finish()


def cholesky_to_sd_cpc(unconstrained: np.ndarray, k: int) -> np.ndarray:
    """PyMC's unconstrained packed covariance Cholesky factor (row-major lower triangle, log
    diagonal), one row a draw, to ``k`` log SDs and the ``k(k-1)/2`` canonical partial
    correlations through ``atanh`` (Stan's coordinates of an LKJ correlation).

    The shards' draws are combined in these coordinates: the SDs and correlations apart, each
    nearer Gaussian than the factor's entries, whose averages shrink the SDs (a row's norm).
    """
    factor = _unpack(unconstrained, k)
    sds = np.linalg.norm(factor, axis=2)
    unit = factor / sds[:, :, None]
    partial = []
    for i in range(1, k):
        remaining = np.ones(len(unit))
        for j in range(i):
            partial.append(np.arctanh(unit[:, i, j] / np.sqrt(remaining)))
            remaining = remaining - unit[:, i, j] ** 2
    return np.column_stack([np.log(sds), *partial])


def sd_cpc_to_cholesky(coordinates: np.ndarray, k: int) -> np.ndarray:
    """The inverse of :func:`cholesky_to_sd_cpc`."""
    sds = np.exp(coordinates[:, :k])
    unit = np.zeros((len(coordinates), k, k))
    unit[:, 0, 0] = 1.0
    position = k
    for i in range(1, k):
        remaining = np.ones(len(coordinates))
        for j in range(i):
            unit[:, i, j] = np.tanh(coordinates[:, position]) * np.sqrt(remaining)
            remaining = remaining - unit[:, i, j] ** 2
            position += 1
        unit[:, i, i] = np.sqrt(remaining)
    factor = unit * sds[:, :, None]
    rows, columns = np.tril_indices(k)
    packed = factor[:, rows, columns]
    diagonal = rows == columns
    packed[:, diagonal] = np.log(packed[:, diagonal])
    return packed


def _unpack(unconstrained: np.ndarray, k: int) -> np.ndarray:
    rows, columns = np.tril_indices(k)
    values = unconstrained.copy()
    diagonal = rows == columns
    values[:, diagonal] = np.exp(values[:, diagonal])
    factor = np.zeros((len(values), k, k))
    factor[:, rows, columns] = values
    return factor


def combine_draws(draws: Sequence[np.ndarray]) -> np.ndarray:
    """Scott et al.'s consensus: draw ``g`` of the result is ``(sum W_s)^-1 sum W_s x_sg``.

    ``draws`` holds one ``(n, d)`` array a shard (the same ``n``); ``W_s`` is the inverse of
    shard ``s``'s sample covariance.
    """
    shapes = {np.shape(d) for d in draws}
    if len(shapes) != 1:
        raise ValueError(f"every shard needs the same number of draws of the same size: {shapes}")
    weights = [np.linalg.inv(np.atleast_2d(np.cov(d, rowvar=False))) for d in draws]
    total = np.sum(weights, axis=0)
    weighted = np.sum([d @ w.T for d, w in zip(draws, weights, strict=True)], axis=0)
    return np.linalg.solve(total, weighted.T).T


class _ShardModel:
    """One shard's model: the prior of its shared parameters raised to ``1/shards``, and the
    maps between their constrained draws and one unconstrained vector a draw."""

    def __init__(self, built: BuiltModel, shards: int) -> None:
        self.built = built
        model = built.model
        group_dims = set(built.inputs.groups.coords)
        dims = model.named_vars_to_dims

        def local(variable: Any) -> bool:
            return bool(group_dims & set(dims.get(variable.name, ())))

        self.shared = [rv for rv in model.free_RVs if not local(rv)]
        shared_set = set(self.shared)
        local_rvs = [rv for rv in model.free_RVs if rv not in shared_set]
        self.derived = [
            det
            for det in model.deterministics
            if not local(det)
            and not any(node in local_rvs for node in ancestors([det], blockers=self.shared))
        ]
        with model:
            # p(shared)^(1/S): the model already holds p(shared) once.
            pm.Potential(
                PRIOR_FRACTION,
                (1.0 / shards - 1.0) * pt.sum([pm.logp(rv, rv).sum() for rv in self.shared]),
            )
        point = model.initial_point()
        self._shapes = [point[model.rvs_to_values[rv].name].shape for rv in self.shared]
        with exact_compile():
            self._forward = self._compile_forward()
            self._backward = self._compile_backward()

    def _compile_forward(self) -> Any:
        model = self.built.model
        inputs, outputs = [], []
        for rv in self.shared:
            value = rv.type()
            inputs.append(value)
            transform = model.rvs_to_transforms.get(rv)
            mapped = value if transform is None else transform.forward(value, *rv.owner.inputs)
            outputs.append(pt.as_tensor(mapped).flatten())
        return pytensor.function(inputs, pt.concatenate(outputs), on_unused_input="ignore")

    def _compile_backward(self) -> Any:
        model = self.built.model
        values = [model.rvs_to_values[rv] for rv in self.shared]
        outputs = model.replace_rvs_by_values([*self.shared, *self.derived])
        return pytensor.function(values, outputs, on_unused_input="ignore")

    def _cholesky_segments(self) -> list[tuple[slice, int]]:
        """Where each packed covariance Cholesky factor (LKJ) sits in a draw's vector, and its
        size ``k``."""
        transforms = self.built.model.rvs_to_transforms
        segments, start = [], 0
        for rv, shape in zip(self.shared, self._shapes, strict=True):
            size = int(np.prod(shape))
            if isinstance(transforms.get(rv), CholeskyCovPacked):
                k = int(round((np.sqrt(8 * size + 1) - 1) / 2))
                segments.append((slice(start, start + size), k))
            start += size
        return segments

    def unconstrained(self, posterior: xr.Dataset) -> np.ndarray:
        """``(chains * draws, d)``: each draw's shared parameters on the unconstrained scale."""
        names = [rv.name for rv in self.shared]
        stacked = [
            posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
            for name in names
        ]
        vectors = np.stack([self._forward(*(s[k] for s in stacked))
                            for k in range(stacked[0].shape[0])])  # fmt: skip
        for segment, k in self._cholesky_segments():
            vectors[:, segment] = cholesky_to_sd_cpc(vectors[:, segment], k)
        return vectors

    def constrained(self, draws: np.ndarray) -> xr.Dataset:
        """The shared parameters and what is computed from them alone, from ``(chains, draws,
        d)`` unconstrained draws."""
        model = self.built.model
        splits = np.cumsum([int(np.prod(shape)) for shape in self._shapes])[:-1]
        variables = [*self.shared, *self.derived]
        collected: list[list[np.ndarray]] = [[] for _ in variables]
        chains, per_chain = draws.shape[:2]
        draws = draws.reshape(chains * per_chain, -1).copy()
        for segment, k in self._cholesky_segments():
            draws[:, segment] = sd_cpc_to_cholesky(draws[:, segment], k)
        for vector in draws:
            pieces = np.split(vector, splits)
            arguments = [p.reshape(shape) for p, shape in zip(pieces, self._shapes, strict=True)]
            for store, value in zip(collected, self._backward(*arguments), strict=True):
                store.append(np.asarray(value))
        coords = model.coords
        dims = model.named_vars_to_dims
        data = {}
        for variable, store in zip(variables, collected, strict=True):
            stacked = np.stack(store).reshape(chains, per_chain, *np.shape(store[0]))
            names = ("chain", "draw", *dims.get(variable.name, ()))
            if len(names) != stacked.ndim:
                names = ("chain", "draw", *(f"{variable.name}_dim_{i}"
                                            for i in range(stacked.ndim - 2)))  # fmt: skip
            data[variable.name] = (names, stacked)
        dataset = xr.Dataset(data)
        used = {d for array in dataset.data_vars.values() for d in array.dims}
        return dataset.assign_coords(
            {name: list(values) for name, values in coords.items() if name in used}
        )
