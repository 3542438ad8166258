"""Many fits as Dask tasks give the fits of one-after-the-other fitting, and skip saved ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dask.distributed import LocalCluster
from tests.inference.conftest import simulated_study

from grassroots.data import Study
from grassroots.inference import fit
from grassroots.inference.dispatch import FitJob, fit_many


@pytest.fixture(scope="module")
def tiny_study() -> Study:
    return simulated_study(seed=4, counties=3, townships_per_county=3, projects=3)


@pytest.fixture(scope="module")
def threads_cluster():
    # Worker threads in this process, so that the test's fake sampler is the one they call.
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
def test_fit_many_on_dask_equals_fitting_in_turn(
    tiny_study, fake_sampler, threads_cluster, tmp_path: Path
) -> None:
    jobs = [FitJob("survival_m1", seed=1, log_likelihood=True), FitJob("strategy_expedient", 2)]
    dispatched = fit_many(tiny_study, jobs, chains=2, draws=10, tune=0,
                          fitted_dir=tmp_path / "dask", scheduler=threads_cluster.scheduler_address,
                          echo=lambda _: None)  # fmt: skip
    assert len(fake_sampler) == 2
    assert [f.spec.name for f in dispatched] == ["survival_m1", "strategy_expedient"]
    assert "log_likelihood" in dispatched[0].trace.children
    for job, fitted in zip(jobs, dispatched, strict=True):
        in_turn = fit(tiny_study, job.spec, seed=job.seed, chains=2, draws=10, tune=0,
                      fitted_dir=tmp_path / "serial", progress=False)  # fmt: skip
        for name, values in in_turn.posterior.data_vars.items():
            np.testing.assert_array_equal(fitted.posterior[name], values)

    again = fit_many(tiny_study, jobs, chains=2, draws=10, tune=0, fitted_dir=tmp_path / "dask",
                     scheduler="tcp://127.0.0.1:1", echo=lambda _: None)  # fmt: skip
    assert len(fake_sampler) == 4, "saved fits are loaded, no cluster is contacted"
    assert [f.path for f in again] == [f.path for f in dispatched]


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
def test_a_damaged_bundle_is_refitted_on_the_cluster(
    tiny_study, fake_sampler, threads_cluster, tmp_path: Path
) -> None:
    from grassroots.inference import BundleWarning

    jobs = [FitJob("survival_m1", seed=1), FitJob("strategy_expedient", 2)]
    first = fit_many(tiny_study, jobs, chains=2, draws=10, tune=0, fitted_dir=tmp_path,
                     scheduler=threads_cluster.scheduler_address, echo=lambda _: None)  # fmt: skip
    chunk = next(p for p in sorted((first[1].path / "trace.zarr").rglob("c/*")) if p.is_file())
    chunk.write_bytes(chunk.read_bytes()[:-1])
    lines: list[str] = []
    with pytest.warns(BundleWarning, match=rf"ignoring unreadable bundle {first[1].path.name}"):
        again = fit_many(tiny_study, jobs, chains=2, draws=10, tune=0, fitted_dir=tmp_path,
                         scheduler=threads_cluster.scheduler_address,
                         echo=lines.append)  # fmt: skip
    assert len(lines) == 1 and first[1].path.name in lines[0], lines
    assert len(fake_sampler) == 3
    np.testing.assert_array_equal(
        again[1].posterior["expedient_beta"], first[1].posterior["expedient_beta"]
    )
