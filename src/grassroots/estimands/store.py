"""Estimand results kept in the fitted folder beside the fit they were computed from.

An estimand is a function of a fit's draws, the data, the scenarios, its options and settings,
and the code that computes it; on the bundled study the paper's three (contrasts by group,
mediation, targeting) take ~20 s of both cores, every run. :func:`estimand_reused` computes one
once and reads it back while none of these changed; :func:`result_reused` does the same for a
result of the draws and the data alone (Figures 4-5's posterior survival curves)::

    models/fitted/estimands-<fit bundle>-<estimand>[.<options>]-<key>/
        result.json        the key's parts, the result's type and its scalar fields
        <field>.parquet    each table (pandas, through pyarrow)
        <field>-<i>.zarr/  each array of draws (xarray; floats stored exactly)
        manifest.json      the SHA-256 of every other file (see
                           :func:`~grassroots.inference.bundle.verify_bundle`)

``<key>`` hashes the fit's saved draws (its manifest's checksums of ``trace.zarr/`` and
``fit.json``), the data hash, the scenarios, the options and settings (but the thread count, which
results do not depend on), the installed source of every layer an estimand may use (estimands,
inference, models, data and the private top-level modules; not reporting, pipeline or cli) and
the versions of the packages that compute. The same inputs give the same result, byte for
byte, read or computed. A fit that was never saved, or an option that is not plain data, is
computed every time. One result is kept per fit, estimand and options (``<options>``: a digest
of the options, when there are any): writing a new one removes that fit's older ones, so edited
code or settings do not pile up stale copies. A stored result that
fails its checksums or was stored under another key is never read: it is computed again and
written over, with a :class:`~grassroots.inference.bundle.BundleWarning`. A read-only fitted
folder still answers; it computes every time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from grassroots._io import atomic_directory
from grassroots._paths import fitted_dir as default_fitted_dir
from grassroots.estimands.contrasts import ContrastResult, resolve_scenarios
from grassroots.estimands.heterogeneity import TargetingResult
from grassroots.estimands.mediation import MediationResult
from grassroots.estimands.settings import EstimandSettings
from grassroots.estimands.survival_curves import SurvivalByGroup
from grassroots.inference.bundle import (
    BundleError,
    BundleWarning,
    emptied,
    key_digest,
    manifest_files,
    package_versions,
    read_keyed,
    write_manifest,
)

__all__ = ["STORE_PREFIX", "estimand_reused", "result_reused"]

#: Folders of stored estimand results start with this, then the fit bundle's name.
STORE_PREFIX = "estimands-"
RESULT_FILE = "result.json"
#: Bumped when the stored layout changes: older folders are then computed again.
STORE_FORMAT = 1
#: The result types that may be stored; a stored folder names one of these, nothing else.
RESULT_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (ContrastResult, MediationResult, TargetingResult, SurvivalByGroup)
}
#: Settings that change how fast a result is computed, not what it is.
_SETTINGS_NOT_IN_KEY = ("workers",)


def estimand_reused[Result](
    estimand: Callable[..., Result],
    fit: Any,
    data: Any,
    scenarios: Any = None,
    *,
    settings: EstimandSettings | None = None,
    fitted_dir: str | Path | None = None,
    **options: Any,
) -> Result:
    """``estimand(fit, data, scenarios, settings=settings, **options)``, read from ``fitted_dir``
    when computed there before from the same inputs, computed and stored there otherwise.

    Parameters
    ----------
    estimand
        :func:`~grassroots.estimands.heterogeneity.heterogeneity`,
        :func:`~grassroots.estimands.contrasts.contrasts`,
        :func:`~grassroots.estimands.mediation.mediation`,
        :func:`~grassroots.estimands.heterogeneity.targeting`, or any function of that call shape
        returning one of their result types.
    fit
        One saved fit (its ``path`` a bundle); anything else is computed without storing.
    fitted_dir
        The folder of fit bundles (default :func:`grassroots.inference.fitted_dir`).

    Examples
    --------
    >>> from grassroots.estimands import EstimandSettings, estimand_reused, mediation
    >>> mediated = estimand_reused(mediation, fit, study, settings=EstimandSettings(seed=1))
    ... # doctest: +SKIP
    """
    settings = settings or EstimandSettings()

    def compute() -> Result:
        return estimand(fit, data, scenarios, settings=settings, **options)

    def inputs() -> dict[str, Any]:
        chosen = [dataclasses.replace(s, source=None) for s in resolve_scenarios(scenarios)]
        return {
            "scenarios": repr(chosen),
            "settings": {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(settings).items()
                if name not in _SETTINGS_NOT_IN_KEY
            },
        }

    return _reused(estimand, compute, inputs, fit, data, fitted_dir, options)


def result_reused[Result](
    function: Callable[..., Result],
    fit: Any,
    data: Any,
    *,
    fitted_dir: str | Path | None = None,
    **options: Any,
) -> Result:
    """``function(fit, data, **options)``, kept in ``fitted_dir`` as :func:`estimand_reused`
    keeps an estimand: for a result of a fit's draws and the data alone (no scenarios or
    settings), such as :func:`~grassroots.estimands.survival_curves.survival_by_group`.

    One result is kept per fit, function and options (a figure's two groupings are two results);
    a result of the same options computed by other code or from other draws replaces it.

    Examples
    --------
    >>> from grassroots.estimands import result_reused, survival_by_group
    >>> curves = result_reused(survival_by_group, fit, study, by="region")  # doctest: +SKIP
    """
    return _reused(function, lambda: function(fit, data, **options), dict, fit, data,
                   fitted_dir, options)  # fmt: skip


def _reused[Result](
    function: Callable[..., Result],
    compute: Callable[[], Result],
    inputs: Callable[[], dict[str, Any]],
    fit: Any,
    data: Any,
    fitted_dir: str | Path | None,
    options: dict[str, Any],
) -> Result:
    """``compute()``, read from or written to the store folder of ``function``'s result for
    ``fit``; ``inputs()`` names what else the result depends on beyond the fit's draws, the
    data, the ``options`` and the code."""
    key = _key(function, fit, data, options, inputs)
    if key is None:
        return compute()
    name = function.__name__ if not options else f"{function.__name__}.{key_digest(options)[:8]}"
    stem = f"{STORE_PREFIX}{Path(fit.path).name}-{name}-"
    folder = default_fitted_dir(fitted_dir) / f"{stem}{key_digest(key)}"
    if folder.is_dir():
        try:
            return _read(folder, key)
        except BundleError as error:
            warnings.warn(
                f"ignoring damaged stored estimand {folder.name} ({error}); computing it again",
                BundleWarning,
                stacklevel=3,
            )
    result = compute()
    if type(result).__name__ not in RESULT_TYPES:
        return result
    with contextlib.suppress(OSError):
        _write(folder, key, result)
        for stale in folder.parent.glob(f"{stem}*"):
            if stale != folder and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
    return result


def _key(
    function: Callable[..., Any],
    fit: Any,
    data: Any,
    options: dict[str, Any],
    inputs: Callable[[], dict[str, Any]],
) -> dict[str, Any] | None:
    """Every input of the result, as plain data; ``None`` when one cannot be named so."""
    from grassroots.inference.fit_result import resolve_data

    path = getattr(fit, "path", None)
    if path is None:
        return None
    try:
        files = manifest_files(path)
        json.dumps(options, allow_nan=False)
    except (BundleError, ValueError, TypeError):
        return None
    # Not the whole manifest: the pointwise LOO and prior weights stored later are listed too.
    draws = {
        name: digest
        for name, digest in files.items()
        if name.startswith("trace.zarr/") or name == "fit.json"
    }
    if not draws:
        return None
    _, data_hash = resolve_data(data)
    return {
        "format": STORE_FORMAT,
        "estimand": f"{function.__module__}.{function.__qualname__}",
        "fit_draws": hashlib.sha256(json.dumps(draws, sort_keys=True).encode()).hexdigest(),
        "data_hash": data_hash,
        **inputs(),
        "options": options,
        "code": _package_source_hash(),
        "versions": package_versions(),
    }


#: The code an estimand can run: its own layer and those below it (ARCHITECTURE.md; enforced by
#: tests/test_architecture.py), the package's private top-level modules included.
_LAYERS_BELOW = ("data", "models", "inference", "estimands")


@functools.cache
def _package_source_hash() -> str:
    """:func:`source_hash` of the installed package."""
    return source_hash(Path(__file__).resolve().parents[1])


def source_hash(package: Path) -> str:
    """SHA-256 over the sources of ``package`` that an estimand can run: an edited estimand,
    model or reader must not answer with what the code computed before, while an edited table
    or command (reporting, pipeline, cli) leaves stored results valid."""
    sources = [
        *package.glob("_*.py"),  # __init__ and the private helpers
        *(p for layer in _LAYERS_BELOW for p in (package / layer).rglob("*.py")),
    ]
    digest = hashlib.sha256()
    for source in sorted(sources):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()


def _write(folder: Path, key: dict[str, Any], result: Any) -> None:
    fields: dict[str, Any] = {}
    with atomic_directory(folder) as tmp:
        emptied(tmp)
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            if isinstance(value, pd.DataFrame):
                fields[field.name] = {"kind": "table", "nulls": _object_nulls(value)}
                value.to_parquet(tmp / f"{field.name}.parquet")
            elif isinstance(value, xr.DataArray):
                fields[field.name] = {"kind": "array", "name": value.name}
                _write_array(value, tmp / f"{field.name}-0.zarr")
            elif isinstance(value, dict) and all(
                isinstance(v, xr.DataArray) for v in value.values()
            ):
                fields[field.name] = {
                    "kind": "arrays",
                    "keys": list(value),
                    "names": [v.name for v in value.values()],
                }
                for i, array in enumerate(value.values()):
                    _write_array(array, tmp / f"{field.name}-{i}.zarr")
            elif isinstance(value, tuple):
                fields[field.name] = {"kind": "tuple", "value": list(value)}
            else:
                fields[field.name] = {"kind": "value", "value": value}
        stored = {"key": key, "type": type(result).__name__, "fields": fields}
        (tmp / RESULT_FILE).write_text(
            json.dumps(stored, sort_keys=True, allow_nan=False), encoding="utf-8"
        )
        write_manifest(tmp)


def _write_array(array: xr.DataArray, path: Path) -> None:
    array.to_dataset(name="values").to_zarr(path, mode="w", consolidated=False)


def _object_nulls(table: pd.DataFrame) -> dict[str, str]:
    """Per text column with missing values, which missing value it holds (``nan`` or ``none``):
    parquet keeps only "null", and a table's cells must read back as they were."""
    nulls = {}
    for column in table.columns:
        if table[column].dtype != object:
            continue
        kinds = {
            "nan" if isinstance(cell, float) and math.isnan(cell) else "none"
            for cell in table[column]
            if cell is None or (isinstance(cell, float) and math.isnan(cell))
        }
        if len(kinds) > 1:
            raise ValueError(f"column {column!r} mixes None and NaN; not stored")
        if kinds:
            nulls[str(column)] = kinds.pop()
    return nulls


def _read(folder: Path, key: dict[str, Any]) -> Any:
    """The stored result of ``folder`` if its checksums hold and it was stored under ``key``."""
    stored = read_keyed(folder, RESULT_FILE, key)
    try:
        cls = RESULT_TYPES[stored["type"]]
        values = {
            name: _read_field(folder, name, field) for name, field in stored["fields"].items()
        }
        return cls(**values)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{folder / RESULT_FILE}: {error}") from error


def _read_field(folder: Path, name: str, field: dict[str, Any]) -> Any:
    kind = field["kind"]
    if kind == "table":
        table = pd.read_parquet(folder / f"{name}.parquet")
        for column, null in field["nulls"].items():
            if null == "nan":
                table[column] = table[column].where(table[column].notna(), math.nan)
        return table
    if kind == "array":
        return _read_array(folder / f"{name}-0.zarr", field["name"])
    if kind == "arrays":
        return {
            key: _read_array(folder / f"{name}-{i}.zarr", array_name)
            for i, (key, array_name) in enumerate(zip(field["keys"], field["names"], strict=True))
        }
    if kind == "tuple":
        return tuple(field["value"])
    if kind == "value":
        return field["value"]
    raise ValueError(f"field {name!r} of unknown kind {kind!r}")


def _read_array(path: Path, name: Any) -> xr.DataArray:
    # chunks=None: numpy, not dask (whose compute() imports dask.distributed, ~0.5 s).
    with xr.open_zarr(path, consolidated=False, chunks=None) as stored:
        return stored["values"].load().rename(name)
