"""The fit bundle on disk: writing, checking and reading it.

A bundle is a folder under the fitted folder (``models/fitted/`` by default, ignored by git)::

    models/fitted/<spec name>-seed<seed>-<key>/
        fit.json      spec, spec hash, data hash, seed, scaling, group labelling, diagnostics,
                      timings, counts and package versions
        trace.zarr/   the posterior and sampler statistics (an xarray DataTree)
        loo.json      PSIS-LOO estimates per outcome, added the first time they are computed
        loo_pointwise.json  the pointwise PSIS-LOO values per outcome (what model comparison
                      needs), added the first time they are computed
        manifest.json the SHA-256 of every other file, written last

Every load checks every file against ``manifest.json`` (:func:`verify_bundle`): a changed,
missing or unlisted file refuses the bundle, so a damaged bundle is never read as a posterior.
The stored diagnostics live in ``fit.json`` and are covered by its checksum rather than
recomputed: recomputing R-hat and ESS would read every draw of a national fit (GBs), while the
checksum ties them to the very draws they were computed from. ``loo.json``, written after the
bundle, is added to the manifest when written; one the manifest does not list (a run stopped
between the two writes) is not read, and its estimates are computed again.

``<key>`` hashes the spec (sampler settings included), the data and the seed, so
:func:`grassroots.inference.fitting.fit` finds and reuses a bundle when nothing changed. An
approximate fit (``method`` ``advi`` or ``fullrank_advi``) is saved as
``<spec name>-<method>-seed<seed>-<key>``: the method is in the key too, so it never collides
with the NUTS bundle of the same spec, data and seed. Bundles are written atomically: a reader
never sees half a bundle.

This module knows files, not models: :class:`~grassroots.inference.fit_result.Fit` turns what it
reads into a fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from grassroots._io import atomic_directory, write_text_atomic
from grassroots.models.priors import PRIOR_RULES_VERSION
from grassroots.models.spec import ModelSpec

#: 2: with ``manifest.json`` (format 1 bundles had no checksums; they are refitted).
BUNDLE_FORMAT = 2
#: The bundle's list of files and their SHA-256 (:func:`verify_bundle`).
MANIFEST_FILE = "manifest.json"
#: Bytes of a stored variable's zarr chunk, at most (unless one draw of one chain is larger):
#: chunks split ``chain`` and ``draw`` so that a reader of a few draws (the estimands, chunk by
#: chunk) decompresses little more than it uses.
CHUNK_BYTES = 2 * 2**20
#: :meth:`Fit.load` reads a posterior of at most this many bytes into memory, a larger one
#: lazily (a national fit's township effects alone are ~6 GB).
LAZY_BYTES = 2**30
#: The bundle's file of PSIS-LOO estimates per outcome (:meth:`Fit.loo_estimates`).
LOO_FILE = "loo.json"
#: The bundle's file of pointwise PSIS-LOO values per outcome (:meth:`Fit.loo`): the elpd and
#: Pareto k of every observation, which comparing models needs. Recomputing them reads the
#: draws x rows log-likelihood and smooths every row's weights in Python (~10 s a fit).
LOO_POINTWISE_FILE = "loo_pointwise.json"
_VERSIONED_PACKAGES = (
    "grassroots",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz-base",
    "arviz-stats",
    "numpy",
    "pandas",
    "xarray",
    "zarr",
)
#: The versions a reused bundle must share with the running session: those that make the draws
#: (the model graph, its compile, the samplers). Others (pandas, xarray, zarr, arviz) only read
#: or store them, and a change of theirs does not refit a model that can take hours.
DRAW_PACKAGES = ("python", "grassroots", "pymc", "pytensor", "nutpie", "numba", "numpy")


class BundleError(RuntimeError):
    """A fit bundle is missing, incomplete or of an unknown format."""


class BundleWarning(UserWarning):
    """A saved bundle was not reused (damaged, or recorded with other settings or versions)."""


class DataMismatchError(BundleError):
    """The data given with a bundle are not the data it was fitted to (their hashes differ)."""


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (memory stays small for a chunk of any size)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _bundle_files(folder: Path) -> list[str]:
    """Every file of a bundle folder but the manifest, as sorted POSIX paths within it."""
    return sorted(
        entry.relative_to(folder).as_posix()
        for entry in folder.rglob("*")
        if not entry.is_dir() and entry.name != MANIFEST_FILE
    )


def write_manifest(folder: str | Path) -> dict[str, str]:
    """Write ``manifest.json``: the SHA-256 of every file of the bundle ``folder`` (atomically).

    Returns
    -------
    dict
        Relative path -> SHA-256.
    """
    folder = Path(folder)
    files = {name: file_sha256(folder / name) for name in _bundle_files(folder)}
    _write_manifest(folder, files)
    return files


def _write_manifest(folder: Path, files: dict[str, str]) -> None:
    document = {"format": BUNDLE_FORMAT, "algorithm": "sha256", "files": files}
    write_text_atomic(folder / MANIFEST_FILE, json.dumps(document, indent=1, sort_keys=True) + "\n")


def _read_manifest(path: Path) -> dict[str, str]:
    manifest = path / MANIFEST_FILE
    if not manifest.is_file():
        raise BundleError(
            f"{path}: no {MANIFEST_FILE}, so its files cannot be checked (a bundle of an older "
            f"grassroots, or one not written by grassroots); refit the model (fit(..., "
            f"reuse=False)) or delete the folder"
        )
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
        files = document["files"]
        if document.get("algorithm") != "sha256" or not isinstance(files, dict):
            raise ValueError("not a sha256 manifest")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise BundleError(
            f"{manifest}: unreadable ({type(error).__name__}: {error}); the bundle cannot be "
            f"checked: delete {path} and refit the model"
        ) from error
    return {str(name): str(digest) for name, digest in files.items()}


def verify_bundle(path: str | Path) -> dict[str, str]:
    """Check every file of a bundle against its manifest.

    Returns
    -------
    dict
        The manifest's relative path -> SHA-256 (files it does not list outside ``trace.zarr/``
        are not part of the bundle and are never read).

    Raises
    ------
    BundleError
        When the manifest is missing or unreadable, a listed file is missing or its SHA-256
        differs, or ``trace.zarr/`` holds a file the manifest does not list (zarr would read
        a stray chunk file as draws). The message names the file and says what to do.
    """
    path = Path(path)
    files = _read_manifest(path)
    remedy = f"delete {path} and refit the model (fit(..., reuse=False) writes it anew)"
    for name in files:
        if not (path / name).is_file():
            raise BundleError(f"{path}: {name} is missing (a lost file or chunk); {remedy}")
    # hashlib releases the GIL while it hashes, so threads hash several chunk files at once
    # (a bundle of the bundled study holds 100-400 MB; SHA-256 runs at ~0.5 GB/s a core).
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        digests = pool.map(file_sha256, [path / name for name in files])
        for (name, digest), actual in zip(files.items(), digests, strict=True):
            if actual != digest:
                raise BundleError(
                    f"{path}: {name} fails its checksum (SHA-256 differs from {MANIFEST_FILE}: "
                    f"the file was changed or damaged after the fit); {remedy}"
                )
    stray = [name for name in _bundle_files(path) if name.startswith("trace.zarr/")]
    stray = [name for name in stray if name not in files]
    if stray:
        raise BundleError(
            f"{path}: {stray[0]} is not listed in {MANIFEST_FILE} ({len(stray)} such file(s) in "
            f"trace.zarr/, which the fit did not write); {remedy}"
        )
    return files


def bundle_name(spec: ModelSpec, data_hash: str, seed: int) -> str:
    # The prior rules are code, not spec: a bundle fitted under other rules must not be reused.
    key = hashlib.sha256(
        f"{spec.hash()}|{data_hash}|{seed}|priors{PRIOR_RULES_VERSION}".encode()
    ).hexdigest()[:12]
    method = f"-{spec.sampler.method}" if spec.sampler.approximate else ""
    return f"{spec.name}{method}-seed{seed}-{key}"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@dataclass(frozen=True)
class StoredBundle:
    """What a verified bundle holds: ``fit.json``, the trace, and ``loo.json`` when listed."""

    metadata: dict[str, Any]
    trace: xr.DataTree
    loo_estimates: dict[str, dict[str, float] | None] | None
    loo_pointwise: dict[str, dict[str, Any] | None] | None = None
    #: The draws were left on disk (``lazy``), read when used.
    lazy: bool = False


def emptied(folder: Path) -> Path:
    """``folder`` with everything in it deleted: a bundle is written whole, so nothing of an
    earlier one (its loo.json, stray files) may outlive it in :func:`atomic_directory`'s copy."""
    for entry in list(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return folder


def write_bundle(target: Path, trace: xr.DataTree, fit_metadata: dict[str, Any]) -> Path:
    """Write ``trace.zarr``, ``fit.json`` and the manifest to ``target``, atomically and whole."""
    with atomic_directory(target) as tmp:
        emptied(tmp)
        trace_path = tmp / "trace.zarr"
        storable = _to_storable(trace)
        storable.to_zarr(
            trace_path, mode="w", consolidated=False, encoding=_draw_chunking(storable)
        )
        (tmp / "fit.json").write_text(
            json.dumps(fit_metadata, indent=2, allow_nan=False, default=_json_default),
            encoding="utf-8",
        )
        write_manifest(tmp)
    return target


def read_bundle(
    path: Path, *, data_hash: str | None = None, lazy: bool | None = None
) -> StoredBundle:
    """Verify and read the bundle ``path``.

    Parameters
    ----------
    path : Path
        The bundle folder.
    data_hash : str, optional
        The hash of the data the caller means to use; refused when not the fitted data's.
    lazy : bool, optional
        Leave the draws on disk (``None``: when they exceed :data:`LAZY_BYTES`).

    Raises
    ------
    BundleError
        When the folder is not a complete bundle, or fails :func:`verify_bundle`.
    DataMismatchError
        When ``data_hash`` is not the fitted data's.
    """
    meta_path, trace_path = path / "fit.json", path / "trace.zarr"
    if not meta_path.is_file() or not trace_path.exists():
        raise BundleError(f"{path} is not a fit bundle (it needs fit.json and trace.zarr/)")
    files = verify_bundle(path)
    meta = read_metadata(path)
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: bundle format {meta.get('format')!r}; this grassroots reads format "
            f"{BUNDLE_FORMAT} (refit the model)"
        )
    if data_hash is not None and data_hash != meta["data_hash"]:
        raise DataMismatchError(
            f"{path} was fitted to other data (data hash {meta['data_hash'][:12]}…, the data "
            f"given hash to {data_hash[:12]}…); refit the model on these data"
        )
    stored = xr.open_datatree(trace_path, engine="zarr", consolidated=False)
    if lazy is None:
        lazy = sum(node.to_dataset().nbytes for node in stored.subtree) > LAZY_BYTES
    if lazy:
        trace = _from_stored(stored)
    else:
        with stored:
            trace = _from_stored(stored.load())
    loo, pointwise = (
        _read_json_object(path, name) if name in files else None
        for name in (LOO_FILE, LOO_POINTWISE_FILE)
    )
    return StoredBundle(
        metadata=meta, trace=trace, loo_estimates=loo, loo_pointwise=pointwise, lazy=lazy
    )


