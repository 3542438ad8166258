"""``verified.json``: a bundle's files are hashed once, then checked by stat signature (like
git's index), without letting a changed file through."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from grassroots import _io
from grassroots.inference import bundle
from grassroots.inference.bundle import (
    MANIFEST_FILE,
    VERIFIED_FILE,
    BundleError,
    store_loo,
    verify_bundle,
    write_bundle,
    write_manifest,
)


def _trace() -> xr.DataTree:
    rng = np.random.default_rng(1)
    posterior = xr.Dataset(
        {
            "beta": (("chain", "draw", "k"), rng.normal(size=(2, 50, 3))),
            "sigma": (("chain", "draw"), rng.gamma(2.0, size=(2, 50))),
        },
        coords={"chain": [0, 1], "draw": np.arange(50), "k": ["a", "b", "c"]},
    )
    return xr.DataTree.from_dict({"posterior": posterior})


def _settle(folder: Path) -> None:
    """Wait until the file system's clock has passed the times of every file in ``folder``: a
    bundle checked right after it is written holds files of the current tick, which are (rightly)
    not recorded."""
    newest = max(
        max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in folder.rglob("*") if p.is_file()
    )
    while min(_io.filesystem_clock(folder)[:2]) <= newest:
        time.sleep(0.005)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    folder = write_bundle(tmp_path / "b", _trace(), {"format": bundle.BUNDLE_FORMAT})
    _settle(folder)
    return folder


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files :func:`verify_bundle` hashes (by name within the bundle)."""
    names: list[str] = []
    sha256 = bundle.file_sha256

    def counting(path: Path) -> str:
        names.append(str(path))
        return sha256(path)

    monkeypatch.setattr(bundle, "file_sha256", counting)
    return names


def _chunk(folder: Path) -> Path:
    return next(
        p for p in sorted((folder / "trace.zarr" / "posterior").rglob("c/*")) if p.is_file()
    )


def _recorded(folder: Path) -> dict[str, list[int]]:
    return json.loads((folder / VERIFIED_FILE).read_text(encoding="utf-8"))["files"]


