"""Every shipped spec on the bundled study: clean diagnostics, and its compile/sampling time (slow).

Run with ``pytest -m slow tests/inference/test_default_specs.py -s`` to see the timings.
"""

from __future__ import annotations

import warnings

import pytest

from grassroots.inference import ConvergenceWarning, fit
from grassroots.models import shipped_specs

pytestmark = pytest.mark.slow
SEED = 20250325


@pytest.fixture(scope="module")
def study():
    from grassroots.data.study import load_dataset

    return load_dataset()


@pytest.mark.parametrize("name", shipped_specs())
def test_default_spec_converges(study, name, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = fit(study, name, seed=SEED, fitted_dir=tmp_path, progress=False)
    overview = fitted.diagnostics.overview()
    print(
        f"\n{name}: compile {fitted.timings['compile_seconds']:.1f} s, sampling "
        f"{fitted.timings['sample_seconds']:.1f} s, max R-hat {overview['max_rhat']:.4f}, "
        f"min ESS bulk {overview['min_ess_bulk']:.0f} tail {overview['min_ess_tail']:.0f}, "
        f"divergences {overview['n_divergent']}"
    )
    problems = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert not problems, problems
