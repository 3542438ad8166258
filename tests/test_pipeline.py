"""``reproduce`` end to end on a small simulated study, with prior draws in place of MCMC: every
table and figure is written, twice with the same bytes, and the notes flag the fits."""

from __future__ import annotations

from pathlib import Path

import arviz_stats
import pytest

from grassroots.data import Study
from grassroots.data.simulate import SimulationConfig, simulate
from grassroots.inference import bundle
from grassroots.pipeline import ReproduceSettings, run


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

    with monkeypatch.context() as patched:
        patched.setattr(bundle, "verify_bundle", lambda path: verified.append(path) or verify(path))
        patched.setattr(arviz_stats, "loo", no_loo)
        second = run(small_study, tmp_path / "b", settings)
    assert len(verified) == len(set(verified)) == 20
    # 14 paper models and 6 prior-sensitivity refits (survival and demand fit M4 and the
    # structural model, x0.5 and x2).
    assert fits_after_first == 20
    assert len(fake_sampler) == 20, "the second run must reuse the saved fits"
    # Progress goes to the callbacks: each stage once, each fit's start and then its end.
    assert [(step.number, step.total) for step in steps] == [(2, 5), (3, 5), (4, 5), (5, 5)]
    assert [(event.number, event.total, event.done) for event in fit_events] == [
        (number, 20, done) for number in range(1, 21) for done in (False, True)
    ]
    assert fit_events[0].spec == fit_events[1].spec == "survival_m0"
    assert all(event.seconds >= 0 and event.converged is not None
               for event in fit_events[1::2])  # fmt: skip

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
