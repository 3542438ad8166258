"""Shared pieces of the engine benchmark: data sizes, the exported design, and the transforms.

Every engine fits the package's joint structural model (``models/structural.toml``) on the same
rows. The PyMC engines build it with :func:`grassroots.models.build_model`; Stan and numpyro get
the arrays that ``build_model`` itself uses (:func:`export_design`), so the design matrices, their
centring, the survival exposures and the group codes are the package's, not a re-implementation.

Stan and numpyro sample the same unconstrained coordinates as PyMC:

* group-effect standard normals: PyMC's ``ZeroSumTransform`` (:func:`zerosum_extend`) maps
  ``n - 1`` free reals to ``n`` values that sum to zero; it is an isometry, so the prior is a
  standard normal on the free reals;
* the township covariance: PyMC's ``LKJCholeskyCov`` packs the Cholesky factor of the covariance
  (row-major lower triangle, log diagonal); :func:`packed_cholesky` unpacks it and
  :func:`lkj_cholesky_cov_logp` is PyMC's density of it, Jacobian included;
* SDs on the log scale, ordered cut points through ``x_0 = y_0, x_k = x_{k-1} + exp(y_k)``:
  Stan's and numpyro's own transforms are the same maps.

This module imports neither PyMC nor grassroots at import time: the Stan and numpyro workers
load only numpy, so their peak memory is their own.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPEC_NAME = "structural"
# Outcome order of the spec; the township effects' columns follow it.
OUTCOMES = ("survival", "demand_fit", "extensive", "expedient", "short_sighted")
LOGISTIC = {"extensive": "e", "expedient": "x", "short_sighted": "h"}
DATA_SEED = 20240601


@dataclass(frozen=True)
class Size:
    """A data size: counties, townships and projects (``None``: the bundled study)."""

    name: str
    counties: int | None = None
    townships: int | None = None
    projects: int | None = None

    def describe(self) -> str:
        if self.counties is None:
            return "bundled study"
        return f"{self.counties} counties / {self.townships} townships / {self.projects} projects"


SIZES: dict[str, Size] = {
    "small": Size("small", 30, 300, 1200),
    "bundled": Size("bundled"),
    "medium": Size("medium", 100, 1500, 6000),
    "national": Size("national", 2800, 37876, 149568),
}


def ported_spec():
    """The structural spec with every grouping level non-centred: the parameterisation that
    ``structural.stan``, ``numpyro_model.py`` and ``numpy_model.py`` write, so that their log
    densities and gradients can be compared coordinate by coordinate with PyMC's. The package
    itself chooses per level (``parameterization = "auto"``, centred counties on the bundled
    study); the engines' timing runs fit that default."""
    import dataclasses

    from grassroots.models import load_spec

    spec = load_spec(SPEC_NAME)
    groups = tuple(
        dataclasses.replace(level, parameterization="non_centred") for level in spec.groups
    )
    return dataclasses.replace(spec, groups=groups)


def load_frame(size: Size, seed: int = DATA_SEED):
    """The flat table of a size: the bundled study, or a simulated study of that size.

    The simulator draws ``1 + Poisson(mean - 1)`` townships per county and projects per
    township, so a simulated study has about (not exactly) the named counts.
    """
    import grassroots
    from grassroots.data.simulate import SimulationConfig, simulate
    from grassroots.data.study import Study

    if size.counties is None:
        return grassroots.load_dataset().flat()
    config = SimulationConfig(
        n_counties=size.counties,
        townships_per_county=size.townships / size.counties,
        projects_per_township=size.projects / size.townships,
    )
    sim = simulate(seed, config)
    # Validated like a user's study (types, categories), as `grassroots.fit` would see it.
    return Study.from_frames(sim.projects, sim.townships, sim.counties).flat()


def _normal(prior, role: str) -> tuple[float, float]:
    if prior.dist != "Normal":
        raise NotImplementedError(
            f"prior of {role} is {prior}; the Stan/numpyro ports assume Normal"
        )
    return float(prior.params.get("mu", 0.0)), float(prior.params["sigma"])


