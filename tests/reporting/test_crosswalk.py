"""Table 0, the theory crosswalk: the shipped crosswalk file, the verdict rule and the table."""

from __future__ import annotations

import numpy as np
import pytest
from _paper_fakes import fake_fit

from grassroots.reporting.crosswalk import (
    CONTRADICTED_AT,
    SUPPORTED_AT,
    WEAKLY_SUPPORTED_AT,
    CrosswalkError,
    claim_evidence,
    load_crosswalk,
    table0_theory,
    verdict,
)

# The Chinese abstract of the paper (Li Yang 2025): the crosswalk must use its terms.
ABSTRACT_ZH = (
    "基层政府在发起和推动公共服务数字化转型过程中，一方面处于贴近群众、辖区内部差异小、决策灵活的"
    "“优位”，另一方面面临权力薄弱、资源紧张、技术能力不足等“弱势”。这可能使得基层政府采取粗放式创新"
    "和权宜式治理的行为策略，进而陷入项目可持续性不足、技术与需求错配、创新的短视化等困境。通过保障资源"
    "供给、构建跨部门协作机制、推动技术能力建设等路径"
)


class FakeContrasts:
    """``ContrastResult.values`` with draws a test controls."""

    def __init__(self, draws: np.ndarray) -> None:
        self.draws = draws
        self.asked: list[tuple[str, str, str]] = []

    def values(self, scenario: str, outcome: str, quantity: str) -> np.ndarray:
        self.asked.append((scenario, outcome, quantity))
        return self.draws


@pytest.fixture(scope="module")
def structural_terms(study_frame) -> dict[str, list[str]]:
    fit = fake_fit("structural", study_frame)
    return {
        outcome: [str(t) for t in fit.posterior[f"{outcome}_beta"].coords[f"{outcome}_term"].values]
        for outcome in fit.spec.outcome_names
    }


def _fit_with(study_frame, structural_terms, outcome: str, centres: dict[str, float], **options):
    """A fake structural fit whose ``outcome`` coefficients have the given centres (spread 0.1)."""
    terms = structural_terms[outcome]
    beta = np.zeros(len(terms))
    for term, centre in centres.items():
        beta[terms.index(term)] = centre
    return fake_fit("structural", study_frame, centres={f"{outcome}_beta": beta}, spread=0.1,
                    draws=400, **options)  # fmt: skip


def _crosswalk(tmp_path, claims: str) -> list:
    path = tmp_path / "theory.toml"
    path.write_text(
        '[[concepts]]\nid = "c"\ngroup = "strengths"\nzh = "贴近群众"\nen = "Proximity"\n' + claims,
        encoding="utf-8",
    )
    return load_crosswalk(path)


def _claim(term: str, direction: str = "increase", outcome: str = "demand_fit") -> str:
    return (
        f'[[concepts.claims]]\nen = "claim on {term}"\nzh = "论断"\ndirection = "{direction}"\n'
        f'estimate = {{ model = "structural", outcome = "{outcome}", term = "{term}" }}\n'
    )


# --- the shipped crosswalk ------------------------------------------------------------------


def test_shipped_crosswalk_has_the_papers_14_concepts_in_its_own_terms():
    claims = load_crosswalk()
    concepts = {claim.concept: claim for claim in claims}
    assert len(concepts) == 14
    groups = [claim.group for claim in concepts.values()]
    assert {g: groups.count(g) for g in set(groups)} == {
        "strengths": 3, "weaknesses": 3, "strategies": 2, "dilemmas": 3, "remedies": 3,
    }  # fmt: skip
    for claim in concepts.values():
        assert claim.concept_zh in ABSTRACT_ZH, claim.concept_zh


def test_every_shipped_claim_finds_its_estimate_in_a_structural_fit(study_frame):
    fit = fake_fit("structural", study_frame)
    contrasts = FakeContrasts(np.full(50, 0.02))
    evidence = claim_evidence(load_crosswalk(), {"structural": fit}, contrasts)
    estimated = evidence[evidence["kind"] != "not_estimated"]
    assert estimated["p_direction"].between(0, 1).all()
    # The remedies ask for scenarios that reproduce computes (the shipped default set).
    from grassroots.estimands import builtin_scenarios

    computed = {scenario.name for scenario in builtin_scenarios()}
    assert {scenario for scenario, _, _ in contrasts.asked} <= computed


# --- the verdict rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (1.0, "supported"),
        (SUPPORTED_AT, "supported"),
        (SUPPORTED_AT - 1e-9, "weakly supported"),
        (WEAKLY_SUPPORTED_AT, "weakly supported"),
        (WEAKLY_SUPPORTED_AT - 1e-9, "not supported"),
        (0.5, "not supported"),
        (1 - CONTRADICTED_AT + 1e-9, "not supported"),
        (1 - CONTRADICTED_AT, "contradicted"),
        (0.0, "contradicted"),
    ],
)
def test_verdict_thresholds(p, expected):
    assert verdict(p) == expected


