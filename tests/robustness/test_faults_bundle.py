"""Damaged and mismatching fit bundles: an explicit load refuses a damaged one with a message
naming the file; ``fit(..., reuse=True)`` never returns it, but warns, moves it aside and refits;
a bundle recorded with other settings or versions is refitted with a one-line reason.

:data:`FAULTS` lists every case (id, what is done to the bundle, the expected outcome, the
message expected) so that a README table of bundle faults can be generated from it.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

from grassroots.inference import BundleError, BundleWarning, Fit, fit, verify_bundle
from grassroots.inference.bundle import LOO_POINTWISE_FILE, store_loo
from grassroots.inference.fitting import MANIFEST_FILE, package_versions, write_manifest
from grassroots.models import spec_from_dict

# The fake sampler draws from the prior: its "chains" never agree.
pytestmark = pytest.mark.filterwarnings("ignore::grassroots.inference.ConvergenceWarning")

SPEC = {
    "name": "faults",
    "family": "logistic",
    "predictors": ["age", "treated"],
    "outcome": {"column": "readmitted"},
    "sampler": {"chains": 2, "draws": 20, "tune": 10},
}
SEED = 3


class Fault(NamedTuple):
    id: str
    description: str
    #: ``refused``: Fit.load raises BundleError, fit() warns, moves the bundle aside, refits;
    #: ``refit``: the bundle is intact but records another fit: fit() warns and refits;
    #: ``reused``: fit() returns the bundle as it is.
    outcome: str
    #: What the error or warning says (a regular expression).
    message: str


FAULTS = [
    Fault("corrupt-chunk", "one byte of a posterior chunk flipped", "refused",
          r"trace\.zarr/posterior/.* fails its checksum"),
    Fault("missing-chunk", "a posterior chunk file deleted", "refused",
          r"trace\.zarr/posterior/.* is missing \(a lost file or chunk\)"),
    Fault("missing-trace", "the whole trace.zarr/ folder deleted", "refused",
          r"is not a fit bundle \(it needs fit\.json and trace\.zarr/\)"),
    Fault("truncated-fit-json", "fit.json cut in half", "refused",
          r"fit\.json fails its checksum"),
    Fault("unreadable-fit-json", "fit.json not JSON, its checksum updated to match", "refused",
          r"fit\.json: unreadable JSON"),
    Fault("edited-diagnostics", "fit.json's stored divergences edited by hand", "refused",
          r"fit\.json fails its checksum"),
    Fault("checksum-edited", "one SHA-256 in manifest.json edited", "refused",
          r"fails its checksum"),
    Fault("missing-manifest", "manifest.json deleted (or a bundle of an older grassroots)",
          "refused", r"no manifest\.json, so its files cannot be checked"),
    Fault("truncated-manifest", "manifest.json cut in half", "refused",
          r"manifest\.json: unreadable"),
    Fault("stray-chunk", "an extra file inside trace.zarr/", "refused",
          r"trace\.zarr/posterior/stray is not listed in manifest\.json"),
    Fault("corrupt-loo", "loo.json edited after it was listed in the manifest", "refused",
          r"loo\.json fails its checksum"),
    Fault("unreadable-loo", "loo.json not JSON, its checksum updated to match", "refused",
          r"loo\.json: unreadable JSON"),
    Fault("corrupt-loo-pointwise", "loo_pointwise.json edited after it was listed in the manifest",
          "refused", r"loo_pointwise\.json fails its checksum"),
    Fault("truncated-loo-pointwise", "loo_pointwise.json cut in half", "refused",
          r"loo_pointwise\.json fails its checksum"),
    Fault("missing-loo-pointwise", "loo_pointwise.json deleted, still listed in the manifest",
          "refused", r"loo_pointwise\.json is missing \(a lost file or chunk\)"),
    Fault("unreadable-loo-pointwise", "loo_pointwise.json not JSON, its checksum updated to match",
          "refused", r"loo_pointwise\.json: unreadable JSON"),
    Fault("list-loo-pointwise", "loo_pointwise.json a JSON list, its checksum updated to match",
          "refused", r"loo_pointwise\.json: unreadable JSON \(a JSON list, not an object\)"),
    Fault("misshapen-loo-pointwise",
          "loo_pointwise.json with fewer elpd_i than observations, its checksum updated to match",
          "refused", r"loo_pointwise\.json: the PSIS-LOO values of 'readmitted' do not read back"),
    Fault("version-mismatch", "recorded with another PyMC version", "refit",
          r"other package versions \(pymc 0\.0\.1 vs "),
    Fault("settings-mismatch", "recorded with another target_accept", "refit",
          r"sampler settings differ \(target_accept 0\.5 vs 0\.9\)"),
    Fault("seed-mismatch", "recorded with another seed (a copied bundle)", "refit",
          r"fitted with seed 99, not 3"),
    Fault("method-mismatch", "recorded as an ADVI fit", "refit", r"method is 'advi', not 'nuts'"),
    Fault("spec-hash-mismatch", "recorded with another spec hash", "refit",
          r"its spec hash 000000000000… is not "),
    Fault("storage-version-differs", "recorded with another xarray version (reads, not draws)",
          "reused", ""),
    Fault("stray-top-level-file", "a notes file dropped beside fit.json", "reused", ""),
    Fault("unlisted-loo", "a loo.json the manifest does not list (stop between two writes)",
          "reused", ""),
    Fault("unlisted-loo-pointwise",
          "a loo_pointwise.json the manifest does not list (stop between two writes)",
          "reused", ""),
]  # fmt: skip


def _first_chunk(bundle: Path) -> Path:
    return next(
        p for p in sorted((bundle / "trace.zarr" / "posterior").rglob("c/*")) if p.is_file()
    )


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _recorded(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Rewrite fit.json and the manifest to match, as a bundle genuinely written that way."""

    def mutate(bundle: Path) -> None:
        meta = json.loads((bundle / "fit.json").read_text())
        change(meta)
        (bundle / "fit.json").write_text(json.dumps(meta))
        write_manifest(bundle)

    return mutate


