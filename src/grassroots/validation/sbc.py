"""Simulation-based calibration (SBC) of the package's model families, with simuk on Dask.

SBC (Talts et al., 2018) checks that the sampler and the model code agree: draw parameters from
the prior, data from the model given them, fit the model to the data, and rank the drawn value
of each quantity among the posterior draws. If inference is calibrated, every rank is uniform.
The SBC machinery (reference draws, their order, per-simulation seeds, the rank statistics) is
:class:`simuk.SBC`; this module supplies the package's models, data and sampler to it, splits
the simulations into chunks run by ``dask.distributed`` workers, merges the ranks and tests
them with ArviZ's ``pot_c`` uniformity test.

Families (:data:`FAMILY_DESIGNS`), each a spec built like ``models/*.toml`` on a small data set
(covariates drawn once by :func:`grassroots.data.simulate.simulate`, fixed across
simulations; every simulation redraws only the outcomes):

* ``survival_piecewise``, ``survival_weibull``: proportional hazards, county and township
  frailties, a late (time-varying) effect of ``short_sighted`` from month 12, censored at each
  project's follow-up (launch to survey date);
* ``ordinal``: cumulative logit of ``demand_fit`` (1-5, no missing ratings);
* ``logistic``: a strategy (``expedient``);
* ``structural``: the joint model of the five outcomes, correlated township effects (LKJ), the
  strategies and short-sightedness as mediators; one grouping level (the correlated township
  level), smaller data and a shorter chain, as a fit costs several times a single family's.

Intercepts, cut points and the piecewise baseline are tested as sampled, at the average profile
(``*_centred``): their reported values at the reference profile shift with the design's column
means, which in the joint model move with the simulated mediators.

How each piece deviates from simuk's defaults, and why:

* **Model per simulation.** The builder bakes the data into the PyMC graph as constants
  (survival exposure matrices, interval indices, centred design matrices), so simuk's swap of
  observed values (``pm.observe``) would leave them stale. :class:`GrassrootsSBC` overrides the
  fit step to rebuild the model with :func:`grassroots.models.build_model` from the covariates
  plus the simulated outcomes (scaling learnt once, on the fixed covariates), then samples.
* **Data.** The survival likelihood is a logp-only ``pm.CustomDist``: PyMC cannot draw from it
  (``sample_prior_predictive`` raises ``NotImplementedError``). Forward draws of ordered cut
  points ignore the ordered transform, so they are not draws of the prior that MCMC targets
  (sorting them is; :func:`grassroots.models.prior_predictive.order_cutpoints`). The joint model
  must draw the mediators before the outcomes that use them as predictors. So every family but
  ``logistic`` passes simuk a ``simulator`` (:class:`OutcomeSimulator`) that draws the outcomes
  from the parameters, inverting the cumulative hazard for event times (as
  :func:`grassroots.data.simulate.event_times` does) and censoring them at the follow-up;
  ``logistic`` uses PyMC's own prior predictive draws.
* **Sampler.** PyMC's NUTS on one core per fit, in PyTensor's ``FAST_RUN`` mode: with
  PyTensor 3's default linker (``auto``) that is the numba backend, not C (mode ``CVM`` would
  be C). nutpie, PyMC 6's default, is not used: its compile of each rebuilt model dominates a
  fit here. PyTensor's stack-trace capture is switched off while a chunk runs (it took ~15% of
  every compile).
* **Thinning.** Each fit runs ``chains`` chains of ``draws`` draws and is thinned to its own
  ESS: it keeps ``L = clip(floor(min ESS), min_kept, max_kept)`` draws, equally spaced within
  each chain, where min ESS is the smallest bulk ESS over the tested parameters; so the kept
  draws are close to independent, as the uniformity of SBC ranks needs. A simulation's rank runs
  over 0..L for its own L (recorded per fit, with the ESS); L depends on the fit only, never on
  the reference draw, so each rank stays uniform given its L.
* **Test quantities.** Every element of every sampled parameter, except the latent standard
  normals of group effects and the packed LKJ factor, which are replaced by the interpretable
  group effects of the first group at each level and, for the correlated level, its SDs and
  correlations; plus the log-likelihood of the simulated data, ``log_lik`` (and per outcome in
  the joint model), computed with :func:`pymc.compute_log_likelihood` for the reference draw and
  for each kept posterior draw.
* **Uniformity test.** Ranks become randomised PIT values ``(rank + U) / (L + 1)``, exactly
  uniform under calibration whatever each simulation's L (mid-ranks would make the test
  slightly liberal), tested with ``pot_c`` (``arviz_stats`` ``uniformity_test``), then
  Holm-adjusted over the quantities of each family (valid under any dependence between
  quantities, and never less powerful than Bonferroni); a quantity fails when its adjusted
  p-value is below ``alpha`` (0.01).

Seeds: one master seed; ``SeedSequence(seed).spawn`` gives the covariate data, then one child
per family (by its position in :data:`ALL_FAMILIES`, so running a subset gives the same draws);
each family's child spawns one seed per chunk (simuk derives every simulation's seed from it)
and one for the PIT jitter. A run is reproducible from the seed, the number of simulations and
the chunk size.

This module runs a whole campaign (:func:`run_sbc`) and re-exports the names of its parts:
:mod:`~grassroots.validation.sbc_designs` (families, covariates, seeds),
:mod:`~grassroots.validation.sbc_outcomes` (outcomes drawn from parameters),
:mod:`~grassroots.validation.sbc_quantities` (test quantities, thinning),
:mod:`~grassroots.validation.sbc_runner` (simuk, one chunk, saved chunks),
:mod:`~grassroots.validation.sbc_statistics` (PIT, tests, Holm) and
:mod:`~grassroots.validation.sbc_report` (tables and plots).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from grassroots._dask import dask_client
from grassroots._fresh_process import call_in_fresh_process
from grassroots.validation.sbc_designs import (
    ALL_FAMILIES,
    DEFAULT_SEED,
    FAMILY_DESIGNS,
    MAX_KEPT,
    MIN_KEPT,
    ChunkTask,
    DataSize,
    FamilyDesign,
    chunk_seeds,
    covariate_frame,
    data_seed,
    plan_chunks,
)
from grassroots.validation.sbc_outcomes import (
    OutcomeSimulator,
    _causal_order,  # noqa: F401 (tests reach it as sbc._causal_order)
    piecewise_event_times,
)
from grassroots.validation.sbc_quantities import (
    LOG_LIK,
    Quantity,
    kept_size,
    log_lik_quantities,
    test_quantities,
    thin_draws,
)
from grassroots.validation.sbc_report import family_summary, plot_family, write_results
from grassroots.validation.sbc_runner import (
    COMPILE_MODE,
    ChunkResult,
    GrassrootsSBC,
    chunk_path,
    load_chunk,
    run_chunk,
    save_chunk,
)
from grassroots.validation.sbc_statistics import (
    ALPHA,
    FamilyResult,
    SBCResult,
    chunk_span_seconds,
    family_result,
    holm,
    merge_chunks,
    pit_values,
    uniformity_tests,
)

__all__ = [
    "ALL_FAMILIES",
    "ALPHA",
    "COMPILE_MODE",
    "DEFAULT_SEED",
    "FAMILY_DESIGNS",
    "LOG_LIK",
    "MAX_KEPT",
    "MIN_KEPT",
    "ChunkResult",
    "ChunkTask",
    "DataSize",
    "FamilyDesign",
    "FamilyResult",
    "GrassrootsSBC",
    "OutcomeSimulator",
    "Quantity",
    "SBCResult",
    "chunk_path",
    "chunk_seeds",
    "covariate_frame",
    "data_seed",
    "family_result",
    "family_summary",
    "holm",
    "kept_size",
    "load_chunk",
    "log_lik_quantities",
    "merge_chunks",
    "piecewise_event_times",
    "pit_values",
    "plan_chunks",
    "plot_family",
    "run_chunk",
    "run_sbc",
    "save_chunk",
    "test_quantities",
    "thin_draws",
    "uniformity_tests",
    "write_results",
]


# Families by their cost per fit, measured (cheapest first).
_COST_ORDER = ("logistic", "ordinal", "survival_piecewise", "survival_weibull", "structural")


def run_sbc(
    families: Sequence[str] = ALL_FAMILIES,
    n_simulations: int | Mapping[str, int] = 200,
    *,
    seed: int = DEFAULT_SEED,
    chunk_size: int = 10,
    workers: int = 2,
    scheduler: str | None = None,
    designs: Mapping[str, FamilyDesign] | None = None,
    alpha: float = ALPHA,
    checkpoints: str | Path | None = None,
    run_pending: bool = True,
    progress: Callable[[str], None] | None = print,
) -> SBCResult:
    """Run SBC for ``families`` on Dask and test the ranks.

    Parameters
    ----------
    families : sequence of str
        Names from :data:`ALL_FAMILIES`.
    n_simulations : int or Mapping[str, int]
        Simulations per family.
    seed : int
        Master seed (see the module notes).
    chunk_size : int
        Simulations per Dask task.
    workers : int
        Worker processes of the LocalCluster (one thread each); ignored with ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); its workers need this
        package installed.
    designs : Mapping[str, FamilyDesign], optional
        Replace some families' designs (tests use smaller fits).
    alpha : float
        Level of each test after the Holm correction.
    checkpoints : path, optional
        Folder where every finished chunk is saved at once (:func:`save_chunk`); chunks found
        there with the same family, index, seeds, size and design are loaded instead of run,
        so a stopped run resumes where it stopped.
    run_pending : bool
        ``False``: run nothing, only test the chunks found in ``checkpoints`` (an interim
        report of a run still going, or of one that was stopped).
    progress : callable, optional
        Receives one line per finished chunk.
    """
    from dask.distributed import as_completed

    unknown = [f for f in families if f not in ALL_FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {list(ALL_FAMILIES)}")
    designs = {**FAMILY_DESIGNS, **(designs or {})}
    counts = (
        n_simulations
        if isinstance(n_simulations, Mapping)
        else dict.fromkeys(families, n_simulations)
    )
    tasks = [
        task
        for family in families
        for task in plan_chunks(family, counts[family], seed, chunk_size, designs[family])
    ]
    # The cheapest families first, so that a run stopped early (and resumable, see
    # ``checkpoints``) has whole families done; the joint model's chunks come last.
    cheapest_first = sorted(tasks, key=lambda t: (_COST_ORDER.index(t.family), t.chunk))
    started = time.perf_counter()
    by_family: dict[str, list[ChunkResult]] = {f: [] for f in families}
    pending = []
    for task in cheapest_first:
        saved = load_chunk(checkpoints, task) if checkpoints is not None else None
        if saved is None:
            pending.append(task)
        else:
            by_family[task.family].append(saved)
    if progress is not None and len(pending) < len(tasks):
        progress(f"resuming: {len(tasks) - len(pending)} of {len(tasks)} chunks already done")
    if pending and run_pending:
        with dask_client(workers, scheduler) as client:
            # Dask does not keep submission order by itself: explicit priorities do.
            # Each chunk in a new interpreter: a long-lived worker piles up what every fit
            # leaves behind (see grassroots._fresh_process). A child that died is tried again.
            task_of = {
                client.submit(
                    call_in_fresh_process,
                    run_chunk,
                    task,
                    pure=False,
                    key=f"sbc-{task.family}-{task.chunk}",
                    priority=len(pending) - position,
                    retries=1,
                ): task
                for position, task in enumerate(pending)
            }
            for done, future in enumerate(as_completed(list(task_of)), start=1):
                try:
                    result = future.result()
                except Exception as error:  # a crashed child, twice: a failed chunk
                    task = task_of[future]
                    result = ChunkResult(
                        task.family, task.chunk, task.seed, pd.DataFrame(), pd.DataFrame(),
                        time.time(), 0.0, error=f"{type(error).__name__}: {error}",
                    )  # fmt: skip
                by_family[result.family].append(result)
                if checkpoints is not None and result.error is None:
                    save_chunk(checkpoints, task_of[future], result)
                if progress is not None:
                    status = "FAILED" if result.error else "ok"
                    progress(
                        f"[{time.perf_counter() - started:7.0f} s] {done}/{len(task_of)} "
                        f"{result.family} chunk {result.chunk}: {status} in "
                        f"{result.seconds:.0f} s"
                    )
    wall = time.perf_counter() - started
    results = {}
    for family in families:
        if not by_family[family]:
            continue  # a report of saved chunks only, none of this family's yet
        result = family_result(family, by_family[family], seed, alpha)
        design = designs[family]
        result.settings = {
            "spec": dict(design.table),
            "data_size": vars(design.size),
            "kept_draws_bounds": [design.min_kept, design.max_kept],
            "data_from": "OutcomeSimulator" if design.simulated else "PyMC prior predictive",
            "n_simulations_requested": counts[family],
        }
        results[family] = result
    settings = {
        "families": list(families),
        "n_simulations": counts,
        "chunk_size": chunk_size,
        "workers": workers if scheduler is None else None,
        "scheduler": scheduler,
        "alpha": alpha,
        "correction": "Holm over the quantities of each family",
        "test": "arviz_stats uniformity_test, method pot_c, on randomised PIT (rank + U) / (L + 1)",
        "data_seed": data_seed(seed),
        "chunks_resumed": len(tasks) - len(pending),
        # From the first chunk's start to the last one's end, over resumed invocations too.
        "chunks_span_seconds": chunk_span_seconds([r for rs in by_family.values() for r in rs]),
        "chunks_not_run": 0 if run_pending else len(pending),
    }
    return SBCResult(results, seed, settings, wall)
