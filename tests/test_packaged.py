"""The packaged product: bdlearn as a wheel installed outside this tree, as a user gets it.

The wheel is installed with ``pip install --no-deps --target DIR`` (torch and the other dependencies
come from this environment, nothing is downloaded) and used from another folder with
``PYTHONPATH=DIR``, so every import of bdlearn below comes from the wheel, never from the checkout:
each test checks that (the fixtures ``wheel_dir`` and ``elsewhere`` are in conftest.py). The course
notebooks run from the same wheel in tests/test_course.py. CI runs these with the rest of ``make test``.
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow

WHEEL_LIMIT_BYTES = 25_000_000
#: What must ship inside the package for the toy world, the CLI and the photos to work: the project's data/,
#: installed as bdlearn/data/.
PACKAGE_DATA = ("bdlearn/data/toy_ddpm.safetensors", "bdlearn/data/toy_ddpm.json", "bdlearn/data/toy_clip.safetensors",
                "bdlearn/data/toy_clip.json", "bdlearn/data/configs/toy_clip.json", "bdlearn/data/photos/photos.json",
                "bdlearn/data/photos/coffee.png")
#: The course notebooks (tests/test_course.py runs each of them from the wheel).
NOTEBOOKS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))


def _python(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_wheel_holds_the_package_data_and_fits_the_limit(built_wheel):
    assert built_wheel.stat().st_size <= WHEEL_LIMIT_BYTES, f"the wheel is {built_wheel.stat().st_size:,} bytes"
    names = set(zipfile.ZipFile(built_wheel).namelist())
    missing = [name for name in PACKAGE_DATA if name not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not any(name.startswith(("tests/", "notebooks/", "benchmarks/")) for name in names)
    assert any(name.endswith("licenses/LICENSE") for name in names), "the wheel carries no licence"


def test_sdist_holds_the_notebooks_and_the_package_data(built_sdist):
    with tarfile.open(built_sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    in_the_source = [name.removeprefix("bdlearn/") for name in PACKAGE_DATA]  # data/ lies at the project's top
    wanted = [*in_the_source, "LICENSE", "pyproject.toml", *(f"notebooks/{name}" for name in NOTEBOOKS)]
    missing = [name for name in wanted if name not in names]
    assert not missing, f"the sdist lacks {missing}"


def test_the_wheel_is_what_python_imports(elsewhere, wheel_dir):
    out = _python("import bdlearn, bdlearn.worlds.package_data as d; print(bdlearn.__file__); print(d.DATA_DIR)",
                  elsewhere)
    module, data = out.split()
    assert Path(module).is_relative_to(wheel_dir) and Path(data).is_relative_to(wheel_dir), out


def test_toy_world_and_photos_load_from_the_wheel(elsewhere):
    out = _python("from bdlearn import load_world\nfrom bdlearn.worlds import list_photos, load_photo\n"
                  "world = load_world('toy'); photo = load_photo(list_photos()[0])\n"
                  "print(world.image_size, photo.image.is_file(), all(m.is_file() for m in photo.masks))", elsewhere)
    assert out.split() == ["32", "True", "True"]


def test_demo_and_edit_commands_from_the_wheel(elsewhere, wheel_dir):
    command = [str(wheel_dir / "bin" / "bdlearn")]
    # cheap settings: the defaults' success is tests/test_toy_edits.py's business; here, the installed commands
    cheap = ["--repetitions", "2", "--respacing", "20", "--skip", "10"]
    demo = subprocess.run([*command, "demo", "--out", "demo", *cheap], cwd=elsewhere, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (elsewhere / "demo" / "figure.png").is_file() and (elsewhere / "demo" / "report.json").is_file()
    edit = subprocess.run([*command, "edit", "--image", "demo/input.png", "--mask", "demo/mask.png", "--prompt",
                           "a red square", "--repetitions", "1", "--respacing", "20", "--skip", "10", "--out", "edits"],
                          cwd=elsewhere, capture_output=True, text=True)
    assert edit.returncode == 0, edit.stderr[-3000:]
    assert (elsewhere / "edits" / "report.json").is_file()


def test_missing_package_data_is_a_clear_error(elsewhere, wheel_dir):
    (wheel_dir / "bdlearn" / "data" / "toy_ddpm.safetensors").rename(wheel_dir / "toy_ddpm.away")
    try:
        demo = subprocess.run([str(wheel_dir / "bin" / "bdlearn"), "demo", "--out", "demo"], cwd=elsewhere,
                              capture_output=True, text=True)
    finally:
        (wheel_dir / "toy_ddpm.away").rename(wheel_dir / "bdlearn" / "data" / "toy_ddpm.safetensors")
    assert demo.returncode == 2
    assert demo.stderr.startswith("bdlearn: error: bdlearn's package data is missing:"), demo.stderr
    assert "toy_ddpm.safetensors" in demo.stderr and "reinstall" in demo.stderr and len(demo.stderr.splitlines()) == 1
