"""Many fits at once (specs x seeds x prior scalings) as tasks on Dask.

Each task is one :func:`~grassroots.inference.fit` that saves its bundle; the caller then loads
the bundles, so the results are exactly those of fitting one after the other (a fit depends only
on its spec, data and seed). Bundles already on disk are not refitted. On an existing cluster
(``scheduler=ADDRESS``) the bundle folder must be on a file system that the workers share with
the caller.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grassroots import _paths
from grassroots.inference.bundle import bundle_name
from grassroots.inference.fit_result import Fit, StudyLike, resolve_data
from grassroots.inference.fitting import _reusable, fit
from grassroots.models.spec import ModelSpec, load_spec

__all__ = ["FitJob", "fit_many"]


@dataclass(frozen=True)
class FitJob:
    """One fit: a spec (name, file or spec), its seed, and whether to keep the log-likelihood."""

    spec: str | Path | ModelSpec
    seed: int
    log_likelihood: bool = False


def _fit_task(
    data: Any, job: FitJob, fitted_dir: str, overrides: dict[str, int | None]
) -> dict[str, Any]:
    from grassroots.inference.diagnostics import ConvergenceWarning

    started = time.perf_counter()
    with warnings.catch_warnings():
        # The caller reads every fit's diagnostics from its bundle.
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fit(data, job.spec, seed=job.seed, fitted_dir=fitted_dir, progress=False,
                     log_likelihood=job.log_likelihood, **overrides)  # fmt: skip
    return {"bundle": str(fitted.path), "seconds": time.perf_counter() - started}


def fit_many(
    data: Any | StudyLike,
    jobs: Sequence[FitJob],
    *,
    chains: int | None = None,
    draws: int | None = None,
    tune: int | None = None,
    fitted_dir: str | Path | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    echo: Callable[[str], None] = print,
) -> list[Fit]:
    """Fit every job on Dask (a local cluster of ``workers`` processes, or the cluster at
    ``scheduler``) and return the fits in the order of ``jobs``.

    Parameters
    ----------
    data : DataFrame or study
        The data every job is fitted to (sent to the workers once).
    jobs : sequence of FitJob
    chains, draws, tune : optional
        Override every spec's sampler settings.
    fitted_dir : str or Path, optional
        Folder of bundles (default :func:`grassroots._paths.fitted_dir`); shared with the
        workers.
    workers : int
        Processes of the local cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing Dask scheduler.
    echo : callable
        Receives a line per finished fit.
    """
    from grassroots._dask import dask_client

    folder = _paths.fitted_dir(fitted_dir)
    overrides = {"chains": chains, "draws": draws, "tune": tune}
    _, data_hash = resolve_data(data)
    specs = [load_spec(job.spec).with_sampler(**overrides) for job in jobs]
    # A saved bundle that fit() would refuse or refit (damaged, other settings or versions) is
    # refitted on the cluster too, not one after the other afterwards. Checking needs no draws.
    missing = [
        job for job, spec in zip(jobs, specs, strict=True)
        if _reusable(folder / bundle_name(spec, data_hash, job.seed), spec, data_hash, job.seed,
                     lazy=True) is None
    ]  # fmt: skip
    if missing:
        from dask.distributed import as_completed

        with dask_client(workers, scheduler) as client:
            shared = client.scatter(data, broadcast=True)
            futures = {
                client.submit(_fit_task, shared, job, str(folder), overrides, pure=False): job
                for job in missing
            }
            for future in as_completed(futures):
                result = future.result()
                echo(f"      fitted {Path(result['bundle']).name} in {result['seconds']:.1f} s")
    return [
        fit(data, job.spec, seed=job.seed, fitted_dir=folder, progress=False,
            log_likelihood=job.log_likelihood, **overrides)
        for job in jobs
    ]  # fmt: skip
