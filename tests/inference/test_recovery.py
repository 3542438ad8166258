"""Recovery of the structural model on a simulated study of the bundled size (slow).

The study is drawn by :func:`grassroots.data.simulate.simulate` with a seed used nowhere else;
the 90% intervals of the structural model must cover at least 85% of the true coefficients,
intercepts, group SDs and cut points, with clean diagnostics.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from grassroots.inference import ConvergenceWarning, fit
from grassroots.models import load_spec
from grassroots.validation.coverage import true_values

pytestmark = pytest.mark.slow
RECOVERY_SEED = 730_019


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    from grassroots.data.simulate import simulate

    study = simulate(seed=RECOVERY_SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = fit(
            study.flat(),
            load_spec("structural"),
            seed=RECOVERY_SEED,
            fitted_dir=tmp_path_factory.mktemp("fitted"),
            progress=False,
        )
    return study, fitted, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_structural_recovers_the_truth(recovery):
    study, fitted, convergence_warnings = recovery
    truth = true_values(fitted, study.truth)
    table = fitted.summary(prob=0.9)
    missing = sorted(set(truth.index) - set(table.index))
    assert not missing, missing
    low, high = table.loc[truth.index, "5%"], table.loc[truth.index, "95%"]
    covered = (low <= truth) & (truth <= high)
    report = pd.DataFrame({"truth": truth, "5%": low, "95%": high, "covered": covered})
    print(report.to_string())  # kept in the pytest log (-s / -rA) as the closing evidence
    print(f"coverage {covered.mean():.3f} of {len(covered)}; timings {fitted.timings}")
    assert covered.mean() >= 0.85, report[~covered]
    assert not convergence_warnings, [str(w.message) for w in convergence_warnings]
    overview = fitted.diagnostics.overview()
    assert overview["n_divergent"] == 0
    assert overview["max_rhat"] <= 1.01
    assert min(overview["min_ess_bulk"], overview["min_ess_tail"]) >= 400
    assert np.isfinite(table["mean"]).all()
