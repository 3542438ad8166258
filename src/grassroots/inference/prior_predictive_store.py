"""The prior predictive check's draws, kept in the fitted folder beside the fit bundles.

Drawing them compiles PyMC's forward sampler anew in every process (~8 s for the structural
model), for 200 draws that depend only on the spec, the data, the seed, the check's settings and
the packages that make draws. :func:`prior_predictive_reused` stores the row-averaged draws
(:class:`~grassroots.models.prior_predictive.PriorPredictive`) once::

    models/fitted/prior_predictive-<spec name>-seed<seed>-<key>/
        draws.json     the key's parts and the draws (an xarray Dataset as a dict; floats
                       round-trip exactly through JSON)
        manifest.json  the SHA-256 of draws.json (see
                       :func:`~grassroots.inference.bundle.verify_bundle`)

``<key>`` hashes every part, so a changed spec, data set, seed, setting or package version finds
no folder and draws again. A folder that fails its checksum or whose stored key is not the
expected one is never read: the draws are computed again and written over it, with a
:class:`~grassroots.inference.bundle.BundleWarning`.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from grassroots._io import atomic_directory
from grassroots._paths import fitted_dir as default_fitted_dir
from grassroots.data.identity import data_hash
from grassroots.inference.bundle import (
    DRAW_PACKAGES,
    BundleError,
    BundleWarning,
    emptied,
    key_digest,
    package_versions,
    read_keyed,
    write_manifest,
)
from grassroots.models.prior_predictive import (
    DEFAULT_CHECK_TIMES,
    PriorPredictive,
    prior_predictive,
)
from grassroots.models.priors import PRIOR_RULES_VERSION
from grassroots.models.spec import ModelSpec, load_spec

DRAWS_FILE = "draws.json"


def prior_predictive_reused(
    spec: str | ModelSpec,
    data: pd.DataFrame,
    *,
    seed: int,
    fitted_dir: str | Path | None = None,
    draws: int = 200,
    times: Sequence[float] = DEFAULT_CHECK_TIMES,
    max_rows: int = 500,
) -> PriorPredictive:
    """:func:`~grassroots.models.prior_predictive.prior_predictive`, read from ``fitted_dir``
    when drawn there before with the same spec, data, seed, settings and draw-making package
    versions; drawn and stored there otherwise. Same arguments, same result, same bytes.

    Parameters
    ----------
    fitted_dir
        The folder of fit bundles (default :func:`grassroots.inference.fitted_dir`).
    """
    spec = load_spec(spec)
    versions = package_versions()
    key = {
        "spec_hash": spec.hash(),
        "data_hash": data_hash(data),
        "seed": seed,
        "draws": draws,
        "times": [float(t) for t in times],
        "max_rows": max_rows,
        "prior_rules": PRIOR_RULES_VERSION,
        "versions": {package: versions.get(package) for package in DRAW_PACKAGES},
    }
    folder = default_fitted_dir(fitted_dir) / (
        f"prior_predictive-{spec.name}-seed{seed}-{key_digest(key)}"
    )
    if folder.is_dir():
        try:
            return PriorPredictive(spec, _read(folder, key))
        except BundleError as error:
            warnings.warn(
                f"ignoring damaged prior predictive draws {folder.name} ({error}); drawing "
                f"them again",
                BundleWarning,
                stacklevel=2,
            )
    check = prior_predictive(spec, data, seed=seed, draws=draws, times=times, max_rows=max_rows)
    stored = {"key": key, "draws": check.draws.to_dict(data="list")}
    # A read-only fitted folder still answers; it just draws again next time.
    with contextlib.suppress(OSError), atomic_directory(folder) as tmp:
        emptied(tmp)
        (tmp / DRAWS_FILE).write_text(json.dumps(stored, sort_keys=True), encoding="utf-8")
        write_manifest(tmp)
    return check


def _read(folder: Path, key: dict[str, Any]) -> xr.Dataset:
    """The stored draws of ``folder`` if its checksums hold and it was stored under ``key``."""
    stored = read_keyed(folder, DRAWS_FILE, key)
    try:
        return xr.Dataset.from_dict(stored["draws"])
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{folder / DRAWS_FILE}: {error}") from error
