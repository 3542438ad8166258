"""MCMC diagnostics from ArviZ, stored with every fit, and the warning they raise.

Thresholds follow Vehtari et al. (2021): rank-normalised split R-hat <= 1.01 and bulk and tail
ESS >= 400 for every parameter element, no divergent transition; E-BFMI below 0.3 and
tree-depth saturation are reported too.

A variational approximation (``method`` ``advi`` or ``fullrank_advi``) has no R-hat or ESS: its
diagnostics record the optimisation instead (iterations, final ELBO, whether it converged), and
it is always flagged as approximate (:func:`approximation_note`), never passed off as NUTS.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import arviz_stats as azs
import numpy as np
import pandas as pd
import xarray as xr

from grassroots._warnings import warn_caller

# The one home of the convergence thresholds: reporting, validation and analysis import them.
RHAT_MAX = 1.01
ESS_MIN = 400
EBFMI_MIN = 0.3
# Sampler-stat names differ between nutpie and PyMC's NUTS.
_TREEDEPTH_STATS = ("maxdepth_reached", "reached_max_treedepth")


#: Why a one-chain fit fails the convergence check (split R-hat compares chains).
ONE_CHAIN_PROBLEM = "R-hat cannot be computed from one chain; run >= 2 chains"


class ConvergenceWarning(UserWarning):
    """The sampler may not have converged: R-hat > 1.01, ESS < 400, divergences or low E-BFMI."""


class ApproximationWarning(ConvergenceWarning):
    """The posterior is a variational approximation, not NUTS draws: R-hat and ESS do not apply,
    and its estimates need validating against NUTS before they are reported."""


METHOD_LABELS = {
    "nuts": "NUTS",
    "advi": "ADVI",
    "fullrank_advi": "full-rank ADVI",
    "consensus": "consensus Monte Carlo",
}
_APPROXIMATION_NOTE = {
    "en": "approximate ({label}): not NUTS; validate before reporting",
    "zh": "近似推断（{label}）：非 NUTS，报告前须验证",
}
_OPTIMISATION_NOT_CONVERGED = {
    "en": " (the optimisation did not converge within {iterations:,d} iterations)",
    "zh": "（优化在 {iterations:,d} 次迭代内未收敛）",
}


def approximation_note(
    method: str, lang: str = "en", *, converged: bool = True, iterations: int = 0
) -> str:
    """What every report of an approximate fit says about it, e.g. ``"approximate (ADVI): not
    NUTS; validate before reporting"``; ``""`` for NUTS.

    ``converged=False`` adds that the optimisation stopped at its budget of ``iterations``.
    """
    if method == "nuts":
        return ""
    note = _APPROXIMATION_NOTE[lang].format(label=METHOD_LABELS.get(method, method))
    if not converged:
        note += _OPTIMISATION_NOT_CONVERGED[lang].format(iterations=int(iterations))
    return note


def flatten(dataset: xr.Dataset) -> pd.Series:
    """One value per parameter element, indexed ``name[coord, coord]`` (ArviZ style)."""
    pieces = []
    for name, array in dataset.data_vars.items():
        if array.ndim == 0:
            pieces.append(pd.Series([float(array)], index=[name]))
            continue
        stacked = array.to_series()
        labels = [
            f"{name}[{', '.join(map(str, key if isinstance(key, tuple) else (key,)))}]"
            for key in stacked.index
        ]
        pieces.append(pd.Series(stacked.to_numpy(dtype=float), index=labels))
    return pd.concat(pieces) if pieces else pd.Series(dtype=float)


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    table : DataFrame
        ``r_hat``, ``ess_bulk``, ``ess_tail`` per parameter element (index ``name[coord]``);
        constant elements (e.g. the unit diagonal of a correlation matrix) have NaN.
    n_divergent : int
    n_samples : int
        Post-warmup draws over all chains.
    treedepth_hits : int
        Draws whose trajectory stopped at the maximum tree depth.
    ebfmi : tuple of float
        E-BFMI per chain.
    method : str
        ``nuts``, ``advi`` or ``fullrank_advi``. An approximate fit's table is all NaN (R-hat and
        ESS do not apply) and it has no sampler statistics.
    n_chains : int, optional
        Chains sampled (``None`` when not recorded: bundles of older grassroots, approximate
        fits). R-hat needs two: a one-chain fit is never converged.
    constant : tuple of str, optional
        Elements whose draws are all equal (a correlation matrix's unit diagonal): they have no
        R-hat or ESS and are not checked. Any other element with a NaN R-hat or ESS fails.
    optimisation : dict
        Approximate fits only: ``iterations`` run, ``max_iterations``, ``tolerance``,
        ``converged`` (no variational parameter moved by more than ``tolerance`` over
        ``check_every`` steps before the budget ran out), ``final_elbo`` (mean ELBO of the last
        ``elbo_window`` iterations) and ``latent_dimensions``.
    """

    table: pd.DataFrame
    n_divergent: int
    n_samples: int
    treedepth_hits: int
    ebfmi: tuple[float, ...] = field(default_factory=tuple)
    method: str = "nuts"
    optimisation: dict[str, Any] = field(default_factory=dict)
    n_chains: int | None = None
    constant: tuple[str, ...] | None = None

    @property
    def approximate(self) -> bool:
        return self.method != "nuts"

    @property
    def optimisation_converged(self) -> bool:
        return bool(self.optimisation.get("converged", False))

    def note(self, lang: str = "en") -> str:
        """:func:`approximation_note` of this fit (``""`` for NUTS)."""
        return approximation_note(
            self.method,
            lang,
            converged=self.optimisation_converged or not self.approximate,
            iterations=int(self.optimisation.get("max_iterations", 0)),
        )

    @property
    def max_rhat(self) -> float:
        values = self.table["r_hat"]
        return float(np.nanmax(values)) if values.notna().any() else float("nan")

    @property
    def min_ess_bulk(self) -> float:
        return _nanmin(self.table["ess_bulk"])

    @property
    def min_ess_tail(self) -> float:
        return _nanmin(self.table["ess_tail"])

    def not_assessed(self) -> pd.Index:
        """Elements that vary but whose R-hat or ESS is NaN (beyond the R-hat of a one-chain
        fit, which :meth:`problems` names once): their convergence cannot be judged."""
        values = self.table[["r_hat", "ess_bulk", "ess_tail"]]
        if self.n_chains == 1:
            values = values[["ess_bulk", "ess_tail"]]
        varying = ~self.table.index.isin(self._constant_elements())
        return self.table.index[varying & values.isna().any(axis=1).to_numpy()]

    def _constant_elements(self) -> list[str]:
        if self.constant is not None:
            return list(self.constant)
        # Bundles of older grassroots did not record them: there, a constant element was the
        # one with all three NaN.
        all_nan = self.table[["r_hat", "ess_bulk", "ess_tail"]].isna().all(axis=1)
        return list(self.table.index[all_nan])

    def problems(self) -> list[str]:
        """Human-readable list of failed checks (empty when all pass); an approximate fit's
        first item is always its :meth:`note`."""
        if self.approximate:
            return [f"{self.note()}; R-hat and ESS do not apply"]
        found = []
        if self.n_chains == 1:
            found.append(ONE_CHAIN_PROBLEM)
        not_assessed = self.not_assessed()
        if len(not_assessed):
            found.append(
                f"R-hat or ESS is NaN for {len(not_assessed)} varying element(s) (e.g. "
                f"{list(not_assessed[:3])}): their convergence cannot be judged; look for NaN "
                "or infinite draws"
            )
        table = self.table
        bad_rhat = table.index[table["r_hat"] > RHAT_MAX]
        if len(bad_rhat):
            found.append(
                f"R-hat > {RHAT_MAX} for {len(bad_rhat)} element(s) (max {self.max_rhat:.3f}, "
                f"e.g. {list(bad_rhat[:3])})"
            )
        low_ess = table.index[(table["ess_bulk"] < ESS_MIN) | (table["ess_tail"] < ESS_MIN)]
        if len(low_ess):
            found.append(
                f"ESS < {ESS_MIN} for {len(low_ess)} element(s) (min bulk "
                f"{self.min_ess_bulk:.0f}, min tail {self.min_ess_tail:.0f}, e.g. "
                f"{list(low_ess[:3])})"
            )
        if self.n_divergent:
            found.append(f"{self.n_divergent} divergent transition(s) of {self.n_samples}")
        low_bfmi = [round(v, 2) for v in self.ebfmi if v < EBFMI_MIN]
        if low_bfmi:
            found.append(f"E-BFMI < {EBFMI_MIN} in {len(low_bfmi)} chain(s): {low_bfmi}")
        if self.treedepth_hits:
            found.append(f"{self.treedepth_hits} draw(s) hit the maximum tree depth")
        return found

    @property
    def converged(self) -> bool:
        """R-hat, ESS and divergences pass (E-BFMI and tree depth are advisory); never for an
        approximate fit, which has none of them."""
        if self.approximate:
            return False
        return not (
            self.n_chains == 1
            or len(self.not_assessed())
            or (self.table["r_hat"] > RHAT_MAX).any()
            or (self.table["ess_bulk"] < ESS_MIN).any()
            or (self.table["ess_tail"] < ESS_MIN).any()
            or self.n_divergent
        )

    def overview(self) -> dict[str, Any]:
        """The headline numbers, e.g. for a table footnote; an approximate fit's add whether
        its optimisation converged and its iteration budget."""
        approximation = (
            {
                "optimisation_converged": self.optimisation_converged,
                "max_iterations": int(self.optimisation.get("max_iterations", 0)),
            }
            if self.approximate
            else {}
        )
        return {
            "max_rhat": self.max_rhat,
            "min_ess_bulk": self.min_ess_bulk,
            "min_ess_tail": self.min_ess_tail,
            "n_divergent": self.n_divergent,
            "n_samples": self.n_samples,
            "treedepth_hits": self.treedepth_hits,
            "min_ebfmi": min(self.ebfmi) if self.ebfmi else float("nan"),
            "converged": self.converged,
            "n_chains": self.n_chains,
            "n_not_assessed": len(self.not_assessed()) if not self.approximate else 0,
            "method": self.method,
            **approximation,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": {
                "index": list(self.table.index),
                **{col: _json_floats(self.table[col]) for col in self.table.columns},
            },
            "n_divergent": self.n_divergent,
            "n_samples": self.n_samples,
            "treedepth_hits": self.treedepth_hits,
            "ebfmi": list(self.ebfmi),
            "method": self.method,
            "optimisation": self.optimisation,
            "n_chains": self.n_chains,
            "constant": None if self.constant is None else list(self.constant),
        }

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> Diagnostics:
        body = dict(table["table"])
        index = body.pop("index")
        frame = pd.DataFrame(
            {col: [np.nan if v is None else v for v in values] for col, values in body.items()},
            index=pd.Index(index, dtype=object),
        )
        return cls(
            table=frame,
            n_divergent=int(table["n_divergent"]),
            n_samples=int(table["n_samples"]),
            treedepth_hits=int(table["treedepth_hits"]),
            ebfmi=tuple(float(v) for v in table["ebfmi"]),
            method=table.get("method", "nuts"),
            optimisation=dict(table.get("optimisation", {})),
            n_chains=None if table.get("n_chains") is None else int(table["n_chains"]),
            constant=None if table.get("constant") is None else tuple(table["constant"]),
        )

    def warn(self, name: str = "model") -> None:
        """Issue a :class:`ConvergenceWarning` listing the failed checks, if any; an
        :class:`ApproximationWarning` for every approximate fit."""
        if self.approximate:
            warn_caller(
                f"{name}: {self.problems()[0]}. Compare its estimates with a NUTS fit (e.g. "
                "analysis/validation/approximate_vs_nuts.py), group SDs first.",
                ApproximationWarning,
            )
            return
        found = self.problems()
        if found:
            warn_caller(
                f"{name}: " + "; ".join(found) + ". Run longer chains, raise target_accept, or "
                "reparameterise before reading the estimates.",
                ConvergenceWarning,
            )


