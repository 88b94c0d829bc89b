"""Quiet JupyterLab's news pop-up inside a virtual environment (it covers notebooks' corners).

Run as ``python tools/setup_jupyter.py VENV``; ``make install`` does it for you.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def write_overrides(prefix: Path) -> Path:
    """Write JupyterLab's ``overrides.json`` under ``prefix`` and return its path."""
    path = prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(OVERRIDES, indent=2) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write_overrides(Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))}")