def _edit_diagnostics(bundle: Path) -> None:
    meta = json.loads((bundle / "fit.json").read_text())
    meta["diagnostics"]["n_divergent"] = 0 if meta["diagnostics"]["n_divergent"] else 7
    (bundle / "fit.json").write_text(json.dumps(meta))


def _edit_checksum(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    name = sorted(manifest["files"])[0]
    manifest["files"][name] = "0" * 64
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))


def _unreadable_fit_json(bundle: Path) -> None:
    (bundle / "fit.json").write_text('{"format": 2, "spec": ')
    write_manifest(bundle)


def _corrupt_loo(bundle: Path) -> None:
    Fit.load(bundle)._store_loo({"readmitted": {"elpd": -1.0}})
    (bundle / "loo.json").write_text(json.dumps({"readmitted": {"elpd": 5.0, "planted": 1}}))


def _unlisted_loo(bundle: Path) -> None:
    (bundle / "loo.json").write_text(json.dumps({"readmitted": {"elpd": 5.0, "planted": 1}}))


def _unreadable_loo(bundle: Path) -> None:
    (bundle / "loo.json").write_text('{"readmitted": {"elpd": ')
    write_manifest(bundle)


def _planted_pointwise(n: int = 4) -> dict:
    """A well-formed ``loo_pointwise.json`` entry of ``n`` observations, marked as planted."""
    return {
        "elpd": -5.0, "se": 1.0, "p": 2.0, "n_samples": 40, "n_data_points": n,
        "scale": "log", "warning": False, "good_k": 0.7, "approx_posterior": False,
        "dim": "planted", "coords": list(range(n)), "elpd_i": [-1.25] * n, "pareto_k": [0.1] * n,
    }  # fmt: skip


def _store_pointwise(bundle: Path) -> Path:
    store_loo(bundle, {"readmitted": _planted_pointwise()}, file=LOO_POINTWISE_FILE)
    return bundle / LOO_POINTWISE_FILE


def _corrupt_loo_pointwise(bundle: Path) -> None:
    stored = _store_pointwise(bundle)
    stored.write_text(json.dumps({"readmitted": _planted_pointwise(3)}))


def _rewritten_pointwise(text: str) -> Callable[[Path], None]:
    """Replace loo_pointwise.json by ``text`` and list it, as if grassroots had written it."""

    def mutate(bundle: Path) -> None:
        _store_pointwise(bundle).write_text(text)
        write_manifest(bundle)

    return mutate


def _misshapen_pointwise() -> str:
    entry = _planted_pointwise()
    entry["elpd_i"] = entry["elpd_i"][:-1]
    return json.dumps({"readmitted": entry})


def _other_versions(meta: dict) -> None:
    meta["versions"]["pymc"] = "0.0.1"


