"""The notebooks in notebooks/: committed without outputs, and they run end to end.

Each notebook is executed with nbclient in a python3 kernel, with notebooks/ as
its working directory. The figures go to a temporary folder (the notebooks read
it from SYMWS_FIGURES, default "."), so the committed PNGs are left alone; the
figures written must be exactly the committed ones, notebooks/<stem>_*.png.
Executing them takes minutes, so that test is marked slow (CI runs it; deselect
locally with -m "not slow").
"""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 300


def test_there_are_notebooks():
    assert len(PATHS) >= 4, f"expected the notebooks in {NOTEBOOKS}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), (
        f"{path.name} must start with a markdown title"
    )
    stale = [
        index for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not stale, f"{path.name}: cells {stale} carry outputs or execution counts"


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_runs_and_writes_its_figures(path, tmp_path, monkeypatch):
    expected = sorted(p.name for p in NOTEBOOKS.glob(f"{path.stem}_*.png"))
    assert expected, f"no committed figures {path.stem}_*.png next to {path.name}"
    figures = tmp_path / "figures"
    monkeypatch.setenv("SYMWS_FIGURES", str(figures))

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()

    written = sorted(p.name for p in figures.glob("*.png"))
    assert written == expected, (
        f"{path.name} wrote {written}; committed figures are {expected}"
    )
    for name in written:
        assert (figures / name).stat().st_size > 10_000, f"{name} is nearly empty"
