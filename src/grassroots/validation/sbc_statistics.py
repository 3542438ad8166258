"""SBC statistics: merged ranks, randomised PIT values, uniformity tests, Holm correction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from grassroots.validation.sbc_designs import chunk_seeds
from grassroots.validation.sbc_runner import ChunkResult

#: Level of each uniformity test, after the multiplicity correction within a family.
ALPHA = 0.01


def merge_chunks(results: Sequence[ChunkResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranks and fit diagnostics of a family's successful chunks, in chunk order."""
    done = sorted((r for r in results if r.error is None), key=lambda r: r.chunk)
    if not done:
        return pd.DataFrame(), pd.DataFrame()
    ranks = pd.concat([r.ranks for r in done], ignore_index=True)
    fits = pd.concat([r.fits for r in done], ignore_index=True)
    return ranks, fits


def pit_values(
    ranks: np.ndarray, kept_draws: int | np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Randomised PIT ``(rank + U) / (L + 1)``: exactly uniform when ranks are uniform on 0..L.

    Parameters
    ----------
    ranks : ndarray, shape (simulations, quantities)
    kept_draws : int or ndarray, shape (simulations,)
        L of every simulation (the draws its fit kept).
    rng : numpy.random.Generator
    """
    ranks = np.asarray(ranks)
    kept = np.broadcast_to(
        np.asarray(kept_draws).reshape(-1, *([1] * (ranks.ndim - 1))), ranks.shape
    )
    if ranks.size and ((ranks < 0).any() or (ranks > kept).any()):
        raise ValueError("ranks must lie in 0..L of their simulation")
    return (ranks + rng.random(ranks.shape)) / (kept + 1)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's shape and order.

    A NaN p-value (a quantity whose test could not be computed) stays NaN and does not count
    among the tests corrected for.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


def uniformity_tests(pit: pd.DataFrame, family: str, alpha: float = ALPHA) -> pd.DataFrame:
    """pot_c p-value of every column of ``pit`` and Holm-adjusted p-values across the columns."""
    from arviz_stats.base import array_stats

    values = pit.to_numpy(dtype=float).T
    p_values = np.asarray(array_stats.uniformity_test(values, axis=-1, method="pot_c")[0])
    p_values = np.atleast_1d(p_values).astype(float)
    adjusted = holm(p_values)
    return pd.DataFrame(
        {
            "family": family,
            "quantity": list(pit.columns),
            "n_sims": len(pit),
            "p_value": p_values,
            "p_adjusted": adjusted,
            "passed": adjusted >= alpha,
        }
    )


@dataclass
class FamilyResult:
    """One family's merged ranks, PIT values, fit diagnostics, tests and timing."""

    family: str
    ranks: pd.DataFrame
    pit: pd.DataFrame
    fits: pd.DataFrame
    tests: pd.DataFrame
    n_chunks: int
    worker_seconds: float
    span_seconds: float
    failures: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class SBCResult:
    """Every family's result and the run's settings."""

    families: dict[str, FamilyResult]
    seed: int
    settings: dict[str, Any]
    wall_seconds: float

    @property
    def table(self) -> pd.DataFrame:
        frames = [r.tests for r in self.families.values() if not r.tests.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def family_result(
    family: str, results: Sequence[ChunkResult], seed: int, alpha: float = ALPHA
) -> FamilyResult:
    """Merge a family's chunks, make the PIT values and test them."""
    ranks, fits = merge_chunks(results)
    _, jitter_seed = chunk_seeds(seed, family, 0)
    quantities = [c for c in ranks.columns if c not in ("chunk", "simulation")]
    kept = fits["kept_draws"].to_numpy() if len(fits) else np.zeros(0, dtype=np.int64)
    pit = pd.DataFrame(
        pit_values(ranks[quantities].to_numpy(), kept, np.random.default_rng(jitter_seed)),
        columns=quantities,
    )
    tests = uniformity_tests(pit, family, alpha) if len(pit) else pd.DataFrame()
    return FamilyResult(
        family=family,
        ranks=ranks,
        pit=pit,
        fits=fits,
        tests=tests,
        n_chunks=len(results),
        worker_seconds=float(sum(r.seconds for r in results)),
        span_seconds=chunk_span_seconds(results),
        failures=[f"chunk {r.chunk}: {r.error}" for r in results if r.error],
    )


def chunk_span_seconds(results: Sequence[ChunkResult]) -> float:
    if not results:
        return 0.0
    return float(max(r.started + r.seconds for r in results) - min(r.started for r in results))
