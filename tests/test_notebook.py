"""``analysis/inspect.ipynb`` runs top to bottom on small fits and shows what it promises."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "analysis" / "inspect.ipynb"


def test_inspect_notebook_executes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRASSROOTS_NOTEBOOK_DRAWS", "60")
    monkeypatch.setenv("GRASSROOTS_NOTEBOOK_FITTED", str(tmp_path / "fitted"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {
        index: "".join(
            output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for output in cell.get("outputs", [])
        )
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
    }
    assert "'county': 48" in outputs[1]
    assert "survival_beta[authority]" in outputs[2]
    assert "'converged': False" in outputs[3]  # 2 x 60 draws: the diagnostics must say so
    assert "resources_plus_1sd" in outputs[4] and "S(24)" in outputs[4]
    assert any(out.get("data", {}).get("image/png") for out in notebook.cells[5].outputs)
    assert os.listdir(tmp_path / "fitted")
