"""Spec loading and validation: every shipped spec loads; every error names the file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grassroots.models import SpecError, load_spec, shipped_specs, spec_from_dict
from grassroots.models.priors import Prior
from grassroots.models.spec import DEFAULT_CUTS, spec_dir

EXPECTED = {
    *(f"survival_m{k}" for k in range(5)),
    *(f"demand_fit_m{k}" for k in range(5)),
    "survival_m4_weibull",
    "strategy_extensive",
    "strategy_expedient",
    "strategy_short_sighted",
    "structural",
}


def test_every_expected_spec_is_shipped_and_loads():
    assert EXPECTED <= set(shipped_specs())
    for name in shipped_specs():
        spec = load_spec(name)
        assert spec.name == name
        assert spec.levels == ("county", "township")
        assert spec.source and spec.source.endswith(f"{name}.toml")


@pytest.mark.parametrize("outcome", ["survival", "demand_fit"])
def test_model_variants_nest(outcome):
    specs = [load_spec(f"{outcome}_m{k}") for k in range(5)]
    predictors = [set(s.outcomes[0].predictors) for s in specs]
    assert predictors[0] == set()
    assert predictors[1] == {"authority", "resources", "tech_capacity"}
    for smaller, larger in zip(predictors, predictors[1:], strict=False):
        assert smaller <= larger
    assert {"proximity", "collaboration", "region", "outsourced"} <= predictors[2]
    assert {"extensive", "expedient"} <= predictors[3]
    assert ("short_sighted" in predictors[3]) is (outcome == "survival")
    if outcome == "survival":
        assert [s.outcomes[0].time_varying for s in specs] == [{}] * 3 + [{"short_sighted": 12}] * 2
    assert specs[4].outcomes[0].interactions == (
        ("collaboration", "authority"),
        ("tech_capacity", "outsourced"),
    )
    assert all(not s.outcomes[0].interactions for s in specs[:4])


def test_survival_defaults_and_weibull_alternative():
    piecewise = load_spec("survival_m1").outcomes[0]
    assert piecewise.baseline.kind == "piecewise"
    assert piecewise.baseline.cuts == DEFAULT_CUTS
    assert piecewise.columns == {"time": "months", "event": "discontinued"}
    assert load_spec("survival_m4_weibull").outcomes[0].baseline.kind == "weibull"


def test_structural_spec():
    spec = load_spec("structural")
    assert spec.family == "structural"
    assert spec.outcome_names == (
        "survival",
        "demand_fit",
        "extensive",
        "expedient",
        "short_sighted",
    )
    assert spec.correlated == "township"
    survival = spec.outcome("survival")
    assert {"extensive", "expedient", "short_sighted"} <= set(survival.predictors)
    assert spec.categorical["region"] == "east"
    assert spec.priors["lkj_eta"] == 2.0


def test_round_trip_and_hash(tmp_path):
    for name in (
        "survival_m4",
        "survival_m4_weibull",
        "demand_fit_m2",
        "structural",
        "strategy_expedient",
    ):
        spec = load_spec(name)
        again = spec_from_dict(spec.to_dict())
        assert again == spec
        assert again.family == spec.family
        assert again.hash() == spec.hash()
    # Comments and whitespace do not change the hash; a sampler setting does.
    text = (spec_dir() / "survival_m1.toml").read_text()
    copy = tmp_path / "survival_m1.toml"
    copy.write_text("# a comment\n" + text.replace("draws = 1000", "draws   =   1000"))
    assert load_spec(copy).hash() == load_spec("survival_m1").hash()
    assert load_spec("survival_m1").with_sampler(draws=10).hash() != load_spec("survival_m1").hash()


def test_generic_columns_patients_in_hospitals(tmp_path):
    path = tmp_path / "readmission.toml"
    path.write_text(
        """
name = "readmission"
family = "survival"
groups = [{ column = "hospital_code", name = "hospital" }, "ward_id"]
predictors = ["age", "sex"]

[outcome]
name = "readmit"
time = "days"
event = "readmitted"

[baseline]
kind = "piecewise"
cuts = [7, 30, 90]

