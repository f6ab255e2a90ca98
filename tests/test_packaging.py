"""The install: the extension, its BLAS and the weights travel with the package."""
import re
import subprocess
import sys
from pathlib import Path

import deepdream
from deepdream import weights

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(deepdream.__file__).resolve().parent


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    block = readme.split("Run the whole test suite", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", block, re.S).group(1).strip()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == command


def test_weights_ship_inside_the_installed_package():
    if (PACKAGE.parent / "setup.py").exists():
        return  # imported from a source tree (in-place build): nothing installed to check
    assert weights.shipped_path() == PACKAGE / "data" / weights.FILE_NAME
    assert len(weights.load()) == 92


def test_the_extension_finds_openblas_in_a_fresh_interpreter():
    out = subprocess.run([sys.executable, "-c", "import deepdream, sys; "
                          "print(deepdream._deepdream.blas_config())"],
                         capture_output=True, text=True, check=True, cwd="/").stdout
    assert "OpenBLAS" in out
