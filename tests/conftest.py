"""Shared test fixtures. The offline, home-clean environment is set by the root conftest.py; the plain
helpers the tests import by name are in tests/helpers.py."""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bdlearn.diffusion.unet import UNet
from bdlearn.worlds.toy import TOY_DEFAULTS, TOY_DIFFUSION
from bdlearn.worlds.toy_clip import build_toy_clip
from bdlearn.worlds.world import ModelWorld
from tests.helpers import REPO_ROOT, TINY_UNET

REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "guided_diffusion"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The guided-diffusion conformance fixtures; skips with a reason where they are absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(
            f"reference fixtures not found at {REFERENCE_DIR} "
            "(they live in ../shared beside the project's clone; a user's own clone has none)"
        )
    return REFERENCE_DIR


@pytest.fixture(scope="module")
def world() -> ModelWorld:
    """A tiny world with random weights: a small ADM UNet and an untrained toy CLIP (no data/ needed)."""
    torch.manual_seed(0)
    unet = UNet(replace(TINY_UNET, image_size=32)).eval().requires_grad_(False)
    clip = build_toy_clip()
    clip.model.eval().requires_grad_(False)
    return ModelWorld("tiny", unet, clip, 32, dict(TOY_DIFFUSION), TOY_DEFAULTS)


@pytest.fixture(params=[
    "torch.save",  # today's zip archive
    pytest.param("pickle.dump", marks=pytest.mark.filterwarnings("ignore:Detected pickle protocol")),  # the old format
])
def evil_checkpoint(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """A ``.pt`` whose unpickling would run ``touch marker``, and the marker: a loader must refuse the file
    and the marker must never appear. Written both ways a ``.pt`` can be (torch notes the old pickle
    protocol before refusing it)."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    if request.param == "torch.save":
        torch.save({"weight": Exploit()}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump({"weight": Exploit()}, f)
    return path, marker


# ------------------------------------------------------------------------------------------------
# The packaged product: a wheel and an sdist built from a clean copy of this tree
# ------------------------------------------------------------------------------------------------

#: What a build must not see: environments, caches, earlier build folders (setuptools would copy
#: stale modules from a ``build/`` folder into the wheel).
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                     ".ipynb_checkpoints", "demo_output", "node_modules")


def _build(kind: str, out: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build a ``wheel`` or ``sdist`` of this tree into ``out`` with setuptools' PEP 517 hooks (offline)."""
    source = tmp_path_factory.mktemp("source") / "bdlearn"
    shutil.copytree(REPO_ROOT, source, ignore=_NOT_SOURCE)
    hook = f"from setuptools import build_meta; print(build_meta.build_{kind}({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", hook], cwd=source, capture_output=True, text=True)
    assert done.returncode == 0, f"building the {kind} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bdlearn's wheel, as a user would install it."""
    return _build("wheel", tmp_path_factory.mktemp("wheel"), tmp_path_factory)


@pytest.fixture(scope="session")
def built_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bdlearn's source distribution."""
    return _build("sdist", tmp_path_factory.mktemp("sdist"), tmp_path_factory)


@pytest.fixture(scope="session")
def wheel_dir(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel's files, installed into a folder outside the checkout."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(built_wheel)], check=True)
    return target


@pytest.fixture()
def elsewhere(wheel_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder outside the checkout, with the wheel's folder first on every Python's path."""
    monkeypatch.setenv("PYTHONPATH", str(wheel_dir))
    monkeypatch.chdir(tmp_path)
    return tmp_path
