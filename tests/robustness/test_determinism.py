"""Determinism of the quick pipeline: the same command and seed give the same bytes.

``grassroots describe --out A`` and ``--out B`` (validation and Table 1, the quick part of the
pipeline; ``reproduce``, which now also fits every model, is checked with a fake sampler in
``tests/test_pipeline.py``), and ``grassroots simulate --seed N`` twice, each in a fresh
``python -m grassroots`` process (so nothing is shared through memory, and hash randomisation
differs between the runs), must write the same set of files with identical bytes: every table
(CSV, Markdown, LaTeX, HTML, Word) and JSON file, whatever the commands come to write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _interrupt import COMMANDS, run_clean, snapshot


def _differences(first: dict[str, bytes], second: dict[str, bytes]) -> list[str]:
    names = sorted(set(first) | set(second))
    return [
        f"{name}: {'missing in one run' if name not in first or name not in second else 'differs'}"
        for name in names
        if first.get(name) != second.get(name)
    ]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_two_runs_write_identical_bytes(
    command: str,
    clean_outputs: dict[str, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another hash seed in the second process: set or dict order must not leak into a file.
    monkeypatch.setenv("PYTHONHASHSEED", "12345")
    out = tmp_path / "B"
    run_clean(command, out)
    first, second = clean_outputs[command], snapshot(out)
    assert _differences(first, second) == []
    # The comparison covers every table: CSV files are there, and none is empty.
    assert any(name.endswith(".csv") for name in first), sorted(first)
    assert all(data for data in first.values()), "an empty output file"


def test_the_comparison_sees_a_one_byte_change(clean_outputs: dict[str, dict[str, bytes]]) -> None:
    """The check above would fail if a single byte of a single CSV changed."""
    first = clean_outputs["simulate"]
    name = next(n for n in sorted(first) if n.endswith(".csv"))
    changed = dict(first)
    data = bytearray(first[name])
    data[len(data) // 2] ^= 1
    changed[name] = bytes(data)
    assert _differences(first, changed) == [f"{name}: differs"]
    assert _differences(first, {k: v for k, v in first.items() if k != name}) == [
        f"{name}: missing in one run"
    ]


def test_another_seed_gives_other_bytes(
    clean_outputs: dict[str, dict[str, bytes]], tmp_path: Path
) -> None:
    """The seed is used: equal bytes above mean determinism, not a constant output."""
    argv = COMMANDS["simulate"]
    seed_at = argv.index("--seed") + 1
    other_seed = str(int(argv[seed_at]) + 1)
    out = tmp_path / "other"
    args = [part.replace("{out}", str(out)) for part in argv]
    args[seed_at] = other_seed
    subprocess.run([sys.executable, "-m", "grassroots", *args], check=True, capture_output=True)
    other = snapshot(out)
    assert sorted(other) == sorted(clean_outputs["simulate"])
    assert other["projects.csv"] != clean_outputs["simulate"]["projects.csv"]
