"""``reproduce`` end to end on a small simulated study, with prior draws in place of MCMC: every
table and figure is written, twice with the same bytes, and the notes flag the fits."""

from __future__ import annotations

import json
from pathlib import Path

import arviz_stats
import pytest

from grassroots.data import Study
from grassroots.data.simulate import SimulationConfig, simulate
from grassroots.estimands import store as estimand_store
from grassroots.inference import bundle
from grassroots.pipeline import DEMAND_FIT_SPECS, SURVIVAL_SPECS, ReproduceSettings, run


@pytest.fixture(scope="module")
def small_study() -> Study:
    sim = simulate(seed=3, config=SimulationConfig(n_counties=6, townships_per_county=5,
                                                   projects_per_township=4))
    return Study.from_frames(sim.projects, sim.townships, sim.counties)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in (".md", ".csv", ".tex", ".html")
    }


def test_reproduce_writes_every_table_and_figure_deterministically(
    small_study: Study, fake_sampler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ReproduceSettings(seed=9, chains=2, draws=20, tune=0,
                                 fitted_dir=tmp_path / "fitted")
    steps, fit_events = [], []
    first = run(small_study, tmp_path / "a", settings, on_step=steps.append,
                on_fit=fit_events.append)  # fmt: skip
    fits_after_first = len(fake_sampler)
    # On saved fits, each bundle is checked (SHA-256 of every file) and opened once, and PSIS-LOO
    # comes from the bundles, not from the draws again.
    verified = []
    verify = bundle.verify_bundle

    def no_loo(*args, **kwargs):
        raise AssertionError("PSIS-LOO recomputed on saved fits")

    def no_estimand(*args, **kwargs):
        raise AssertionError("an estimand recomputed on saved fits")

    from grassroots.inference import prior_reweighting

    reweightings = []
    reweight = prior_reweighting.reweight_prior
    with monkeypatch.context() as patched:
        patched.setattr(bundle, "verify_bundle", lambda path: verified.append(path) or verify(path))
        # Each x1 fit's stored reweightings are read once (by _prior_sensitivity), not again as
        # the fitting loop finishes the reused fit.
        patched.setattr(prior_reweighting, "reweight_prior",
                        lambda fitted, spec, *a, **k: reweightings.append(spec.name)
                        or reweight(fitted, spec, *a, **k))  # fmt: skip
        patched.setattr(arviz_stats, "loo", no_loo)
        # Contrasts by group, mediation, targeting and the survival curves are read back.
        patched.setattr(estimand_store, "_write", no_estimand)
        warm_events = []
        second = run(small_study, tmp_path / "b", settings, on_fit=warm_events.append)
    # 14 paper models, then survival and demand fit M4 and the structural model under priors
    # x0.5 and x2: reweighted from the x1 fits, or refitted where the Pareto k is too high (prior
    # draws of 40 "posterior" draws often are).
    record = json.loads((tmp_path / "a" / "reproduce.json").read_text(encoding="utf-8"))
    scaled = record["prior_sensitivity"]
    assert sorted(reweightings) == sorted(scaled)
    # Where the draws were computed: a seed repeats its bytes only on one kind of processor.
    assert record["sampled_on"] == [bundle.machine()] == [record["versions"]["machine"]]
    readme = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert f"- Fits sampled on: {bundle.machine()}." in readme
    assert "machine" not in readme.split("- Versions:")[1].split("\n")[0]
    assert sorted(scaled) == sorted(f"{name}_prior_x{factor}" for factor in ("0.5", "2")
                                    for name in ("survival_m4", "demand_fit_m4", "structural"))
    refitted = [name for name, how in scaled.items() if how["method"] == "refitted"]
    assert all((how["pareto_k"] > how["threshold"]) == (name in refitted)
               for name, how in scaled.items())  # fmt: skip
    assert fits_after_first == 14 + len(refitted)
    assert len(fake_sampler) == fits_after_first, "the second run must reuse the saved fits"
    # Each folder once: the fits' bundles and the stored estimands and prior predictive draws
    # (Figures 4-5's survival curves are read in a forked child, which no_estimand guards).
    assert len(verified) == len(set(verified))
    stores = [p for p in verified if p.name.startswith(("estimands-", "prior_predictive-"))]
    assert len(verified) - len(stores) == fits_after_first and len(stores) == 4
    stored = sorted(path.name.split("-")[-2].split(".")[0]
                    for path in settings.fitted_dir.glob("estimands-*"))  # fmt: skip
    assert stored == ["heterogeneity", "mediation", "survival_by_group", "survival_by_group",
                      "targeting"]  # fmt: skip
    # Progress goes to the callbacks: each stage once (the fits' with a line per reweighting);
    # fits overlap, so fit n + 1 starts (compiles while fit n samples) before fit n ends.
    assert [(step.number, step.total) for step in steps] == [
        (2, 5), (3, 5), *[(3, 5)] * 6, (4, 5), (5, 5)
    ]
    total = fits_after_first

    def overlapped(first: int, last: int, of: int) -> list[tuple[int, int, bool]]:
        events = [(first, of, False)]
        for number in range(first + 1, last + 1):
            events += [(number, of, False), (number - 1, of, True)]
        return [*events, (last, of, True)]

    assert [(event.number, event.total, event.done) for event in fit_events] == [
        *overlapped(1, 14, 14), *(overlapped(15, total, total) if total > 14 else [])
    ]
    assert fit_events[0].spec == fit_events[2].spec == "structural"
    # Every fit saved: Figures 1-6's fits are opened first, numbered out of all of them.
    warm_done = [(e.number, e.total, e.spec) for e in warm_events if e.done]
    assert [(n, of) for n, of, _ in warm_done] == [(n, 14 if n <= 14 else total)
                                                   for n in range(1, total + 1)]  # fmt: skip
    assert [spec for *_, spec in warm_done][:10] == [*DEMAND_FIT_SPECS, *SURVIVAL_SPECS]
    assert all(event.seconds >= 0 and event.converged is not None
               for event in fit_events if event.done)  # fmt: skip

    names = {path.name for path in first}
    for stem in ("table0_theory", "table1_descriptives", "table2_survival", "table3_demand_fit",
                 "table4_strategies", "table5_contrasts", "table5a_assumptions",
                 "table5b_sensitivity", "table6_mediation", "table7_heterogeneity",
                 "table8_targeting", "table8b_allocation", "table9_structural",
                 "table10_loo_comparison", "appendix_b_sensitivity",
                 "appendix_b_sensitivity_structural"):
        for lang_suffix in ("", "_zh"):
            for fmt in ("md", "tex", "html", "docx", "csv"):
                assert f"{stem}{lang_suffix}.{fmt}" in names
    assert {p.name for p in second} == names
    assert "report.html" in names  # compared byte for byte with the second run's below
    figures = sorted(p.name for p in first if p.parent.name == "figures")
    assert "figure4_km_by_region.png" in figures and "figure7_contrast_densities_zh.pdf" in figures
    assert "figure8_prior_predictive_zh.png" in figures
    assert "figure9_dag_zh.pdf" in figures and "figure10_sensitivity.png" in figures

    tables_a, tables_b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    assert tables_a.keys() == tables_b.keys() and len(tables_a) > 50
    differing = [name for name in tables_a if tables_a[name] != tables_b[name]]
    assert differing == []

    # Prior draws are far from converged: every model table says so, the estimand tables too.
    for stem in ("table0_theory", "table2_survival", "table5_contrasts", "table5b_sensitivity",
                 "table7_heterogeneity_zh", "table8_targeting", "table8b_allocation_zh",
                 "table9_structural_zh",
                 "table10_loo_comparison", "appendix_b_sensitivity",
                 "appendix_b_sensitivity_structural"):
        text = (tmp_path / "a" / "tables" / f"{stem}.md").read_text(encoding="utf-8")
        assert "⚠" in text

    # The decision-grade remedies: natural units, the not yet treated, counties, a budget.
    table5 = (tmp_path / "a" / "tables" / "table5_contrasts.md").read_text(encoding="utf-8")
    assert "Scenarios in natural units" in table5 and "not yet treated" in table5
    table8 = (tmp_path / "a" / "tables" / "table8_targeting.md").read_text(encoding="utf-8")
    assert "counties" in table8
    table8b = (tmp_path / "a" / "tables" / "table8b_allocation.md").read_text(encoding="utf-8")
    assert "million CNY" in table8b and "Random, same budget" in table8b

    readme = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert small_study.data_hash() in readme and "Seed: 9" in readme


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::grassroots.inference.prior_dominance.PriorDominanceWarning")
def test_fitting_child_writes_psis_loo_and_prior_reweightings_to_the_bundles(
    small_study: Study, fake_sampler, tmp_path: Path
) -> None:
    from grassroots import pipeline
    from grassroots.inference import Fit
    from grassroots.models import load_spec

    settings = ReproduceSettings(seed=9, chains=2, draws=20, tune=0,
                                 fitted_dir=tmp_path / "fitted")  # fmt: skip
    specs = [load_spec(name) for name in ("survival_m0", "strategy_expedient", "structural")]
    fits = pipeline._fit_all(small_study, settings, lambda step: None, lambda event: None, specs)

    # Written by the forked child while the next fit sampled, so that the tables only read it.
    for name, outcome in (("survival_m0", "survival"), ("strategy_expedient", "expedient")):
        stored = json.loads((fits[name].path / bundle.LOO_FILE).read_text(encoding="utf-8"))
        assert list(stored) == [outcome] and stored[outcome]["elpd"] < 0
        fresh = Fit.load(fits[name].path)
        assert fresh._compute_loo(outcome).elpd == pytest.approx(stored[outcome]["elpd"])
    assert not (fits["structural"].path / bundle.LOO_FILE).exists()
    # Appendix B's prior reweightings too, of the fits whose priors it scales (the structural
    # one here), for _prior_sensitivity to read back.
    scaled = [spec.name for name, spec in pipeline._prior_scaled_specs() if name == "structural"]
    assert len(scaled) == len(pipeline.PRIOR_FACTORS)
    assert sorted(path.name for path in fits["structural"].path.glob("reweighting-*")) == sorted(
        f"reweighting-{name}.json" for name in scaled
    )
    assert not list(fits["survival_m0"].path.glob("reweighting-*"))


@pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::grassroots.inference.prior_dominance.PriorDominanceWarning")
def test_prior_sensitivity_refits_where_the_weights_are_unreliable(
    small_study: Study, fake_sampler, tmp_path: Path, monkeypatch
) -> None:
    import dataclasses

    from grassroots import pipeline
    from grassroots.inference import fit, prior_reweighting
    from grassroots.reporting.appendix import appendix_b_sensitivity

    settings = ReproduceSettings(seed=9, chains=2, draws=50, tune=0,
                                 fitted_dir=tmp_path / "fitted")  # fmt: skip
    base = {
        name: fit(small_study, name, seed=9, chains=2, draws=50, tune=0,
                  fitted_dir=settings.fitted_dir, progress=False)
        for name in pipeline.PRIOR_SCALED_SPECS
    }  # fmt: skip
    # The real weights, with the Pareto k of one spec and factor made too high to trust.
    real = prior_reweighting.reweight_prior

    def judged(fitted, spec, data, **options):
        k = 0.9 if spec.name == "survival_m4_prior_x2" else 0.1
        return dataclasses.replace(real(fitted, spec, data, **options), pareto_k=k)

    monkeypatch.setattr(prior_reweighting, "reweight_prior", judged)
    fitted_before = len(fake_sampler)
    steps, fit_events = [], []
    fits = dict(base)
    reweighted = pipeline._prior_sensitivity(small_study, fits, settings, steps.append,
                                             fit_events.append)  # fmt: skip

    assert len(fake_sampler) == fitted_before + 1
    assert set(fits) - set(base) == {"survival_m4_prior_x2"}
    assert [(e.number, e.total, e.spec) for e in fit_events] == [
        (4, 4, "survival_m4_prior_x2"), (4, 4, "survival_m4_prior_x2")
    ]
    assert any("survival_m4_prior_x2: Pareto k 0.90 above" in s.title for s in steps)
    estimates = pipeline._sensitivity_estimates(fits, reweighted)
    methods = estimates.groupby(["model", "factor"])[["method", "pareto_k"]].first()
    assert methods.loc[("survival_m4", 2.0), "method"] == "refitted"
    assert methods.loc[("survival_m4", 2.0), "pareto_k"] == 0.9
    assert methods.loc[("survival_m4", 0.5), "method"] == "reweighted"
    assert methods.loc[("demand_fit_m4", 2.0), "method"] == "reweighted"
    assert methods.loc[("survival_m4", 1.0), "method"] == "fitted"
    # The refit's draws, not the weighted x1 draws, give the refitted column.
    refit_only = pipeline._sensitivity_estimates(
        {**fits, "survival_m4": fits["survival_m4_prior_x2"]}, reweighted
    )
    survival_x2 = (estimates["model"] == "survival_m4") & (estimates["factor"] == 2.0)
    assert estimates.loc[survival_x2, "median"].tolist() == (
        refit_only.loc[survival_x2, "median"].tolist()
    )

    table = appendix_b_sensitivity(estimates)
    refitted = "Project survival M4 ×2: refitted (importance reweighting unreliable, Pareto k = 0.9"
    assert refitted in table.note
    # A factor whose models share a method and k is said once; otherwise model by model.
    assert "scaled priors: ×0.5: importance-reweighted from the ×1 fit (Pareto k = 0.10); " in (
        table.note
    )
    assert "Demand fit M4 ×2: importance-reweighted from the ×1 fit (Pareto k = 0.10)." in (
        table.note
    )
    assert "重新拟合（重要性重加权不可靠，帕累托 k = 0.90）" in appendix_b_sensitivity(
        estimates, "zh"
    ).note

    # Same seed, same bytes: the whole step again, from the saved fits.
    again = dict(base)
    reweighted_again = pipeline._prior_sensitivity(small_study, again, settings, steps.append,
                                                   fit_events.append)  # fmt: skip
    assert len(fake_sampler) == fitted_before + 1, "the saved refit is reused"
    tables = [appendix_b_sensitivity(frame).write(tmp_path / folder)
              for frame, folder in ((estimates, "first"),
                                    (pipeline._sensitivity_estimates(again, reweighted_again),
                                     "second"))]  # fmt: skip
    first, second = ([p.read_bytes() for p in paths if p.suffix in (".md", ".csv", ".tex")]
                     for paths in tables)  # fmt: skip
    assert first and first == second
