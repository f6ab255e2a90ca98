"""notebooks/deepdream.ipynb runs top to bottom in a fresh kernel of this very Python, with tiny
sizes, and is committed without outputs."""
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import deepdream

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "deepdream.ipynb"
SOURCE_TREE = Path(deepdream.__file__).resolve().parents[1]

# coffee.png at 120 px: octave -2 is 47x71, enough for every layer the notebook uses (43 px)
TINY = "MAX_DIM = 120\nSTEPS = 2\nOCTAVE_STEPS = 1\nSEED = 0\n"

CHECK_KERNEL = "import sys, deepdream\nprint(sys.executable)\nprint(deepdream.__file__)"


def read() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def test_notebook_is_committed_clean_with_a_parameters_cell():
    nb = read()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0]
    assert "MAX_DIM = 500" in tagged[0].source and "STEPS = 100" in tagged[0].source
    assert nb.metadata.kernelspec.name == "python3"


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nb = read()
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = TINY
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_KERNEL))
    if (SOURCE_TREE / "setup.py").exists():   # an in-place build: let the kernel import it too
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
            filter(None, [str(SOURCE_TREE), os.environ.get("PYTHONPATH")])))
    # kernel "python3" with argv[0] "python": jupyter_client starts it with sys.executable
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()   # raises CellExecutionError, naming the cell, if any cell fails

    executable, package = nb.cells[-1].outputs[0]["text"].split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve() == Path(deepdream.__file__).resolve()

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 7, "deepdream.show should display each picture inline"
    printed = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert f"Step {2}, loss" in printed                      # run_deep_dream_simple's report
    assert (tmp_path / "dream.png").is_file()
    assert deepdream.load_image(tmp_path / "dream.png").shape == (80, 120, 3)