def test_a_second_check_of_an_unchanged_bundle_hashes_nothing(saved, hashed) -> None:
    first = verify_bundle(saved)
    assert len(hashed) == len(first) > 3, "the first check hashes every file"
    assert sorted(_recorded(saved)) == sorted(first)
    manifest = json.loads((saved / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert VERIFIED_FILE not in manifest["files"]
    hashed.clear()
    again = verify_bundle(saved)
    assert hashed == [] and again == first
    # Moved (a rename keeps every inode): still recorded.
    moved = saved.rename(saved.parent / "moved")
    assert verify_bundle(moved) == first and hashed == []


def test_the_record_is_never_part_of_the_bundle(saved) -> None:
    files = verify_bundle(saved)
    assert (saved / VERIFIED_FILE).is_file()
    assert write_manifest(saved) == files, "a manifest written again does not list the record"
    verify_bundle(saved)  # and the record is no stray file
    write_bundle(saved, _trace(), {"format": bundle.BUNDLE_FORMAT})
    assert not (saved / VERIFIED_FILE).exists(), "a bundle written over starts without a record"


@pytest.mark.parametrize("restore_mtime", [False, True], ids=["changed", "mtime-restored"])
def test_a_chunk_changed_in_place_after_a_check_is_refused(saved, restore_mtime) -> None:
    verify_bundle(saved)
    chunk = _chunk(saved)
    name = chunk.relative_to(saved).as_posix()
    assert name in _recorded(saved), "the chunk was recorded as intact"
    before = chunk.stat()
    with open(chunk, "r+b") as stream:  # same size, one byte flipped
        stream.seek(before.st_size // 2)
        byte = stream.read(1)
        stream.seek(before.st_size // 2)
        stream.write(bytes([byte[0] ^ 0xFF]))
    if restore_mtime:
        os.utime(chunk, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert chunk.stat().st_mtime_ns == before.st_mtime_ns
    assert chunk.stat().st_size == before.st_size
    with pytest.raises(BundleError, match=rf"{name} fails its checksum"):
        verify_bundle(saved)


def test_a_copied_bundle_is_hashed_again(saved, hashed) -> None:
    files = verify_bundle(saved)
    copy = shutil.copytree(saved, saved.parent / "copy")  # copy2 keeps mtimes, not inodes
    hashed.clear()
    assert verify_bundle(copy) == files and len(hashed) == len(files)


def test_a_record_made_against_another_manifest_is_ignored(saved, hashed) -> None:
    files = verify_bundle(saved)
    # Same files, other bytes: the manifest rewritten by hand.
    manifest = saved / MANIFEST_FILE
    manifest.write_text(json.dumps(json.loads(manifest.read_text()), indent=4), encoding="utf-8")
    hashed.clear()
    assert verify_bundle(saved) == files and len(hashed) == len(files)
    # store_loo rewrites the manifest too: every file is hashed once more, loo.json with them.
    store_loo(saved, {"y": None})
    _settle(saved)
    listed = {**files, "loo.json": bundle.file_sha256(saved / "loo.json")}
    hashed.clear()
    assert verify_bundle(saved) == listed
    assert len(hashed) == len(files) + 1
    hashed.clear()
    verify_bundle(saved)
    assert hashed == []


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"format": 99}',
        b'{"format": 1, "manifest_sha256": "MANIFEST", "files": []}',
        b'{"format": 1, "manifest_sha256": "MANIFEST", "files": {"fit.json": [1, 2]}}',
        b'{"format": 1, "manifest_sha256": "MANIFEST", "files": {"fit.json": "x"}}',
        b'{"format": 1, "manifest_sha256": "MANIFEST", "files": {"fit.json": [1, 2, 3, 4, 5.5]}}',
        b"[" * 100_000,
    ],
    ids=["empty", "not-json", "not-utf8", "a-list", "other-format", "files-a-list",
         "short-signature", "signature-a-string", "float-in-signature", "deeply-nested"],
)  # fmt: skip
def test_a_malformed_record_is_ignored(saved, hashed, text) -> None:
    files = verify_bundle(saved)
    digest = bundle._load_manifest(saved)[1]
    (saved / VERIFIED_FILE).write_bytes(text.replace(b"MANIFEST", digest.encode()))
    hashed.clear()
    assert verify_bundle(saved) == files and len(hashed) == len(files)
    hashed.clear()
    verify_bundle(saved)
    assert hashed == [], "written anew"


def test_a_record_in_a_folder_instead_of_a_file_is_ignored(saved, hashed) -> None:
    (saved / VERIFIED_FILE).mkdir()
    files = verify_bundle(saved)
    assert len(hashed) == len(files)


def test_files_of_the_current_tick_are_not_recorded(saved, hashed, monkeypatch) -> None:
    """A file whose times are not older than the file system's clock could change again within
    the same tick without its signature changing: it is hashed again next time."""
    monkeypatch.setattr(bundle, "filesystem_clock", lambda folder: (0, 0, saved.stat().st_dev))
    files = verify_bundle(saved)
    assert not (saved / VERIFIED_FILE).exists()
    hashed.clear()
    verify_bundle(saved)
    assert len(hashed) == len(files)


def test_a_read_only_bundle_is_still_checked(saved, hashed, monkeypatch) -> None:
    if os.geteuid() == 0:  # root writes into a read-only folder: make every write fail instead

        def refused(*args, **kwargs):
            raise PermissionError("read-only")

        monkeypatch.setattr(bundle, "write_text_atomic", refused)
        monkeypatch.setattr(bundle, "filesystem_clock", refused)
    folder_mode = saved.stat().st_mode
    saved.chmod(0o555)
    try:
        files = verify_bundle(saved)
        assert len(hashed) == len(files)
        hashed.clear()
        assert verify_bundle(saved) == files and len(hashed) == len(files)
        assert not (saved / VERIFIED_FILE).exists()
    finally:
        saved.chmod(folder_mode)


def test_a_record_that_cannot_be_written_is_ignored(saved, hashed, monkeypatch) -> None:
    """The clock could be read but the record not written (a full disk, say)."""

    def refused(*args, **kwargs):
        raise PermissionError("no space")

    monkeypatch.setattr(bundle, "write_text_atomic", refused)
    files = verify_bundle(saved)
    hashed.clear()
    assert verify_bundle(saved) == files and len(hashed) == len(files)
    assert not (saved / VERIFIED_FILE).exists()
