"""The prior predictive check and the plausibility of the default priors."""

from __future__ import annotations

import numpy as np
from _model_helpers import make_spec
from matplotlib.figure import Figure

from grassroots.models.prior_predictive import prior_predictive


def test_prior_predictive_is_plausible(flat, tmp_path):
    spec = make_spec(
        survival={
            "family": "survival",
            "time": "months",
            "event": "discontinued",
            "predictors": ["authority", "resources", "region", "extensive"],
        },
        demand_fit={
            "family": "ordinal",
            "column": "demand_fit",
            "predictors": ["tech_capacity", "outsourced"],
            "levels": [1, 2, 3, 4, 5],
        },
        extensive={"family": "logistic", "column": "extensive", "predictors": ["resources"]},
        groups=["county_id", "township_id"],
    )
    check = prior_predictive(spec, flat, seed=3, draws=300, max_rows=100)
    s = check.draws["survival_S"]
    assert s.dims == ("draw", "survival_time")
    np.testing.assert_allclose(s.sel(survival_time=0.0), 1.0)
    assert (s.diff("survival_time") <= 1e-12).all()
    # Weakly informative, not absurd: the prior median of S(36) is neither ~0 nor ~1, and
    # its 90% range covers both short-lived and long-lived portfolios.
    s36 = s.sel(survival_time=36.0).to_numpy()
    assert 0.2 < np.median(s36) < 0.9
    assert np.quantile(s36, 0.05) < 0.3 and np.quantile(s36, 0.95) > 0.8
    shares = check.draws["demand_fit_prob"]
    np.testing.assert_allclose(shares.sum("demand_fit_level"), 1.0)
    # On average no rating takes more than half of the rows a priori.
    assert float(shares.mean("draw").max()) < 0.5
    p = check.draws["extensive_prob"].to_numpy()
    assert 0.3 < np.median(p) < 0.7 and p.min() < 0.1 and p.max() > 0.9
    table = check.summary()
    assert list(table.columns) == ["5%", "50%", "95%"]
    assert "survival_S[36.0]" in table.index and "extensive_prob" in table.index
    figure = check.figure()
    assert isinstance(figure, Figure) and len(figure.axes) == 3
    figure.savefig(tmp_path / "prior.png")
    assert (tmp_path / "prior.png").stat().st_size > 1000


def test_prior_predictive_is_seeded(flat):
    spec = make_spec(y={"family": "logistic", "column": "extensive", "predictors": ["resources"]})
    a = prior_predictive(spec, flat, seed=1, draws=20)
    b = prior_predictive(spec, flat, seed=1, draws=20)
    np.testing.assert_array_equal(a.draws["y_prob"], b.draws["y_prob"])
