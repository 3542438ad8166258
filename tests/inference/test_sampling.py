"""Real (tiny) sampling: the same seed gives the same draws; nutpie is the default backend."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from grassroots.inference import ConvergenceWarning, fit
from grassroots.models import spec_from_dict

TINY = {
    "name": "tiny",
    "family": "logistic",
    "predictors": ["age", "treated"],
    "outcome": {"column": "readmitted"},
    "sampler": {"chains": 2, "draws": 150, "tune": 150},
}


def _fit_tiny(frame, seeds, **sampler):
    """The tiny spec, its sampler settings changed by ``sampler``, fitted once per seed."""
    spec = spec_from_dict({**TINY, "sampler": {**TINY["sampler"], **sampler}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [
            fit(frame, spec, seed=seed, save=False, reuse=False, progress=False) for seed in seeds
        ]


@pytest.fixture(scope="module")
def tiny_fits(small_frame):
    return _fit_tiny(small_frame, (7, 7, 8))


def test_same_seed_same_draws(tiny_fits):
    first, again, other = tiny_fits
    assert first.backend == "nutpie"
    for name in ("readmitted_beta", "readmitted_intercept"):
        np.testing.assert_array_equal(first.posterior[name], again.posterior[name])
        assert not np.allclose(first.posterior[name], other.posterior[name])


def test_draw_variance_adaptation_reaches_nutpie(tiny_fits, small_frame):
    """``adaptation = "draw_diag"`` (Stan's mass matrix, from the draws alone) is nutpie's own
    setting, reproducible by seed like the default, and not the default's draws."""
    first, again = _fit_tiny(small_frame, (7, 7), adaptation="draw_diag")
    beta = "readmitted_beta"
    np.testing.assert_array_equal(first.posterior[beta], again.posterior[beta])
    assert not np.allclose(first.posterior[beta], tiny_fits[0].posterior[beta])


def test_tiny_fit_is_sensible(tiny_fits, small_frame):
    fitted = tiny_fits[0]
    assert fitted.posterior.sizes == {"chain": 2, "draw": 150, "readmitted_term": 2}
    assert fitted.timings["compile_seconds"] > 0 and fitted.timings["sample_seconds"] > 0
    assert fitted.diagnostics.n_divergent == 0
    assert fitted.diagnostics.max_rhat < 1.05
    # Near-null simulated effects: the odds ratios straddle 1.
    table = fitted.summary()
    assert (
        table.loc["readmitted_beta[age]", "ratio_2.5%"]
        < 1
        < table.loc["readmitted_beta[age]", "ratio_97.5%"]
    )
    p = fitted.predict(small_frame)["readmitted_prob"]
    assert float(abs(p.mean() - small_frame["readmitted"].mean())) < 0.05


def test_overlapping_fits_draw_what_fits_in_turn_draw(tiny_fits, small_frame, tmp_path):
    """start_fit: a second model compiled while the first still samples, then sampled in its
    turn or at once when its draws are asked for first (as here), changes no draw of either."""
    from grassroots.inference.fitting import start_fit

    spec = spec_from_dict(TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = start_fit(small_frame, spec, seed=7, fitted_dir=tmp_path, progress=False)
        other = start_fit(small_frame, spec, seed=8, fitted_dir=tmp_path, progress=False)
        assert first.done is None and other.done is None, "both runs in flight"
        overlapped = [other.result(), first.result()]
    for alone, together in zip((tiny_fits[2], tiny_fits[0]), overlapped, strict=True):
        np.testing.assert_array_equal(
            alone.posterior["readmitted_beta"], together.posterior["readmitted_beta"]
        )
        assert together.path is not None and together.path.parent == tmp_path


def test_a_cancelled_fit_saves_nothing(small_frame, tmp_path):
    from grassroots.inference.fitting import start_fit

    slow = {**TINY, "sampler": {"chains": 2, "draws": 20_000, "tune": 1_000}}
    pending = start_fit(small_frame, spec_from_dict(slow), seed=1, fitted_dir=tmp_path,
                        progress=False)  # fmt: skip
    pending.cancel()
    with pytest.raises(KeyboardInterrupt):
        pending.result()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_pymc_backend_is_reproducible_too(small_frame):
    a, b = _fit_tiny(small_frame, (3, 3), backend="pymc")
    assert a.backend == "pymc"
    np.testing.assert_array_equal(a.posterior["readmitted_beta"], b.posterior["readmitted_beta"])


@pytest.mark.slow
def test_nutpie_failure_falls_back_to_pymc(small_frame, monkeypatch):
    import nutpie

    def broken(*args, **kwargs):
        raise RuntimeError("numba exploded")

    monkeypatch.setattr(nutpie, "compile_pymc_model", broken)
    with pytest.warns(UserWarning, match="nutpie failed: RuntimeError: numba exploded"):
        fitted = fit(
            small_frame,
            spec_from_dict(TINY),
            seed=1,
            save=False,
            reuse=False,
            progress=False,
        )
    assert fitted.backend == "pymc"


JOINT = {
    "name": "tiny_joint",
    "family": "structural",
    # The correlated hospital level centred: the multivariate zero-sum block under nutpie.
    "groups": [{"column": "hospital", "name": "hospital", "parameterization": "centred"}],
    "sampler": {"chains": 2, "draws": 100, "tune": 100},
    "outcomes": {
        "death": {"family": "survival", "time": "days", "event": "died", "predictors": ["age"]},
        "readmitted": {"family": "logistic", "column": "readmitted", "predictors": ["age"]},
    },
}


@pytest.fixture(scope="module")
def centred_fits(small_frame):
    spec = spec_from_dict(JOINT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [
            fit(small_frame, spec, seed=seed, save=False, reuse=False, progress=False)
            for seed in (7, 7, 8)
        ]


def test_centred_correlated_level_samples_with_nutpie_reproducibly(centred_fits, small_frame):
    from grassroots.models import build_model

    built = build_model(spec_from_dict(JOINT), small_frame)
    assert built.parameterizations[("hospital", None)].chosen == "centred"
    assert "hospital_effect" in {rv.name for rv in built.model.free_RVs}
    first, again, other = centred_fits
    assert first.backend == "nutpie"  # nutpie compiled the centred block (no fallback)
    effect = first.posterior["hospital_effect"]
    np.testing.assert_allclose(effect.sum("hospital"), 0.0, atol=1e-9)
    for name in ("hospital_effect", "hospital_sd", "death_beta"):
        np.testing.assert_array_equal(first.posterior[name], again.posterior[name])
        assert not np.allclose(first.posterior[name], other.posterior[name])


@pytest.mark.slow
def test_structural_spec_quick_fit_on_the_bundled_study():
    import grassroots
    from grassroots.models import load_spec

    spec = load_spec("structural").with_sampler(chains=2, draws=60, tune=60)
    spec = dataclasses.replace(
        spec, groups=tuple(dataclasses.replace(g, parameterization="auto") for g in spec.groups)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fit(
            grassroots.load_dataset(), spec, seed=2, save=False, reuse=False, progress=False
        )
    assert fitted.backend == "nutpie"
    posterior = fitted.posterior
    assert "survival_z_county" not in posterior  # auto: survival's counties centred here
    np.testing.assert_allclose(posterior["survival_effect_county"].sum("county"), 0, atol=1e-9)
    assert posterior["township_effect"].sizes["township"] == 602
    assert np.isfinite(fitted.summary()["mean"]).all()
