"""Frequentist coverage of the structural model's intervals over many simulated studies.

Each replicate draws a study of the bundled size from :func:`grassroots.data.simulate.simulate`
(its own seed), fits the joint structural model to it and records, for every parameter with a
true value in ``truth.json``, the posterior mean, the 50% and 90% equal-tailed intervals and
whether they cover the truth. Over the replicates, :func:`coverage_table` gives per parameter
group the share of 50% and 90% intervals that cover (with its binomial standard error), the mean
error (posterior mean - truth) and the RMSE.

Replicates are independent, so they run as tasks on Dask (a local cluster by default, an
existing one by address) and each is written to its own Parquet file as soon as it finishes
(atomically): a campaign stopped at any point keeps what it did and resumes where it stopped.

Seeds: ``SeedSequence(seed).spawn(n)`` gives replicate ``r`` its own seed, used for both the
simulation and the sampler, so replicate ``r`` is the same whatever ``n`` and however the
replicates are scheduled.
"""

from __future__ import annotations

import json
import re
import time
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grassroots._io import atomic_path, write_text_atomic
from grassroots.inference.diagnostics import ESS_MIN, RHAT_MAX

__all__ = [
    "CoverageSettings",
    "coverage_by_sd_estimate",
    "coverage_table",
    "parameter_group",
    "replicate_seed",
    "run_coverage",
    "run_replicate",
    "true_values",
]

#: The 50% and 90% intervals whose coverage is measured.
LEVELS = (0.5, 0.9)


@dataclass(frozen=True)
class CoverageSettings:
    """What each replicate fits.

    Attributes
    ----------
    spec : str
        The shipped spec fitted (the joint structural model, whose every parameter has a truth).
    chains, draws, tune : int
        Sampler settings: half the spec's draws and less warm-up (a replicate takes 3-4 min of
        a 2-core machine, so 100 take about six hours). The intervals, not their fourth
        decimal, are what is measured, but the township SDs of the binary mediators mix slowly
        (bulk ESS 57 of 4 x 500 draws in a trial at this size), so every interval keeps its own
        R-hat and ESS and the table reports the share below the reporting standard.
    """

    spec: str = "structural"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000


def replicate_seed(seed: int, replicate: int) -> int:
    """Replicate ``replicate``'s seed, independent of how many replicates are run."""
    child = np.random.SeedSequence(seed).spawn(replicate + 1)[replicate]
    return int(child.generate_state(1, np.uint32)[0])


def _true_group_effects(fitted: Any, truth: Mapping[str, Any]) -> dict[tuple[str, str], pd.Series]:
    """``(level, outcome)`` -> the simulator's effects of the groups the model fitted."""
    effects = {}
    for level in fitted.spec.groups:
        simulated = truth["group_effects"][level.name]
        fitted_ids = [str(i) for i in fitted.posterior.coords[level.name].values]
        for outcome in fitted.spec.outcomes:
            by_id = pd.Series(simulated["effects"][outcome.name], index=simulated["ids"])
            effects[level.name, outcome.name] = by_id.loc[fitted_ids].astype(float)
    return effects