def store_loo(path: Path, estimates: dict[str, Any], *, file: str = LOO_FILE) -> None:
    """Write the JSON ``file`` (``loo.json``, ``loo_pointwise.json``, a prior reweighting's
    weights) into the bundle ``path``, then list it in the manifest (each write atomic; a file
    left unlisted by a stop between them is ignored, see :func:`verify_bundle`)."""
    files = _read_manifest(path)
    files.pop(file, None)
    _write_manifest(path, files)
    write_text_atomic(path / file, json.dumps(estimates, indent=2, sort_keys=True) + "\n")
    _write_manifest(path, {**files, file: file_sha256(path / file)})


def read_stored(path: Path, file: str) -> Any | None:
    """The JSON ``file`` written into the bundle ``path`` by :func:`store_loo`, or ``None`` when
    the manifest does not list it, or it fails its checksum or does not parse: such a file is
    never trusted, only computed again."""
    try:
        expected = _read_manifest(path).get(file)
        if expected is None or file_sha256(path / file) != expected:
            return None
        return json.loads((path / file).read_text(encoding="utf-8"))
    except (OSError, BundleError, UnicodeDecodeError, ValueError):
        return None


def read_metadata(path: Path) -> dict[str, Any]:
    """``fit.json`` of the bundle ``path``, or a BundleError saying why it cannot be read."""
    return _read_json_object(path, "fit.json")


