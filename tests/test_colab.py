"""Colab: every notebook opens with the same install cell and a badge, both written from pyproject.toml, and
that cell works: a rehearsal runs it for real in a fresh environment that, like Colab, already has torch.

The rehearsal's environment is a new venv that sees this environment's packages (torch, jupyter, ...)
through a ``.pth`` file, except bdlearn itself and ipycanvas, which Colab lacks; a stub ``google.colab``
module stands in for Colab's; a wheel built from this tree stands in for the public source. The
notebook runs from a folder outside the checkout. The cell must install bdlearn and the missing
dependency into the new venv without reinstalling torch or torchvision, and the notebook must run.
"""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import nbformat
import pytest

from tests.helpers import REPO_ROOT, cell_text, execute_notebook

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("colab_cell", REPO_ROOT / "tools" / "colab_cell.py")
colab_cell = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab_cell)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_opens_with_the_badge_and_the_install_cell(path):
    notebook = nbformat.read(path, as_version=4)
    badges = colab_cell.BADGE_URL.findall(notebook.cells[0].source)
    assert badges == [colab_cell.badge_url(path.name)], f"{path.name}: run `python tools/colab_cell.py`"
    assert notebook.cells[1].source == colab_cell.colab_cell(), f"{path.name}: run `python tools/colab_cell.py`"


def test_one_public_address():
    """The Repository URL in pyproject.toml is the one address: the cell installs from it at a pinned ref, and
    every Colab link in the README opens a notebook there."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    repository = project["project"]["urls"]["Repository"]
    settings = colab_cell.settings()
    assert settings["source"].startswith(f"git+{repository}@") or settings["source"].endswith(".whl")
    assert re.fullmatch(r"[\w.\-/]+", settings["ref"]) and settings["ref"] not in ("main", "master", "HEAD"), (
        "pin the notebooks to a tag or commit: a moving branch breaks them when the API changes")
    for url in colab_cell.BADGE_URL.findall((REPO_ROOT / "README.md").read_text()):
        assert url == colab_cell.badge_url(url.rsplit("/", 1)[1]), f"README links {url}"
    github_urls = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", (REPO_ROOT / "README.md").read_text()))
    assert github_urls <= {repository}, f"the README names another address: {github_urls - {repository}}"


def _site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


@pytest.fixture()
def colab_runtime(tmp_path: Path) -> Path:
    """A fresh venv that sees this environment's packages, less bdlearn and ipycanvas; returns its prefix."""
    here = _site_packages(Path(sys.prefix))
    view = tmp_path / "preinstalled"
    view.mkdir()
    hidden = re.compile(r"(__editable__.*bdlearn.*|bdlearn.*|ipycanvas.*)", re.IGNORECASE)
    for entry in here.iterdir():
        if not hidden.fullmatch(entry.name) and entry.suffix != ".pth":
            (view / entry.name).symlink_to(entry)
    runtime = tmp_path / "runtime"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runtime)], check=True)
    (_site_packages(runtime) / "preinstalled.pth").write_text(f"{view}\n")
    return runtime


@pytest.fixture()
def colab_stub(tmp_path: Path) -> Path:
    """A ``google.colab`` package whose ``output.enable_custom_widget_manager`` leaves a mark when called."""
    package = tmp_path / "stub" / "google" / "colab"  # google/ stays a namespace package (google.protobuf lives there)
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    mark = tmp_path / "widget-manager-enabled"
    (package / "output.py").write_text(f"def enable_custom_widget_manager():\n    open({str(mark)!r}, 'w').close()\n")
    return package.parents[1]


@pytest.mark.slow
def test_colab_rehearsal(built_wheel, colab_runtime, colab_stub, tmp_path, monkeypatch):
    python = colab_runtime / "bin" / "python"
    kernels = tmp_path / "jupyter" / "kernels" / "python3"  # the kernel runs in the new venv, not in this one
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "colab rehearsal",'
        ' "language": "python"}' % python)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(colab_stub))
    monkeypatch.setenv("BDLEARN_SOURCE", str(built_wheel))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    copy = tmp_path / "content" / "01_forward_noising.ipynb"
    copy.parent.mkdir()
    shutil.copy(REPO_ROOT / "notebooks" / copy.name, copy)
    notebook = nbformat.read(copy, as_version=4)
    imports = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"][1]
    del notebook.cells[imports + 1:]  # the Colab cell and the lesson's imports: test_course runs the rest, once
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, bdlearn, ipycanvas, torch\nprint(sys.executable)\nprint(bdlearn.__file__)\nprint(torch.__file__)"))
    nbformat.write(notebook, copy)

    try:
        done = execute_notebook(copy)
    except Exception as error:  # a CellExecutionError carries pip's output
        if re.search(r"No matching distribution found for ipycanvas|Failed to establish a new connection", str(error)):
            pytest.skip(f"the rehearsal installs ipycanvas from the package index, which is unreachable: {error}")
        raise

    site = _site_packages(colab_runtime)
    executable, bdlearn_file, torch_file = cell_text(done.cells[-1]).split()
    assert Path(executable).parent == colab_runtime / "bin"
    assert Path(bdlearn_file).is_relative_to(site), "bdlearn was not installed into the runtime"
    assert not Path(torch_file).is_relative_to(site), "the cell reinstalled torch"
    assert (site / "ipycanvas").is_dir(), "the cell did not install bdlearn's dependencies"
    assert not any(site.glob("torch*")) and not any(site.glob("torchvision*")), "the cell reinstalled torch"
    printed = cell_text(done.cells[1])
    assert "ERROR" not in printed and "error" not in printed.lower(), f"pip complained:\n{printed}"
    assert (tmp_path / "widget-manager-enabled").exists(), "the cell did not enable Colab's widget manager"


def test_the_cell_writer_needs_only_the_standard_library():
    """A teacher runs tools/colab_cell.py with a bare python3: -S leaves every installed package out."""
    done = subprocess.run([sys.executable, "-S", str(REPO_ROOT / "tools" / "colab_cell.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "0 notebook(s) differ" in done.stdout, done.stdout + done.stderr