[priors]
log_hazard = { dist = "Normal", mu = -6, sigma = 2 }
sd_hospital = { dist = "Exponential", lam = 2 }
"""
    )
    spec = load_spec(path)
    assert spec.levels == ("hospital", "ward")
    assert spec.outcomes[0].name == "readmit"
    assert spec.columns() == ("hospital_code", "ward_id", "days", "readmitted", "age", "sex")
    assert spec.priors["sd_hospital"] == Prior("Exponential", {"lam": 2.0})


def _write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
name = "x"
family = "logistic"
groups = ["county_id"]
predictors = ["a", "b"]
interactions = []
[outcome]
column = "y"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('family = "logistic"', 'family = "poisson"'), "key 'family' must be one of"),
        (("predictors =", "predictorz ="), "unknown key 'predictorz'; did you mean 'predictors'"),
        (("interactions = []", 'interactions = ["a:c"]'), "uses \\['c'\\], which must also be"),
        (("interactions = []", 'interactions = ["a"]'), "two or more distinct predictors"),
        (
            ('column = "y"', 'col = "y"'),
            "line 8: unknown key '\\[outcome\\].col'; did you mean '\\[outcome\\].column'",
        ),
        (
            ('[outcome]\ncolumn = "y"', ""),
            "key 'outcome' is missing: it must be the \\[outcome\\] table",
        ),
        (('groups = ["county_id"]', 'groups = ["a_id", "b_id", "c_id"]'), "0, 1 or 2"),
        (('groups = ["county_id"]', 'groups = "county_id"'), "key 'groups' must be a list"),
        (('predictors = ["a", "b"]', 'predictors = ["a", "a"]'), "lists a column twice"),
        (('predictors = ["a", "b"]', 'predictors = ["a", "y"]'), "both outcome and predictor"),
    ],
)
def test_spec_errors_name_file_and_key(tmp_path, change, message):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(SpecError, match=re.escape(str(path)) + ".*" + message):
        load_spec(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[priors]\nbeta = { dist = "Normall", mu = 0 }',
            "key 'priors.beta': unknown or missing 'dist'",
        ),
        (
            '[priors]\nbeta = { dist = "Normal", mean = 0 }',
            "Normal has no parameter\\(s\\) \\['mean'\\]",
        ),
        ('[priors]\nsd = { dist = "Normal", sigma = 1 }', "key 'priors.sd': a sd must be positive"),
        ('[priors]\nbetta = { dist = "Normal" }', "unknown prior role 'betta'"),
        ('[priors]\nbeta = { dist = "Normal", sigma = "1" }', "parameter 'sigma' must be a number"),
        ("[priors]\nlkj_eta = -1", "key 'priors.lkj_eta': must be a positive number"),
        ("[sampler]\nchains = 0", "line 11: key '\\[sampler\\].chains' must be a positive integer"),
        (
            "[sampler]\ntarget_accept = 1.5",
            "key '\\[sampler\\].target_accept' must be a number that lies in \\(0, 1\\), not 1.5",
        ),
        (
            '[sampler]\nbackend = "stan"',
            "key '\\[sampler\\].backend' must be one of \\('nutpie', 'pymc'\\), not 'stan'",
        ),
        (
            '[sampler]\nadaptation = "dense"',
            "key '\\[sampler\\].adaptation' must be one of "
            "\\('diag', 'draw_diag', 'low_rank'\\), not 'dense'",
        ),
        (
            "[sampler]\ndraw = 10",
            "unknown key '\\[sampler\\].draw'; did you mean '\\[sampler\\].draws'",
        ),
        (
            "[categorical]\nregion = true",
            "key '\\[categorical\\].region' must be the reference level .*, not True",
        ),
    ],
)
def test_prior_sampler_and_categorical_errors(tmp_path, extra, message):
    path = _write(tmp_path, GOOD + "\n" + extra)
    with pytest.raises(SpecError, match=re.escape(str(path)) + ".*" + message):
        load_spec(path)


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ('kind = "cox"', "key '\\[baseline\\].kind' must be 'piecewise' or 'weibull'"),
        ("cuts = [12, 6]", "increasing positive times"),
        ("cuts = []", "increasing positive times"),
        ('kind = "weibull"\ncuts = [6]', "applies only to the piecewise baseline"),
    ],
)
def test_baseline_errors(tmp_path, baseline, message):
    text = (
        'name = "s"\nfamily = "survival"\n[outcome]\ntime = "t"\nevent = "d"\n[baseline]\n'
        + baseline
    )
    path = _write(tmp_path, text)
    with pytest.raises(SpecError, match=re.escape(str(path)) + ".*" + message):
        load_spec(path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("time_varying = { s = 10 }", "the onset 10 must be one of the baseline cuts"),
        ("time_varying = { s = 12, u = 24 }", "share one onset; got \\[12.0, 24.0\\]"),
        ("time_varying = { s = -1 }", "line 3: key 'time_varying.s' must be a positive onset"),
        ("time_varying = { t = 12 }", "'t' is an outcome column"),
    ],
)
def test_time_varying_errors(tmp_path, extra, message):
    text = f'name = "s"\nfamily = "survival"\n{extra}\n[outcome]\ntime = "t"\nevent = "d"\n'
    with pytest.raises(SpecError, match=message):
        load_spec(_write(tmp_path, text))


def test_time_varying_round_trip(tmp_path):
    text = (
        'name = "s"\nfamily = "survival"\npredictors = ["a"]\ntime_varying = { s = 12 }\n'
        '[outcome]\ntime = "t"\nevent = "d"\n[baseline]\nkind = "weibull"\n'
    )
    spec = load_spec(_write(tmp_path, text))
    assert spec.outcomes[0].time_varying == {"s": 12.0} and spec.outcomes[0].onset == 12.0
    assert spec.columns() == ("t", "d", "a", "s")
    assert spec_from_dict(spec.to_dict()) == spec
    path = _write(tmp_path, GOOD + "time_varying = { a = 1 }\n", "logistic.toml")
    with pytest.raises(SpecError, match="unknown key '\\[outcome\\].time_varying'"):
        load_spec(path)


def test_survival_outcome_needs_time_and_event(tmp_path):
    path = _write(tmp_path, 'name = "s"\nfamily = "survival"\n[outcome]\ntime = "t"\n')
    with pytest.raises(
        SpecError,
        match=r"line 3: key '\[outcome\].event' is missing: it must be the name of the survival "
        "outcome's event column",
    ):
        load_spec(path)


def test_structural_errors(tmp_path):
    base = (
        'name = "j"\nfamily = "structural"\ngroups = ["county_id", "township_id"]\n'
        '[outcomes.a]\nfamily = "logistic"\ncolumn = "a"\n'
        '[outcomes.b]\nfamily = "logistic"\ncolumn = "b"\n'
    )
    assert load_spec(_write(tmp_path, base, "ok.toml")).correlated == "township"
    path = _write(tmp_path, base.replace('township_id"]', 'township_id"]\ncorrelated = "city"'))
    with pytest.raises(SpecError, match="key 'correlated' must name a grouping level"):
        load_spec(path)
    path = _write(tmp_path, base.replace('family = "logistic"\ncolumn = "b"', 'column = "b"'))
    with pytest.raises(
        SpecError, match=r"key '\[outcomes.b\].family' is missing: it must be one of"
    ):
        load_spec(path)
    path = _write(tmp_path, 'name = "j"\nfamily = "structural"\n')
    with pytest.raises(SpecError, match=r"key 'outcomes' is missing: it must be one \[outcomes"):
        load_spec(path)
    one = base.split("[outcomes.b]")[0].replace(
        'township_id"]', 'township_id"]\ncorrelated = "township"'
    )
    with pytest.raises(SpecError, match="'correlated' needs at least two outcomes"):
        load_spec(_write(tmp_path, one, "one.toml"))
    reserved = base.replace('"county_id", "township_id"', '{ column = "c", name = "outcome" }')
    with pytest.raises(SpecError, match="level name 'outcome' is reserved"):
        load_spec(_write(tmp_path, reserved, "reserved.toml"))


def test_not_toml_and_unknown_names(tmp_path):
    path = _write(tmp_path, "name = = 1")
    with pytest.raises(SpecError, match=re.escape(str(path)) + ": not valid TOML"):
        load_spec(path)
    with pytest.raises(SpecError, match="did you mean \\['survival_m1'"):
        load_spec("survival_m1x")
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "name",
    ["../../x", "/tmp/x", "a/b", "a\\\\b", "..", "a..b", ".hidden", "x.", "two words", "x" * 101],
)
def test_spec_name_that_is_not_a_plain_name_is_refused(tmp_path, name):
    """The name becomes the bundle's folder: a path in it would write outside --fitted-dir."""
    path = _write(tmp_path, GOOD.replace('name = "x"', f'name = "{name}"'))
    with pytest.raises(SpecError, match=re.escape(str(path)) + ".*key 'name' must be a plain name"):
        load_spec(path)


