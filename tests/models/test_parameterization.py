"""Centred or non-centred group effects: the rule, the spec override, and that both forms are
the same model (same density up to the change of variables, zero-sum effects)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
from _model_helpers import make_spec

from grassroots.models import SpecError, build_model, spec_from_dict
from grassroots.models.parameterization import group_spread, information_ratio


def _grouped_frame(
    n_groups: int, rows_per_group: int, spread: float = 1.0, seed: int = 0
) -> pd.DataFrame:
    """A 0/1 outcome whose log odds vary between equal-sized groups with SD ``spread``."""
    rng = np.random.default_rng(seed)
    n = n_groups * rows_per_group
    effects = rng.normal(0.0, spread, n_groups)
    effects -= effects.mean()
    group = np.repeat(np.arange(n_groups), rows_per_group)
    return pd.DataFrame(
        {
            "g": [f"g{i:02d}" for i in group],
            "x": rng.normal(size=n),
            "y": rng.binomial(1, 1 / (1 + np.exp(-effects[group]))),
        }
    )


def _logistic_spec(parameterization: str | None = "auto"):
    level = {"column": "g"}
    if parameterization is not None:
        level["parameterization"] = parameterization
    return make_spec(y={"family": "logistic", "column": "y", "predictors": ["x"]}, groups=[level])


def _free_names(built) -> set[str]:
    return {rv.name for rv in built.model.free_RVs}


def _spread_of(frame: pd.DataFrame) -> float:
    codes = frame["g"].str[1:].astype(int).to_numpy()
    y = frame["y"].to_numpy()
    share = y.mean()
    return group_spread(codes, codes.max() + 1, y - share, share * (1 - share))


def test_group_spread_recovers_the_sd_of_group_effects():
    assert _spread_of(_grouped_frame(1000, 60, spread=0.4, seed=1)) == pytest.approx(0.4, rel=0.1)
    # Linearised on the logit scale, it understates large spreads, which
    # errs towards non-centred.
    assert 0.5 < _spread_of(_grouped_frame(1000, 60, spread=0.8, seed=1)) < 0.8
    # No spread: the sampling noise is subtracted, leaving (about) nothing.
    assert _spread_of(_grouped_frame(1000, 60, spread=0.0, seed=1)) < 0.1


def test_many_observations_per_group_give_a_centred_level():
    built = build_model(_logistic_spec(), _grouped_frame(20, 100, spread=1.0))
    choice = built.parameterizations[("g", "y")]
    assert choice.chosen == "centred" and choice.requested == "auto"
    assert choice.ratio > 5  # ~100 rows x 0.2 x 1^2
    assert "y_effect_g" in _free_names(built) and "y_z_g" not in _free_names(built)


def test_few_observations_per_group_give_a_non_centred_level():
    built = build_model(_logistic_spec(), _grouped_frame(100, 4, spread=1.0))
    choice = built.parameterizations[("g", "y")]
    assert choice.chosen == "non_centred"
    assert choice.ratio < 1  # ~4 rows x 0.2 x 1^2
    assert "y_z_g" in _free_names(built) and "y_effect_g" not in _free_names(built)


def test_groups_that_barely_differ_stay_non_centred_however_large():
    # 100 rows a group, but effects of SD 0.05: the data pin each effect near a tiny spread,
    # the funnel a centred form would put the sampler into.
    built = build_model(_logistic_spec(), _grouped_frame(20, 100, spread=0.05))
    assert built.parameterizations[("g", "y")].chosen == "non_centred"


def test_information_ratio_uses_the_median_group():
    sizes = np.array([1, 2, 3, 50])
    assert information_ratio(sizes, 0.5, 2.0) == pytest.approx(2.5 * 0.5 * 4.0)


@pytest.mark.parametrize(
    ("rows", "forced", "free"),
    [(100, "non_centred", "y_z_g"), (4, "centred", "y_effect_g")],
)
def test_the_spec_overrides_the_rule(rows, forced, free):
    built = build_model(_logistic_spec(forced), _grouped_frame(10, rows))
    choice = built.parameterizations[("g", "y")]
    assert choice.requested == forced == choice.chosen
    assert free in _free_names(built)


def test_parameterization_is_validated_with_a_fix():
    with pytest.raises(
        SpecError, match=r"parameterization.*one of \('non_centred', 'centred', 'auto'\)"
    ):
        _logistic_spec("centered")


def test_non_centred_is_the_default_and_keeps_the_hash():
    plain = make_spec(y={"family": "logistic", "column": "y", "predictors": ["x"]}, groups=["g"])
    assert plain.groups[0].parameterization == "non_centred"
    assert plain.hash() == _logistic_spec("non_centred").hash()
    assert "parameterization" not in plain.to_dict()["groups"][0]
    built = build_model(plain, _grouped_frame(20, 100, spread=1.0))
    assert built.parameterizations[("g", "y")].chosen == "non_centred"
    for other in ("auto", "centred"):
        forced = _logistic_spec(other)
        assert forced.hash() != plain.hash()
        assert spec_from_dict(forced.to_dict()) == forced


def _structural_spec(flat_parameterization: str):
    return make_spec(
        survival={
            "family": "survival",
            "time": "months",
            "event": "discontinued",
            "predictors": ["authority"],
        },
        extensive={"family": "logistic", "column": "extensive", "predictors": ["resources"]},
        groups=[
            {"column": "county_id", "parameterization": flat_parameterization},
            {"column": "township_id", "parameterization": flat_parameterization},
        ],
    )


def test_centred_and_non_centred_are_the_same_model(flat):
    """At corresponding points the joint log densities differ by the change of variables'
    Jacobian only: (G - 1) log sd per independent level and outcome, (G - 1) log det chol for
    the correlated level (G - 1 free groups, the effects summing to zero)."""
    centred = build_model(_structural_spec("centred"), flat)
    non_centred = build_model(_structural_spec("non_centred"), flat)
    assert {"township_effect", "survival_effect_county"} <= _free_names(centred)
    assert {"township_z", "survival_z_county"} <= _free_names(non_centred)
    rng = np.random.default_rng(3)
    point = {
        name: value + rng.normal(0, 0.4, np.shape(value))
        for name, value in non_centred.model.initial_point().items()
    }
    # The non-centred point's effects, moved into the centred model's coordinates.
    model = non_centred.model
    names = ["township_effect", "survival_effect_county", "extensive_effect_county"]
    names += ["survival_sd_county", "extensive_sd_county", "township_sd", "township_corr"]
    values = dict(
        zip(
            names,
            model.compile_fn(
                model.replace_rvs_by_values([model[n] for n in names]),
                inputs=model.value_vars,
                on_unused_input="ignore",
            )(point),
            strict=True,
        )
    )
    np.testing.assert_allclose(values["township_effect"].sum(axis=0), 0, atol=1e-10)
    target = centred.model
    moved = {k: v for k, v in point.items() if "_z" not in k}
    for name in names[:3]:
        transform = target.rvs_to_transforms[target[name]]
        moved[target.rvs_to_values[target[name]].name] = transform.forward(
            pt.as_tensor(values[name])
        ).eval()
    assert set(moved) == {v.name for v in target.value_vars}
    n_county = len(model.coords["county"])
    n_township = len(model.coords["township"])
    sds, corr = values["township_sd"], values["township_corr"]
    chol = np.linalg.cholesky(sds[:, None] * corr * sds[None, :])
    jacobian = (n_county - 1) * np.log(
        values["survival_sd_county"] * values["extensive_sd_county"]
    ) + (n_township - 1) * np.sum(np.log(np.diag(chol)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        logp_centred = target.compile_logp()(moved)
        logp_non_centred = model.compile_logp()(point)
    assert logp_centred == pytest.approx(logp_non_centred - jacobian, rel=1e-10, abs=1e-8)


def test_centred_effects_sum_to_zero_and_draw_as_the_group_distribution(flat):
    built = build_model(_structural_spec("centred"), flat)
    model = built.model
    draws = pm.draw(
        [model["township_effect"], model["survival_effect_county"], model["township_sd"]],
        draws=3000,
        random_seed=5,
    )
    township, county, township_sd = draws
    np.testing.assert_allclose(township.sum(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(county.sum(axis=1), 0, atol=1e-10)
    # The in-sample effects of G zero-sum groups have variance sd^2 (G - 1) / G.
    n_township = township.shape[1]
    scaled = township[:, :, 0] / township_sd[:, [0]]
    assert scaled.var() * n_township / (n_township - 1) == pytest.approx(1.0, abs=0.05)


def test_the_structural_spec_chooses_per_level_on_the_bundled_data():
    import grassroots
    from grassroots.models import load_spec

    spec = load_spec("structural")
    spec = dataclasses.replace(
        spec, groups=tuple(dataclasses.replace(g, parameterization="auto") for g in spec.groups)
    )
    built = build_model(spec, grassroots.load_dataset().flat())
    # ~56 projects a county: centred, but for demand fit, whose counties barely differ
    # (ratio 0.96); ~4.5 projects a township: non-centred.
    chosen = {
        outcome: built.parameterizations[("county", outcome)].chosen
        for outcome in spec.outcome_names
    }
    assert chosen == {
        "survival": "centred",
        "demand_fit": "non_centred",
        "extensive": "centred",
        "expedient": "centred",
        "short_sighted": "centred",
    }
    assert built.parameterizations[("township", None)].chosen == "non_centred"
    shipped = build_model(load_spec("structural"), grassroots.load_dataset().flat())
    assert {c.chosen for c in shipped.parameterizations.values()} == {"non_centred"}
    assert "survival_z_county" in _free_names(shipped)
