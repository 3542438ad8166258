"""The shared TOML machinery: the line scan and the translation of pydantic's errors."""

from __future__ import annotations

import pytest

from grassroots._toml_schema import (
    SamplerTable,
    StructuralSpecTable,
    TomlSource,
    render_key_path,
    validate_table,
)

TEXT = """\
name = "j"   # line 1
groups = [
  "county_id",
  { column = "c", name = "x" },
]
site."main office" = "x"

[outcomes.stay]
family = "survival"
"东部" = 1
baseline = { kind = "piecewise", cuts = [6, 12] }

[ outcomes . "two words" ]
family = 'logistic'
"""


@pytest.mark.parametrize(
    ("path", "line", "display"),
    [
        (("name",), 1, "name"),
        (("groups", 1, "name"), 2, "groups[1].name"),
        (("site", "main office"), 6, 'site."main office"'),
        (("outcomes", "stay"), 8, "[outcomes.stay]"),
        (("outcomes", "stay", "family"), 9, "[outcomes.stay].family"),
        (("outcomes", "stay", "东部"), 10, '[outcomes.stay]."东部"'),
        (("outcomes", "stay", "baseline", "cuts", 1), 11, "[outcomes.stay].baseline.cuts[1]"),
        (("outcomes", "stay", "time"), 8, "[outcomes.stay].time"),
        (("outcomes", "two words", "family"), 14, '[outcomes."two words"].family'),
        (("sampler", "chains"), None, "sampler.chains"),
    ],
)
def test_keys_are_found_on_their_line_and_named_with_their_table(path, line, display):
    source = TomlSource("spec.toml", TEXT)
    assert source.line(path) == line
    assert source.display(path) == display
    where = "spec.toml" if line is None else f"spec.toml, line {line}"
    assert source.at(path) == f"{where}: key '{display}'"


def test_without_text_keys_are_dotted_and_have_no_line():
    source = TomlSource("<spec>")
    assert source.at(("outcomes", "a", "family")) == "<spec>: key 'outcomes.a.family'"
    assert render_key_path(("categories", "region", "东部"), quote=False) == (
        "categories.region.东部"
    )


def test_pydantic_errors_become_one_problem_per_key():
    _, problems = validate_table(
        StructuralSpecTable,
        {
            "name": "j",
            "family": "structural",
            "categorical": {"region": True},
            "correlated": 3,
            "outcomes": {},
            "sampler": 1,
            "extra": 1,
        },
    )
    found = {(problem.path, problem.kind): problem for problem in problems}
    # A union (str | int) fails once per member in pydantic: one problem here.
    assert [key for key in found if key[0][0] == "categorical"] == [
        (("categorical", "region"), "invalid")
    ]
    assert found[(("categorical", "region"), "invalid")].must == (
        "the reference level (a string or integer)"
    )
    assert found[(("correlated",), "invalid")].must == "the name of a grouping level, or false"
    assert found[(("outcomes",), "invalid")].must == "one [outcomes.<name>] table per outcome"
    unknown = found[(("extra",), "unknown")]
    assert "outcomes" in unknown.allowed and unknown.suggestion() is None


def test_sampler_problems_say_what_to_write():
    _, problems = validate_table(SamplerTable, {"draws": 0}, prefix=("sampler",))
    by_key = {problem.path: problem for problem in problems}
    assert by_key[("sampler", "draws")].fix == "e.g. draws = 1000"
    assert by_key[("sampler", "chains")].kind == "missing"