def test_spec_name_from_the_file_name_is_checked_too(tmp_path):
    path = _write(tmp_path, GOOD.replace('name = "x"\n', ""), name="my spec.toml")
    with pytest.raises(SpecError, match="not 'my spec'.*or the file when the spec has no 'name'"):
        load_spec(path)


@pytest.mark.parametrize(
    "name", ["survival_m4", "survival_m4_prior_x0.5", "survey-2024", "需求匹配"]
)
def test_plain_spec_names_are_accepted(tmp_path, name):
    path = _write(tmp_path, GOOD.replace('name = "x"', f'name = "{name}"'))
    assert load_spec(path).name == name


def test_a_copy_with_a_path_as_name_is_refused():
    from dataclasses import replace

    with pytest.raises(SpecError, match="must be a plain name"):
        replace(load_spec("survival_m1"), name="../outside")


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        ('beta = { dist = "Normal", mu = 0, sigma = -1 }', "Normal parameter 'sigma' is a scale"),
        ('beta = { dist = "Normal", mu = 0, sigma = 0 }', "Normal parameter 'sigma' is a scale"),
        ('sd = { dist = "HalfNormal", sigma = -0.5 }', "HalfNormal parameter 'sigma' is a scale"),
        ('sd_county = { dist = "Exponential", lam = 0 }', "Exponential parameter 'lam' is a scale"),
        ('beta = { dist = "StudentT", nu = -3, sigma = 1 }', "StudentT parameter 'nu' is a scale"),
        ('beta = { dist = "Cauchy", alpha = 0, beta = -2 }', "Cauchy parameter 'beta' is a scale"),
        ('beta = { dist = "Uniform", lower = 1, upper = -1 }', "Uniform needs lower < upper"),
    ],
)
def test_non_positive_prior_scale_is_refused(tmp_path, prior, message):
    path = _write(tmp_path, GOOD + "\n[priors]\n" + prior)
    with pytest.raises(SpecError, match=re.escape(str(path)) + ".*" + message):
        load_spec(path)