def _cutpoint_prior(prior) -> dict[str, float]:
    """The cut points' prior as the ports read it: ``cut_dirichlet`` 1 for the package's default
    induced Dirichlet (``cut_alpha``), 0 for a Normal on each cut point (``cut_mu``,
    ``cut_sigma``); the unused numbers are placeholders (Stan needs every data name)."""
    from grassroots.models.priors import INDUCED_DIRICHLET

    if prior.dist == INDUCED_DIRICHLET:
        alpha = float(prior.params.get("alpha", 1.0))
        return {"cut_dirichlet": 1, "cut_alpha": alpha, "cut_mu": 0.0, "cut_sigma": 1.0}
    mu, sigma = _normal(prior, "cutpoints")
    return {"cut_dirichlet": 0, "cut_alpha": 1.0, "cut_mu": mu, "cut_sigma": sigma}


def _coefficient_prior(prior, term_sds: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """The coefficients' Normal prior per term, as ``build_model`` autoscales it
    (``priors.per_term``: the prior is stated per SD of a term): ``{name}_mu`` and
    ``{name}_sigma``, one value per design column."""
    from grassroots.models.priors import per_term

    _normal(prior, "beta")
    scaled = per_term(prior, term_sds) if len(term_sds) else {}
    shape = np.shape(term_sds)
    return {
        f"{name}_mu": np.broadcast_to(scaled.get("mu", 0.0), shape).astype(float),
        f"{name}_sigma": np.broadcast_to(scaled.get("sigma", 1.0), shape).astype(float),
    }


def _half_normal(prior, role: str) -> float:
    if prior.dist != "HalfNormal":
        raise NotImplementedError(
            f"prior of {role} is {prior}; the Stan/numpyro ports assume HalfNormal"
        )
    return float(prior.params.get("sigma", 1.0))


def export_design(spec, inputs) -> dict[str, Any]:
    """The arrays of :func:`grassroots.models.build_model` for Stan and numpyro.

    Parameters
    ----------
    spec : grassroots.models.ModelSpec
        The structural spec.
    inputs : grassroots.models.ModelInputs
        ``build_model(spec, frame).inputs``.

    Returns
    -------
    dict
        Stan's data names (1-based indices); numpy arrays and numbers. Design matrices are
        centred with the observed rows' means, as ``build_model`` centres them.
    """
    from grassroots.models.priors import resolve_lkj_eta, resolve_prior

    if tuple(spec.outcome_names) != OUTCOMES or spec.correlated != "township":
        raise NotImplementedError(f"the ports are written for {OUTCOMES} with township LKJ")
    if [lvl.name for lvl in spec.groups] != ["county", "township"]:
        raise NotImplementedError("the ports are written for groups county -> township")
    county, township = inputs.groups.codes
    out: dict[str, Any] = {
        "K": len(OUTCOMES),
        "C": len(inputs.groups.labels[0]),
        "T": len(inputs.groups.labels[1]),
    }
    priors_seen: dict[str, Any] = {}
    for outcome in spec.outcomes:
        data = inputs.outcomes[outcome.name]
        obs = data.observed
        _, matrix = inputs.designs[outcome.name]
        x = matrix[obs]
        centred = x - x.mean(axis=0)
        tables = (spec.priors, outcome.priors)
        tag = {"survival": "s", "demand_fit": "d"}.get(outcome.name) or LOGISTIC[outcome.name]
        out[f"N_{tag}"] = int(obs.sum())
        out[f"P_{tag}"] = centred.shape[1]
        out[f"X_{tag}"] = centred
        out[f"county_{tag}"] = county[obs] + 1
        out[f"township_{tag}"] = township[obs] + 1
        # build_model autoscales the coefficient prior per term (priors.coefficient_prior).
        terms = inputs.designs[outcome.name][0]
        term_sds = np.array([inputs.scaling.term_sd(term) for term in terms])
        out |= _coefficient_prior(resolve_prior("beta", *tables), term_sds, f"beta_{tag}")
        sd = resolve_prior("sd", spec.priors, outcome.priors, level="county")
        priors_seen[f"sd_county_{outcome.name}"] = _half_normal(sd, "sd_county")
        values = data.values
        if outcome.family == "survival":
            if outcome.baseline.kind != "piecewise":
                raise NotImplementedError("the ports are written for the piecewise baseline")
            out |= {
                "J": values["exposure_early"].shape[1],
                "L_s": values["late_design"].shape[1] if "late_design" in values else 0,
                "event_s": values["event"],
                "interval_s": values["interval"] + 1,
                "exposure_early": values["exposure_early"],
                "exposure_late": values["exposure_late"],
                "late_design": values.get("late_design", np.zeros((int(obs.sum()), 0))),
                "late_end": values["late_end"],
            }
            out |= _coefficient_prior(
                resolve_prior("beta", *tables),
                values.get("late_term_sds", np.ones(0)),
                "beta_late",
            )
            priors_seen["log_hazard"] = _normal(resolve_prior("log_hazard", *tables), "log_hazard")
            priors_seen["log_hazard_step"] = _normal(
                resolve_prior("log_hazard_step", *tables), "log_hazard_step"
            )
        elif outcome.family == "ordinal":
            out["Kd"] = len(values["levels"])
            out["y_d"] = values["codes"] + 1
            priors_seen["cutpoints"] = _cutpoint_prior(resolve_prior("cutpoints", *tables))
        else:
            out[f"y_{tag}"] = values["y"]
            priors_seen[f"intercept_{outcome.name}"] = _normal(
                resolve_prior("intercept", *tables), "intercept"
            )
    # One number per role in the ports: outcome-specific overrides would need one per outcome.
    for role in ("sd_county", "intercept"):
        seen = {v for k, v in priors_seen.items() if k.startswith(role + "_")}
        if len(seen) != 1:
            raise NotImplementedError(f"prior of {role} differs between outcomes: {seen}")
    (sd_county,) = {v for k, v in priors_seen.items() if k.startswith("sd_county_")}
    (intercept,) = {v for k, v in priors_seen.items() if k.startswith("intercept_")}
    sd_township = _half_normal(resolve_prior("sd", spec.priors, level="township"), "sd_township")
    out |= {
        "intercept_mu": intercept[0],
        "intercept_sigma": intercept[1],
        **priors_seen["cutpoints"],
        "lh_mu": priors_seen["log_hazard"][0],
        "lh_sigma": priors_seen["log_hazard"][1],
        "step_mu": priors_seen["log_hazard_step"][0],
        "step_sigma": priors_seen["log_hazard_step"][1],
        "sd_county_sigma": sd_county,
        "sd_township_sigma": sd_township,
        "lkj_eta": resolve_lkj_eta(spec.priors),
    }
    return out


def save_design(design: Mapping[str, Any], path: Path) -> None:
    np.savez(path, **{k: np.asarray(v) for k, v in design.items()})


def load_design(path: Path) -> dict[str, Any]:
    """The exported design, numbers as Python scalars and indices as int arrays."""
    with np.load(path) as stored:
        return {k: (v.item() if v.ndim == 0 else v) for k, v in stored.items()}


def stan_data(design: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready Stan data (pystan takes numpy arrays, but ints must stay ints)."""
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in design.items()}


# ---------------------------------------------------------------------------------------------
# Transforms and derived quantities (numpy; the Stan and numpyro programs repeat them)


def zerosum_extend(y: np.ndarray) -> np.ndarray:
    """PyMC's ``ZeroSumTransform.backward`` over the last axis: ``(..., n-1) -> (..., n)``."""
    n = y.shape[-1] + 1
    total = y.sum(axis=-1, keepdims=True)
    norm = total / (np.sqrt(n) + n)
    fill = norm - total / np.sqrt(n)
    return np.concatenate([y, fill], axis=-1) - norm


def packed_cholesky(packed: np.ndarray, k: int) -> np.ndarray:
    """Unconstrained packed vector (row-major lower triangle, log diagonal) -> (..., k, k)."""
    rows, cols = np.tril_indices(k)
    chol = np.zeros((*packed.shape[:-1], k, k))
    values = np.where(rows == cols, np.exp(packed), packed)
    chol[..., rows, cols] = values
    return chol


def derived_draws(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Comparable quantities from Stan's or numpyro's draws (arrays ``(chain, draw, ...)``).

    Names and shapes follow the PyMC model (see :func:`pymc_comparable`): coefficients, the
    baseline and cut points at the average profile, intercepts, county SDs and effects,
    township SDs, correlations (lower triangle) and effects.
    """
    k = len(OUTCOMES)
    out: dict[str, np.ndarray] = {
        "survival_beta": raw["beta_s"],
        "survival_beta_late": raw["beta_late"],
        "survival_log_hazard_start_centred": raw["lh_start"],
        "survival_log_hazard_steps": raw["lh_steps"],
        "demand_fit_beta": raw["beta_d"],
        "demand_fit_cutpoints_centred": raw["cut_d"],
    }
    for name, tag in LOGISTIC.items():
        out[f"{name}_beta"] = raw[f"beta_{tag}"]
        out[f"{name}_intercept_centred"] = raw[f"int_{tag}"]
    z_county = zerosum_extend(raw["z_county_unc"])  # (chain, draw, K, C)
    for position, name in enumerate(OUTCOMES):
        sd = raw["sd_county"][..., position]
        out[f"{name}_sd_county"] = sd
        out[f"{name}_effect_county"] = sd[..., None] * z_county[..., position, :]
    chol = packed_cholesky(raw["township_chol_unc"], k)
    sds = np.sqrt((chol**2).sum(axis=-1))
    corr = (chol @ np.swapaxes(chol, -1, -2)) / (sds[..., :, None] * sds[..., None, :])
    out["township_sd"] = sds
    out["township_corr"] = corr
    z_township = zerosum_extend(raw["township_z_unc"])  # (chain, draw, K, T)
    out["township_effect"] = np.swapaxes(chol @ z_township, -1, -2)  # (chain, draw, T, K)
    return out


def pymc_comparable(posterior) -> dict[str, np.ndarray]:
    """The same quantities from a PyMC/nutpie posterior (an xarray Dataset)."""
    names = [
        "survival_beta",
        "survival_beta_late",
        "survival_log_hazard_start_centred",
        "survival_log_hazard_steps",
        "demand_fit_beta",
        "demand_fit_cutpoints_centred",
        "township_sd",
        "township_corr",
        "township_effect",
    ]
    for name in LOGISTIC:
        names += [f"{name}_beta", f"{name}_intercept_centred"]
    for name in OUTCOMES:
        names += [f"{name}_sd_county", f"{name}_effect_county"]
    return {
        name: posterior[name].transpose("chain", "draw", ...).to_numpy().astype(float)
        for name in names
    }


def diagnostics(draws: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Minimum bulk ESS and maximum R-hat (ArviZ) over every element of the comparable set.

    Constant elements (the correlation matrix's diagonal and upper triangle, which repeat the
    lower one) are left out.
    """
    import arviz_stats as azs
    import xarray as xr

    variables = {}
    for name, values in draws.items():
        if name == "township_corr":
            rows, cols = np.tril_indices(values.shape[-1], k=-1)
            values = values[..., rows, cols]
        variables[name] = xr.DataArray(
            values, dims=("chain", "draw", *[f"{name}_dim{i}" for i in range(values.ndim - 2)])
        )
    dataset = xr.Dataset(variables)
    ess = azs.ess(dataset, method="bulk")
    rhat = azs.rhat(dataset)
    per_variable = {
        name: {
            "min_ess_bulk": float(np.nanmin(ess[name].to_numpy())),
            "max_rhat": float(np.nanmax(rhat[name].to_numpy())),
        }
        for name in dataset.data_vars
    }
    worst_ess = min(per_variable, key=lambda n: per_variable[n]["min_ess_bulk"])
    return {
        "min_ess_bulk": per_variable[worst_ess]["min_ess_bulk"],
        "min_ess_variable": worst_ess,
        "max_rhat": max(v["max_rhat"] for v in per_variable.values()),
        "n_quantities": int(sum(np.prod(v.shape[2:]) for v in dataset.data_vars.values())),
        "per_variable": per_variable,
    }


# ---------------------------------------------------------------------------------------------
# Machine information


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and engine versions of the machine that ran the benchmark."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions = {}
    for package in (
        "grassroots",
        "pymc",
        "pytensor",
        "nutpie",
        "numba",
        "arviz",
        "arviz-stats",
        "numpy",
        "pystan",
        "httpstan",
        "numpyro",
        "jax",
        "jaxlib",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "memory_gib": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "gxx": gxx.stdout.splitlines()[0] if gxx.returncode == 0 else None,
        "versions": versions,
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
