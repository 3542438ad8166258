"""The legends of the predictive figures name the interval mass the figure was drawn at."""

from __future__ import annotations

from _paper_fakes import fake_fit

from grassroots.reporting.predictive_figures import km_posterior_plot, ordinal_ppc_plot


def _legend(fig) -> list[str]:
    legends = fig.legends or [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def test_legends_name_the_mass_of_their_bands(survival_fits, study_frame):
    km = km_posterior_plot(survival_fits["M4"], study_frame, "region", "en", prob=0.9)
    assert _legend(km) == ["Kaplan–Meier (90% CI)", "Posterior predictive (90% CrI)"]
    demand = fake_fit("demand_fit_m2", study_frame)
    ppc = ordinal_ppc_plot(demand, study_frame, "zh", max_draws=20, prob=0.9)
    assert "后验预测（90% 可信区间）" in _legend(ppc)