@pytest.mark.parametrize(
    ("centre", "direction", "expected"),
    [
        (0.5, "increase", "supported"),
        (0.12, "increase", "weakly supported"),  # P(z > -1.2) ~ 0.885
        (0.0, "increase", "not supported"),
        (-0.5, "increase", "contradicted"),
        (-0.5, "decrease", "supported"),
        (0.5, "decrease", "contradicted"),
    ],
)
def test_verdict_from_the_draws_of_the_mapped_coefficient(
    tmp_path, study_frame, structural_terms, centre, direction, expected
):
    fit = _fit_with(study_frame, structural_terms, "demand_fit", {"proximity": centre})
    claims = _crosswalk(tmp_path, _claim("proximity", direction))
    evidence = claim_evidence(claims, {"structural": fit}).iloc[0]
    draws = fit.posterior["demand_fit_beta"].sel(demand_fit_term="proximity").to_numpy()
    sign = 1 if direction == "increase" else -1
    assert evidence["p_direction"] == pytest.approx(np.mean(sign * draws > 0))
    assert evidence["median"] == pytest.approx(np.median(draws))
    assert evidence["verdict"] == expected


def test_contrast_claims_read_the_contrast_draws(tmp_path, study_frame):
    claims = _crosswalk(
        tmp_path,
        '[[concepts.claims]]\nen = "x"\nzh = "x"\ndirection = "decrease"\n'
        'contrast = { scenario = "resources_plus_1sd", outcome = "survival", '
        'quantity = "S(24)" }\n',
    )
    draws = np.r_[np.full(90, -0.01), np.full(10, 0.01)]
    contrasts = FakeContrasts(draws)
    evidence = claim_evidence(claims, {}, contrasts).iloc[0]
    assert contrasts.asked == [("resources_plus_1sd", "survival", "S(24)")]
    assert evidence["p_direction"] == pytest.approx(0.9)
    assert evidence["verdict"] == "weakly supported"


def test_not_estimated_claims_say_why(tmp_path, study_frame):
    claims = _crosswalk(
        tmp_path,
        '[[concepts.claims]]\nen = "x"\nzh = "x"\n'
        'not_estimated = { en = "no such outcome in the data", zh = "数据中无此结果" }\n',
    )
    table = table0_theory({}, "en", claims=claims)
    assert "not estimated: no such outcome in the data" in table.to_markdown()
    assert table.data["verdict"].tolist() == ["not estimated"]
    assert "未估计：数据中无此结果" in table0_theory({}, "zh", claims=claims).to_markdown()


# --- errors ---------------------------------------------------------------------------------


def test_a_term_the_fit_lacks_is_named_with_the_terms_it_has(tmp_path, study_frame):
    claims = _crosswalk(tmp_path, _claim("proximty"))
    fit = fake_fit("structural", study_frame)
    with pytest.raises(CrosswalkError, match=r"concept 'c'.*no term 'proximty'.*'proximity'"):
        claim_evidence(claims, {"structural": fit})


def test_a_missing_model_or_contrast_is_an_error_saying_what_to_pass(tmp_path):
    claims = _crosswalk(tmp_path, _claim("proximity"))
    with pytest.raises(CrosswalkError, match="model 'structural'.*pass it"):
        claim_evidence(claims, {})
    claims = _crosswalk(
        tmp_path,
        '[[concepts.claims]]\nen = "x"\nzh = "x"\ndirection = "increase"\n'
        'contrast = { scenario = "s", outcome = "survival", quantity = "S(24)" }\n',
    )
    with pytest.raises(CrosswalkError, match="pass contrasts="):
        claim_evidence(claims, {})


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (_claim("proximity", "up"), r"theory.toml: concept 1 \('c'\), claim 1: direction 'up'"),
        ('[[concepts.claims]]\nen = "x"\nzh = "x"\n', "exactly one of 'estimate'"),
        (
            '[[concepts.claims]]\nen = "x"\nzh = "x"\ndirection = "increase"\n'
            'estimate = { model = "structural", term = "a" }\n',
            r"estimate lacks \['outcome'\]",
        ),
    ],
)
def test_malformed_claims_name_the_file_concept_and_claim(tmp_path, claims, message):
    with pytest.raises(CrosswalkError, match=message):
        _crosswalk(tmp_path, claims)


# --- the table ------------------------------------------------------------------------------


def test_table0_shows_ratio_scale_estimates_and_carries_the_convergence_flag(
    tmp_path, study_frame, structural_terms
):
    fit = _fit_with(study_frame, structural_terms, "demand_fit", {"proximity": 0.5}, rhat=1.2)
    claims = _crosswalk(tmp_path, _claim("proximity"))
    table = table0_theory({"structural": fit}, "en", claims=claims)
    draws = fit.posterior["demand_fit_beta"].sel(demand_fit_term="proximity").to_numpy()
    assert f"{np.exp(np.median(draws)):.2f} [" in table.to_markdown()
    assert "supported" in table.frame["Verdict"].tolist()
    assert any("R-hat" in flag for flag in table.flags)
    converged = _fit_with(study_frame, structural_terms, "demand_fit", {"proximity": 0.5})
    assert not any(table0_theory({"structural": converged}, "en", claims=claims).flags)


def test_table0_value_header_names_the_mass_it_was_built_with(tmp_path):
    claims = _crosswalk(
        tmp_path,
        '[[concepts.claims]]\nen = "x"\nzh = "x"\n'
        'not_estimated = { en = "no such outcome in the data", zh = "数据中无此结果" }\n',
    )
    for lang, header in (("en", "Median [90% CrI]"), ("zh", "中位数 [90% 可信区间]")):
        table = table0_theory({}, lang, claims=claims, prob=0.9)
        assert header in table.frame.columns and "95%" not in table.note
