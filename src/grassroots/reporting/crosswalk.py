"""Table 0: the theory crosswalk, from the paper's concepts and claims to the estimates.

The crosswalk is declared in ``models/theory.toml``: each of the paper's 14 concepts (in the
author's Chinese and English terms), the claims the paper makes about it, and for each claim the
estimate that tests it (a coefficient of a fit, or an intervention contrast) with the direction the
claim implies, or the reason no model estimates it. :func:`table0_theory` computes, from the
posterior draws of each mapped estimate, the posterior probability of the claimed direction and a
verdict.

**Verdict rule.** With ``p = P(estimate has the claimed sign | data)`` and ``1 - p`` the
probability of the opposite sign (the probability of direction, *pd*, of Makowski, Ben-Shachar,
Chen and Lüdecke 2019, "Indices of effect existence and significance in the Bayesian
framework", *Frontiers in Psychology* 10:2767, where pd = 0.95 and 0.975 correspond to two-sided
p-values of 0.10 and 0.05):

=====================  ========================================================================
verdict                rule
=====================  ========================================================================
supported              ``p >= SUPPORTED_AT`` (0.95)
weakly supported       ``WEAKLY_SUPPORTED_AT <= p < SUPPORTED_AT`` (0.80)
contradicted           ``1 - p >= CONTRADICTED_AT`` (0.95): the data favour the opposite sign
not supported          otherwise
not estimated          the claim has no estimate in the models (the reason is printed)
=====================  ========================================================================
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grassroots.data.schema import Lang
from grassroots.estimands.settings import DEFAULT_PROB
from grassroots.reporting.convergence import convergence_note
from grassroots.reporting.labels import NOTES, note_text, percent
from grassroots.reporting.model_terms import coefficient_label, late_term
from grassroots.reporting.tables import Table, format_estimate

if TYPE_CHECKING:
    from grassroots.inference import Fit

__all__ = [
    "CONTRADICTED_AT",
    "CROSSWALK_FILE",
    "Claim",
    "CrosswalkError",
    "SUPPORTED_AT",
    "WEAKLY_SUPPORTED_AT",
    "claim_evidence",
    "load_crosswalk",
    "table0_theory",
    "verdict",
]

#: P(claimed direction) at or above which a claim is "supported".
SUPPORTED_AT = 0.95
#: P(claimed direction) at or above which a claim is "weakly supported".
WEAKLY_SUPPORTED_AT = 0.80
#: P(opposite direction) at or above which a claim is "contradicted".
CONTRADICTED_AT = 0.95

CROSSWALK_FILE = "theory.toml"
GROUPS = ("strengths", "weaknesses", "strategies", "dilemmas", "remedies")
DIRECTIONS = {"increase": 1.0, "decrease": -1.0}

# Verdicts in the order the tally lists them (their words: labels.NOTES["verdict_..."]).
_VERDICTS = ("supported", "weakly supported", "not supported", "contradicted", "not estimated")
_COLUMNS = ("concept", "claim", "estimate", "direction", "value", "p_direction", "verdict")


def _verdict_words(verdict: str, lang: Lang) -> str:
    return note_text(f"verdict_{verdict.replace(' ', '_')}", lang)


class CrosswalkError(ValueError):
    """The crosswalk file, or the fits it points to, cannot answer a claim."""


@dataclass(frozen=True)
class Claim:
    """One claim of the paper about one concept, and what tests it.

    ``kind`` is ``coefficient`` (``model``, ``outcome``, ``term``, ``parameter``), ``contrast``
    (``scenario``, ``outcome``, ``quantity``) or ``not_estimated`` (``reason_en``/``reason_zh``).
    """

    concept: str
    group: str
    concept_zh: str
    concept_en: str
    claim_en: str
    claim_zh: str
    kind: str
    direction: str | None = None
    model: str | None = None
    outcome: str | None = None
    term: str | None = None
    parameter: str = "beta"
    scenario: str | None = None
    quantity: str | None = None
    reason_en: str = ""
    reason_zh: str = ""


def _default_path() -> Path:
    from grassroots.models.spec import spec_dir

    return spec_dir() / CROSSWALK_FILE


def load_crosswalk(path: str | Path | None = None) -> list[Claim]:
    """The claims of a crosswalk file (default: the shipped ``models/theory.toml``), in order.

    Raises
    ------
    CrosswalkError
        Naming the file, the concept and the key, when a concept or claim is malformed.
    """
    path = Path(path) if path is not None else _default_path()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CrosswalkError(f"{path.name}: not valid TOML ({error}); fix the file") from error
    claims: list[Claim] = []
    seen: set[str] = set()
    for number, concept in enumerate(table.get("concepts", []), start=1):
        where = f"{path.name}: concept {number} ({concept.get('id', '?')!r})"
        missing = [key for key in ("id", "group", "zh", "en", "claims") if key not in concept]
        if missing:
            raise CrosswalkError(f"{where}: missing key(s) {missing}; add them")
        if concept["id"] in seen:
            raise CrosswalkError(f"{where}: id {concept['id']!r} is used twice; make it unique")
        seen.add(concept["id"])
        if concept["group"] not in GROUPS:
            raise CrosswalkError(
                f"{where}: group {concept['group']!r} is not one of {list(GROUPS)}"
            )
        for index, claim in enumerate(concept["claims"], start=1):
            claims.append(_claim(concept, claim, f"{where}, claim {index}"))
    if not claims:
        raise CrosswalkError(f"{path.name}: no [[concepts]] with claims; declare at least one")
    return claims


def _claim(concept: Mapping[str, Any], claim: Mapping[str, Any], where: str) -> Claim:
    missing = [key for key in ("en", "zh") if key not in claim]
    if missing:
        raise CrosswalkError(f"{where}: missing key(s) {missing}; add the claim's text")
    sources = [key for key in ("estimate", "contrast", "not_estimated") if key in claim]
    if len(sources) != 1:
        raise CrosswalkError(
            f"{where}: give exactly one of 'estimate', 'contrast' or 'not_estimated' "
            f"(found {sources or 'none'})"
        )
    common = {
        "concept": concept["id"], "group": concept["group"], "concept_zh": concept["zh"],
        "concept_en": concept["en"], "claim_en": claim["en"], "claim_zh": claim["zh"],
    }  # fmt: skip
    (source,) = sources
    if source == "not_estimated":
        reason = claim["not_estimated"]
        return Claim(**common, kind="not_estimated", reason_en=reason.get("en", ""),
                     reason_zh=reason.get("zh", reason.get("en", "")))  # fmt: skip
    direction = claim.get("direction")
    if direction not in DIRECTIONS:
        raise CrosswalkError(f"{where}: direction {direction!r} must be one of {list(DIRECTIONS)}")
    target = claim[source]
    if source == "estimate":
        required = ("model", "outcome", "term")
        kind = "coefficient"
    else:
        required = ("scenario", "outcome", "quantity")
        kind = "contrast"
    missing = [key for key in required if key not in target]
    if missing:
        raise CrosswalkError(f"{where}: {source} lacks {missing}")
    parameter = target.get("parameter", "beta")
    if parameter not in ("beta", "beta_late"):
        raise CrosswalkError(f"{where}: parameter {parameter!r} must be 'beta' or 'beta_late'")
    return Claim(**common, kind=kind, direction=direction, model=target.get("model"),
                 outcome=target["outcome"], term=target.get("term"), parameter=parameter,
                 scenario=target.get("scenario"), quantity=target.get("quantity"))  # fmt: skip


def verdict(p_direction: float) -> str:
    """The verdict for a posterior probability of the claimed direction (module docstring).

    Examples
    --------
    >>> [verdict(p) for p in (0.99, 0.9, 0.5, 0.02)]
    ['supported', 'weakly supported', 'not supported', 'contradicted']
    """
    if p_direction >= SUPPORTED_AT:
        return "supported"
    if p_direction >= WEAKLY_SUPPORTED_AT:
        return "weakly supported"
    if 1.0 - p_direction >= CONTRADICTED_AT:
        return "contradicted"
    return "not supported"


def _coefficient_draws(claim: Claim, fits: Mapping[str, Fit]) -> np.ndarray:
    if claim.model not in fits:
        raise CrosswalkError(
            f"{CROSSWALK_FILE}: concept {claim.concept!r} maps to model {claim.model!r}, which "
            f"is not among the fits given ({sorted(fits)}); pass it or change the crosswalk"
        )
    posterior = fits[claim.model].posterior
    suffix = "beta_late" if claim.parameter == "beta_late" else "beta"
    name = f"{claim.outcome}_{suffix}"
    dim = f"{claim.outcome}_{'late_term' if suffix == 'beta_late' else 'term'}"
    if name not in posterior:
        raise CrosswalkError(
            f"{CROSSWALK_FILE}: concept {claim.concept!r}: fit {claim.model!r} has no {name!r} "
            f"(outcome {claim.outcome!r} or its parameter is missing)"
        )
    terms = [str(t) for t in posterior[name].coords[dim].values]
    if claim.term not in terms:
        raise CrosswalkError(
            f"{CROSSWALK_FILE}: concept {claim.concept!r}: fit {claim.model!r} has no term "
            f"{claim.term!r} in {name}; its terms are {terms}"
        )
    values = posterior[name].sel({dim: claim.term}).transpose("chain", "draw")
    return values.to_numpy().reshape(-1)


def _contrast_draws(claim: Claim, contrasts: Any) -> np.ndarray:
    if contrasts is None:
        raise CrosswalkError(
            f"{CROSSWALK_FILE}: concept {claim.concept!r} maps to the contrast "
            f"{claim.scenario!r}; pass contrasts=... (a ContrastResult) to the table"
        )
    try:
        return np.asarray(contrasts.values(claim.scenario, claim.outcome, claim.quantity))
    except KeyError as error:
        raise CrosswalkError(
            f"{CROSSWALK_FILE}: concept {claim.concept!r}: the contrasts hold no "
            f"{claim.scenario!r} / {claim.outcome}:{claim.quantity} ({error})"
        ) from error


def claim_evidence(
    claims: Sequence[Claim],
    fits: Mapping[str, Fit],
    contrasts: Any = None,
    *,
    prob: float = DEFAULT_PROB,
) -> pd.DataFrame:
    """Posterior evidence for every claim: one row per claim, in crosswalk order.

    Parameters
    ----------
    claims
        :func:`load_crosswalk`.
    fits
        Model name (as the crosswalk names it, e.g. ``"structural"``) -> fit.
    contrasts
        A :class:`~grassroots.estimands.ContrastResult` (its ``values``) for contrast claims.
    prob
        Mass of the equal-tailed interval.

    Returns
    -------
    DataFrame
        The claim's fields, ``median``, ``lower``, ``upper`` (log scale for a coefficient, the
        contrast's own scale otherwise), ``table_term`` (the coefficient's key, a late effect
        as :func:`~grassroots.reporting.model_terms.late_term`), ``p_direction`` (share of
        draws with the claimed sign) and ``verdict``; NaN and ``not estimated`` for claims
        without an estimate.
    """
    rows = []
    q = [0.5, (1 - prob) / 2, (1 + prob) / 2]
    for claim in claims:
        row = {
            **claim.__dict__,
            "median": np.nan,
            "lower": np.nan,
            "upper": np.nan,
            "p_direction": np.nan,
            "verdict": "not estimated",
            "table_term": claim.term,
        }
        if claim.kind != "not_estimated":
            draws = (
                _coefficient_draws(claim, fits) if claim.kind == "coefficient"
                else _contrast_draws(claim, contrasts)
            )  # fmt: skip
            if claim.kind == "coefficient" and claim.parameter == "beta_late":
                onset = fits[claim.model].spec.outcome(claim.outcome).onset  # type: ignore[index]
                row["table_term"] = late_term(claim.term, onset)  # type: ignore[arg-type]
            sign = DIRECTIONS[claim.direction]  # type: ignore[index]
            p_direction = float(np.mean(sign * draws > 0))
            row["median"], row["lower"], row["upper"] = np.quantile(draws, q)
            row["p_direction"] = p_direction
            row["verdict"] = verdict(p_direction)
        rows.append(row)
    return pd.DataFrame(rows)


def _estimate_words(row: Any, lang: Lang, scenario_labels: Mapping[str, str]) -> str:
    if row.kind == "not_estimated":
        reason = row.reason_zh if lang == "zh" else row.reason_en
        return note_text("not_estimated", lang, reason=reason)
    key = f"theory_outcome_{row.outcome}"
    outcome = note_text(key, lang) if key in NOTES else row.outcome
    if row.kind == "contrast":
        scenario = scenario_labels.get(row.scenario, row.scenario)
        return note_text("contrast_estimate", lang, quantity=row.quantity, scenario=scenario)
    label = coefficient_label(row.table_term, lang)
    return f"{outcome} ← {label}"


def _direction_words(row: Any, lang: Lang) -> str:
    if row.kind == "not_estimated":
        return "—"
    above = row.direction == "increase"
    if row.kind == "coefficient":
        return "> 1" if above else "< 1"
    return "> 0" if above else "< 0"


def table0_theory(
    fits: Mapping[str, Fit],
    lang: Lang = "en",
    *,
    contrasts: Any = None,
    claims: Sequence[Claim] | None = None,
    scenario_labels: Mapping[str, str] | None = None,
    name: str = "table0_theory",
    prob: float = DEFAULT_PROB,
) -> Table:
    """Table 0: each concept and claim of the paper, the estimate it maps to, the posterior
    probability of the claimed direction and a verdict (rule in the module docstring).

    Parameters
    ----------
    fits
        The fits the crosswalk names (the shipped one: ``{"structural": fit}``).
    lang
        ``"en"`` or ``"zh"``.
    contrasts
        The intervention contrasts (``ContrastResult``) the remedies' claims map to.
    claims
        Default: :func:`load_crosswalk` of the shipped ``models/theory.toml``.
    scenario_labels
        Scenario name -> label in ``lang``.
    name
        File stem.
    prob
        Mass of the credible intervals.
    """
    claims = load_crosswalk() if claims is None else claims
    evidence = claim_evidence(claims, fits, contrasts, prob=prob)
    labels = scenario_labels or {}
    rows = []
    previous = None
    for row in evidence.itertuples(index=False):
        # Coefficients are shown as HR/OR (exp of the log-scale draws), contrasts as they are.
        scale = np.exp if row.kind == "coefficient" else (lambda x: x)
        concept = note_text("concept", lang, concept_en=row.concept_en, concept_zh=row.concept_zh)
        rows.append({
            "group": note_text(f"theory_group_{row.group}", lang),
            "concept": concept if row.concept != previous else "",
            "claim": row.claim_zh if lang == "zh" else row.claim_en,
            "estimate": _estimate_words(row, lang, labels),
            "direction": _direction_words(row, lang),
            "value": "—" if row.kind == "not_estimated" else format_estimate(
                scale(row.median), scale(row.lower), scale(row.upper),
                digits=2 if row.kind == "coefficient" else 3),
            "p_direction": "—" if np.isnan(row.p_direction) else f"{row.p_direction:.3f}",
            "verdict": _verdict_words(row.verdict, lang),
        })  # fmt: skip
        previous = row.concept
    frame = pd.DataFrame(rows)
    frame = frame.set_index("group")
    frame.index.name = "panel"
    pct = percent(prob)
    frame = frame.rename(
        columns={key: note_text(f"theory_header_{key}", lang, pct=pct) for key in _COLUMNS}
    )
    counts = evidence["verdict"].value_counts()
    tally = note_text("sep_list", lang).join(
        f"{_verdict_words(v, lang)} {int(counts[v])}" for v in _VERDICTS if v in counts
    )
    used = {claim.model for claim in claims if claim.kind == "coefficient"}
    overview = {model: fits[model].diagnostics.overview() for model in sorted(used)
                if model in fits}  # fmt: skip
    note = note_text(
        "table0", lang, n_concepts=evidence["concept"].nunique(), n_claims=len(claims),
        pct=pct, supported=f"{SUPPORTED_AT:g}", weakly=f"{WEAKLY_SUPPORTED_AT:g}",
        contradicted=f"{CONTRADICTED_AT:g}", tally=tally,
    )  # fmt: skip
    return Table(
        name=name,
        title=note_text("table0_title", lang),
        frame=frame,
        note=note,
        data=evidence,
        panel="panel",
        flags=(convergence_note(overview, lang),) if overview else (),
        lang=lang,
        align="lllllrl",
    )