def _other_target_accept(meta: dict) -> None:
    meta["spec"]["sampler"]["target_accept"] = 0.5


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "corrupt-chunk": lambda bundle: _flip_a_byte(_first_chunk(bundle)),
    "missing-chunk": lambda bundle: _first_chunk(bundle).unlink(),
    "missing-trace": lambda bundle: shutil.rmtree(bundle / "trace.zarr"),
    "truncated-fit-json": lambda bundle: _truncate(bundle / "fit.json"),
    "unreadable-fit-json": _unreadable_fit_json,
    "edited-diagnostics": _edit_diagnostics,
    "checksum-edited": _edit_checksum,
    "missing-manifest": lambda bundle: (bundle / MANIFEST_FILE).unlink(),
    "truncated-manifest": lambda bundle: _truncate(bundle / MANIFEST_FILE),
    "stray-chunk": lambda bundle: (bundle / "trace.zarr" / "posterior" / "stray").write_bytes(b"x"),
    "corrupt-loo": _corrupt_loo,
    "unreadable-loo": _unreadable_loo,
    "corrupt-loo-pointwise": _corrupt_loo_pointwise,
    "truncated-loo-pointwise": lambda bundle: _truncate(_store_pointwise(bundle)),
    "missing-loo-pointwise": lambda bundle: _store_pointwise(bundle).unlink(),
    "unreadable-loo-pointwise": _rewritten_pointwise('{"readmitted": {"elpd": '),
    "list-loo-pointwise": _rewritten_pointwise(json.dumps([_planted_pointwise()])),
    "misshapen-loo-pointwise": _rewritten_pointwise(_misshapen_pointwise()),
    "version-mismatch": _recorded(_other_versions),
    "settings-mismatch": _recorded(_other_target_accept),
    "seed-mismatch": _recorded(lambda meta: meta.update(seed=99)),
    "method-mismatch": _recorded(lambda meta: meta.update(method="advi")),
    "spec-hash-mismatch": _recorded(lambda meta: meta.update(spec_hash="0" * 64)),
    "storage-version-differs": _recorded(lambda meta: meta["versions"].update(xarray="0.0.1")),
    "stray-top-level-file": lambda bundle: (bundle / "notes.txt").write_text("mine\n"),
    "unlisted-loo": _unlisted_loo,
    "unlisted-loo-pointwise": lambda bundle: (bundle / LOO_POINTWISE_FILE).write_text(
        json.dumps({"readmitted": _planted_pointwise()})
    ),
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 60
    return pd.DataFrame(
        {
            "age": rng.normal(60, 10, n),
            "treated": rng.integers(0, 2, n),
            "readmitted": rng.integers(0, 2, n),
        }
    )


def test_the_table_is_complete() -> None:
    """Every fault has a mutation, a known outcome, and a message when it is not reused."""
    assert len(FAULTS) >= 12
    assert [fault.id for fault in FAULTS] == list(MUTATIONS)
    assert len({fault.id for fault in FAULTS}) == len(FAULTS)
    for fault in FAULTS:
        assert fault.outcome in {"refused", "refit", "reused"}
        assert fault.description and (fault.message or fault.outcome == "reused")


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
def test_bundle_fault(fault: Fault, fake_sampler, frame, tmp_path) -> None:
    spec = spec_from_dict(SPEC)
    first = fit(frame, spec, seed=SEED, fitted_dir=tmp_path, progress=False)
    bundle = first.path
    assert bundle is not None
    MUTATIONS[fault.id](bundle)

    if fault.outcome == "refused":
        with pytest.raises(BundleError, match=fault.message):
            Fit.load(bundle)
        with pytest.warns(BundleWarning, match=rf"ignoring unreadable bundle {bundle.name} "):
            again = fit(frame, spec, seed=SEED, fitted_dir=tmp_path, progress=False)
        assert fake_sampler == [SEED, SEED]
        refused = list(tmp_path.glob(f".refused-{bundle.name}-*"))
        assert len(refused) == 1, "the damaged bundle is kept aside for inspection"
    elif fault.outcome == "refit":
        Fit.load(bundle)  # intact: an explicit load reads it
        with pytest.warns(BundleWarning, match=rf"not reusing {bundle.name}: .*{fault.message}"):
            again = fit(frame, spec, seed=SEED, fitted_dir=tmp_path, progress=False)
        assert fake_sampler == [SEED, SEED]
        assert again.versions == package_versions() and again.spec == spec
    else:
        again = fit(frame, spec, seed=SEED, fitted_dir=tmp_path, progress=False)
        assert fake_sampler == [SEED]
        assert "planted" not in json.dumps(again._stored_loo()), "an unlisted loo.json was read"
        assert "planted" not in json.dumps(again._loo_pointwise_stored), (
            "an unlisted loo_pointwise.json was read"
        )

    # Whatever happened, what sits at the bundle's place now is whole and is what fit() gave.
    assert again.path == bundle
    verify_bundle(bundle)
    np.testing.assert_array_equal(
        Fit.load(bundle).posterior["readmitted_beta"], again.posterior["readmitted_beta"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", BundleWarning)
        fit(frame, spec, seed=SEED, fitted_dir=tmp_path, progress=False)
    assert len(fake_sampler) == (1 if fault.outcome == "reused" else 2)