def test_negative_prior_location_is_fine(tmp_path):
    path = _write(tmp_path, GOOD + '\n[priors]\nbeta = { dist = "Cauchy", alpha = -1, beta = 2 }')
    assert load_spec(path).priors["beta"] == Prior("Cauchy", {"alpha": -1.0, "beta": 2.0})


# The canonical content of a spec, and so its hash, must not depend on how it is validated:
# this hash was computed from this text before the checks moved to pydantic.
RICH_SPEC = """
name = "rich"
family = "structural"
description = "every kind of key"
groups = [{ column = "hospital_code", name = "hospital" }, "ward_id"]
correlated = "ward"

[categorical]
region = "east"
grade = 3

[priors]
lkj_eta = 2
beta = { dist = "Normal", mu = 0, sigma = 1 }

[sampler]
chains = 2
draws = 300
method = "advi"
iterations = 2000
tolerance = 1

[outcomes.stay]
family = "survival"
time = "days"
event = "left"
predictors = ["age", "sex"]
interactions = ["age : sex"]
time_varying = { late = 30 }
baseline = { kind = "piecewise", cuts = [7, 30, 90.5] }

[outcomes.rating]
family = "ordinal"
column = "score"
levels = [1, 2, 3]
predictors = ["age"]
priors = { beta = { dist = "StudentT", nu = 4, mu = 0, sigma = 1 } }
"""
RICH_SPEC_HASH = "5c53641e6ec7b8f47f1fa54b1e659b5144299867d9b19d89783427ee9fc43ee8"


