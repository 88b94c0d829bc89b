"""Each subpackage exports what a learner or user calls, and nothing else.

A name in a subpackage's ``__all__`` is one the course (a notebook), the README or docs/ uses; every
other name stays importable from the module that defines it (``bdlearn.worlds.real.REAL_UNET_URL``),
so the package's front door lists the vocabulary of the course rather than its internals.
"""
from __future__ import annotations

import importlib
import json
import re
from functools import cache

import pytest

from tests.helpers import REPO_ROOT

SUBPACKAGES = ["diffusion", "clip", "scenes", "worlds", "editing", "machinery", "notebook", "training"]


@cache
def _user_facing_text() -> str:
    """Everything a learner or user reads: the notebooks' cells, the README and docs/."""
    parts = [(REPO_ROOT / "README.md").read_text(encoding="utf-8")]
    parts += [path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / "docs").glob("*.md"))]
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        parts += ["".join(cell["source"]) for cell in cells]
    return "\n".join(parts)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_exported_name_is_used_by_the_course_or_the_documents(name):
    package = importlib.import_module(f"bdlearn.{name}")
    text = _user_facing_text()
    unused = [each for each in package.__all__ if not re.search(rf"\b{re.escape(each)}\b", text)]
    assert not unused, (f"bdlearn.{name} exports {unused}, which no notebook, README or docs/ page uses: "
                        "import them from their module instead, or show a user where they help")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_exported_name_resolves_once(name):
    package = importlib.import_module(f"bdlearn.{name}")
    assert len(set(package.__all__)) == len(package.__all__), f"bdlearn.{name}.__all__ repeats a name"
    for each in package.__all__:
        assert getattr(package, each) is not None


def test_the_front_doors_stay_small():
    """The issue that shaped these packages found 163 exported names; the course uses about a hundred."""
    counts = {name: len(importlib.import_module(f"bdlearn.{name}").__all__) for name in SUBPACKAGES}
    assert sum(counts.values()) <= 100, counts
