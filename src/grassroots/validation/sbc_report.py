"""SBC report: the Markdown and CSV tables, per-family summaries and Δ-ECDF plots of a run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from grassroots._io import atomic_path, write_text_atomic
from grassroots.inference.diagnostics import RHAT_MAX
from grassroots.validation.sbc_statistics import ALPHA, FamilyResult, SBCResult


def time_line(result: SBCResult) -> str:
    # The campaign's cost, not this invocation's: a report of resumed chunks takes seconds.
    worker_hours = sum(r.worker_seconds for r in result.families.values()) / 3600
    span_hours = result.settings.get("chunks_span_seconds", result.wall_seconds) / 3600
    return (
        f"Seed {result.seed}; the chunks ran over {span_hours:.1f} h, from the first one's start "
        f"to the last one's end (resumed runs included), {worker_hours:.1f} worker-hours in all."
    )


def _markdown(table: pd.DataFrame) -> str:
    header = "| family | quantity | n_sims | p-value | adjusted p-value | result |"
    lines = [header, "| --- | --- | ---: | ---: | ---: | --- |"]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.family} | `{row.quantity}` | {row.n_sims} | {row.p_value:.4f} | "
            f"{row.p_adjusted:.4f} | {'pass' if row.passed else '**FAIL**'} |"
        )
    return "\n".join(lines)


def family_summary(result: FamilyResult) -> dict[str, Any]:
    """Counts and diagnostics of one family, for the Markdown report and the JSON record."""
    fits = result.fits
    summary: dict[str, Any] = {
        "n_sims": len(result.ranks),
        "n_quantities": len(result.pit.columns),
        "n_failed_quantities": int((~result.tests["passed"]).sum()) if len(result.tests) else 0,
        "chunks": result.n_chunks,
        "failed_chunks": len(result.failures),
        "worker_seconds": round(result.worker_seconds, 1),
        "span_seconds": round(result.span_seconds, 1),
    }
    if "max_rhat" in fits:
        summary |= {
            "max_rhat_max": round(float(fits["max_rhat"].max()), 3),
            f"share_fits_rhat_above_{RHAT_MAX:g}": round(
                float((fits["max_rhat"] > RHAT_MAX).mean()), 3
            ),
        }
    if len(fits):
        summary |= {
            "seconds_per_fit_median": round(float(fits["seconds"].median()), 2),
            "cpu_seconds_per_fit_median": round(float(fits["cpu_seconds"].median()), 2),
            "most_often_lowest_ess": fits["min_ess_quantity"].value_counts().head(3).to_dict(),
            "kept_draws_median": float(fits["kept_draws"].median()),
            "kept_draws_min": int(fits["kept_draws"].min()),
            "min_ess_bulk_median": round(float(fits["min_ess_bulk"].median()), 1),
            # Fits whose ESS fell below the fewest draws kept: their ranks are less independent.
            "share_fits_ess_below_kept": round(
                float((fits["min_ess_bulk"] < fits["kept_draws"]).mean()), 3
            ),
            "fits_with_divergences": int((fits["divergences"] > 0).sum()),
            "divergences_total": int(fits["divergences"].sum()),
        }
    return summary


def plot_family(result: FamilyResult, target: str | Path, alpha: float = ALPHA) -> None:
    """Δ-ECDF of the PIT values of every quantity (arviz_plots ``plot_ecdf_pit``), as PNG."""
    import matplotlib.pyplot as plt
    from arviz_base import from_dict, rc_context
    from arviz_plots import plot_ecdf_pit

    tree = from_dict({"prior_sbc": {c: result.pit[c].to_numpy()[None, :] for c in result.pit}})
    n = len(result.pit.columns)
    cols = min(5, n)
    rows = math.ceil(n / cols)
    # The joint model has more quantities than arviz_plots' default cap of 40 panels.
    with rc_context({"plot.max_subplots": max(40, n)}):
        plot = _plot_ecdf_pit(plot_ecdf_pit, tree, cols, rows, alpha)
    figure = plot.viz["figure"].item()
    figure.suptitle(
        f"SBC {result.family}: Δ-ECDF of randomised PIT ({len(result.pit)} simulations); "
        "p: pot_c, unadjusted",
        fontsize=11,
    )
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)


def _plot_ecdf_pit(plot_ecdf_pit, tree, cols: int, rows: int, alpha: float):
    return plot_ecdf_pit(
        tree,
        group="prior_sbc",
        method="pot_c",
        envelope_prob=1 - alpha,
        backend="matplotlib",
        col_wrap=cols,
        # Labels like township_corr[demand_fit, short_sighted] need small type to fit.
        visuals={"title": {"size": 8}, "xlabel": {"size": 8}, "p_value_text": {"size": 8}},
        figure_kwargs={"figsize": (3.4 * cols, 2.3 * rows + 0.6)},
    )


def write_results(result: SBCResult, out: str | Path, *, plots: bool = True) -> list[Path]:
    """Write the tables, ranks, fit diagnostics and plots of a run into ``out`` (atomically).

    Files: ``sbc_results.csv`` and ``sbc_results.md`` (all families), and per family
    ``sbc_<family>_ranks.csv``, ``sbc_<family>_fits.csv`` and ``sbc_<family>_ecdf.png``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    written: list[Path] = []

    def text(name: str, content: str) -> None:
        write_text_atomic(out / name, content)
        written.append(out / name)

    table = result.table
    columns = ["family", "quantity", "n_sims", "p_value", "p_adjusted", "passed"]
    text(
        "sbc_results.csv",
        (table if len(table) else pd.DataFrame(columns=columns)).to_csv(
            index=False, float_format="%.6g"
        ),
    )
    lines = [
        "# Simulation-based calibration",
        "",
        "Written by `analysis/validation/sbc.py` (see `grassroots.validation.sbc`). Prior SBC "
        "with simuk; ranks of thinned posterior draws; randomised PIT tested with ArviZ's "
        f"`pot_c`; Holm correction over the quantities of each family; alpha = "
        f"{result.settings.get('alpha', ALPHA)}.",
        "",
        time_line(result),
        "",
    ]
    if result.settings.get("chunks_not_run"):
        lines += [
            f"**Interim report**: {result.settings['chunks_not_run']} chunk(s) not run yet; a "
            "family's tests cover the simulations of its finished chunks only.",
            "",
        ]
    lines += [
        "| family | sims | quantities | failed | median kept draws (L) | median min ESS "
        "| fits ESS < L | fits with divergences | s per fit | worker min |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for family, family_res in result.families.items():
        s = family_summary(family_res)
        lines.append(
            f"| {family} | {s['n_sims']} | {s['n_quantities']} | {s['n_failed_quantities']} | "
            f"{s.get('kept_draws_median', '')} | {s.get('min_ess_bulk_median', '')} | "
            f"{s.get('share_fits_ess_below_kept', '')} | {s.get('fits_with_divergences', '')} | "
            f"{s.get('seconds_per_fit_median', '')} | {s['worker_seconds'] / 60:.1f} |"
        )
    for family, family_res in result.families.items():
        for failure in family_res.failures:
            lines += ["", f"{family}: {failure.splitlines()[0]}"]
    lines += ["", _markdown(table) if len(table) else "(no results)", ""]
    text("sbc_results.md", "\n".join(lines))
    for family, family_res in result.families.items():
        text(f"sbc_{family}_ranks.csv", family_res.ranks.to_csv(index=False))
        text(f"sbc_{family}_fits.csv", family_res.fits.to_csv(index=False, float_format="%.6g"))
        if plots and len(family_res.pit):
            target = out / f"sbc_{family}_ecdf.png"
            plot_family(family_res, target, result.settings.get("alpha", ALPHA))
            written.append(target)
    return written
