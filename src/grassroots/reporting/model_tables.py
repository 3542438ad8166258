"""Tables 2-4: the model tables of the paper, built from fitted models.

Every builder takes the fits of one table as a mapping ``column header -> Fit`` (e.g.
``{"M0": fit0, ..., "M4": fit4}``, in the order the columns should appear) and returns a
:class:`~grassroots.reporting.tables.Table` in English or Chinese. Its rows come in panels:

========================  ======================================================================
panel                     rows
========================  ======================================================================
Weaknesses, Strengths,    HR or OR per SD (binary: 1 vs 0; categorical: vs the reference level)
Remedies, Strategies,     as "posterior median [95% equal-tailed CrI]"; the panel of a term comes
Dilemmas, Interactions,   from its codebook role (:func:`term_panel`); "—" where a model lacks it
Controls
Variance components       SD of the group effects per level (log-hazard or logit scale) and the
                          share of variance per level (:func:`variance_components`)
Fit and diagnostics       PSIS-LOO elpd ± SE (:func:`loo_summary`), N per level, max R-hat, min
                          bulk and tail ESS, divergent transitions
========================  ======================================================================

A main effect of a column that enters an interaction is the effect where the other column is 0
(at its mean when standardised, at 0 when binary, at the reference level when categorical); its
row label says so and in which models (:func:`interaction_given`, :func:`coefficient_label`). A
late (time-varying) survival effect has two rows: the HR after the onset, ``exp(beta +
beta_late)`` per draw, and the change at the onset, ``exp(beta_late)``.

The note says which model, which priors (from the specs), which N, how the variance shares are
defined and how the sampler did; a fit that missed R-hat <= 1.01, ESS >= 400 or had divergent
transitions raises the table's convergence flag
(:func:`~grassroots.reporting.convergence.convergence_note`).

**Share of variance.** Each family has a latent-scale formulation with a fixed residual
variance, so the share of level ``l`` is, per posterior draw,

    share_l = sigma_l^2 / (sum_k sigma_k^2 + r)

with ``r = pi^2 / 3`` (the standard logistic error) for the logistic and cumulative-logit models
and ``r = pi^2 / 6`` for the proportional-hazards model. The latter is a convention made
explicit here: with ``S(t | x, u) = exp(-H0(t) exp(eta + u))``, ``H0(T) exp(eta + u)`` is a unit
exponential, so ``log H0(T) = -(eta + u) + log E`` where ``log E`` follows the standard
minimum-extreme-value (Gumbel) law, whose variance is ``pi^2 / 6``: the share is measured on the
log-hazard scale of the linear predictor. The table reports the posterior median and 95%
interval of the per-draw shares (:data:`RESIDUAL_VARIANCE`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grassroots.data import schema
from grassroots.data.schema import Lang
from grassroots.inference.prior_dominance import dominated_terms
from grassroots.models.priors import resolve_lkj_eta, resolve_prior
from grassroots.reporting.convergence import (
    ESS_MIN,
    RHAT_MAX,
    convergence_note,
    diagnostic_rows,
    prior_dominance_note,
)
from grassroots.reporting.labels import level_name, level_plural, term_label, text
from grassroots.reporting.tables import (
    PANEL,
    Table,
    estimates_by_model,
    format_estimate,
    stack_panels,
    with_spanner,
)

if TYPE_CHECKING:
    from grassroots.inference import Fit
    from grassroots.models import ModelSpec
    from grassroots.models.priors import Prior

__all__ = [
    "COEFFICIENT_PANELS",
    "RESIDUAL_VARIANCE",
    "coefficient_estimates",
    "coefficient_label",
    "diagnostics_overview",
    "format_prior",
    "given_by_term",
    "given_words",
    "interaction_given",
    "late_change_term",
    "late_term",
    "loo_summary",
    "model_note",
    "model_table",
    "outcome_of",
    "prior_declarations",
    "role_label",
    "table2_survival",
    "table3_demand_fit",
    "table4_strategies",
    "term_panel",
    "variance_components",
]

#: Panels of coefficient rows, in table order (keys of ``labels.TEXT["panel_<key>"]``): the
#: paper's concepts first (weaknesses, strengths, remedies, strategies, dilemmas), then the
#: interactions, then the controls. Every coefficient table and forest plot uses this order.
COEFFICIENT_PANELS: tuple[str, ...] = (
    "weaknesses",
    "strengths",
    "remedies",
    "strategies",
    "dilemmas",
    "interactions",
    "controls",
)
# Codebook role -> panel. short_sighted is an outcome (the dilemma of short-sighted innovation)
# elsewhere; when it predicts survival it is still that dilemma, not a strategy.
_ROLE_PANELS: Mapping[str, str] = {
    "weakness": "weaknesses",
    "strength": "strengths",
    "control": "controls",
    "remedy": "remedies",
    "mediator": "strategies",
    "outcome": "dilemmas",
}

#: Residual variance of each family's latent scale (see the module docstring).
RESIDUAL_VARIANCE: Mapping[str, float] = {
    "logistic": math.pi**2 / 3,
    "ordinal": math.pi**2 / 3,
    "survival": math.pi**2 / 6,
}
_SCALE_WORDS: Mapping[str, Mapping[Lang, str]] = {
    "logistic": {"en": "logit", "zh": "logit"},
    "ordinal": {"en": "logit", "zh": "logit"},
    "survival": {"en": "log-hazard", "zh": "对数风险"},
}
_RESIDUAL_TEXT: Mapping[str, str] = {"logistic": "π²/3", "ordinal": "π²/3", "survival": "π²/6"}

# A late (time-varying) effect is keyed "<term>~after<onset>" (the ratio after the onset, main
# and late effect together) or "<term>~change<onset>" (the late coefficient alone: the ratio of
# the ratios after and before the onset), so it never collides with a design term (which cannot
# hold "~") and carries its onset to the label.
_LATE = re.compile(r"^(?P<term>.+)~(?P<kind>after|change)(?P<onset>[0-9.]+)$")
_MISSING = "—"


# --- terms, labels, panels -----------------------------------------------------------------------


def late_term(term: str, onset: float) -> str:
    """The key of a late effect: the ratio after the onset, main and late effect together.

    Examples
    --------
    >>> late_term("short_sighted", 12)
    'short_sighted~after12'
    """
    return f"{term}~after{onset:g}"


def late_change_term(term: str, onset: float) -> str:
    """The key of the late coefficient alone: how much the ratio changes at the onset.

    Examples
    --------
    >>> late_change_term("short_sighted", 12)
    'short_sighted~change12'
    """
    return f"{term}~change{onset:g}"


# --- what a main effect is when its column also enters an interaction ---------------------------
#
# The design (grassroots.models.design) standardises continuous columns (mean 0), keeps binary
# ones 0/1 and codes categorical ones against a reference level, and forms ``a:b`` from those
# columns as they are. So in a model with ``a:b`` the main effect of ``a`` is its effect where
# the ``b`` column is 0: at the mean of ``b`` if ``b`` is continuous, at ``b = 0`` if binary, at
# the reference level if categorical. A "given" names those conditions, one per other column,
# ``column=mean``, ``column=0`` or ``column=<reference level>``, joined by ``;``.

_GIVEN_SEP = ";"


def interaction_given(fit: Fit, outcome: str | None = None) -> dict[str, str]:
    """Main-effect term -> the condition under which the fit estimates it (see above); terms
    whose column enters no interaction are left out.

    Examples
    --------
    In ``survival_m4`` (``collaboration:authority``; authority standardised, collaboration 0/1)
    ``authority`` maps to ``"collaboration=0"`` and ``collaboration`` to ``"authority=mean"``.
    """
    name = outcome_of(fit, outcome)
    spec = fit.spec.outcome(name)
    scaling = fit.scaling.predictors
    conditions: dict[str, list[str]] = {}
    for parts in spec.interactions:
        for column in parts:
            for other in parts:
                if other == column:
                    continue
                how = scaling[other]
                value = {"continuous": "mean", "binary": "0"}.get(how.kind, how.reference or "")
                conditions.setdefault(column, [])
                if f"{other}={value}" not in conditions[column]:
                    conditions[column].append(f"{other}={value}")
    return {
        term: _GIVEN_SEP.join(conditions[column])
        for column in conditions
        for term in scaling[column].terms
    }


_CONDITION_WORDS: Mapping[str, Mapping[Lang, str]] = {
    "mean": {"en": "at the mean of {label}", "zh": "{label}取均值时"},
    "value": {"en": "at {label} = {value}", "zh": "{label} = {value} 时"},
    "model": {"en": "{model}: {words}", "zh": "{model}：{words}"},
    "wrap": {"en": "{label} ({words})", "zh": "{label}（{words}）"},
}


def given_words(given: str, lang: Lang = "en") -> str:
    """A given (:func:`interaction_given`) in words.

    Examples
    --------
    >>> given_words("collaboration=0")
    'at Cross-department collaboration = 0'
    >>> given_words("authority=mean", "zh")
    '权力取均值时'
    """
    pieces = []
    for condition in filter(None, given.split(_GIVEN_SEP)):
        column, value = condition.split("=", 1)
        label = term_label(column, lang)
        if value == "mean":
            pieces.append(_CONDITION_WORDS["mean"][lang].format(label=label))
            continue
        if value not in ("0", "1") and _in_codebook(column):
            value = schema.variable(column).level_label(value, lang)
        pieces.append(_CONDITION_WORDS["value"][lang].format(label=label, value=value))
    return ("，" if lang == "zh" else " and ").join(pieces)


def given_by_term(estimates: pd.DataFrame) -> dict[str, str]:
    """Term -> the condition its row label states, for a display of several models (Tables 2-4,
    the forest plots): the given itself when every model with the term shares it, else
    ``"<model>@<given>|..."`` for the models that have one (M4 conditions what M1-M3 do not)."""
    if "given" not in estimates.columns:
        return {}
    result = {}
    for term, part in estimates.groupby("term", sort=False):
        givens = dict(zip(part["model"], part["given"].fillna(""), strict=True))
        if not any(givens.values()):
            continue
        if len(set(givens.values())) == 1:
            result[str(term)] = next(iter(givens.values()))
        else:
            result[str(term)] = "|".join(f"{m}@{g}" for m, g in givens.items() if g)
    return result


def coefficient_label(term: str, lang: Lang = "en", *, given: str = "") -> str:
    """:func:`~grassroots.reporting.labels.term_label`, plus late effects and, for a main effect
    of a column in an interaction, the condition it holds at (``given``: an
    :func:`interaction_given` value, or :func:`given_by_term`'s per-model form).

    Examples
    --------
    >>> coefficient_label("short_sighted~after12")
    'Short-sighted innovation, after month 12'
    >>> coefficient_label("short_sighted~change12")
    'Short-sighted innovation, change after month 12 (ratio of HRs)'
    >>> coefficient_label("region[west]", "zh")
    '地区：西部'
    >>> coefficient_label("authority", given="collaboration=0")
    'Authority (at Cross-department collaboration = 0)'
    >>> coefficient_label("authority", "zh", given="M4@collaboration=0")
    '权力（M4：跨部门协作机制 = 0 时）'
    """
    if match := _LATE.match(term):
        key = "late_effect" if match["kind"] == "after" else "late_change"
        label = text(key, lang).format(label=term_label(match["term"], lang), onset=match["onset"])
    else:
        label = term_label(term, lang)
    if not given:
        return label
    if "@" in given:
        words = ("；" if lang == "zh" else "; ").join(
            _CONDITION_WORDS["model"][lang].format(model=model, words=given_words(g, lang))
            for model, g in (piece.split("@", 1) for piece in given.split("|"))
        )
    else:
        words = given_words(given, lang)
    return _CONDITION_WORDS["wrap"][lang].format(label=label, words=words)


def term_panel(term: str) -> str:
    """The panel of a coefficient: ``interactions`` for ``a:b``, else from the codebook role of
    its column (a column outside the codebook is a control).

    Examples
    --------
    >>> [term_panel(t) for t in ["authority", "proximity", "collaboration", "region[west]",
    ...                          "extensive", "collaboration:authority", "short_sighted~after12"]]
    ['weaknesses', 'strengths', 'remedies', 'controls', 'strategies', 'interactions', 'dilemmas']
    """
    if match := _LATE.match(term):
        term = match["term"]
    if ":" in term:
        return "interactions"
    column = term.split("[", 1)[0]
    try:
        role = schema.variable(column).role
    except KeyError:
        return "controls"
    return _ROLE_PANELS.get(role, "controls")


def outcome_of(fit: Fit, outcome: str | None = None) -> str:
    """The outcome of ``fit`` a table reports: ``outcome`` if given, else the only one."""
    names = fit.spec.outcome_names
    if outcome is not None:
        if outcome not in names:
            raise ValueError(f"fit {fit.spec.name!r} has no outcome {outcome!r}; it has {names}")
        return outcome
    if len(names) != 1:
        raise ValueError(
            f"fit {fit.spec.name!r} models several outcomes {names}; say which with outcome=..."
        )
    return names[0]


def _family(fit: Fit, outcome: str) -> str:
    return fit.spec.outcome(outcome).family


# --- numbers from a fit --------------------------------------------------------------------------


def _bounds(prob: float) -> tuple[str, str]:
    """Column labels of ``Fit.summary(prob)``'s interval bounds ("2.5%", "97.5%")."""
    low, high = (1 - prob) / 2, (1 + prob) / 2
    return f"{100 * low:g}%", f"{100 * high:g}%"


def coefficient_estimates(
    fits: Mapping[str, Fit], *, outcome: str | None = None, prob: float = 0.95
) -> pd.DataFrame:
    """Hazard or odds ratios of every coefficient of every fit, one row each.

    Parameters
    ----------
    fits
        Model name -> fit.
    outcome
        The outcome to report when a fit models several (a structural fit).
    prob
        Mass of the equal-tailed credible interval.

    Returns
    -------
    DataFrame
        Columns ``model, outcome, term, panel, ratio`` (``HR``/``OR``), ``per``, ``estimate``,
        ``lower``, ``upper`` (the ratio's posterior median and interval, i.e. ``exp`` of the
        coefficient's), ``log_median``, ``log_lower``, ``log_upper``, ``r_hat``, ``ess_bulk``,
        ``ess_tail``, ``given`` (:func:`interaction_given`: the condition a main effect holds at
        when its column enters an interaction, else ""). A late effect has two rows: the
        ratio after the onset, ``exp(beta + beta_late)`` per draw (:func:`late_term`), and the
        change at the onset, ``exp(beta_late)`` (:func:`late_change_term`). The first columns
        are those :func:`~grassroots.reporting.tables.estimates_by_model` and
        :func:`~grassroots.reporting.figures.forest_plot` read.
    """
    low, high = _bounds(prob)
    parts = []
    for model, fit in fits.items():
        name = outcome_of(fit, outcome)
        summary = fit.summary(prob)
        rows = summary[(summary["outcome"] == name) & (summary["parameter"] == "beta")]
        if rows.empty and f"{name}_beta_late" not in fit.posterior:
            continue
        given = interaction_given(fit, name)
        frame = pd.DataFrame(
            {
                "term": rows["term"].to_numpy(),
                "ratio": rows["ratio"].to_numpy(),
                "per": rows["per"].to_numpy(),
                "estimate": rows["ratio_median"].to_numpy(dtype=float),
                "lower": rows[f"ratio_{low}"].to_numpy(dtype=float),
                "upper": rows[f"ratio_{high}"].to_numpy(dtype=float),
                "log_median": np.log(rows["ratio_median"].to_numpy(dtype=float)),
                "log_lower": rows[low].to_numpy(dtype=float),
                "log_upper": rows[high].to_numpy(dtype=float),
                "r_hat": rows["r_hat"].to_numpy(dtype=float),
                "ess_bulk": rows["ess_bulk"].to_numpy(dtype=float),
                "ess_tail": rows["ess_tail"].to_numpy(dtype=float),
            }
        )
        per = dict(zip(frame["term"], frame["per"], strict=True))
        frame = pd.concat([frame, _late_rows(fit, name, prob, per)], ignore_index=True)
        frame.insert(0, "outcome", name)
        frame.insert(0, "model", model)
        frame.insert(3, "panel", [term_panel(term) for term in frame["term"]])
        frame["given"] = [given.get(term, "") for term in frame["term"]]
        parts.append(frame)
    columns = [
        "model", "outcome", "term", "panel", "ratio", "per", "estimate", "lower", "upper",
        "log_median", "log_lower", "log_upper", "r_hat", "ess_bulk", "ess_tail", "given",
    ]  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _late_rows(fit: Fit, outcome: str, prob: float, per: Mapping[str, str]) -> pd.DataFrame:
    """Per late (time-varying) term two rows: the ratio after the onset, ``exp(beta +
    beta_late)`` computed per draw (:func:`late_term`), and the late coefficient alone, the
    ratio of the ratios after and before the onset (:func:`late_change_term`)."""
    import arviz_stats as azs

    posterior = fit.posterior
    late_name = f"{outcome}_beta_late"
    onset = fit.spec.outcome(outcome).onset
    if late_name not in posterior or onset is None:
        return pd.DataFrame()
    ratio = "HR"
    late = posterior[late_name]
    late_dim = f"{outcome}_late_term"
    main = posterior[f"{outcome}_beta"]
    rows = []
    for term in late[late_dim].to_numpy():
        increment = late.sel({late_dim: term})
        after = main.sel({f"{outcome}_term": term}) + increment
        for key, values in ((late_term(str(term), onset), after),
                            (late_change_term(str(term), onset), increment)):  # fmt: skip
            values = values.transpose("chain", "draw")
            flat = values.to_numpy().reshape(-1)
            log_lower, log_median, log_upper = np.quantile(
                flat, [(1 - prob) / 2, 0.5, (1 + prob) / 2]
            )
            rows.append({
                "term": key, "ratio": ratio,
                "per": f"{per.get(str(term), '')}, after month {onset:g}",
                "estimate": math.exp(log_median), "lower": math.exp(log_lower),
                "upper": math.exp(log_upper), "log_median": log_median,
                "log_lower": log_lower, "log_upper": log_upper,
                "r_hat": float(azs.rhat(values)),
                "ess_bulk": float(azs.ess(values, method="bulk")),
                "ess_tail": float(azs.ess(values, method="tail")),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _sd_draws(fit: Fit, outcome: str, level: str) -> np.ndarray:
    """Posterior draws (flattened) of the SD of ``level``'s effects on ``outcome``."""
    posterior = fit.posterior
    name = f"{outcome}_sd_{level}"
    if name in posterior:
        values = posterior[name]
    elif f"{level}_sd" in posterior:
        # The correlated level of a structural model: one SD per outcome.
        values = posterior[f"{level}_sd"].sel(outcome=outcome)
    else:
        raise KeyError(f"fit {fit.spec.name!r} has no SD of {level} effects for {outcome!r}")
    return values.transpose("chain", "draw").to_numpy().reshape(-1)


def variance_components(
    fit: Fit, *, outcome: str | None = None, prob: float = 0.95
) -> pd.DataFrame:
    """SD of the group effects and share of variance per grouping level.

    Parameters
    ----------
    fit
        A fit with grouping levels (none: an empty frame).
    outcome
        For a fit with several outcomes.
    prob
        Mass of the equal-tailed credible intervals.

    Returns
    -------
    DataFrame
        One row per level (outer first): ``level``, ``sd_median``, ``sd_lower``, ``sd_upper``
        (on the log-hazard or logit scale), ``share_median``, ``share_lower``, ``share_upper``
        (fractions; per draw ``sigma_l^2 / (sum_k sigma_k^2 + r)``), ``residual_variance`` (``r``,
        :data:`RESIDUAL_VARIANCE`) and ``scale``.
    """
    name = outcome_of(fit, outcome)
    family = _family(fit, name)
    residual = RESIDUAL_VARIANCE[family]
    levels = fit.spec.levels
    columns = [
        "level", "sd_median", "sd_lower", "sd_upper", "share_median", "share_lower",
        "share_upper", "residual_variance", "scale",
    ]  # fmt: skip
    if not levels:
        return pd.DataFrame(columns=columns)
    sds = np.stack([_sd_draws(fit, name, level) for level in levels])  # (levels, draws)
    shares = sds**2 / ((sds**2).sum(axis=0) + residual)
    q = [0.5, (1 - prob) / 2, (1 + prob) / 2]
    sd_q, share_q = np.quantile(sds, q, axis=1), np.quantile(shares, q, axis=1)
    return pd.DataFrame(
        {
            "level": list(levels),
            "sd_median": sd_q[0],
            "sd_lower": sd_q[1],
            "sd_upper": sd_q[2],
            "share_median": share_q[0],
            "share_lower": share_q[1],
            "share_upper": share_q[2],
            "residual_variance": residual,
            "scale": _SCALE_WORDS[family]["en"],
        }
    )[columns]


def loo_summary(fit: Fit, *, outcome: str | None = None) -> dict[str, float] | None:
    """PSIS-LOO of one outcome (default: the fit's only one) from the fit's stored pointwise
    log-likelihood: :meth:`grassroots.inference.Fit.loo_estimates`.

    Returns
    -------
    dict or None
        ``elpd``, ``se``, ``p_loo``, ``n_high_k`` and ``good_k``; ``None`` when the fit stored no
        log-likelihood (fit with ``log_likelihood=True``) or none for this outcome.
    """
    return fit.loo_estimates(outcome_of(fit, outcome))


def diagnostics_overview(fits: Mapping[str, Fit]) -> dict[str, dict[str, float]]:
    """``Diagnostics.overview()`` per model: what the convergence helpers read."""
    return {model: dict(fit.diagnostics.overview()) for model, fit in fits.items()}


# --- priors --------------------------------------------------------------------------------------

_GREEK = {"mu": "μ", "sigma": "σ", "lam": "λ", "nu": "ν", "alpha": "α", "beta": "β", "b": "b"}


def format_prior(prior: Prior | float) -> str:
    """A prior as a reader sees it: ``Normal(μ=0, σ=1)``; a bare number (``lkj_eta``) as is.

    Examples
    --------
    >>> from grassroots.models.priors import Prior
    >>> format_prior(Prior("HalfNormal", {"sigma": 1.0}))
    'HalfNormal(σ=1)'
    """
    if isinstance(prior, int | float):
        return f"{prior:g}"
    args = ", ".join(f"{_GREEK.get(k, k)}={v:g}" for k, v in prior.params.items())
    return f"{prior.dist}({args})"


def _family_roles(outcome: Any) -> list[str]:
    if outcome.family == "survival":
        if outcome.baseline is not None and outcome.baseline.kind == "weibull":
            return ["weibull_shape", "weibull_scale"]
        return ["log_hazard", "log_hazard_step"]
    return ["cutpoints"] if outcome.family == "ordinal" else ["intercept"]


def prior_declarations(spec: ModelSpec) -> pd.DataFrame:
    """The prior of every parameter role of a spec, resolved as the model builder resolves it.

    Returns
    -------
    DataFrame
        Columns ``model`` (spec name), ``outcome``, ``role`` (``beta``, ``sd``, ``log_hazard`` ...),
        ``level`` (grouping level of an ``sd``, else ""), ``prior`` (:func:`format_prior`) and
        ``source`` (``spec`` when the spec declares it, else ``default``).
    """
    rows = []

    def add(outcome: str, role: str, level: str | None, tables: tuple[Mapping, ...]) -> None:
        if role == "lkj_eta":
            value: Prior | float = resolve_lkj_eta(*tables)
            keys = ["lkj_eta"]
        else:
            value = resolve_prior(role, *tables, level=level)
            keys = [f"sd_{level}", "sd"] if role == "sd" else [role]
        declared = any(key in table for key in keys for table in tables)
        rows.append(
            {
                "model": spec.name,
                "outcome": outcome,
                "role": role,
                "level": level or "",
                "prior": format_prior(value),
                "source": "spec" if declared else "default",
            }
        )

    for outcome in spec.outcomes:
        tables = (spec.priors, outcome.priors)
        if outcome.predictors or outcome.time_varying:
            add(outcome.name, "beta", None, tables)
        for role in _family_roles(outcome):
            add(outcome.name, role, None, tables)
        for level in spec.levels:
            if level != spec.correlated:
                add(outcome.name, "sd", level, tables)
    if spec.correlated is not None:
        # The correlated level's SDs and LKJ prior are shared by every outcome (spec-wide table).
        add("", "sd", spec.correlated, (spec.priors,))
        add("", "lkj_eta", spec.correlated, (spec.priors,))
    return pd.DataFrame(rows, columns=["model", "outcome", "role", "level", "prior", "source"])


# In the order the notes list the priors.
_ROLE_WORDS: Mapping[str, Mapping[Lang, str]] = {
    "beta": {
        "en": "coefficients per SD of their term (per unit of a 0/1 or dummy term x: "
        "scale ÷ sd(x))",
        "zh": "回归系数（按项的标准差；0/1 或虚拟变量 x 每单位：尺度 ÷ sd(x)）",
    },
    "intercept": {"en": "intercept", "zh": "截距"},
    "cutpoints": {
        "en": "cut points (Dirichlet on the category probabilities at the average profile)",
        "zh": "切点（平均协变量处各等级概率的 Dirichlet 分布）",
    },
    "log_hazard": {"en": "baseline log hazard, first interval", "zh": "首区间基线对数风险"},
    "log_hazard_step": {
        "en": "change of the baseline log hazard between intervals",
        "zh": "相邻区间基线对数风险之差",
    },
    "weibull_shape": {"en": "Weibull shape", "zh": "Weibull 形状参数"},
    "weibull_scale": {"en": "Weibull scale (months)", "zh": "Weibull 尺度参数（月）"},
    "sd": {"en": "SD of {level} effects", "zh": "{level}层效应标准差"},
    "lkj_eta": {"en": "LKJ η of correlated {level} effects", "zh": "{level}层相关效应的 LKJ η"},
}


def role_label(role: str, level: str = "", lang: Lang = "en") -> str:
    """Words for a prior role (``"sd"``, ``"township"`` -> ``"SD of township effects"``)."""
    words = _ROLE_WORDS.get(role, {"en": role, "zh": role})[lang]
    return words.format(level=level_name(level, lang) if level else "")


def _priors_sentence(fits: Mapping[str, Fit], lang: Lang, outcome: str | None = None) -> str:
    """"coefficients Normal(μ=0, σ=1); SD of county effects HalfNormal(σ=1); ...", naming the
    models when a role's prior differs between them. Only the reported outcome's priors (and
    the shared ones of a correlated level) are listed."""
    frames = []
    for model, fit in fits.items():
        declared = prior_declarations(fit.spec).assign(model=model)
        name = outcome_of(fit, outcome)
        frames.append(declared[declared["outcome"].isin([name, ""])])
    table = pd.concat(frames, ignore_index=True)
    # Coefficients first, then the family's own parameters, then the group SDs.
    table["rank"] = table["role"].map({role: k for k, role in enumerate(_ROLE_WORDS)})
    table = table.sort_values("rank", kind="stable")
    pieces = []
    for (role, level), part in table.groupby(["role", "level"], sort=False):
        priors = list(dict.fromkeys(part["prior"]))
        label = role_label(str(role), str(level), lang)
        if len(priors) == 1:
            pieces.append(f"{label} {priors[0]}")
            continue
        by_prior = [
            f"{prior} ({', '.join(dict.fromkeys(part.loc[part['prior'] == prior, 'model']))})"
            for prior in priors
        ]
        pieces.append(f"{label} {', '.join(by_prior)}")
    return ("；" if lang == "zh" else "; ").join(pieces)


# --- the table -----------------------------------------------------------------------------------


def _columns(fits: Mapping[str, Fit], labels: Mapping[str, str] | None) -> list[str]:
    return [(labels or {}).get(model, model) for model in fits]


def _ordered_terms(estimates: pd.DataFrame) -> dict[str, list[str]]:
    """Terms per panel: panels in table order, terms in order of first appearance (the spec
    order of the first model that has them)."""
    order = list(dict.fromkeys(estimates["term"]))
    panels: dict[str, list[str]] = {panel: [] for panel in COEFFICIENT_PANELS}
    for term in order:
        panels.setdefault(term_panel(term), []).append(term)
    return {panel: terms for panel, terms in panels.items() if terms}


def _blank_row(label_column: str, models: Sequence[str], label: str) -> dict[str, str]:
    return {label_column: label, **dict.fromkeys(models, _MISSING)}


def _variance_rows(
    fits: Mapping[str, Fit], outcome: str | None, lang: Lang, label_column: str, prob: float
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    models = list(fits)
    sd_rows = {
        lvl: _blank_row(label_column, models, term_label(f"sd_{lvl}", lang)) for lvl in levels
    }
    share_rows = {
        lvl: _blank_row(
            label_column, models, text("variance_share", lang).format(level=level_name(lvl, lang))
        )
        for lvl in levels
    }
    data = []
    for model, fit in fits.items():
        components = variance_components(fit, outcome=outcome, prob=prob)
        for row in components.itertuples(index=False):
            sd_rows[row.level][model] = format_estimate(row.sd_median, row.sd_lower, row.sd_upper)
            share_rows[row.level][model] = format_estimate(
                100 * row.share_median, 100 * row.share_lower, 100 * row.share_upper, digits=1
            )
            data += [
                {"model": model, "panel": "variance", "term": f"sd_{row.level}",
                 "estimate": row.sd_median, "lower": row.sd_lower, "upper": row.sd_upper},
                {"model": model, "panel": "variance", "term": f"share_{row.level}",
                 "estimate": row.share_median, "lower": row.share_lower,
                 "upper": row.share_upper},
            ]  # fmt: skip
    rows = [sd_rows[lvl] for lvl in levels] + [share_rows[lvl] for lvl in levels]
    return pd.DataFrame(rows, columns=[label_column, *models]), data


def _fit_rows(
    fits: Mapping[str, Fit],
    outcome: str | None,
    lang: Lang,
    label_column: str,
    loo: Mapping[str, dict[str, float] | None],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    models = list(fits)
    data: list[dict[str, Any]] = []
    loo_row = _blank_row(label_column, models, text("loo", lang))
    for model, result in loo.items():
        if result is not None:
            loo_row[model] = f"{result['elpd']:,.1f} ± {result['se']:,.1f}"
            data.append({"model": model, "panel": "fit", "term": "elpd_loo",
                         "estimate": result["elpd"], "se": result["se"]})  # fmt: skip
    count_rows = [loo_row, _blank_row(label_column, models, text("n_rows", lang))]
    # Events (discontinued projects) when the fit's counts carry them (``<outcome>_events``).
    events_row = _blank_row(label_column, models, text("n_events", lang))
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    level_rows = {
        lvl: _blank_row(
            label_column, models, text("n_level", lang).format(level=level_plural(lvl, lang))
        )
        for lvl in levels
    }
    for model, fit in fits.items():
        name = outcome_of(fit, outcome)
        n = fit.counts.get(f"{name}_observed", fit.counts.get("rows"))
        if n is not None:
            count_rows[1][model] = f"{int(n):,d}"
            data.append({"model": model, "panel": "fit", "term": "n_rows", "estimate": n})
        if f"{name}_events" in fit.counts:
            events = int(fit.counts[f"{name}_events"])
            events_row[model] = f"{events:,d}"
            data.append({"model": model, "panel": "fit", "term": "n_events", "estimate": events})
    if any(cell != _MISSING for key, cell in events_row.items() if key != label_column):
        count_rows.append(events_row)
    for model, fit in fits.items():
        for level in fit.spec.levels:
            if level in fit.counts:
                level_rows[level][model] = f"{int(fit.counts[level]):,d}"
                data.append({"model": model, "panel": "fit", "term": f"n_{level}",
                             "estimate": fit.counts[level]})  # fmt: skip
    overview = diagnostics_overview(fits)
    diagnostics = diagnostic_rows(overview, lang, models=models, label_column=label_column)
    for model, values in overview.items():
        for key in ("max_rhat", "min_ess_bulk", "min_ess_tail", "n_divergent"):
            data.append({"model": model, "panel": "fit", "term": key,
                         "estimate": float(values[key])})  # fmt: skip
    frame = pd.concat(
        [pd.DataFrame([*count_rows, *level_rows.values()], columns=[label_column, *models]),
         diagnostics.fillna("")],
        ignore_index=True,
    )  # fmt: skip
    return frame, data


def _model_steps(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    """"M0: group effects only; M1: + weaknesses; ..." from what each model adds to the one
    before it (so the note always matches the specs)."""
    sep, colon, comma = ("；", "：", "、") if lang == "zh" else ("; ", ": ", ", ")
    specs = {model: fit.spec.outcome(outcome_of(fit, outcome)) for model, fit in fits.items()}
    # Nested models of one outcome (M0-M4) are described by what each adds; models of different
    # outcomes (Table 4) by what each holds.
    nested = len({spec.columns.get("column", spec.name) for spec in specs.values()}) == 1

    def panel_words(columns: Sequence[str]) -> list[str]:
        panels = dict.fromkeys(term_panel(column) for column in columns)
        return [
            text(f"panel_{panel}", lang).lower() if lang == "en" else text(f"panel_{panel}", lang)
            for panel in panels
            if panel != "interactions"
        ]

    seen_columns: set[str] = set()
    seen_interactions: set[str] = set()
    seen_model = False
    pieces = []
    for model, spec in specs.items():
        columns = [*spec.predictors, *spec.time_varying]
        interactions = [":".join(parts) for parts in spec.interactions]
        new_columns = [c for c in columns if c not in seen_columns] if nested else columns
        new_interactions = (
            [i for i in interactions if i not in seen_interactions] if nested else interactions
        )
        added = panel_words(new_columns) + [term_label(term, lang) for term in new_interactions]
        if not columns:
            words = "仅含组效应" if lang == "zh" else "group effects only"
        elif nested and seen_model:
            words = "+ " + comma.join(added) if added else "="
        else:
            words = comma.join(added)
        pieces.append((model, words))
        seen_columns |= set(columns)
        seen_interactions |= set(interactions)
        seen_model = True
    if not nested and len({words for _, words in pieces}) == 1:
        everyone = "各模型" if lang == "zh" else "every model"
        return f"{everyone}{colon}{pieces[0][1]}"
    return sep.join(f"{model}{colon}{words}" for model, words in pieces)


_FAMILY_SENTENCES: Mapping[str, Mapping[Lang, str]] = {
    "survival": {
        "en": "Proportional-hazards models of the months a project runs before it is "
        "discontinued, right-censored at the survey date; {baseline}; log-normal frailties "
        "for {levels}.",
        "zh": "比例风险模型，因变量为项目自上线至停运的月数，在调查日右删失；{baseline}；"
        "{levels}对数正态脆弱项。",
    },
    "ordinal": {
        "en": "Cumulative-logit (proportional-odds) models of residents' 1–5 rating; projects "
        "without a rating are left out; random intercepts for {levels}.",
        "zh": "累积 logit（比例优势）模型，因变量为居民 1–5 分评分，未评分项目不纳入；"
        "{levels}随机截距。",
    },
    "logistic": {
        "en": "Hierarchical logistic models; random intercepts for {levels}.",
        "zh": "多层 logistic 模型；{levels}随机截距。",
    },
}
_RATIO_SENTENCES: Mapping[str, Mapping[Lang, str]] = {
    "HR": {
        "en": "Cells: posterior median hazard ratio (HR > 1: earlier discontinuation)",
        "zh": "单元格为风险比的后验中位数（风险比 > 1 表示更早停运）",
    },
    "OR": {
        "en": "Cells: posterior median odds ratio",
        "zh": "单元格为比值比的后验中位数",
    },
}


def _baseline_words(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    kinds = []
    for fit in fits.values():
        baseline = fit.spec.outcome(outcome_of(fit, outcome)).baseline
        if baseline is None:
            continue
        if baseline.kind == "weibull":
            kinds.append("Weibull 基线风险" if lang == "zh" else "Weibull baseline hazard")
        else:
            cuts = ", ".join(f"{c:g}" for c in baseline.cuts)
            kinds.append(
                f"分段常数基线风险（切点：{cuts} 个月）" if lang == "zh"
                else f"piecewise-constant baseline hazard (cuts at {cuts} months)"
            )  # fmt: skip
    return ("；" if lang == "zh" else "; ").join(dict.fromkeys(kinds))


def _levels_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    levels = list(dict.fromkeys(level for fit in fits.values() for level in fit.spec.levels))
    if not levels:
        return "无组效应" if lang == "zh" else "no group effects"
    if lang == "zh":
        return "与".join(level_name(level, "zh") for level in levels) + "层"
    return " and ".join(level_plural(level, "en") for level in levels)


def _sampler_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    settings = []
    for fit in fits.values():
        posterior = fit.posterior
        settings.append((posterior.sizes["chain"], posterior.sizes["draw"]))
    shown = ", ".join(f"{c} × {d:,d}" for c, d in dict.fromkeys(settings))
    if lang == "zh":
        return (f"NUTS 抽样，链数 × 保留抽样数：{shown}；收敛标准：R-hat ≤ {RHAT_MAX:g}、"
                f"bulk 与 tail ESS ≥ {ESS_MIN}、无发散转移。")  # fmt: skip
    return (f"NUTS, chains × retained draws: {shown}; convergence requires R-hat ≤ {RHAT_MAX:g}, "
            f"bulk and tail ESS ≥ {ESS_MIN} and no divergent transitions.")  # fmt: skip


def _reference_words(fits: Mapping[str, Fit], lang: Lang) -> str:
    references: dict[str, str] = {}
    for fit in fits.values():
        for column, scaling in fit.scaling.predictors.items():
            if scaling.kind == "categorical" and scaling.reference is not None:
                references.setdefault(column, scaling.reference)
    if not references:
        return ""
    items = [
        f"{term_label(column, lang)}{'：' if lang == 'zh' else ': '}"
        f"{schema.variable(column).level_label(ref, lang) if _in_codebook(column) else ref}"
        for column, ref in references.items()
    ]
    if lang == "zh":
        return "类别变量的参照组：" + "，".join(items) + "。"
    return "Reference levels: " + "; ".join(items) + "."


def _late_words(fits: Mapping[str, Fit], outcome: str | None, lang: Lang) -> str:
    """What the two late-effect rows are, when a model has a late (time-varying) effect."""
    onsets = {
        fit.spec.outcome(outcome_of(fit, outcome)).onset
        for fit in fits.values()
        if fit.spec.outcome(outcome_of(fit, outcome)).time_varying
    } - {None}
    if not onsets:
        return ""
    onset = "/".join(f"{o:g}" for o in sorted(onsets))
    if lang == "zh":
        return (f"“第 {onset} 个月后”：第 {onset} 个月起的风险比，逐抽样计算 exp(β + β_late)；"
                f"“第 {onset} 个月后的变化”：exp(β_late)，即其后与其前风险比之比。")  # fmt: skip
    return (f"“After month {onset}”: the HR from month {onset} on, exp(β + β_late) computed per "
            f"draw; “change after month {onset}”: exp(β_late), the ratio of the HRs after and "
            "before.")  # fmt: skip


def _in_codebook(column: str) -> bool:
    try:
        schema.variable(column)
    except KeyError:
        return False
    return True


def model_note(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    outcome: str | None = None,
    loo: Mapping[str, dict[str, float] | None] | None = None,
    prob: float = 0.95,
) -> str:
    """The note under a model table: cells, models, reference levels, priors, variance shares,
    LOO, N and the sampler.

    Parameters
    ----------
    fits
        Column -> fit, as given to the table.
    lang
        ``"en"`` or ``"zh"``.
    outcome
        For fits with several outcomes.
    loo
        :func:`loo_summary` per model (computed when ``None``).
    prob
        Mass of the credible intervals.
    """
    first = next(iter(fits.values()))
    name = outcome_of(first, outcome)
    family = _family(first, name)
    ratio = "HR" if family == "survival" else "OR"
    loo = {m: loo_summary(f, outcome=outcome) for m, f in fits.items()} if loo is None else loo
    pct = f"{100 * prob:g}%"
    levels = _levels_words(fits, lang)
    family_sentence = _FAMILY_SENTENCES[family][lang].format(
        baseline=_baseline_words(fits, outcome, lang), levels=levels
    )
    scale = _SCALE_WORDS[family][lang]
    residual = _RESIDUAL_TEXT[family]
    missing_loo = [m for m, r in loo.items() if r is None]
    high_k = {m: int(r["n_high_k"]) for m, r in loo.items() if r is not None and r["n_high_k"]}
    if lang == "zh":
        parts = [
            family_sentence,
            f"{_RATIO_SENTENCES[ratio]['zh']}及 {pct} 等尾可信区间；连续变量已标准化（每标准差），"
            "二分变量为 1 相对 0，类别变量相对参照组。",
            _reference_words(fits, lang),
            _late_words(fits, outcome, lang),
            f"模型：{_model_steps(fits, outcome, lang)}。",
            f"先验：{_priors_sentence(fits, lang, outcome)}。",
            f"方差成分：组效应标准差（{scale}尺度）的后验中位数；第 l 层方差占比 = σ²_l /（Σσ² + "
            f"{residual}），{residual} 为潜变量尺度上的残差方差"
            + ("（比例风险模型的极值分布误差）" if family == "survival"
               else "（logistic 分布误差）")
            + "，逐抽样计算后取中位数与区间。",
            "LOO：PSIS-LOO 期望对数逐点预测密度 ± 标准误"
            + (f"；“—”表示未存储逐点对数似然（{', '.join(missing_loo)}）" if missing_loo else "")
            + (f"；Pareto k 偏高的观测数：{', '.join(f'{m} {k}' for m, k in high_k.items())}"
               if high_k else "")
            + "。",
            "项目数为纳入该结果似然的项目。",
            _sampler_words(fits, lang),
        ]  # fmt: skip
        return "".join(part for part in parts if part)
    parts = [
        family_sentence,
        f"{_RATIO_SENTENCES[ratio]['en']} with {pct} equal-tailed credible interval (CrI), "
        "per SD of continuous predictors (standardised), 1 vs 0 for binary ones and vs the "
        "reference level for categorical ones.",
        _reference_words(fits, lang),
        _late_words(fits, outcome, lang),
        f"Models: {_model_steps(fits, outcome, lang)}.",
        f"Priors: {_priors_sentence(fits, lang, outcome)}.",
        f"Variance components: posterior median SD of the group effects ({scale} scale); "
        f"share of level l = σ²_l / (Σσ² + {residual}), {residual} being the residual variance "
        "of the latent scale"
        + (" (the extreme-value error of the proportional-hazards model)" if family == "survival"
           else " (the logistic error)")
        + ", computed per draw (median and interval).",
        "LOO: PSIS-LOO expected log pointwise predictive density ± SE"
        + (f"; — where the pointwise log-likelihood was not stored ({', '.join(missing_loo)})"
           if missing_loo else "")
        + (f"; observations with high Pareto k: {', '.join(f'{m} {k}' for m, k in high_k.items())}"
           if high_k else "")
        + ".",
        "N projects: rows in the outcome's likelihood.",
        _sampler_words(fits, lang),
    ]  # fmt: skip
    return " ".join(part for part in parts if part)


def model_table(
    fits: Mapping[str, Fit],
    *,
    name: str,
    title: str,
    lang: Lang = "en",
    outcome: str | None = None,
    column_labels: Mapping[str, str] | None = None,
    prob: float = 0.95,
    label: Callable[..., str] = coefficient_label,
) -> Table:
    """A model table (Tables 2-4) of any fits of one outcome family.

    Parameters
    ----------
    fits
        Column key -> fit, in column order. Every fit reports the same outcome family.
    name, title
        File stem and caption.
    lang
        ``"en"`` or ``"zh"``.
    outcome
        The outcome to report from fits with several outcomes (a structural fit).
    column_labels
        Column key -> header (default: the key).
    prob
        Mass of the credible intervals.
    label
        ``(term, lang, given=...)`` -> row label (default :func:`coefficient_label`); ``given``
        is :func:`given_by_term` of the term (which models estimate it at a condition, because
        its column enters an interaction there), "" for most terms.

    Returns
    -------
    Table
        Panels as in the module docstring, a spanner "HR [95% CrI]" or "OR [95% CrI]" over the
        model columns, the note of :func:`model_note`, the convergence flag when a fit missed a
        threshold, and the numbers behind the cells in ``data``.
    """
    if not fits:
        raise ValueError(f"table {name!r} needs at least one fit")
    families = {_family(fit, outcome_of(fit, outcome)) for fit in fits.values()}
    if len(families) != 1:
        raise ValueError(f"table {name!r} mixes outcome families {sorted(families)}")
    (family,) = families
    models = list(fits)
    label_column = text("term", lang)
    estimates = coefficient_estimates(fits, outcome=outcome, prob=prob)
    # Conditions name the models as the header does.
    headers = _columns(fits, column_labels)
    givens = given_by_term(
        estimates.assign(model=estimates["model"].map(dict(zip(models, headers, strict=True))))
    )

    def row_label(term: str, lang: Lang) -> str:
        return label(term, lang, given=givens.get(term, ""))

    sections: list[tuple[str, pd.DataFrame]] = []
    for panel, terms in _ordered_terms(estimates).items():
        block = estimates_by_model(
            estimates, lang, models=models, terms=terms, label=row_label,
            label_column=label_column, missing=_MISSING,
        )  # fmt: skip
        sections.append((text(f"panel_{panel}", lang), block))
    data: list[dict[str, Any]] = [
        {"model": row.model, "panel": row.panel, "term": row.term, "statistic": row.ratio,
         "estimate": row.estimate, "lower": row.lower, "upper": row.upper}
        for row in estimates.itertuples(index=False)
    ]  # fmt: skip
    if any(fit.spec.levels for fit in fits.values()):
        variance, variance_data = _variance_rows(fits, outcome, lang, label_column, prob)
        sections.append((text("panel_variance", lang), variance))
        data += [{**row, "statistic": "sd" if row["term"].startswith("sd_") else "share"}
                 for row in variance_data]  # fmt: skip
    loo = {model: loo_summary(fit, outcome=outcome) for model, fit in fits.items()}
    fit_rows, fit_data = _fit_rows(fits, outcome, lang, label_column, loo)
    sections.append((text("panel_fit", lang), fit_rows))
    data += [{**row, "statistic": row["term"]} for row in fit_data]
    frame = stack_panels(sections)
    frame = frame.rename(columns=dict(zip(models, headers, strict=True)))
    # The note and the flag name the models as the header does.
    shown = dict(zip(headers, fits.values(), strict=True))
    shown_loo = dict(zip(headers, loo.values(), strict=True))
    ratio_header = text("hr_cri" if family == "survival" else "or_cri", lang)
    frame = with_spanner(frame, ratio_header)
    tidy = pd.DataFrame(
        data, columns=["model", "panel", "term", "statistic", "estimate", "lower", "upper", "se"]
    )
    return Table(
        name=name,
        title=title,
        frame=frame,
        note=model_note(shown, lang, outcome=outcome, loo=shown_loo, prob=prob),
        data=tidy,
        panel=PANEL,
        flags=(
            convergence_note(diagnostics_overview(shown), lang),
            prior_dominance_note(_dominated_labels(shown, outcome, lang, label), lang),
        ),
        lang=lang,
        # Explicit: "−123.4 ± 5.6" and "—" cells would otherwise make a model column textual.
        align="l" + "r" * len(models),
    )


def _dominated_labels(
    fits: Mapping[str, Fit], outcome: str | None, lang: Lang, label: Callable[[str, Lang], str]
) -> dict[str, list[str]]:
    """Per model, the row labels of the reported outcome's coefficients whose prior dominates."""
    result = {}
    for model, fit in fits.items():
        prefix = f"{outcome_of(fit, outcome)}_beta"
        result[model] = [
            label(term.split("[", 1)[1][:-1], lang)
            for term in dominated_terms(fit)
            if term.split("[", 1)[0] in (prefix, f"{prefix}_late")
        ]
    return result


def _span(fits: Mapping[str, Fit]) -> str:
    keys = list(fits)
    return keys[0] if len(keys) == 1 else f"{keys[0]}–{keys[-1]}"


def table2_survival(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    name: str = "table2_survival",
    outcome: str | None = None,
    prob: float = 0.95,
) -> Table:
    """Table 2: project survival, proportional-hazards models (e.g. M0-M4), HR per SD.

    Parameters
    ----------
    fits
        Column key -> survival fit, e.g. ``{"M0": ..., "M4": ...}``.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    outcome
        The survival outcome of a structural fit.
    prob
        Mass of the credible intervals.
    """
    span = _span(fits)
    title = (
        f"表2 项目存续：比例风险模型 {span}（每标准差风险比）" if lang == "zh"
        else f"Table 2. Project survival: proportional-hazards models {span} "
        "(hazard ratios per SD)"
    )  # fmt: skip
    return model_table(fits, name=name, title=title, lang=lang, outcome=outcome, prob=prob)


def table3_demand_fit(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    name: str = "table3_demand_fit",
    outcome: str | None = None,
    prob: float = 0.95,
) -> Table:
    """Table 3: demand fit, cumulative-logit models (e.g. M0-M4), OR per SD of a higher rating.

    Parameters are those of :func:`table2_survival`.
    """
    span = _span(fits)
    title = (
        f"表3 技术与需求匹配：累积 logit 模型 {span}（每标准差比值比）" if lang == "zh"
        else f"Table 3. Demand fit: cumulative-logit models {span} (odds ratios per SD)"
    )  # fmt: skip
    return model_table(fits, name=name, title=title, lang=lang, outcome=outcome, prob=prob)


def table4_strategies(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    name: str = "table4_strategies",
    column_labels: Mapping[str, str] | None = None,
    prob: float = 0.95,
) -> Table:
    """Table 4: the strategies (extensive, expedient) and short-sighted innovation, logistic
    models, OR per SD.

    Parameters
    ----------
    fits
        Column key -> logistic fit, e.g. ``{"extensive": ..., "expedient": ...,
        "short_sighted": ...}``.
    lang
        ``"en"`` or ``"zh"``.
    name
        File stem.
    column_labels
        Column key -> header; default: the codebook label of each fit's outcome column
        ("Extensive innovation" / "粗放式创新").
    prob
        Mass of the credible intervals.
    """
    if column_labels is None:
        column_labels = {
            key: term_label(fit.spec.outcome(outcome_of(fit)).columns["column"], lang)
            for key, fit in fits.items()
        }
    title = (
        "表4 策略选择与创新短视化：多层 logistic 模型（每标准差比值比）" if lang == "zh"
        else "Table 4. Strategies and short-sighted innovation: hierarchical logistic models "
        "(odds ratios per SD)"
    )  # fmt: skip
    return model_table(
        fits, name=name, title=title, lang=lang, column_labels=column_labels, prob=prob
    )