def true_values(fitted: Any, truth: Mapping[str, Any], *, group_effects: bool = False) -> pd.Series:
    """The simulator's truth on the model's scale, indexed like ``Fit.summary()``.

    The simulator centres every term (binary ones too) and writes interactions as products of
    centred components; the model keeps binary and dummy columns at 0/1 and reports intercepts
    and cut points at the reference profile, so both are converted here.

    The model's group effects sum to zero over the fitted groups, so their truth is the
    simulated effect minus its mean over those groups, and that mean moves to the intercept
    (the cut points, with the opposite sign). With ``group_effects``, every county and township
    effect is included, labelled as ``Fit.summary(group_effects=True)`` labels it.
    """
    values = {}
    scaling = fitted.scaling.predictors
    simulated_effects = _true_group_effects(fitted, truth)
    effect_mean = {
        outcome.name: sum(
            float(simulated_effects[level.name, outcome.name].mean())
            for level in fitted.spec.groups
        )
        for outcome in fitted.spec.outcomes
    }
    for outcome in fitted.spec.outcomes:
        name = outcome.name
        terms = truth["outcomes"][name]["terms"]

        def coef(term: str, terms=terms) -> float:
            return float(terms[term]["coef"]) if term in terms else 0.0

        interactions = {t: v for t, v in terms.items() if v["kind"] == "interaction"}
        for term in fitted.posterior.coords[f"{name}_term"].values:
            if ":" in term:
                # Product of a standardised continuous and a 0/1 column.
                continuous = next(p for p in term.split(":") if scaling[p].kind == "continuous")
                values[f"{name}_beta[{term}]"] = coef(term) * scaling[continuous].sd
            elif term in scaling and scaling[term].kind == "continuous":
                slope = coef(term)
                # a:b centred at b's mean = main effect of a at b = 0 shifted by coef_ab * mean(b).
                for label, spec in interactions.items():
                    parts = label.split(":")
                    if term in parts:
                        other = next(p for p in parts if p != term)
                        slope -= spec["coef"] * spec["components"][other]["mean"]
                values[f"{name}_beta[{term}]"] = slope * scaling[term].sd
            else:
                values[f"{name}_beta[{term}]"] = coef(term)
        # Value of the simulator's linear predictor at the model's reference profile, group
        # effects at their mean over the fitted groups.
        at_reference = effect_mean[name] - sum(
            float(v["coef"]) * float(v["mean"])
            for v in terms.values()
            if v["kind"] in ("binary", "contrast")
        )
        family = truth["outcomes"][name]
        if outcome.family == "logistic":
            values[f"{name}_intercept"] = float(family["intercept"]) + at_reference
        if outcome.family == "ordinal":
            for label, cut in zip(
                fitted.posterior.coords[f"{name}_cut"].values, family["cutpoints"], strict=True
            ):
                values[f"{name}_cutpoints[{label}]"] = float(cut) - at_reference
        # Late (time-varying) effects: the simulator's are uncentred log hazard ratios.
        late_truth = truth["outcomes"][name].get("time_varying", {})
        for column in outcome.time_varying:
            values[f"{name}_beta_late[{column}]"] = float(late_truth[column]["log_hr"])
        values[f"{name}_sd_county"] = float(truth["group_effects"]["sd"]["county"][name])
        values[f"township_sd[{name}]"] = float(truth["group_effects"]["sd"]["township"][name])
    if group_effects:
        for (level, outcome), effects in simulated_effects.items():
            centred = effects - effects.mean()
            for group_id, value in centred.items():
                label = (
                    f"{level}_effect[{group_id}, {outcome}]"
                    if level == fitted.spec.correlated
                    else f"{outcome}_effect_{level}[{group_id}]"
                )
                values[label] = float(value)
    return pd.Series(values)


_GROUP_PATTERNS = (
    (re.compile(r"^(?P<o>\w+?)_beta_late\["), "late effect"),
    (re.compile(r"^(?P<o>\w+?)_beta\["), "coefficients"),
    (re.compile(r"^(?P<o>\w+?)_(intercept|cutpoints)"), "intercept / cut points"),
    (re.compile(r"^(?P<o>\w+?)_sd_county$"), "county SD"),
    (re.compile(r"^township_sd\[(?P<o>\w+)\]$"), "township SD"),
    (re.compile(r"^(?P<o>\w+?)_effect_county\["), "county effects"),
    (re.compile(r"^township_effect\[[^,\]]+, (?P<o>\w+)\]$"), "township effects"),
)


def parameter_group(parameter: str) -> tuple[str, str]:
    """``(outcome, group)`` of a parameter label of :func:`true_values`."""
    for pattern, group in _GROUP_PATTERNS:
        if match := pattern.match(parameter):
            return match["o"], group
    return "", "other"


