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
        verified.json the stat signature of every file the last check found intact (not in the
                      manifest; a cache, safe to delete)

Every load checks every file against ``manifest.json`` (:func:`verify_bundle`): a changed,
missing or unlisted file refuses the bundle, so a damaged bundle is never read as a posterior.
The stored diagnostics live in ``fit.json`` and are covered by its checksum rather than
recomputed: recomputing R-hat and ESS would read every draw of a national fit (GBs), while the
checksum ties them to the very draws they were computed from. ``loo.json``, written after the
bundle, is added to the manifest when written; one the manifest does not list (a run stopped
between the two writes) is not read, and its estimates are computed again.

Hashing is what costs (the bundles of the bundled study hold ~2.7 GB: seconds of CPU on every
run on saved fits), so, like git's index, a check records in ``verified.json`` the stat
signature (size, mtime, ctime, inode, device) of each file it hashed and found equal to the
manifest, with the SHA-256 of that manifest; the next check hashes only the files whose
signature differs, and repeated checks of unchanged files cost a ``stat`` each. The check is
not weakened: writing a file, even with its mtime restored by :func:`os.utime` after, sets its
ctime to the current time, which no user tool can set back, so a file changed in place is hashed
again; a file replaced by a copy has another inode; a rewritten manifest (:func:`store_loo`) has
another SHA-256, and the whole record is ignored. A file is recorded only when it is on the
bundle folder's file system and its mtime and ctime are older than those of a file created there
just before its signature is taken (git's "racily clean" files): a change within the same tick
of the file system's clock could otherwise keep the signature. A missing, unreadable or
malformed ``verified.json`` is ignored, and a bundle folder it cannot be written to (read-only)
is hashed whole on every check.

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

import contextlib
import functools
import hashlib
import json
import os
import platform
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from grassroots._blas_kernel import cpu_info, loaded_kernels
from grassroots._io import atomic_directory, filesystem_clock, write_text_atomic
from grassroots.models.priors import PRIOR_RULES_VERSION
from grassroots.models.spec import ModelSpec

#: 2: with ``manifest.json`` (format 1 bundles had no checksums; they are refitted).
BUNDLE_FORMAT = 2
#: The bundle's list of files and their SHA-256 (:func:`verify_bundle`).
MANIFEST_FILE = "manifest.json"
#: The record of the files the last :func:`verify_bundle` found intact, by stat signature: not a
#: part of the bundle (never in the manifest), a cache of checks already made.
VERIFIED_FILE = "verified.json"
#: 1: ``{"format", "manifest_sha256", "files": {name: [size, mtime_ns, ctime_ns, ino, dev]}}``.
VERIFIED_FORMAT = 1
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
    """Every file of a bundle folder but the manifest and ``verified.json``, as sorted POSIX
    paths within it."""
    # os.walk lists what folder.rglob("*") does (symbolic links to folders are listed as
    # folders, not followed), in a tenth of the time: a bundle holds hundreds of chunk files, and
    # the stray check walks it on every load.
    top = os.fspath(folder)
    files = []
    for parent, _, names in os.walk(top):
        within = parent[len(top) :].strip(os.sep).replace(os.sep, "/")  # under ``top``
        prefix = f"{within}/" if within else ""
        files.extend(prefix + name for name in names if name != MANIFEST_FILE)
    return sorted(name for name in files if name != VERIFIED_FILE)


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
    return _load_manifest(path)[0]


def _load_manifest(path: Path) -> tuple[dict[str, str], str]:
    """The manifest's relative path -> SHA-256, and the SHA-256 of the manifest itself."""
    manifest = path / MANIFEST_FILE
    if not manifest.is_file():
        raise BundleError(
            f"{path}: no {MANIFEST_FILE}, so its files cannot be checked (a bundle of an older "
            f"grassroots, or one not written by grassroots); refit the model (fit(..., "
            f"reuse=False)) or delete the folder"
        )
    try:
        raw = manifest.read_bytes()
        document = json.loads(raw.decode("utf-8"))
        files = document["files"]
        if document.get("algorithm") != "sha256" or not isinstance(files, dict):
            raise ValueError("not a sha256 manifest")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise BundleError(
            f"{manifest}: unreadable ({type(error).__name__}: {error}); the bundle cannot be "
            f"checked: delete {path} and refit the model"
        ) from error
    digest = hashlib.sha256(raw).hexdigest()
    return {str(name): str(value) for name, value in files.items()}, digest


def verify_bundle(path: str | Path) -> dict[str, str]:
    """Check every file of a bundle against its manifest.

    A file whose stat signature is the one ``verified.json`` recorded when an earlier check
    hashed it (against this very manifest) is not hashed again; every other file is, and the
    record is then rewritten (see the module's notes; a folder it cannot be written to is
    simply hashed again next time).

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
    files, manifest_digest = _load_manifest(path)
    remedy = f"delete {path} and refit the model (fit(..., reuse=False) writes it anew)"
    signatures: dict[str, _Signature | None] = {}
    for name in files:
        signature = _signature(path / name)
        if signature is None:
            raise BundleError(f"{path}: {name} is missing (a lost file or chunk); {remedy}")
        signatures[name] = signature
    recorded = _read_verified(path, manifest_digest)
    unchecked = [name for name in files if recorded.get(name) != signatures[name]]
    if unchecked:
        _hash_and_record(path, files, unchecked, signatures, recorded, manifest_digest, remedy)
    stray = [name for name in _bundle_files(path) if name.startswith("trace.zarr/")]
    stray = [name for name in stray if name not in files]
    if stray:
        raise BundleError(
            f"{path}: {stray[0]} is not listed in {MANIFEST_FILE} ({len(stray)} such file(s) in "
            f"trace.zarr/, which the fit did not write); {remedy}"
        )
    return files


#: A file's stat signature: size, st_mtime_ns, st_ctime_ns, st_ino, st_dev.
_Signature = tuple[int, int, int, int, int]


def _signature(file: Path) -> _Signature | None:
    """The stat signature of ``file``, or ``None`` when it is not a regular file (as
    :meth:`Path.is_file`: a missing file, or one that cannot be stat'ed, is ``None``)."""
    try:
        info = os.stat(file)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def _hash_and_record(
    path: Path,
    files: dict[str, str],
    unchecked: list[str],
    signatures: dict[str, _Signature | None],
    recorded: dict[str, _Signature],
    manifest_digest: str,
    remedy: str,
) -> None:
    """Hash the files ``unchecked`` (a BundleError on the first that differs from ``files``),
    then record in ``verified.json`` the signatures of all files now known intact."""
    # The file system's clock now, before the signatures to record are taken: a file changed
    # later gets a ctime at least this, so one whose times are older cannot change unseen.
    try:
        clock = filesystem_clock(path)
    except OSError:  # a read-only folder: nothing can be recorded
        clock = None
    if clock is not None:
        signatures = {**signatures, **{name: _signature(path / name) for name in unchecked}}
    # hashlib releases the GIL while it hashes, so threads hash several chunk files at once
    # (a bundle of the bundled study holds 100-400 MB; SHA-256 runs at ~0.5 GB/s a core).
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        digests = pool.map(file_sha256, [path / name for name in unchecked])
        for name, actual in zip(unchecked, digests, strict=True):
            if actual != files[name]:
                raise BundleError(
                    f"{path}: {name} fails its checksum (SHA-256 differs from {MANIFEST_FILE}: "
                    f"the file was changed or damaged after the fit); {remedy}"
                )
    if clock is None:
        return
    mtime, ctime, device = clock
    hashed = set(unchecked)
    intact = {name: recorded[name] for name in files if name not in hashed}
    for name in unchecked:
        signature = signatures[name]
        if (
            signature is not None
            and signature[1] < mtime
            and signature[2] < ctime
            and signature[4] == device
        ):
            intact[name] = signature
    if intact == recorded:
        return
    document = {
        "format": VERIFIED_FORMAT,
        "manifest_sha256": manifest_digest,
        "files": {name: list(signature) for name, signature in sorted(intact.items())},
    }
    # A cache: a folder it cannot be written to is hashed again next time.
    with contextlib.suppress(OSError):
        write_text_atomic(path / VERIFIED_FILE, json.dumps(document, separators=(",", ":")) + "\n")


def _read_verified(path: Path, manifest_digest: str) -> dict[str, _Signature]:
    """The signatures ``verified.json`` records against the manifest of SHA-256
    ``manifest_digest``; empty when it is missing, unreadable, malformed, of another format or
    recorded against another manifest."""
    try:
        document = json.loads((path / VERIFIED_FILE).read_bytes().decode("utf-8"))
        if (
            not isinstance(document, dict)
            or document.get("format") != VERIFIED_FORMAT
            or document.get("manifest_sha256") != manifest_digest
            or not isinstance(document.get("files"), dict)
        ):
            return {}
        recorded = {}
        for name, signature in document["files"].items():
            if not (
                isinstance(signature, list)
                and len(signature) == 5
                and all(type(value) is int for value in signature)
            ):
                return {}
            recorded[name] = tuple(signature)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return recorded


def bundle_name(spec: ModelSpec, data_hash: str, seed: int) -> str:
    # The prior rules are code, not spec: a bundle fitted under other rules must not be reused.
    key = hashlib.sha256(
        f"{spec.hash()}|{data_hash}|{seed}|priors{PRIOR_RULES_VERSION}".encode()
    ).hexdigest()[:12]
    method = f"-{spec.sampler.method}" if spec.sampler.approximate else ""
    return f"{spec.name}{method}-seed{seed}-{key}"


def package_versions() -> dict[str, str]:
    """Python's and the fitting packages' versions, and the ``machine`` (:func:`machine`), a new
    dict each call."""
    return dict(_installed_versions())


@functools.cache
def machine() -> str:
    """The processor that computes here and the OpenBLAS kernels loaded: architecture, model,
    widest vector unit, kernels.

    Recorded with every fit because a seed's draws repeat byte for byte only where the same
    OpenBLAS kernels compute (:mod:`grassroots._blas_kernel`, which pins one on x86-64).
    """
    cpu = cpu_info()
    name = cpu.get("model name") or platform.processor() or "unknown processor"
    if "cpu family" in cpu and "model" in cpu:
        name += f" (family {cpu['cpu family']}, model {cpu['model']})"
    flags = set(cpu.get("flags", "").split())
    vector = next((v for v in ("avx512f", "avx2", "avx", "sse4_2") if v in flags), None)
    parts = (platform.machine(), name, vector, f"OpenBLAS {loaded_kernels()}")
    return ", ".join(part for part in parts if part)


# Read once a process: a package upgraded in place only takes effect in a new process anyway
# (its modules stay imported), and the metadata lookups cost ~40 ms, once per saved fit.
@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version(), "machine": machine()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return tuple(versions.items())


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


def key_digest(key: dict[str, Any]) -> str:
    """The 12 hex digits naming a stored result's folder after the parts of its ``key``."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def read_keyed(folder: Path, name: str, key: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in the file ``name`` of the checksummed ``folder`` (a stored estimand,
    prior predictive draws), if the folder passes :func:`verify_bundle`, lists ``name`` and
    was stored under ``key``; a BundleError saying which of these failed otherwise."""
    if name not in verify_bundle(folder):
        raise BundleError(f"{folder}: {name} is not listed in its manifest")
    try:
        stored = json.loads((folder / name).read_text(encoding="utf-8"))
        if not isinstance(stored, dict) or stored.get("key") != key:
            raise ValueError("stored under another key")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BundleError(f"{folder / name}: {error}") from error
    return stored


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
