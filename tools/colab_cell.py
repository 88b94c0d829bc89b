"""Write the Colab set-up into every course notebook: the badge in its first cell and the install cell after it.

Both come from ``pyproject.toml``: the project's ``Repository`` address and ``[tool.bdlearn.colab] ref``
(the tag or commit the notebooks' badges open and their cell installs), or ``source`` there to install
from somewhere else (a wheel's URL, say). A teacher changes that one setting and runs::

    python tools/colab_cell.py            # rewrite every notebook
    python tools/colab_cell.py --check    # exit 1 if a notebook differs (tests/test_colab.py checks the same)

The cell installs bdlearn with its declared dependencies while pinning every package the runtime already has,
so nothing Colab ships is replaced (its CUDA torch, its ipywidgets 7); only when a preinstalled package is
too old for bdlearn does pip update it (torch and torchvision still pinned), and the cell then says, in one
line, to restart the runtime if that package was already imported. ``BDLEARN_SOURCE`` in the environment overrides
the source for one session (the Colab rehearsal test points it at a freshly built wheel). It needs only
Python's standard library (a bare ``python3``, no environment), and writes notebooks as nbformat does.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BADGE_URL = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+")

CELL_TEMPLATE = '''\
# Colab only: install bdlearn and what it needs, keeping every package Colab ships that suits it (CUDA torch too).
# Elsewhere this cell does nothing. (Every notebook opens with this same cell: tools/colab_cell.py.)
import os
import re
import subprocess
import sys
import tempfile

try:
    from google.colab import output
except ImportError:
    output = None
if output is not None:
    from importlib.metadata import distributions, packages_distributions

    def installed():
        """The version of every installed distribution, by its normalised name (the first one found wins)."""
        versions = {}
        for dist in distributions():
            name = re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower()
            if name:
                versions.setdefault(name, dist.version)
        return versions

    source = os.environ.get("BDLEARN_SOURCE", "{source}")
    before = installed()
    pins = os.path.join(tempfile.gettempdir(), "colab-preinstalled.txt")
    install = [sys.executable, "-m", "pip", "install", "-q", "-c", pins, source]
    with open(pins, "w") as constraints:  # first, pip may add packages but change none
        constraints.writelines(f"{name}=={version}\\n" for name, version in sorted(before.items()))
    if subprocess.run(install, capture_output=True).returncode != 0:  # a package Colab ships is too old for bdlearn
        with open(pins, "w") as constraints:  # then pip may update it, but never the runtime's torch
            constraints.writelines(f"{name}=={before[name]}\\n" for name in ("torch", "torchvision") if name in before)
        subprocess.run(install, check=True)
    changed = {name for name, version in installed().items() if before.get(name, version) != version}
    imported = {re.sub(r"[-_.]+", "-", name).lower() for module, names in packages_distributions().items()
                if module in sys.modules for name in names}
    if changed & imported:
        print(f"pip updated {', '.join(sorted(changed & imported))}, already imported here: "
              "restart the runtime (Runtime > Restart session), then run the notebook again.")
    output.enable_custom_widget_manager()  # lets Colab show third-party widgets (the ipycanvas canvas)'''


def settings() -> dict[str, str]:
    """The repository address, the ref and the install source, from pyproject.toml."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    repository = project["project"]["urls"]["Repository"].rstrip("/")
    colab = project["tool"]["bdlearn"]["colab"]
    ref = colab["ref"]
    return {"repository": repository, "ref": ref, "source": colab.get("source", f"git+{repository}@{ref}")}


def colab_cell() -> str:
    """The source of the install cell every notebook opens with."""
    return CELL_TEMPLATE.replace("{source}", settings()["source"], 1)


def badge_url(notebook: str) -> str:
    """Where a notebook's Colab badge points: that notebook, at the ref the cell installs."""
    config = settings()
    github = config["repository"].removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{github}/blob/{config['ref']}/notebooks/{notebook}"


def _read(path: Path) -> dict:
    """A notebook as the JSON object it is (nbformat 4)."""
    return json.loads(path.read_text(encoding="utf-8"))


def _write(notebook: dict, path: Path) -> None:
    """Write ``notebook`` as nbformat does: one space of indent, characters as they are, a final newline."""
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _text(cell: dict) -> str:
    """A cell's source as one string (notebooks store it as a list of lines)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def updated(path: Path) -> dict:
    """The notebook at ``path`` with its badge and install cell rewritten."""
    notebook = _read(path)
    intro, cell = notebook["cells"][0], notebook["cells"][1]
    if intro["cell_type"] != "markdown" or not BADGE_URL.search(_text(intro)) or cell["cell_type"] != "code":
        raise SystemExit(f"{path}: expected a markdown cell with a Colab badge, then the install cell")
    intro["source"] = BADGE_URL.sub(badge_url(path.name), _text(intro)).splitlines(keepends=True)
    cell["source"] = colab_cell().splitlines(keepends=True)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        notebook = updated(path)
        if notebook != _read(path):
            stale.append(path.name)
            if not args.check:
                _write(notebook, path)
    verb = "differ" if args.check else "rewritten"
    print(f"{len(stale)} notebook(s) {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
