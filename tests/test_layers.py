"""bdlearn's packages form layers, read from the bottom up like the course: each imports only from those below it.

The diffusion core and CLIP need nothing else of bdlearn; the paper's method (``editing``) needs
only them; the machinery around it (inputs, windows, settings, batches) may use the method, never
the other way round; ``pipeline.edit`` ties the two together; the notebook side, training and the
command line sit on top. Imports inside functions count too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bdlearn"
#: From the bottom up; a module of bdlearn/ itself (_lazy.py, choices.py, errors.py, checks.py, files.py,
#: offline.py, pipeline.py, cli.py) is a layer of its own.
LAYERS = ["_lazy", "choices", "errors", "checks", "files", "offline", "diffusion", "clip", "scenes", "worlds",
          "editing", "machinery", "pipeline", "evaluation", "notebook", "training", "cli"]
#: Modules of bdlearn/ that belong to another's layer: ``python -m bdlearn`` is the command line.
SAME_LAYER_AS = {"__main__": "cli"}


def _layer(module: str) -> str:
    """The layer of a dotted module name inside bdlearn (``bdlearn.editing.loop`` -> ``editing``)."""
    return module.split(".")[1]


def _imports(path: Path) -> set[str]:
    """The bdlearn modules that the file at ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bdlearn"):
            found |= {f"bdlearn.{alias.name}" for alias in node.names} if node.module == "bdlearn" else {node.module}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bdlearn.")}
    return found


def _own_layer(path: Path) -> str:
    """The layer of a file of bdlearn/: its package, or its own name for a module of bdlearn/ itself."""
    name = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return SAME_LAYER_AS.get(name, name)


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path != PACKAGE / "__init__.py")


def test_every_package_and_module_of_bdlearn_has_a_layer():
    layers = {_own_layer(path) for path in _modules()}
    assert layers == set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_imports_only_from_its_own_layer_and_those_below(path):
    own = LAYERS.index(_own_layer(path))
    upward = sorted(module for module in _imports(path) if LAYERS.index(_layer(module)) > own)
    assert not upward, f"{path.relative_to(PACKAGE)} imports from a layer above its own: {upward}"