def run_replicate(
    replicate: int, seed: int, settings: CoverageSettings, out_dir: str | Path
) -> dict[str, Any]:
    """Simulate, fit and score one replicate; write ``replicate-<r>.parquet`` under ``out_dir``.

    Returns a small record (replicate, seed, seconds, diagnostics, or the error).
    """
    from grassroots.data.simulate import simulate
    from grassroots.inference import ConvergenceWarning, fit
    from grassroots.models import load_spec

    started = time.perf_counter()
    own_seed = replicate_seed(seed, replicate)
    record: dict[str, Any] = {"replicate": replicate, "seed": own_seed}
    try:
        study = simulate(seed=own_seed)
        with warnings.catch_warnings():
            # Every replicate's diagnostics are recorded in its file instead.
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = fit(
                study.flat(), load_spec(settings.spec), seed=own_seed, chains=settings.chains,
                draws=settings.draws, tune=settings.tune, progress=False, save=False,
                reuse=False,
            )  # fmt: skip
        truth = true_values(fitted, study.truth, group_effects=True)
        wide = fitted.summary(prob=0.9, group_effects=True)
        narrow = fitted.summary(prob=0.5, group_effects=True)
        frame = pd.DataFrame(
            {
                "replicate": replicate,
                "parameter": truth.index,
                "truth": truth.to_numpy(),
                "mean": wide.loc[truth.index, "mean"].to_numpy(),
                "q05": wide.loc[truth.index, "5%"].to_numpy(),
                "q25": narrow.loc[truth.index, "25%"].to_numpy(),
                "q75": narrow.loc[truth.index, "75%"].to_numpy(),
                "q95": wide.loc[truth.index, "95%"].to_numpy(),
            }
        )
        # Each interval's own diagnostics: the study's few draws leave some parameters (the
        # township SDs of the binary mediators first) below the reporting standard.
        for column in ("r_hat", "ess_bulk", "ess_tail"):
            frame[column] = wide.loc[truth.index, column].to_numpy()
        overview = fitted.diagnostics.overview()
        frame["max_rhat"] = float(overview["max_rhat"])
        frame["min_ess_bulk"] = float(overview["min_ess_bulk"])
        frame["divergences"] = int(overview["n_divergent"])
        frame["sample_seconds"] = float(fitted.timings.get("sample_seconds", np.nan))
        # Parquet: with every group effect a replicate has ~3,400 intervals.
        with atomic_path(Path(out_dir) / f"replicate-{replicate:04d}.parquet") as partial:
            frame.to_parquet(partial, index=False)
        record.update(
            max_rhat=float(overview["max_rhat"]), divergences=int(overview["n_divergent"])
        )
    except Exception:  # a failed replicate is reported, not allowed to stop the campaign
        record["error"] = traceback.format_exc(limit=5)
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def read_replicates(out_dir: str | Path) -> pd.DataFrame:
    """Every finished replicate's rows (empty frame when none)."""
    files = sorted(Path(out_dir).glob("replicate-*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _scored(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each interval's outcome, parameter group, hits, error and ``flagged``."""
    frame = rows.copy()
    meets_standard = (
        (frame["r_hat"] <= RHAT_MAX)
        & (frame["ess_bulk"] >= ESS_MIN)
        & (frame["ess_tail"] >= ESS_MIN)
        & (frame["divergences"] == 0)
    )
    frame["flagged"] = ~meets_standard
    groups = [parameter_group(p) for p in frame["parameter"]]
    frame["outcome"] = [o for o, _ in groups]
    frame["group"] = [g for _, g in groups]
    frame["covered_50"] = (frame["q25"] <= frame["truth"]) & (frame["truth"] <= frame["q75"])
    frame["covered_90"] = (frame["q05"] <= frame["truth"]) & (frame["truth"] <= frame["q95"])
    frame["error"] = frame["mean"] - frame["truth"]
    return frame


def coverage_table(rows: pd.DataFrame, *, converged_only: bool = False) -> pd.DataFrame:
    """Coverage of the 50% and 90% intervals, mean error and RMSE per parameter group.

    Parameters
    ----------
    rows
        Rows of :func:`read_replicates`.
    converged_only
        Keep only the intervals that meet the reporting standard of
        :mod:`grassroots.inference.diagnostics` (the parameter's R-hat, bulk and tail ESS; no
        divergence in its fit). Which intervals pass depends on the data set, so this table
        is a check, not an unbiased estimate.

    Returns
    -------
    One row per (outcome, parameter group) and a last row over all parameters: coverage of the
    50% and 90% intervals with binomial standard errors at the nominal level, mean error, RMSE,
    and ``flagged``, the share of intervals below the reporting standard.
    """
    frame = _scored(rows)
    if converged_only:
        frame = frame[~frame["flagged"]]
    summary = frame.groupby(["outcome", "group"], sort=False).agg(
        parameters=("parameter", "nunique"),
        replicates=("replicate", "nunique"),
        intervals=("parameter", "size"),
        coverage_50=("covered_50", "mean"),
        coverage_90=("covered_90", "mean"),
        mean_error=("error", "mean"),
        rmse=("error", lambda e: float(np.sqrt(np.mean(np.square(e))))),
        flagged=("flagged", "mean"),
    )
    # Binomial standard errors at the nominal level: how far off a coverage may fall by chance
    # (intervals of one replicate are correlated, so these are a lower bound).
    summary["se_50"] = np.sqrt(0.5 * 0.5 / summary["intervals"])
    summary["se_90"] = np.sqrt(0.9 * 0.1 / summary["intervals"])
    total = pd.DataFrame(
        {
            "parameters": [frame["parameter"].nunique()],
            "replicates": [frame["replicate"].nunique()],
            "intervals": [len(frame)],
            "coverage_50": [frame["covered_50"].mean()],
            "coverage_90": [frame["covered_90"].mean()],
            "mean_error": [frame["error"].mean()],
            "rmse": [float(np.sqrt(np.mean(np.square(frame["error"]))))],
            "flagged": [frame["flagged"].mean()],
            "se_50": [np.sqrt(0.25 / max(1, len(frame)))],
            "se_90": [np.sqrt(0.09 / max(1, len(frame)))],
        },
        index=pd.MultiIndex.from_tuples([("all", "all parameters")], names=["outcome", "group"]),
    )
    return pd.concat([summary, total]).reset_index()


SD_RATIO_BINS = (0.0, 0.8, 1.2, np.inf)
SD_RATIO_LABELS = ("below 0.8", "0.8 to 1.2", "above 1.2")


def coverage_by_sd_estimate(rows: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the county and township effects, by how well each replicate estimated the
    SD of their level.

    Every effect of a level is shrunk by that level's SD, so within a replicate their intervals
    stand or fall together: where the posterior mean of the SD falls well below the truth, all
    of them are too narrow and pulled too far toward zero. Coverage averaged over replicates
    whose truth is fixed (not drawn from the prior, as in SBC) therefore falls below nominal when
    the SD is weakly identified, as it is for binary mediators with a few projects a township.

    Returns
    -------
    One row per (outcome, level, bin of ``SD posterior mean / true SD``): the replicates and
    intervals in it, the bin's mean ratio, and the coverage of the 50% and 90% intervals.
    """
    frame = _scored(rows)
    tables = []
    for level in ("county", "township"):
        sd = frame[frame["group"] == f"{level} SD"].set_index(["replicate", "outcome"])
        ratio = (sd["mean"] / sd["truth"]).rename("sd_ratio")
        effects = frame[frame["group"] == f"{level} effects"].join(
            ratio, on=["replicate", "outcome"]
        )
        effects["sd_estimate"] = pd.cut(
            effects["sd_ratio"], SD_RATIO_BINS, labels=SD_RATIO_LABELS, right=False
        )
        table = effects.groupby(["outcome", "sd_estimate"], sort=False, observed=True).agg(
            replicates=("replicate", "nunique"),
            intervals=("parameter", "size"),
            mean_sd_ratio=("sd_ratio", "mean"),
            coverage_50=("covered_50", "mean"),
            coverage_90=("covered_90", "mean"),
        )
        tables.append(table.reset_index().assign(level=level))
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values(["level", "outcome", "sd_estimate"])  # bins in their own order
    columns = ["level", "outcome", "sd_estimate", "replicates", "intervals", "mean_sd_ratio"]
    return table[columns + ["coverage_50", "coverage_90"]].reset_index(drop=True)


def run_coverage(
    replicates: Sequence[int],
    *,
    seed: int,
    out_dir: str | Path,
    settings: CoverageSettings = CoverageSettings(),
    workers: int = 2,
    scheduler: str | None = None,
    echo: Any = print,
) -> list[dict[str, Any]]:
    """Run the replicates not yet on disk under ``out_dir`` on Dask; return their records."""
    from dask.distributed import as_completed

    from grassroots._dask import dask_client
    from grassroots._fresh_process import call_in_fresh_process

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = {int(p.stem.split("-")[1]) for p in out.glob("replicate-*.parquet")}
    todo = [r for r in replicates if r not in done]
    echo(f"{len(done)} replicate(s) already on disk; running {len(todo)}")
    records: list[dict[str, Any]] = []
    if not todo:
        return records
    with dask_client(workers, scheduler) as client:
        # Each replicate in a new interpreter: a long-lived worker piles up what every fit
        # leaves behind (see grassroots._fresh_process). A child that died is tried once more.
        replicate_of = {}
        for r in todo:
            future = client.submit(
                call_in_fresh_process, run_replicate, r, seed, settings, str(out),
                key=f"coverage-{seed}-{r}", pure=False, retries=1,
            )  # fmt: skip
            replicate_of[future] = r
        for future in as_completed(list(replicate_of)):
            try:
                record = future.result()
            except Exception as error:  # a crashed child, twice: reported, the campaign goes on
                record = {"replicate": replicate_of[future], "error": repr(error), "seconds": 0.0}
            records.append(record)
            # At once, so that a campaign stopped midway keeps the records of what it finished.
            log = out / "runs.jsonl"
            previous = log.read_text(encoding="utf-8") if log.exists() else ""
            write_text_atomic(log, previous + json.dumps(record, sort_keys=True) + "\n")
            state = (
                "failed"
                if "error" in record
                else (f"R-hat {record['max_rhat']:.3f}, {record['divergences']} divergences")
            )
            echo(f"  replicate {record['replicate']:4d}: {record['seconds']:7.1f} s  {state}")
    return records
