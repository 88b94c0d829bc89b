"""Every pytest run, wherever it starts, gets an offline, home-clean environment.

Kept at the root so that it applies to any path given to pytest, before tests/conftest.py imports
anything. Jupyter kernels (tests/test_course.py runs the notebooks in them) inherit this process's
environment, so the kernels' IPython profile (command history) and Jupyter's runtime files go to a
temporary directory too, not to the home.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
_HOME_PATHS = {"TORCH_HOME": "torch", "MPLCONFIGDIR": "matplotlib", "XDG_CACHE_HOME": "cache",
               "IPYTHONDIR": "ipython", "JUPYTER_RUNTIME_DIR": "jupyter-runtime"}
if any(name not in os.environ for name in _HOME_PATHS):
    _TMP_HOME = Path(tempfile.mkdtemp(prefix="bdlearn-pytest-"))
    for name, folder in _HOME_PATHS.items():
        os.environ.setdefault(name, str(_TMP_HOME / folder))