def _nanmin(values: pd.Series) -> float:
    return float(np.nanmin(values)) if values.notna().any() else float("nan")


def _json_floats(values: pd.Series) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values.to_numpy(dtype=float)]


def compute_diagnostics(trace: xr.DataTree, var_names: list[str] | None = None) -> Diagnostics:
    """R-hat, ESS, divergences, tree-depth hits and E-BFMI of a sampled trace.

    Parameters
    ----------
    trace : xarray.DataTree
        With groups ``posterior`` and (for sampler statistics) ``sample_stats``.
    var_names : list of str, optional
        Posterior variables to check (default: all but packed Cholesky factors).
    """
    posterior = trace["posterior"].to_dataset()
    if var_names is None:
        # A packed Cholesky factor is redundant with the SDs and correlations stored beside it;
        # its elements mix sd and correlation and are read by no one.
        var_names = [name for name in posterior.data_vars if not name.endswith("_chol")]
    posterior = posterior[var_names]
    with warnings.catch_warnings():
        # Constant elements (a correlation matrix's diagonal) make R-hat 0/0; they are NaN here.
        warnings.simplefilter("ignore", RuntimeWarning)
        table = pd.DataFrame(
            {
                "r_hat": flatten(azs.rhat(posterior)),
                "ess_bulk": flatten(azs.ess(posterior, method="bulk")),
                "ess_tail": flatten(azs.ess(posterior, method="tail")),
            }
        )
    # Constant from their draws, not from a NaN R-hat: one chain gives every element a NaN
    # R-hat, and that must fail the check rather than pass as "constant".
    spread = posterior.max(("chain", "draw")) - posterior.min(("chain", "draw"))
    constant = flatten(spread) == 0
    table.loc[constant, ["r_hat", "ess_bulk", "ess_tail"]] = np.nan
    n_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    n_divergent = treedepth_hits = 0
    ebfmi: tuple[float, ...] = ()
    if "sample_stats" in trace.children:
        stats = trace["sample_stats"].to_dataset()
        if "diverging" in stats:
            n_divergent = int(stats["diverging"].sum())
        for name in _TREEDEPTH_STATS:
            if name in stats:
                treedepth_hits = int(stats[name].sum())
        if "energy" in stats:
            values = azs.bfmi(stats["energy"].transpose("chain", "draw").to_numpy())
            ebfmi = tuple(float(v) for v in np.atleast_1d(values))
    return Diagnostics(
        table,
        n_divergent,
        n_samples,
        treedepth_hits,
        ebfmi,
        n_chains=int(posterior.sizes["chain"]),
        constant=tuple(constant.index[constant]),
    )


def approximate_diagnostics(trace: xr.DataTree, optimisation: dict[str, Any]) -> Diagnostics:
    """The diagnostics of a variational approximation's draws: no R-hat or ESS (the table has
    the parameter elements :func:`compute_diagnostics` would check, all NaN), the optimisation
    record of :func:`grassroots.inference.approximate.approximate`."""
    posterior = trace["posterior"].to_dataset()
    checked = posterior[[name for name in posterior.data_vars if not name.endswith("_chol")]]
    index = flatten(checked.isel(chain=0, draw=0)).index
    table = pd.DataFrame(np.nan, index=index, columns=["r_hat", "ess_bulk", "ess_tail"])
    return Diagnostics(
        table=table,
        n_divergent=0,
        n_samples=posterior.sizes["chain"] * posterior.sizes["draw"],
        treedepth_hits=0,
        method=str(optimisation["method"]),
        optimisation=dict(optimisation),
    )
