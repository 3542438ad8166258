"""Fixtures of the robustness tests: one clean run of each command, shared by the determinism
and interruption tests (each run is a fresh ``python -m grassroots`` process)."""

from __future__ import annotations

import pytest
from _interrupt import COMMANDS, run_clean, snapshot


@pytest.fixture(scope="session")
def clean_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """Each command of :data:`_interrupt.COMMANDS` run once into a fresh folder: its files
    (relative path -> bytes)."""
    outputs = {}
    for command in COMMANDS:
        out = tmp_path_factory.mktemp(f"clean-{command}") / "out"
        run_clean(command, out)
        outputs[command] = snapshot(out)
        assert outputs[command], f"grassroots {command} wrote nothing"
    return outputs
