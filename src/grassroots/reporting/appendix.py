"""Appendix A (sampler diagnostics per model) and appendix B (priors and prior sensitivity).

* :func:`appendix_a_diagnostics`: per model, max R-hat, min bulk and tail ESS, divergent
  transitions, min E-BFMI, tree-depth hits, chains × draws and sampling time; a failing number
  carries "⚠" and the table the convergence flag (E-BFMI < 0.3 and tree-depth hits are
  advisory: marked in their cells, not flagged).
* :func:`appendix_b_priors`: every prior of every model, resolved from the specs as the model
  builder resolves them (:func:`~grassroots.reporting.model_tables.prior_declarations`).
* Prior sensitivity: :func:`scale_priors` makes the specs of the scaled priors (×0.5, ×2),
  :func:`sensitivity_estimates` reads key estimates from the ×1 fit's draws importance-reweighted
  to each scaled prior (:mod:`grassroots.inference.prior_reweighting`) or from refits, and
  :func:`appendix_b_sensitivity` lays them out side by side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.inference.diagnostics import EBFMI_MIN
from grassroots.models.priors import DEFAULT_PRIORS, Prior, per_term, resolve_prior
from grassroots.reporting.convergence import (
    ESS_MIN,
    RHAT_MAX,
    convergence_note,
    failed_checks,
)
from grassroots.reporting.labels import model_label, note_text, percent, text
from grassroots.reporting.model_tables import (
    COEFFICIENT_PANELS,
    coefficient_estimates,
    coefficient_label,
    diagnostics_overview,
    format_prior,
    outcome_of,
    prior_declarations,
    role_label,
    term_panel,
    variance_components,
)
from grassroots.reporting.tables import PANEL, Table, format_estimate

if TYPE_CHECKING:
    from grassroots.inference import Fit
    from grassroots.inference.prior_reweighting import PriorReweighting
    from grassroots.models import ModelSpec

__all__ = [
    "SCALE_PARAMETERS",
    "appendix_a_diagnostics",
    "appendix_b_priors",
    "appendix_b_sensitivity",
    "scale_priors",
    "sensitivity_estimates",
]

_FAMILY_PANELS: Mapping[str, Mapping[Lang, str]] = {
    "survival": {"en": "Project survival", "zh": "项目存续"},
    "ordinal": {"en": "Demand fit", "zh": "技术与需求匹配"},
    "logistic": {"en": "Strategies and short-sighted innovation", "zh": "策略选择与创新短视化"},
    "structural": {"en": "Structural model", "zh": "结构模型"},
}


def _family_of(fit: Fit) -> str:
    return fit.spec.family if fit.spec.family in _FAMILY_PANELS else "structural"


def _mark(shown: str, failed: bool) -> str:
    return f"{shown} ⚠" if failed else shown


# --- appendix A ----------------------------------------------------------------------------------


def appendix_a_diagnostics(
    fits: Mapping[str, Fit], lang: Lang = "en", *, name: str = "appendix_a_diagnostics"
) -> Table:
    """Appendix A: sampler diagnostics of every model, in panels by outcome family.

    Parameters
    ----------
    fits
        Model name -> fit, in row order (e.g. every fit of Tables 2-4 and the structural one).
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.

    Returns
    -------
    Table
        Columns: model, chains × draws, max R-hat, min bulk ESS, min tail ESS, divergent
        transitions, min E-BFMI, tree-depth hits, sampling time (s). ``data`` holds the raw
        numbers and the compile time.
    """
    overview = diagnostics_overview(fits)
    failed = failed_checks(overview)
    headers = [
        text("model", lang), text("chains_draws", lang), text("max_rhat", lang),
        text("min_ess_bulk", lang), text("min_ess_tail", lang), text("divergences", lang),
        text("min_ebfmi", lang), text("treedepth_hits", lang), text("sample_seconds", lang),
    ]  # fmt: skip
    rows, panels, data = [], [], []
    # Families in a fixed order, models in the given order within each.
    order = sorted(fits, key=lambda m: list(_FAMILY_PANELS).index(_family_of(fits[m])))
    for model in order:
        fit = fits[model]
        values = overview[model]
        chains, draws = fit.posterior.sizes["chain"], fit.posterior.sizes["draw"]
        seconds = fit.timings.get("sample_seconds", math.nan)
        ebfmi = float(values["min_ebfmi"])
        rows.append([
            model_label(model, lang),
            f"{chains} × {draws:,d}",
            _mark(_rhat(values["max_rhat"]), bool(failed.at[model, "max_rhat"])),
            _mark(_count(values["min_ess_bulk"]), bool(failed.at[model, "min_ess_bulk"])),
            _mark(_count(values["min_ess_tail"]), bool(failed.at[model, "min_ess_tail"])),
            _mark(f"{int(values['n_divergent']):,d}", bool(failed.at[model, "divergences"])),
            "" if math.isnan(ebfmi) else _mark(f"{ebfmi:.2f}", ebfmi < EBFMI_MIN),
            _mark(f"{int(values['treedepth_hits']):,d}", int(values["treedepth_hits"]) > 0),
            "" if math.isnan(seconds) else f"{seconds:,.1f}",
        ])  # fmt: skip
        panels.append(_FAMILY_PANELS[_family_of(fit)][lang])
        data.append({
            "model": model, "spec": fit.spec.name, "family": _family_of(fit), "chains": chains,
            "draws": draws, "max_rhat": values["max_rhat"],
            "min_ess_bulk": values["min_ess_bulk"], "min_ess_tail": values["min_ess_tail"],
            "divergences": values["n_divergent"], "min_ebfmi": ebfmi,
            "treedepth_hits": values["treedepth_hits"], "sample_seconds": seconds,
            "compile_seconds": fit.timings.get("compile_seconds", math.nan),
            "backend": fit.backend,
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=headers, index=pd.Index(panels, name=PANEL))
    if lang == "zh":
        title = "附表A 各模型的抽样诊断"
        note = (
            f"收敛标准：秩归一化分裂 R-hat ≤ {RHAT_MAX:g}，bulk 与 tail ESS ≥ {ESS_MIN}，"
            f"无发散转移（Vehtari 等，2021），取所有参数元素中的最差值；⚠ 标出未达标的数值。"
            f"E-BFMI < {EBFMI_MIN:g} 与达到最大树深的抽样次数仅作提示。抽样时间不含编译时间"
            "（编译时间见 CSV）。"
        )
    else:
        title = "Appendix Table A. Sampler diagnostics per model"
        note = (
            f"Convergence requires rank-normalised split R-hat ≤ {RHAT_MAX:g}, bulk and tail "
            f"ESS ≥ {ESS_MIN} and no divergent transitions (Vehtari et al. 2021), over every "
            "parameter element (the worst is shown); ⚠ marks a number that misses its threshold. "
            f"E-BFMI < {EBFMI_MIN:g} and draws that hit the maximum tree depth are advisory. "
            "Sampling time excludes compilation (in the CSV)."
        )
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=note,
        data=pd.DataFrame(data),
        panel=PANEL,
        flags=(convergence_note({model_label(m, lang): v for m, v in overview.items()}, lang),),
        lang=lang,
        align="lrrrrrrrr",
    )


def _rhat(value: float) -> str:
    if value is None or math.isnan(value):
        return ""
    # Three decimals: 1.004 and 1.012 must not both print as "1.01".
    return f"{value:.3f}"


def _count(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{math.floor(value):,d}"


# --- appendix B: priors --------------------------------------------------------------------------


def appendix_b_priors(
    fits: Mapping[str, Fit] | Iterable[ModelSpec],
    lang: Lang = "en",
    *,
    name: str = "appendix_b_priors",
) -> Table:
    """Appendix B, part 1: every prior, and the models that use it.

    Parameters
    ----------
    fits
        Model name -> fit, or the specs themselves.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.

    Returns
    -------
    Table
        One row per parameter role (and grouping level) and prior, with its source (package
        default or the spec) and the models using it; ``data`` is
        :func:`~grassroots.reporting.model_tables.prior_declarations` of every model.
    """
    if isinstance(fits, Mapping):
        named = [(model, fit.spec) for model, fit in fits.items()]
    else:
        named = [(spec.name, spec) for spec in fits]
    frames = [prior_declarations(spec).assign(model=model) for model, spec in named]
    if isinstance(fits, Mapping):
        frames += [per_unit_priors(fit).assign(model=model) for model, fit in fits.items()]
    declarations = pd.concat(frames, ignore_index=True)
    roles = list(dict.fromkeys(declarations["role"]))
    first = ("beta", PER_UNIT_ROLE)
    order = {role: k for k, role in enumerate((*first, *[r for r in roles if r not in first]))}
    grouped = (
        declarations.assign(rank=declarations["role"].map(order))
        .groupby(["rank", "role", "level", "prior", "source"], sort=True)["model"]
        .agg(lambda models: ", ".join(dict.fromkeys(models)))
        .reset_index()
    )
    source_words = {"spec": text("prior_spec", lang), "default": text("prior_default", lang)}
    per_unit = {"en": "coefficient of {term}, per unit change", "zh": "{term}系数（每单位变化）"}
    frame = pd.DataFrame(
        {
            text("parameter", lang): [
                per_unit[lang].format(term=coefficient_label(level, lang))
                if role == PER_UNIT_ROLE else role_label(role, level, lang)
                for role, level in zip(grouped["role"], grouped["level"], strict=True)
            ],
            text("prior", lang): grouped["prior"],
            text("source", lang): grouped["source"].map(source_words),
            text("models", lang): grouped["model"],
        }
    )  # fmt: skip
    if lang == "zh":
        title = "附表B1 先验分布"
        note = (
            "系数先验按各项的标准差表述（rstanarm 的自动缩放）：标准化的连续变量即为每标准差的"
            "对数风险比或对数比值比；0/1 变量、虚拟变量及交互项 x 每单位变化的先验尺度为所列尺度"
            "÷ sd(x)（sd 取自拟合数据，逐项列出）。切点先验由平均协变量处各等级概率的 Dirichlet"
            "（α）分布导出（Betancourt 2019），随等级数自动伸缩。"
            "基线、截距与切点在平均协变量处抽样，并在参照协变量处报告；"
            "组效应采用非中心化参数化，标准差为对数风险或 logit 尺度。μ、σ、λ、α 为分布参数。"
        )
    else:
        title = "Appendix Table B1. Prior distributions"
        note = (
            "Coefficient priors are stated per SD of their term and autoscaled (rstanarm's rule): "
            "for standardised continuous predictors they are per SD; for a 0/1, dummy or "
            "interaction term x the scale per unit change is the listed one ÷ sd(x) on the "
            "fitted data (listed term by term). Cut points have the prior induced by a "
            "Dirichlet(α) prior on the category probabilities at the average covariate profile "
            "(Betancourt 2019), which widens with the number of levels. Baselines, intercepts "
            "and cut points are sampled at the average covariate profile and reported at the "
            "reference profile; group effects are non-centred, their SDs on the log-hazard or "
            "logit scale. μ, σ, λ, α are the distributions' parameters."
        )
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=note,
        data=declarations,
        lang=lang,
        align="llll",
    )


#: Role of the per-unit coefficient priors that :func:`per_unit_priors` lists (level: the term).
PER_UNIT_ROLE = "beta_per_unit"


def per_unit_priors(fit: Fit) -> pd.DataFrame:
    """The coefficient prior per unit change of every term not standardised (0/1, dummy and
    interaction terms), as the model used it (:func:`~grassroots.models.priors.per_term`).

    Returns
    -------
    DataFrame
        Columns as :func:`~grassroots.reporting.model_tables.prior_declarations`, with role
        :data:`PER_UNIT_ROLE` and the term in ``level``.
    """
    rows = []
    coords = {name: fit.posterior.coords[name].values for name in fit.posterior.coords}
    for outcome in fit.spec.outcomes:
        tables = (fit.spec.priors, outcome.priors)
        prior = resolve_prior("beta", *tables)
        declared = any("beta" in table for table in tables)
        terms = [
            term
            for dim in (f"{outcome.name}_term", f"{outcome.name}_late_term")
            for term in np.asarray(coords.get(dim, [])).tolist()
        ]
        for term in dict.fromkeys(terms):
            sd = fit.scaling.term_sd(term)
            if sd == 1.0:
                continue
            params = {key: float(f"{value:.3g}") for key, value in per_term(prior, sd).items()}
            rows.append(
                {
                    "model": fit.spec.name,
                    "outcome": outcome.name,
                    "role": PER_UNIT_ROLE,
                    "level": term,
                    "prior": format_prior(Prior(prior.dist, params)),
                    "source": "spec" if declared else "default",
                }
            )
    return pd.DataFrame(rows, columns=["model", "outcome", "role", "level", "prior", "source"])


# --- appendix B: prior sensitivity --------------------------------------------------------------

#: Parameter that sets the spread of each distribution, and whether it grows with the scale
#: (``True``: multiply by the factor) or shrinks (``False``: a rate, divide by it).
SCALE_PARAMETERS: Mapping[str, tuple[str, bool]] = {
    "Normal": ("sigma", True),
    "StudentT": ("sigma", True),
    "Cauchy": ("beta", True),
    "Laplace": ("b", True),
    "LogNormal": ("sigma", True),
    "HalfNormal": ("sigma", True),
    "HalfStudentT": ("sigma", True),
    "HalfCauchy": ("beta", True),
    "Exponential": ("lam", False),
    "Gamma": ("beta", False),
    "InverseGamma": ("beta", True),
}


def _scaled(prior: Prior, factor: float) -> Prior:
    if prior.dist not in SCALE_PARAMETERS:
        raise ValueError(f"cannot scale a {prior.dist} prior (scalable: {list(SCALE_PARAMETERS)})")
    parameter, grows = SCALE_PARAMETERS[prior.dist]
    params = dict(prior.params)
    if parameter not in params:
        raise ValueError(f"{prior!r} has no {parameter!r} to scale")
    params[parameter] = params[parameter] * factor if grows else params[parameter] / factor
    return Prior(prior.dist, params)


def scale_priors(
    spec: ModelSpec, factor: float, roles: Sequence[str] = ("beta", "sd")
) -> ModelSpec:
    """A copy of ``spec`` whose priors of ``roles`` are ``factor`` times as wide.

    The scale of each prior (σ of a Normal or HalfNormal, 1/λ of an Exponential ...,
    :data:`SCALE_PARAMETERS`) is multiplied by ``factor``; every declaration that could apply
    (the package default and every ``sd_<level>`` or outcome-specific override) is scaled, so
    the resolved prior of every parameter of those roles is. The copy is named
    ``<name>_prior_x<factor>``, so its fit gets its own bundle.

    Examples
    --------
    >>> from grassroots.models import load_spec
    >>> wide = scale_priors(load_spec("survival_m1"), 2)
    >>> wide.name, wide.priors["beta"]
    ('survival_m1_prior_x2', Prior(Normal(mu=0, sigma=2)))
    """
    if factor <= 0:
        raise ValueError(f"factor must be positive, not {factor!r}")

    def scale_table(table: Mapping[str, Any], base: bool) -> dict[str, Any]:
        result = dict(table)
        for role in roles:
            if role == "sd":
                keys = [key for key in table if key == "sd" or key.startswith("sd_")]
            else:
                keys = [key for key in table if key == role]
            for key in keys:
                result[key] = _scaled(table[key], factor)
            if base and role not in table and role in DEFAULT_PRIORS:
                # Declare the scaled default, so that nothing falls back to the unscaled one.
                result[role] = _scaled(resolve_prior(role), factor)
        return result

    outcomes = tuple(
        replace(outcome, priors=scale_table(outcome.priors, base=False))
        for outcome in spec.outcomes
    )
    return replace(
        spec,
        name=f"{spec.name}_prior_x{factor:g}",
        priors=scale_table(spec.priors, base=True),
        outcomes=outcomes,
    )


def sensitivity_estimates(
    fits_by_factor: Mapping[float, Mapping[str, Fit]],
    *,
    terms: Sequence[str] | None = None,
    outcome: str | None = None,
    prob: float = DEFAULT_PROB,
    reweighted: Mapping[float, Mapping[str, PriorReweighting]] | None = None,
) -> pd.DataFrame:
    """Key estimates under scaled priors, in the frame :func:`appendix_b_sensitivity` reads.

    Parameters
    ----------
    fits_by_factor
        Prior scale factor -> (model name -> fit), e.g. ``{0.5: {"M4": ...}, 1: {...},
        2: {...}}``: a refit under the scaled prior, or the ×1 fit whose draws ``reweighted``
        weights.
    terms
        Coefficient terms to keep (default: all); group SDs (``sd_<level>``) are always kept.
    outcome
        For fits with several outcomes.
    prob
        Mass of the credible intervals.
    reweighted
        Prior scale factor -> (model name -> importance reweighting of the ×1 fit to that
        prior, :func:`~grassroots.inference.prior_reweighting.reweight_prior`). A reliable one
        (Pareto k at most its threshold) gives that model's estimates as weighted quantiles of
        the fit in ``fits_by_factor``; an unreliable one only records its k, the fit being a
        refit.

    Returns
    -------
    DataFrame
        Columns ``model, term, factor, median, lower, upper``: HR/OR for coefficients, the SD
        for ``sd_<level>``; ``given``: the condition a main effect holds at when its column
        enters an interaction (:func:`~grassroots.reporting.model_tables.interaction_given`);
        ``method``: ``fitted`` (the reference prior), ``reweighted`` or ``refitted``;
        ``pareto_k``: the reweighting's Pareto k (NaN when none was tried).
    """
    rows = []
    for factor, fits in fits_by_factor.items():
        tried = (reweighted or {}).get(factor, {})
        weights = {model: r.weights for model, r in tried.items() if r.reliable}
        method = {
            model: "reweighted" if model in weights else "refitted" if model in tried
            or factor != 1 else "fitted"
            for model in fits
        }  # fmt: skip
        pareto_k = {model: tried[model].pareto_k if model in tried else math.nan
                    for model in fits}  # fmt: skip
        estimates = coefficient_estimates(fits, outcome=outcome, prob=prob, weights=weights)
        if terms is not None:
            estimates = estimates[estimates["term"].isin(terms)]
        rows += [
            {"model": r.model, "term": r.term, "factor": float(factor), "median": r.estimate,
             "lower": r.lower, "upper": r.upper, "given": r.given, "method": method[r.model],
             "pareto_k": pareto_k[r.model]}
            for r in estimates.itertuples(index=False)
        ]  # fmt: skip
        for model, fit in fits.items():
            components = variance_components(fit, outcome=outcome_of(fit, outcome), prob=prob,
                                              weights=weights.get(model))  # fmt: skip
            rows += [
                {"model": model, "term": f"sd_{r.level}", "factor": float(factor),
                 "median": r.sd_median, "lower": r.sd_lower, "upper": r.sd_upper, "given": "",
                 "method": method[model], "pareto_k": pareto_k[model]}
                for r in components.itertuples(index=False)
            ]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "term", "factor", "median", "lower", "upper",
                                       "given", "method", "pareto_k"])  # fmt: skip


def _method_note(estimates: pd.DataFrame, reference: float, lang: Lang) -> str:
    """How the estimates at each prior scale other than ``reference`` were obtained: once per
    factor when every model shares it, else model by model ("" without a ``method`` column)."""
    if "method" not in estimates.columns:
        return ""
    colon = note_text("sep_colon", lang)
    parts = []
    for factor in sorted(set(estimates["factor"].astype(float)) - {reference}):
        at = estimates[estimates["factor"].astype(float) == factor]
        how = {
            str(model): _how(str(rows["method"].iloc[0]), float(rows["pareto_k"].iloc[0]), lang)
            for model, rows in at.groupby("model", sort=False)
        }
        scale = f"×{factor:g}"
        if len(set(how.values())) == 1:
            parts.append(f"{scale}{colon}{next(iter(how.values()))}")
        else:
            parts += [f"{model_label(model, lang)} {scale}{colon}{shown}"
                      for model, shown in how.items()]  # fmt: skip
    if not parts:
        return ""
    methods = note_text("sep_clauses", lang).join(parts)
    return note_text("prior_sensitivity_method", lang, methods=methods)


def _how(method: str, pareto_k: float, lang: Lang) -> str:
    if method == "reweighted":
        return note_text("prior_reweighted", lang, k=f"{pareto_k:.2f}")
    if np.isfinite(pareto_k):
        return note_text("prior_refitted_high_k", lang, k=f"{pareto_k:.2f}")
    return note_text("prior_refitted", lang)


def _sensitivity_rank(term: object) -> int:
    """Coefficients in the blocks and order of Tables 2-4, then the group SDs."""
    term = str(term)
    if term.startswith("sd_"):
        return len(COEFFICIENT_PANELS)
    return COEFFICIENT_PANELS.index(term_panel(term))


def appendix_b_sensitivity(
    estimates: pd.DataFrame,
    lang: Lang = "en",
    *,
    name: str = "appendix_b_sensitivity",
    reference: float = 1.0,
    digits: int = 2,
    prob: float = DEFAULT_PROB,
) -> Table:
    """Appendix B, part 2: key estimates under prior scales ×0.5, ×1 and ×2, side by side.

    Parameters
    ----------
    estimates
        Columns ``model, term, factor, median, lower, upper`` (e.g.
        :func:`sensitivity_estimates`): one row per model, term and prior scale factor, on the
        scale to print (HR/OR for coefficients, SD for ``sd_<level>``); an optional ``given``
        column puts the condition of a main effect in an interaction into its label.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    reference
        The factor the changes are measured from (the fitted priors, ×1).
    digits
        Decimals of the cells.
    prob
        Mass the intervals of ``estimates`` were computed at (:func:`sensitivity_estimates`'s
        ``prob``), which the note names.

    Returns
    -------
    Table
        Panels by model; rows by term; one column per factor ("median [lower, upper]") and the
        largest absolute change of the median from the reference factor.
    """
    required = ["model", "term", "factor", "median", "lower", "upper"]
    if missing := [c for c in required if c not in estimates.columns]:
        raise ValueError(f"sensitivity estimates need columns {required}; missing {missing}")
    factors = sorted(set(estimates["factor"].astype(float)))
    if reference not in factors:
        raise ValueError(f"no estimates at the reference prior scale ×{reference:g}")
    headers = [text("prior_scale", lang).format(factor=f"{f:g}") for f in factors]
    label_column, change_column = text("term", lang), text("max_change", lang)
    blocks, panels = [], []
    for model in dict.fromkeys(estimates["model"]):
        part = estimates[estimates["model"] == model]
        for term in sorted(dict.fromkeys(part["term"]), key=_sensitivity_rank):
            rows = part[part["term"] == term].set_index(part.loc[part["term"] == term, "factor"]
                                                        .astype(float))  # fmt: skip
            given = ""
            if "given" in rows.columns:
                given = next((str(g) for g in rows["given"] if isinstance(g, str) and g), "")
            cells = {label_column: coefficient_label(str(term), lang, given=given)}
            for factor, header in zip(factors, headers, strict=True):
                if factor in rows.index:
                    r = rows.loc[factor]
                    cells[header] = format_estimate(r["median"], r["lower"], r["upper"], digits)
                else:
                    cells[header] = "—"
            change = (
                (rows["median"] - rows.loc[reference, "median"]).abs().max()
                if reference in rows.index
                else math.nan
            )
            cells[change_column] = f"{change:.{digits}f}" if np.isfinite(change) else ""
            blocks.append(cells)
            panels.append(model_label(str(model), lang))
    frame = pd.DataFrame(
        blocks, columns=[label_column, *headers, change_column],
        index=pd.Index(panels, name=PANEL),
    )  # fmt: skip
    shown = ("、" if lang == "zh" else ", ").join(f"{f:g}" for f in factors)
    if lang == "zh":
        title = "附表B2 先验敏感性分析"
        note = (
            f"先验尺度（系数与组效应标准差的先验标准差）乘以 {shown}；"
            f"单元格为后验中位数及 {percent(prob)} 可信区间"
            "（系数为风险比或比值比，标准差为对数风险或 logit 尺度）。"
            f"最后一列为后验中位数相对 ×{reference:g} 的最大绝对变化。"
        )
    else:
        title = "Appendix Table B2. Prior sensitivity"
        note = (
            f"Prior scales of the coefficients and group SDs multiplied by {shown}; cells: "
            f"posterior median [{percent(prob)} CrI] (HR or OR for coefficients, SD on the "
            f"log-hazard or logit scale for group effects). Last column: the largest absolute "
            f"change of the posterior median from ×{reference:g}."
        )
    if how := _method_note(estimates, reference, lang):
        note += how
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=note,
        data=estimates.reset_index(drop=True),
        panel=PANEL,
        lang=lang,
        align="l" + "r" * (len(factors) + 1),
    )
