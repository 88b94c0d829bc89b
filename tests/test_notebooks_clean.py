"""The course notebooks are committed clean: valid nbformat v4, with no outputs and no execution counts.

Outputs (base64 images, animations, saved widget state) make notebooks megabytes large and their diffs
unreadable; learners run the notebooks themselves. Clear them before committing with
``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``.
"""
from __future__ import annotations

import nbformat
import pytest

from tests.helpers import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_valid_and_clean(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert notebook.nbformat == 4, f"{path.name} is nbformat v{notebook.nbformat}, expected v4"
    nbformat.validate(notebook)
    dirty = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; clear them with "
                       f"`jupyter nbconvert --clear-output --inplace {path.relative_to(REPO_ROOT)}`")
    assert "widgets" not in notebook.metadata, f"{path.name} carries saved widget state in its metadata"