def test_spec_hash_of_every_kind_of_key_is_stable(tmp_path):
    spec = load_spec(_write(tmp_path, RICH_SPEC, "rich.toml"))
    assert spec.hash() == RICH_SPEC_HASH
    assert spec.sampler.tolerance == 1.0 and isinstance(spec.sampler.tolerance, float)
    assert spec.outcome("stay").baseline.cuts == (7.0, 30.0, 90.5)
    assert spec.categorical == {"region": "east", "grade": "3"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("chains = 1", 'chains = "4"'),
            r"key '\[sampler\].chains' must be a positive integer, not '4'",
        ),
        (("chains = 1", "chains = true"), r"key '\[sampler\].chains' must be a positive integer"),
        (("chains = 1", "target_accept = true"), "target_accept' must be a number that lies in"),
        (('column = "y"', "column = 3"), r"key '\[outcome\].column' must be the name of the"),
    ],
)
def test_values_are_not_coerced(tmp_path, change, message):
    """ "4" is not 4 and true is not 1: a quoted number is a mistake the user should see."""
    path = _write(tmp_path, (GOOD + "[sampler]\nchains = 1\n").replace(*change))
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_every_structural_problem_is_reported_at_once_with_its_line(tmp_path):
    text = GOOD + '[sampler]\nchains = 0\nbackend = "stan"\ndraws = 1.5\n'
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert lines == [
        f"{path}, line 10: key '[sampler].chains' must be a positive integer, not 0; "
        "e.g. chains = 4",
        f"{path}, line 11: key '[sampler].backend' must be one of ('nutpie', 'pymc'), not 'stan'",
        f"{path}, line 12: key '[sampler].draws' must be a positive integer, not 1.5; "
        "e.g. draws = 1000",
    ]
    assert "pydantic" not in str(info.value) and "Input should" not in str(info.value)


def test_structural_outcome_keys_are_named_with_their_table_and_line(tmp_path):
    text = (
        'name = "j"\nfamily = "structural"\n\n[outcomes.stay]\nfamily = "survival"\n'
        'time = "t"\nevent = "d"\n\n[outcomes.stay.baseline]\nkind = "piecewise"\ncuts = [6, -1]\n'
    )
    path = _write(tmp_path, text)
    with pytest.raises(
        SpecError,
        match=re.escape(f"{path}, line 11: key '[outcomes.stay.baseline]")
        + r"\.cuts\[1\]' must be a positive time, not -1",
    ):
        load_spec(path)


def test_group_items_and_sampler_overrides_are_named(tmp_path):
    path = _write(tmp_path, GOOD.replace('["county_id"]', '["county_id", { col = "c" }]'))
    with pytest.raises(
        SpecError, match=r"line 4: unknown key 'groups\[1\].col'; did you mean 'groups\[1\].column'"
    ):
        load_spec(path)
    with pytest.raises(
        SpecError,
        match="survival_m1: sampler overrides: key 'draws' must be a positive integer, not -5",
    ):
        load_spec("survival_m1").with_sampler(draws=-5)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ('[{ column = "c", name = "" }]', r"line 4: key 'groups\[0\].name' must be an identifier"),
        ('[{ column = "c", name = "a b" }]', r"key 'groups\[0\].name' must be an identifier"),
        ('[{ column = "" }]', r"key 'groups\[0\].column' must be the column holding"),
        ('["c_id", { column = "c_id", name = "d" }]', r"key 'groups' repeats a level name"),
    ],
)
def test_group_level_errors(tmp_path, groups, message):
    path = _write(tmp_path, GOOD.replace('["county_id"]', groups))
    with pytest.raises(SpecError, match=message):
        load_spec(path)
