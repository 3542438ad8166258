"""``grassroots reproduce``: data → fits → estimands → every table and figure, in order.

Each step reuses what is already done: fits are cached as bundles keyed by spec, data hash and
seed (``models/fitted/``), and every output file is written atomically, so an interrupted run
leaves complete files only and the next run picks up where it stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import platform
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grassroots._io import write_text_atomic
from grassroots._seeds import ANALYSIS_SEED

SURVIVAL_SPECS = ("survival_m0", "survival_m1", "survival_m2", "survival_m3", "survival_m4")
DEMAND_FIT_SPECS = (
    "demand_fit_m0", "demand_fit_m1", "demand_fit_m2", "demand_fit_m3", "demand_fit_m4",
)
STRATEGY_SPECS = ("strategy_extensive", "strategy_expedient", "strategy_short_sighted")
STRUCTURAL_SPEC = "structural"
# Appendix B's prior sensitivity: the paper's full survival and demand-fit models with every
# coefficient and group-SD prior half and twice as wide; Appendix B3 the structural model's.
SENSITIVITY_SPECS = ("survival_m4", "demand_fit_m4")
PRIOR_FACTORS = (0.5, 2.0)
# Each scaled prior's posterior is the x1 fit's draws importance-reweighted (PSIS); a spec is
# refitted under the scaled prior only where the weights' Pareto k says they are unreliable.
PRIOR_SCALED_SPECS = (*SENSITIVITY_SPECS, STRUCTURAL_SPEC)
LANGUAGES = ("en", "zh")
_PLURAL = {"county": "counties", "township": "townships", "project": "projects"}
# Validating the data (done by the caller, before ``run``), Table 1, fits, estimands, tables.
STAGES = 5


@dataclass(frozen=True)
class Step:
    """A stage of ``reproduce`` begins (``number`` of ``total``), or, with the same number, a
    line about it (a fit finished on Dask)."""

    number: int
    total: int
    title: str


@dataclass(frozen=True)
class FitProgress:
    """Fit ``number`` of ``total`` (spec ``spec``) starts (``seconds`` is ``None``) or ends:
    ``seconds`` since it started, and whether it converged. A saved fit that is reused ends in
    a fraction of a second."""

    number: int
    total: int
    spec: str
    seconds: float | None = None
    converged: bool | None = None

    @property
    def done(self) -> bool:
        return self.seconds is not None


def _ignore(_event: object) -> None:
    """The default progress callback: a library call reports nothing unless asked."""


def count_text(counts: dict[str, int]) -> str:
    """``{"county": 48, ...}`` as "48 counties, ..."."""
    return ", ".join(f"{n:,d} {_PLURAL.get(level, level)}" for level, n in counts.items())


@dataclass(frozen=True)
class ReproduceSettings:
    """What ``reproduce`` fits and how.

    Parameters
    ----------
    seed
        The one seed: every fit and every random step of the estimands derives from it.
    chains, draws, tune
        Override every spec's sampler settings (``None``: the spec's own). A quick run (for
        tests and previews) uses few draws; its tables then say that the fits did not converge.
    fitted_dir
        Where fit bundles are cached (default ``models/fitted/``).
    estimand_draws
        Posterior draws the estimands (Tables 5-8, Figure 7) use at most, evenly thinned: their
        medians and 95% intervals are as precise from 2,000 draws of a converged fit as from
        8,000, at a quarter of the time. ``None``: every draw.
    workers, scheduler
        Fit the models not yet saved as tasks on Dask: a local cluster of ``workers``
        processes (``workers > 1``), or the existing cluster at ``scheduler``; one after the
        other in this process otherwise. The fits are the same either way.
    """

    seed: int = ANALYSIS_SEED
    chains: int | None = None
    draws: int | None = None
    tune: int | None = None
    fitted_dir: Path | None = None
    estimand_draws: int | None = 2000
    workers: int = 1
    scheduler: str | None = None

    @classmethod
    def quick(cls, seed: int = ANALYSIS_SEED, fitted_dir: Path | None = None) -> ReproduceSettings:
        return cls(seed=seed, chains=2, draws=60, tune=60, fitted_dir=fitted_dir)


def _specs_to_fit() -> list[Any]:
    """Every spec ``reproduce`` fits, in order: the paper's models (the prior refits come after,
    and only where reweighting is unreliable: :func:`_prior_sensitivity`). The structural model
    comes first: its sampling is a cold run's peak of memory (~2.7 GB), best met by a process
    that holds nothing else yet. The demand fits follow it, the longest-sampling of the small
    fits (16-25 CPU s each): the first of them samples while the structural fit is checked and
    saved on the fitting process's main thread (~30 s of one core), where survival M0 sampled
    for 4 s. (The tables list the fits in the paper's order, not this one.)"""
    from grassroots.models import load_spec

    return [
        load_spec(name)
        for name in (STRUCTURAL_SPEC, *DEMAND_FIT_SPECS, *SURVIVAL_SPECS, *STRATEGY_SPECS)
    ]


def _prior_scaled_specs() -> list[tuple[str, Any]]:
    """The specs of Appendix B's prior sensitivity, each with the spec it scales: each of
    :data:`PRIOR_SCALED_SPECS` under each of :data:`PRIOR_FACTORS` (``<spec>_prior_x<factor>``)."""
    from grassroots.models import load_spec
    from grassroots.reporting.appendix import scale_priors

    return [(name, scale_priors(load_spec(name), factor))
            for name in PRIOR_SCALED_SPECS for factor in PRIOR_FACTORS]  # fmt: skip


def check_before_fitting(
    study: Any, reports: Path, settings: ReproduceSettings, languages: Sequence[str] = LANGUAGES
) -> None:
    """Both output folders writable, the Chinese figures' font installed (when ``languages``
    hold ``zh``) and every spec fittable: :func:`run` checks this before its first file or fit,
    so that nothing missing is found only after the fits' minutes.

    Raises
    ------
    PreflightError
        :class:`~grassroots.inference.preflight.OutputFolderError` for a folder,
        :class:`~grassroots.inference.preflight.UnfittableDataError` for the data.
    FontNotAvailableError
        No font for the Chinese figures (:func:`grassroots.reporting.figures.register_cjk_font`).
    """
    from grassroots.inference.fitting import fitted_dir
    from grassroots.inference.preflight import check_data, check_output_folder

    check_output_folder(reports, holds="tables and figures", choice="--out")
    check_output_folder(settings.fitted_dir or fitted_dir())
    if "zh" in languages:
        from grassroots.reporting.figures import register_cjk_font

        register_cjk_font()
    frame = study.flat()
    for spec in [*_specs_to_fit(), *(scaled for _, scaled in _prior_scaled_specs())]:
        check_data(spec, frame)


def _keeps_log_likelihood(spec: Any) -> bool:
    """The models of Tables 2-4 keep their pointwise log-likelihood, for LOO."""
    return spec.name in (*SURVIVAL_SPECS, *DEMAND_FIT_SPECS, *STRATEGY_SPECS)


def _fit_all(
    study: Any,
    settings: ReproduceSettings,
    on_step: Callable[[Step], None],
    on_fit: Callable[[FitProgress], None],
    specs: list[Any],
    done: int = 0,
    of: int | None = None,
) -> dict:
    """Fit ``specs`` (saved fits are reused); progress numbers them after ``done`` fits, out of
    ``of`` (default: ``done`` + their number).

    Where any of them has to be sampled, they are fitted in a forked child and read back from
    their bundles, as saved fits are: compiling and sampling leave ~50 MB of numba code and the
    sampler's freed heap behind in a process (the structural fit alone peaks at ~2.7 GB), and
    they then leave with the child instead of staying under the estimands and the tables.
    """
    from grassroots._forked import ForkedCall
    from grassroots.inference import Fit

    if settings.workers > 1 or settings.scheduler:
        from grassroots.inference.dispatch import FitJob, fit_many

        def on_dask_line(line: str) -> None:
            on_step(Step(3, STAGES, line.strip()))

        on_dask_line(f"fitting on Dask ({settings.scheduler or f'{settings.workers} workers'})")
        fit_many(study, [FitJob(spec, settings.seed, _keeps_log_likelihood(spec))
                         for spec in specs],
                 chains=settings.chains, draws=settings.draws, tune=settings.tune,
                 fitted_dir=settings.fitted_dir, workers=settings.workers,
                 scheduler=settings.scheduler, echo=on_dask_line)  # fmt: skip
    if _all_saved(study, settings, specs):
        return _fit_in_turn(on_fit, study, settings, specs, done, _draws_on_disk, of)
    # Not a daemon: PyMC's sampler, the fallback, starts a process per chain.
    saved = ForkedCall(_fit_in_turn, study, settings, specs, done, _path_of, of,
                       on_message=on_fit, daemon=False).result()  # fmt: skip
    return {name: Fit.load(path, lazy=True) for name, path in saved.items()}


def _all_saved(study: Any, settings: ReproduceSettings, specs: list[Any]) -> bool:
    """Every spec has a bundle in the fitted folder (checked, and refitted if stale, on use)."""
    from grassroots.inference.fitting import bundle_path

    return all(bundle_path(study, spec, seed=settings.seed, chains=settings.chains,
                           draws=settings.draws, tune=settings.tune,
                           fitted_dir=settings.fitted_dir).is_dir() for spec in specs)  # fmt: skip


def _fit_in_turn(
    on_fit: Callable[[FitProgress], None],
    study: Any,
    settings: ReproduceSettings,
    specs: list[Any],
    done: int,
    keep: Callable[[Any], Any],
    of: int | None = None,
) -> dict:
    """Fit ``specs``, each model built and compiled (one core) while the one before it samples
    (nutpie's threads), and each fit checked and saved while the next one samples. Returns spec
    name -> ``keep(fit)``: only the fits in flight are held."""
    from grassroots.inference import ConvergenceWarning
    from grassroots.inference.fitting import start_fit
    from grassroots.inference.prior_reweighting import reweight_prior

    fits = {}
    total = done + len(specs) if of is None else of
    in_flight: list[tuple[int, Any, float, Any]] = []
    scaled_specs = _prior_scaled_specs()
    flat = functools.cache(study.flat)

    def finish(number: int, spec: Any, at: float, pending: Any) -> None:
        sampled_here = pending.done is None  # a reused fit's reweightings are read back once, later
        fitted = pending.result()
        on_fit(FitProgress(number, total, spec.name, time.perf_counter() - at,
                               bool(fitted.diagnostics.converged)))  # fmt: skip
        # PSIS-LOO (~5 s of one core a fit) and Appendix B's prior reweightings (1-3 s each)
        # while the next fit samples, written to the bundle, rather than after the last fit
        # with the cores otherwise idle; :func:`_prior_sensitivity` reads them back.
        if _keeps_log_likelihood(spec):
            for outcome in spec.outcome_names:
                fitted.loo_estimates(outcome)
        for name, scaled in scaled_specs:
            if name == spec.name and sampled_here:
                reweight_prior(fitted, scaled, flat(), reuse=True)
        fits[spec.name] = keep(fitted)

    with warnings.catch_warnings():
        # Convergence is reported in every table's note, not as a console warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            for number, spec in enumerate(specs, start=done + 1):
                on_fit(FitProgress(number, total, spec.name))
                at = time.perf_counter()
                in_flight.append((number, spec, at, start_fit(
                    study, spec, seed=settings.seed, chains=settings.chains, draws=settings.draws,
                    tune=settings.tune, fitted_dir=settings.fitted_dir, progress=False,
                    log_likelihood=_keeps_log_likelihood(spec),
                    # A reused bundle is checked and opened once, its draws read when a table
                    # or an estimand needs them (and then kept: xarray caches what it reads).
                    lazy=True,
                )))  # fmt: skip
                if len(in_flight) > 1:
                    finish(*in_flight.pop(0))
            while in_flight:
                finish(*in_flight.pop(0))
        except BaseException:
            # Ctrl-C or an error: chains still sampling in the background stop, unsaved.
            for *_, pending in in_flight:
                pending.cancel()
            raise
    return fits


def _prior_sensitivity(
    study: Any,
    fits: dict,
    settings: ReproduceSettings,
    on_step: Callable[[Step], None],
    on_fit: Callable[[FitProgress], None],
) -> dict:
    """Reweight each x1 fit of :data:`PRIOR_SCALED_SPECS` to each scaled prior
    (:func:`~grassroots.inference.prior_reweighting.reweight_prior`); where the weights' Pareto k
    is above its threshold, refit under the scaled prior instead, adding the refit to ``fits``,
    so that no estimate rests on unreliable weights. Returns scaled spec name -> reweighting."""
    from grassroots.inference.prior_reweighting import reweight_prior

    frame = study.flat()
    reweighted, refits = {}, []
    for name, spec in _prior_scaled_specs():
        result = reweight_prior(fits[name], spec, frame, reuse=True)
        reweighted[spec.name] = result
        verdict = "reweighted" if result.reliable else f"above {result.threshold:.2f}: refitting"
        on_step(Step(3, STAGES, f"{spec.name}: Pareto k {result.pareto_k:.2f} {verdict} "
                                f"({result.seconds:.1f} s)"))  # fmt: skip
        refits += [] if result.reliable else [spec]
    fits |= _fit_all(study, settings, on_step, on_fit, refits, done=len(fits)) if refits else {}
    return reweighted


def _path_of(fitted: Any) -> Path:
    return fitted.path


def _draws_on_disk(fitted: Any) -> Any:
    """``fitted`` with its draws left in its saved bundle, read when a table or an estimand needs
    them.

    Holding the ~20 fits' draws and log-likelihoods in memory at once took ``reproduce`` to a peak
    of 8.6 GB. The structural fit too: a warm run reads its estimands from the fitted folder, and
    computing them reads each variable once (xarray keeps what it has read).
    """
    from grassroots.inference import Fit

    if fitted.path is None or fitted.draws_on_disk:
        return fitted
    return Fit.load(fitted.path, lazy=True)


def _thinning(fitted: Any, at_most: int | None) -> int:
    """The step that keeps at most ``at_most`` of the fit's draws (all chains together)."""
    total = fitted.posterior.sizes["chain"] * fitted.posterior.sizes["draw"]
    return 1 if at_most is None else max(1, math.ceil(total / at_most))


def _scaled(fits: dict, reweighted: dict, name: str, factor: float) -> tuple[Any, Any]:
    """The fit behind spec ``name`` under prior scale ``factor`` (the x1 fit where its reweighting
    is reliable, else the refit) and that reweighting."""
    scaled = f"{name}_prior_x{factor:g}"
    result = reweighted[scaled]
    return (fits[name] if result.reliable else fits[scaled]), result


def _sensitivity_estimates(fits: dict, reweighted: dict) -> Any:
    """Appendix B's key estimates: each sensitivity model under prior scales x0.5, x1, x2."""
    from grassroots.reporting.appendix import sensitivity_estimates

    # Keyed by spec name: the appendix names each model in the table's language.
    by_factor: dict[float, dict[str, Any]] = {1.0: {n: fits[n] for n in SENSITIVITY_SPECS}}
    weights: dict[float, dict[str, Any]] = {}
    for factor in PRIOR_FACTORS:
        scaled = {name: _scaled(fits, reweighted, name, factor)
                  for name in SENSITIVITY_SPECS}  # fmt: skip
        by_factor[factor] = {model: fitted for model, (fitted, _) in scaled.items()}
        weights[factor] = {model: result for model, (_, result) in scaled.items()}
    return sensitivity_estimates(dict(sorted(by_factor.items())), reweighted=weights)


@dataclass(frozen=True)
class IdentificationEvidence:
    """What Tables 5a-5b and Figures 9-10 show: :func:`identification_evidence`'s result.

    Attributes
    ----------
    graph
        The structural spec's causal graph with the remedies' variables marked
        (:func:`grassroots.models.dag.spec_dag`; Figure 9, :func:`~grassroots.reporting.paper.
        dag_plot`).
    assumptions
        One row per remedy and assumption (:func:`grassroots.estimands.identification.
        assumptions`; Table 5a).
    positivity
        Each remedy's support in the data (:func:`grassroots.estimands.identification.
        positivity`; Table 5a's positivity rows).
    sensitivity
        The contrasts' E-values (:func:`grassroots.estimands.sensitivity.sensitivity`; Table 5b,
        Figure 10).
    """

    graph: Any
    assumptions: Any
    positivity: Any
    sensitivity: Any


def identification_evidence(
    structural: Any, study: Any, scenarios: Any, contrasts: Any
) -> IdentificationEvidence:
    """How far Table 5's contrasts can be read causally: the structural spec's causal graph, the
    assumptions each remedy's contrast rests on with its positivity evidence, and the contrasts'
    E-values (how strong an unmeasured confounder would have to be to explain them away).

    Parameters
    ----------
    structural
        The structural model's fit (:func:`grassroots.fit` of ``"structural"``).
    study
        The study it was fitted to.
    scenarios
        The remedies (:func:`grassroots.estimands.builtin_scenarios`); every selected one is
        assessed.
    contrasts
        :func:`grassroots.estimands.heterogeneity` of ``structural`` under ``scenarios``: the
        contrasts whose E-values are computed.
    """
    import pandas as pd

    from grassroots.estimands import identification
    from grassroots.estimands.sensitivity import sensitivity
    from grassroots.models.dag import spec_dag

    remedies = scenarios.select()
    graph = spec_dag(structural.spec, remedies=[v for s in remedies for v in s.variables])
    flat = study.flat()
    assumed = identification.assumptions(graph, remedies, flat, scaling=structural.scaling)
    support = pd.concat(
        [identification.positivity(flat, s, scaling=structural.scaling) for s in remedies],
        ignore_index=True,
    )
    # The expected rating's E-value needs the SD of the observed ratings.
    rating_sd = {
        o.name: float(flat[o.columns["column"]].std())
        for o in structural.spec.outcomes if o.family == "ordinal"
    }  # fmt: skip
    return IdentificationEvidence(
        graph=graph,
        assumptions=assumed,
        positivity=support,
        sensitivity=sensitivity(contrasts, outcome_sd=rating_sd),
    )


#: Table 8b: remedy 1 funded in the townships a quarter of its full cost can pay for.
ALLOCATION_SCENARIO = "resources_plus_1sd"
ALLOCATION_BUDGET_SHARE = 0.25
ALLOCATION_COST_UNIT = {"en": "million CNY", "zh": "百万元"}


def _allocation(ranked: Any, study: Any, scenarios: Any, scaling: Any, seed: int) -> Any:
    """Table 8b's example: +1 SD of resources (its cost: the extra CNY per resident times the
    township's residents, in million CNY) under a budget of a quarter of its cost everywhere,
    targeted by expected gain per CNY against a random allocation; ``None`` without a
    ``population`` column (no cost in CNY)."""
    from grassroots.estimands.heterogeneity import allocate, remedy_costs

    flat = study.flat()
    if "population" not in flat.columns or ALLOCATION_SCENARIO not in set(ranked.table["scenario"]):
        return None
    # population is in thousands: x 1000 residents / 1e6 CNY per million.
    costs = remedy_costs(flat, scenarios[ALLOCATION_SCENARIO], "resources", per="population",
                         factor=1e-3, scaling=scaling)  # fmt: skip
    budget = float(f"{ALLOCATION_BUDGET_SHARE * costs.sum():.3g}")
    return allocate(ranked, ALLOCATION_SCENARIO, budget, costs=costs,
                    cost_unit=ALLOCATION_COST_UNIT["en"], seed=seed)  # fmt: skip


def _structural_sensitivity_estimates(fits: dict, reweighted: dict) -> Any:
    """Appendix B3's estimates: the structural model under prior scales x0.5, x1, x2."""
    from grassroots.reporting.structural_tables import structural_sensitivity_estimates

    scaled = {factor: _scaled(fits, reweighted, STRUCTURAL_SPEC, factor)
              for factor in PRIOR_FACTORS}  # fmt: skip
    by_factor = {1.0: fits[STRUCTURAL_SPEC]} | {f: fitted for f, (fitted, _) in scaled.items()}
    return structural_sensitivity_estimates(
        by_factor, reweighted={f: result for f, (_, result) in scaled.items()}
    )


def _flagged(table: Any, flag: str) -> Any:
    """``table`` with one more convergence flag (an empty flag is dropped when rendered)."""
    return dataclasses.replace(table, flags=(*table.flags, flag))


def _write_table(
    table: Any,
    reports: Path,
    lang: str,
    written: list[Path],
    scenario_labels: dict[str, str] | None = None,
) -> Any:
    """Write ``table`` under ``reports/tables`` (``_zh`` names for Chinese); returns it as
    written."""
    from grassroots.reporting.labels import localised_data

    suffix = "" if lang == "en" else f"_{lang}"
    # The CSV of a Chinese table carries Chinese headers and row labels, like its other formats.
    data = None if table.data is None else localised_data(table.data, lang,
                                                          scenario_labels=scenario_labels)
    localised = dataclasses.replace(table, name=table.name + suffix, data=data)
    written += localised.write(reports / "tables")
    return localised


def _write_figure(figure: Any, name: str, reports: Path, lang: str, written: list[Path]) -> None:
    import matplotlib.pyplot as plt

    from grassroots.reporting.figures import save_figure

    suffix = "" if lang == "en" else f"_{lang}"
    written += save_figure(figure, reports / "figures" / f"{name}{suffix}")
    plt.close(figure)


def _write_figures(
    figures: Mapping[str, Callable[[str], Any]], reports: Path, languages: Sequence[str]
) -> dict[str, list[Path]]:
    """Draw and write each figure (name -> its drawing in a language) in every language; the
    files written, by language."""
    written: dict[str, list[Path]] = {lang: [] for lang in languages}
    for lang in languages:
        for name, draw in figures.items():
            _write_figure(draw(lang), name, reports, lang, written[lang])
    return written


def _draw_beside(
    children: list[Any], figures: Mapping[str, Callable[[str], Any]], reports: Path,
    languages: Sequence[str],
) -> Any:
    """:func:`_write_figures` in a forked child, beside this process: the figures are about a
    third of a warm run's time and need one core each; their ``.result()`` is the files written."""
    return _forked(children, _write_figures, figures, reports, languages)


def _frequentist_estimates(fits: Mapping[str, Any], study: Any) -> Any:
    """Appendix C's maximum-likelihood refits of ``fits`` (model name -> fit), in one table."""
    import pandas as pd

    from grassroots.reporting.frequentist import frequentist_estimates

    return pd.concat([frequentist_estimates(fitted, study, model=model)
                      for model, fitted in fits.items()], ignore_index=True)  # fmt: skip


def _forked(children: list[Any], function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a forked child, added to ``children`` (stopped if the run fails)."""
    from grassroots._forked import ForkedCall

    children.append(ForkedCall(function, *args))
    return children[-1]


def run(
    study: Any,
    reports: Path,
    settings: ReproduceSettings,
    *,
    source_note: Mapping[str, str] | None = None,
    on_step: Callable[[Step], None] = _ignore,
    on_fit: Callable[[FitProgress], None] = _ignore,
    languages: Sequence[str] = LANGUAGES,
) -> list[Path]:
    """Fit every spec, compute the estimands and write every table and figure under ``reports``.

    Returns the files written, in order. Nothing is printed: ``on_step`` receives a
    :class:`Step` as each stage begins (stage 1, validating the data, is the caller's), and
    ``on_fit`` a :class:`FitProgress` as each fit starts and ends, so that the command line,
    a notebook or a log decides how to show them. The figures are drawn and written by two
    forked child processes (:mod:`grassroots._forked`), beside the estimands and the tables.

    Raises
    ------
    PreflightError
        Before anything is written, when ``reports`` or the fitted folder is not a writable
        folder, or the data cannot identify one of the specs
        (:func:`grassroots.inference.preflight.check_data`).
    """
    children: list[Any] = []  # the figures' forked children, stopped if this run fails
    try:
        return _run(study, reports, settings, source_note or {}, on_step, on_fit, languages,
                    children)
    except BaseException:
        for child in children:
            child.stop()
        raise


def _run(
    study: Any, reports: Path, settings: ReproduceSettings, source_note: Mapping[str, str],
    on_step: Callable[[Step], None], on_fit: Callable[[FitProgress], None],
    languages: Sequence[str], children: list[Any],
) -> list[Path]:
    import pandas as pd

    from grassroots import estimands
    from grassroots.inference.prior_predictive_store import prior_predictive_reused
    from grassroots.reporting import paper
    from grassroots.reporting.convergence import convergence_note
    from grassroots.reporting.estimand_tables import table8b_allocation
    from grassroots.reporting.figures import contrast_density_plot

    check_before_fitting(study, reports, settings, languages)
    written: list[Path] = []
    started = time.perf_counter()
    on_step(Step(2, STAGES, "Table 1: descriptives by level"))
    # The tables of the one-file HTML report, in the order written (English, if written).
    report_tables = []
    for lang in languages:
        note = source_note.get(lang, "")
        table = _write_table(paper.table1(study, lang=lang, source_note=note), reports, lang,
                             written)
        report_tables += [table] if lang == "en" else []

    on_step(Step(3, STAGES, "fitting the model specs (saved fits are reused)"))
    specs = _specs_to_fit()
    # Every fit saved: Figures 1-6's fits are opened first and their children start before the
    # rest are opened (a cold run keeps the structural fit first, see _specs_to_fit).
    saved = _all_saved(study, settings, specs)
    first = [spec for spec in specs
             if not saved or spec.name in (*SURVIVAL_SPECS, *DEMAND_FIT_SPECS)]  # fmt: skip
    later = [spec for spec in specs if spec not in first]
    fitted_first = _fit_all(study, settings, on_step, on_fit, first, of=len(specs))
    survival = {f"M{i}": fitted_first[name] for i, name in enumerate(SURVIVAL_SPECS)}
    demand_fit = {f"M{i}": fitted_first[name] for i, name in enumerate(DEMAND_FIT_SPECS)}
    # Their summaries before the fork, so that Tables 2-3 and Figures 1-2 compute them once.
    for fitted in (*survival.values(), *demand_fit.values()):
        fitted.summary()
    # Figures 4-5's posterior curves, computed once (in the child) for both languages and kept
    # in the fitted folder: every draw of every project at 61 times, ~4 s of CPU each.
    km_curves = functools.cache(lambda by: estimands.result_reused(
        estimands.survival_by_group, survival["M4"], study, by=by,
        fitted_dir=settings.fitted_dir).table)
    ppc_shares = functools.cache(
        lambda: paper.ordinal_ppc_frame(demand_fit["M4"], study, seed=settings.seed))
    # Figures 1-6 rest on the paper's fits alone: drawn beside the estimands, by two children
    # (4-6 predict from every draw: as much work as 1-3).
    fit_figures = _draw_beside(children, {
        "figure1_forest_survival": lambda lang: paper.coefficient_forest(survival, lang),
        "figure2_forest_demand_fit": lambda lang: paper.coefficient_forest(demand_fit, lang),
        "figure3_caterpillar": lambda lang: paper.caterpillar_plot(survival["M4"], lang),
    }, reports, languages)  # fmt: skip
    predictive_figures = _draw_beside(children, {
        "figure4_km_by_region": lambda lang: paper.km_posterior_plot(
            survival["M4"], study, "region", lang, curves=km_curves("region")),
        "figure5_km_by_extensive": lambda lang: paper.km_posterior_plot(
            survival["M4"], study, "extensive", lang, curves=km_curves("extensive")),
        "figure6_ordinal_ppc": lambda lang: paper.ordinal_ppc_plot(
            demand_fit["M4"], study, lang, shares=ppc_shares()),
    }, reports, languages)  # fmt: skip
    # Appendix C's maximum-likelihood refits, once for both languages, beside the rest.
    frequentist_fits = {f"survival {k}": v for k, v in survival.items() if k != "M0"}
    frequentist_child = _forked(children, _frequentist_estimates, frequentist_fits, study)
    if later:
        fitted_first |= _fit_all(study, settings, on_step, on_fit, later,
                                 done=len(specs) - len(later))  # fmt: skip
    fits = {name: fitted_first[name]
            for name in (*SURVIVAL_SPECS, *DEMAND_FIT_SPECS, *STRATEGY_SPECS, STRUCTURAL_SPEC)}
    reweighted = _prior_sensitivity(study, fits, settings, on_step, on_fit)
    strategies = {name.removeprefix("strategy_"): fits[name] for name in STRATEGY_SPECS}
    structural = fits[STRUCTURAL_SPEC]
    paper_fits = {name: fitted for name, fitted in fits.items() if "_prior_x" not in name}

    on_step(Step(4, STAGES, "estimands: remedies' contrasts, mediation, heterogeneity, targeting"))
    scenarios = estimands.builtin_scenarios()
    scenario_labels = {
        lang: {s.name: s.label_zh if lang == "zh" else s.label for s in scenarios.select()}
        for lang in languages
    }
    # One pass gives the overall contrasts (Table 5, Figure 7) and the subgroups' (Table 7).
    estimand_settings = estimands.EstimandSettings(
        seed=settings.seed, thin=_thinning(structural, settings.estimand_draws)
    )
    # Kept in the fitted folder: computed again only when the fit, data, scenarios or code change.
    stored = functools.partial(estimands.estimand_reused, fit=structural, data=study,
                               scenarios=scenarios, settings=estimand_settings,
                               fitted_dir=settings.fitted_dir)
    varied = stored(estimands.heterogeneity)
    evidence = identification_evidence(structural, study, scenarios, varied)
    robustness = evidence.sensitivity
    # Stored in the fitted folder: drawing compiles PyMC's forward sampler anew each run.
    prior_check = prior_predictive_reused(STRUCTURAL_SPEC, study.flat(), seed=settings.seed,
                                          fitted_dir=settings.fitted_dir)
    # Figures 7-10 rest on these alone: drawn beside the other estimands and the tables, by two
    # children (once the tables are written, the last figures would otherwise run on one core).
    contrast_draws = functools.cache(varied.draws_frame)
    estimand_figures = [_draw_beside(children, {
        "figure7_contrast_densities": lambda lang: contrast_density_plot(
            contrast_draws(), lang, scenario_labels=scenario_labels[lang]),
        "figure8_prior_predictive": lambda lang: paper.prior_predictive_plot(prior_check, lang),
    }, reports, languages), _draw_beside(children, {
        "figure9_dag": lambda lang: paper.dag_plot(evidence.graph, lang),
        "figure10_sensitivity": lambda lang: paper.sensitivity_plot(
            robustness.table, lang, scenario_labels=scenario_labels[lang], prob=robustness.prob),
    }, reports, languages)]  # fmt: skip
    mediated = stored(estimands.mediation)
    ranked = stored(estimands.targeting, outcome="survival", quantity="S(24)")
    sensitivity = _sensitivity_estimates(fits, reweighted)
    structural_sensitivity = _structural_sensitivity_estimates(fits, reweighted)
    changes = pd.concat([s.changes(study.flat(), scaling=structural.scaling)
                         for s in scenarios.select()], ignore_index=True)  # fmt: skip
    allocation = _allocation(ranked, study, scenarios, structural.scaling, settings.seed)

    on_step(Step(5, STAGES, "tables and figures"))
    frequentist = frequentist_child.result()
    structural_diagnostics = {STRUCTURAL_SPEC: structural.diagnostics.overview()}
    # Appendix B2 rests on the sensitivity models and their refits.
    sensitivity_diagnostics = {
        name: fitted.diagnostics.overview() for name, fitted in fits.items()
        if name in SENSITIVITY_SPECS
        or ("_prior_x" in name and not name.startswith(f"{STRUCTURAL_SPEC}_"))
    }  # fmt: skip
    # Appendix B3 rests on the structural fit and its refits.
    structural_sensitivity_diagnostics = {
        name: fitted.diagnostics.overview() for name, fitted in fits.items()
        if name == STRUCTURAL_SPEC or name.startswith(f"{STRUCTURAL_SPEC}_prior_x")
    }  # fmt: skip

    def write_tables(lang: str) -> tuple[list[Path], list[Any]]:
        """Every table in ``lang``: the files written, and the tables as written."""
        files: list[Path] = []
        named: list[Any] = []
        labels = scenario_labels[lang]
        # Tables 5-8 are built from estimand summaries; the fit they rest on is flagged here.
        flag = convergence_note(structural_diagnostics, lang)
        for table in (
            paper.table0_theory({STRUCTURAL_SPEC: structural}, lang, contrasts=varied,
                                scenario_labels=labels),
            paper.table2_survival(survival, lang),
            paper.table3_demand_fit(demand_fit, lang),
            paper.table4_strategies(strategies, lang),
            # Table 5a rests on the spec and the data, not on the fit.
            paper.table5a_assumptions(evidence.assumptions, evidence.positivity, lang,
                                      scenario_labels=labels),
            *(
                _flagged(table, flag)
                for table in (
                    paper.table5_contrasts(varied.table, lang, scenario_labels=labels,
                                           changes=changes),
                    paper.table5b_sensitivity(robustness.table, lang, scenario_labels=labels,
                                              prob=robustness.prob),
                    paper.table6_mediation(mediated.table, lang, scenario_labels=labels),
                    paper.table7_heterogeneity(varied.table, lang, scenario_labels=labels),
                    paper.table8_targeting(ranked.table, lang, scenario_labels=labels),
                    *(
                        [table8b_allocation(allocation.table, lang, scenario_labels=labels,
                                            cost_unit=ALLOCATION_COST_UNIT[lang])]
                        if allocation is not None else []
                    ),
                )
            ),
            paper.table9_structural(structural, lang),
            paper.table10_loo_comparison({"survival": survival, "demand_fit": demand_fit}, lang),
            paper.appendix_a_diagnostics(fits, lang),
            paper.appendix_b_priors(paper_fits, lang),
            _flagged(paper.appendix_b_sensitivity(sensitivity, lang),
                     convergence_note(sensitivity_diagnostics, lang)),
            _flagged(paper.appendix_b_sensitivity_structural(structural_sensitivity, lang),
                     convergence_note(structural_sensitivity_diagnostics, lang)),
            paper.appendix_c_frequentist(frequentist_fits, study, lang,
                                         estimates=frequentist),
        ):
            named.append(_write_table(table, reports, lang, files, labels))
        return files, named

    def table_files(lang: str) -> list[Path]:
        return write_tables(lang)[0]

    # PSIS-LOO is written to each bundle as it is fitted (:func:`_fit_in_turn`); fits from
    # elsewhere (Dask workers, older bundles) compute it here, once, not in each language's process.
    for name in (*SURVIVAL_SPECS, *DEMAND_FIT_SPECS, *STRATEGY_SPECS):
        for outcome in fits[name].spec.outcome_names:
            fits[name].loo_estimates(outcome)
    # The other languages' tables in forked children, beside this process's first language
    # (writing the tables is most of what this process does once the figures' children run).
    others = {lang: _forked(children, table_files, lang) for lang in languages[1:]}
    first_files, first_tables = write_tables(languages[0])
    report_tables += first_tables if languages[0] == "en" else []
    tables_written = {languages[0]: first_files} | {
        lang: child.result() for lang, child in others.items()
    }
    # Each language's tables, then its figures, as written in turn before.
    figures_written = [child.result()
                       for child in (fit_figures, predictive_figures, *estimand_figures)]
    for lang in languages:
        written += [*tables_written[lang], *(path for drawn in figures_written
                                              for path in drawn[lang])]  # fmt: skip

    record = _record(study, fits, settings, time.perf_counter() - started, reweighted)
    readme = reports / "README.md"
    english_note = source_note.get("en", "")
    write_text_atomic(readme, _readme(record, english_note))
    if report_tables:
        written.append(_write_html_report(reports, record, report_tables, written, english_note))
    write_text_atomic(reports / "reproduce.json", json.dumps(record, indent=2, sort_keys=True)
                      + "\n")
    return [*written, readme]


def _write_html_report(
    reports: Path, record: dict, tables: list[Any], written: list[Path], source_note: str
) -> Path:
    """``reports/report.html``: the English tables, the English PNG figures and the convergence
    of every fit in one file (:mod:`grassroots.reporting.html_report`)."""
    from grassroots.reporting.html_report import convergence_table, render_report

    figures = [
        path for path in written
        if path.parent.name == "figures" and path.suffix == ".png"
        and not path.stem.endswith("_zh")
    ]  # fmt: skip
    path = reports / "report.html"
    write_text_atomic(
        path,
        render_report(
            title="Strengths and weaknesses of grassroots digital public services: results",
            tables=tables,
            figures=figures,
            convergence=convergence_table(record["fits"]),
            preface=source_note,
        ),
    )
    return path


def _record(
    study: Any, fits: dict, settings: ReproduceSettings, seconds: float, reweighted: dict
) -> dict:
    from grassroots.inference.fitting import package_versions

    return {
        "seed": settings.seed,
        "sampler_overrides": {"chains": settings.chains, "draws": settings.draws,
                              "tune": settings.tune},
        "estimand_draws": settings.estimand_draws,
        "data_hash": study.data_hash(),
        "counts": dict(study.n),
        "fits": {
            name: {
                "bundle": fitted.path.name if fitted.path else None,
                "converged": bool(fitted.diagnostics.converged),
                "max_rhat": round(float(fitted.diagnostics.max_rhat), 4),
                "min_ess_bulk": round(float(fitted.diagnostics.min_ess_bulk), 1),
                "divergences": int(fitted.diagnostics.n_divergent),
            }
            for name, fitted in fits.items()
        },
        # How each prior-scaled posterior of Appendix B was obtained; seconds are left out, so
        # that a rerun writes the same bytes.
        "prior_sensitivity": {
            name: {"method": "reweighted" if r.reliable else "refitted",
                   "pareto_k": round(r.pareto_k, 4), "threshold": round(r.threshold, 4)}
            for name, r in reweighted.items()
        },  # fmt: skip
        "versions": {"python": platform.python_version(), **package_versions()},
        # Where the draws were computed (a reused fit may come from another machine).
        "sampled_on": sorted(
            {fitted.versions.get("machine", "unrecorded") for fitted in fits.values()}
        ),
    }


def _readme(record: dict, source_note: str) -> str:
    fits = "\n".join(
        f"| {name} | {'yes' if info['converged'] else '**no**'} | {info['max_rhat']:.3f} | "
        f"{info['min_ess_bulk']:.0f} | {info['divergences']} |"
        for name, info in record["fits"].items()
    )
    versions = ", ".join(
        f"{k} {v}" for k, v in sorted(record["versions"].items()) if k != "machine"
    )
    overrides = {k: v for k, v in record["sampler_overrides"].items() if v is not None}
    counts = count_text(record["counts"])
    estimand_draws = (
        "every one" if record["estimand_draws"] is None
        else f"at most {record['estimand_draws']:,d} (evenly thinned)"
    )
    scaled = "; ".join(
        f"{name} {how['method']} (Pareto k {how['pareto_k']:.2f})"
        for name, how in record["prior_sensitivity"].items()
    )
    return f"""# reports/

Generated by `grassroots reproduce`; do not edit by hand, rerun the command instead.
`tables/` holds every table in Markdown, LaTeX (booktabs), HTML, Word and CSV (`_zh`: Chinese
labels); `figures/` every figure as PNG and PDF; `report.html` the English tables, figures and
convergence in one self-contained page. `benchmarks/` and `validation/` are written by
their own scripts.

- {source_note}
- Data hash: `{record['data_hash']}`; {counts}.
- Seed: {record['seed']}; sampler settings: {overrides or "each spec's own (models/*.toml)"};
  estimands (Tables 5-8, Figure 7) from {estimand_draws} of the structural fit's draws.
- Versions: {versions}.
- Fits sampled on: {"; ".join(record["sampled_on"])}. A seed's draws repeat byte for byte
  with these versions where the same OpenBLAS kernels compute (grassroots pins one on x86-64);
  elsewhere they can differ within Monte Carlo error.
- Prior sensitivity (Appendix B2, B3), the x1 fits importance-reweighted to each scaled prior
  unless the Pareto k exceeds its threshold: {scaled}.

| fit | converged | max R-hat | min bulk ESS | divergences |
| --- | --- | ---: | ---: | ---: |
{fits}
"""