def _read_json_object(path: Path, name: str) -> dict[str, Any]:
    """The JSON object in the file ``name`` of the bundle ``path``, or a BundleError naming it.

    A listed file that passed its checksum can still be unreadable when what wrote it (an
    editor, another program) also rewrote the manifest.
    """
    try:
        document = json.loads((path / name).read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"a JSON {type(document).__name__}, not an object")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BundleError(
            f"{path / name}: unreadable JSON ({error}); delete {path} and refit the model"
        ) from error
    return document


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in fit.json")


def _to_storable(trace: xr.DataTree) -> xr.DataTree:
    """Object-dtype coordinates become fixed-width unicode: zarr v3 stores those portably."""
    groups = {}
    for name, node in trace.children.items():
        dataset = node.to_dataset()
        for coord in list(dataset.coords):
            if dataset[coord].dtype == object:
                dataset = dataset.assign_coords({coord: dataset[coord].astype(str)})
        groups[name] = dataset
    return xr.DataTree.from_dict(groups)


def _draw_chunking(trace: xr.DataTree) -> dict[str, dict[str, dict[str, tuple[int, ...]]]]:
    """Zarr chunks of every ``chain, draw`` variable: one chain, at most ``CHUNK_BYTES``.

    Other dims are whole, so that reading a few draws reads their chunks only (zarr's default
    chunks span many draws, and a chunk is decompressed whole).
    """
    encoding: dict[str, dict[str, dict[str, tuple[int, ...]]]] = {}
    for name, node in trace.children.items():
        per_variable = {}
        for variable, array in node.to_dataset().data_vars.items():
            if "chain" not in array.dims or "draw" not in array.dims or array.ndim == 0:
                continue
            per_draw = array.dtype.itemsize * int(
                np.prod([n for d, n in array.sizes.items() if d not in ("chain", "draw")])
            )
            draws = int(np.clip(CHUNK_BYTES // max(1, per_draw), 1, max(1, array.sizes["draw"])))
            per_variable[variable] = {
                "chunks": tuple(
                    1 if dim == "chain" else draws if dim == "draw" else size
                    for dim, size in array.sizes.items()
                )
            }
        encoding[f"/{name}"] = per_variable
    return encoding


def _from_stored(trace: xr.DataTree) -> xr.DataTree:
    groups = {}
    for name, node in trace.children.items():
        dataset = node.to_dataset()
        for coord in list(dataset.coords):
            if dataset[coord].dtype.kind == "U":
                dataset = dataset.assign_coords({coord: dataset[coord].astype(object)})
        groups[name] = dataset
    return xr.DataTree.from_dict(groups)


def manifest_files(path: str | Path) -> dict[str, str]:
    """The manifest of the bundle ``path`` (relative path -> SHA-256), its files not checked:
    what identifies a bundle already verified, e.g. by loading it.

    Raises
    ------
    BundleError
        When the manifest is missing or unreadable.
    """
    return _read_manifest(Path(path))
