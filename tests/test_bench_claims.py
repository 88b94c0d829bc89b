"""benchmarks/bench_claims.py: notebooks re-run under other seeds, their claim lines counted per claim."""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow


def test_claims_are_counted_per_seed(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from bdlearn.notebook import claim, notebook_seed\n"
        "seed = notebook_seed(0)\n"
        "claim('the seed is even', seed % 2 == 0, f'seed {seed}')\n"
        "claim('always', True, 'by construction')")])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    report = tmp_path / "claims.json"
    done = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "bench_claims.py"), "--notebooks", str(path),
                           "--seeds", "1", "2", "4", "--jobs", "2", "--out", str(report)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(report.read_text())["summary"]["tiny.ipynb"]
    assert summary["the seed is even"] == {"seeds": 3, "held": 2, "failed_seeds": [1]}
    assert summary["always"]["held"] == 3
    assert "1/2 claims hold" in done.stdout and "tiny.ipynb: 2/3 seeds: the seed is even" in done.stdout
