"""Colab: every notebook opens with the same install cell and a badge, both written from pyproject.toml, and
that cell works: a rehearsal runs it for real in a fresh environment that, like Colab, already has torch.

The rehearsal's environment is a new venv that sees this environment's packages (torch, jupyter, ...)
through a ``.pth`` file, except bdlearn itself and ipycanvas, which Colab lacks, and with Colab's
ipywidgets 7.7.1 instead of 8; a stub ``google.colab`` module stands in for Colab's; a wheel built from
this tree stands in for the public source. The notebook runs from a folder outside the checkout, with
ipywidgets, numpy and PIL imported before the cell, as in Colab. The cell must install bdlearn and the
missing dependency into the new venv, change no package the runtime has (torch, ipywidgets 7) and say
nothing about restarting; the notebook must run. Where a preinstalled package is too old, the cell's
fallback and its one "restart the runtime" line are tested with pip faked.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from tests.helpers import REPO_ROOT, cell_text, execute_notebook
from tests.runtimes import (
    IPYWIDGETS_7_EXTENSION,
    IPYWIDGETS_7_KERNEL,
    make_runtime,
    pins_of_this_environment,
    pip_install,
    site_packages,
)

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


@pytest.fixture()
def colab_runtime(tmp_path: Path) -> Path:
    """A fresh venv like Colab's: this environment's packages less bdlearn and ipycanvas, with Colab's
    ipywidgets 7.7.1 (and the classic notebook's extension it needs) in place of ipywidgets 8; returns its prefix."""
    hidden = r"(__editable__.*bdlearn.*|bdlearn.*|ipycanvas.*|ipywidgets.*|widgetsnbextension.*)"
    runtime = make_runtime(tmp_path, hide=hidden)
    pins = pins_of_this_environment(tmp_path / "pins.txt", leave_out=hidden)
    pip_install(runtime, "-c", str(pins), *IPYWIDGETS_7_KERNEL, IPYWIDGETS_7_EXTENSION, "notebook")
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
    notebook.cells.insert(1, nbformat.v4.new_code_cell("import ipywidgets, matplotlib, numpy, PIL  # as Colab has"))
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, bdlearn, ipycanvas, ipywidgets, torch\n"
        "print(sys.executable, bdlearn.__file__, torch.__file__, ipywidgets.__version__)"))
    nbformat.write(notebook, copy)

    try:
        done = execute_notebook(copy)
    except Exception as error:  # a CellExecutionError carries pip's output
        if re.search(r"No matching distribution found for ipycanvas|Failed to establish a new connection", str(error)):
            pytest.skip(f"the rehearsal installs ipycanvas from the package index, which is unreachable: {error}")
        raise

    site = site_packages(colab_runtime)
    executable, bdlearn_file, torch_file, ipywidgets_version = cell_text(done.cells[-1]).split()
    assert Path(executable).parent == colab_runtime / "bin"
    assert Path(bdlearn_file).is_relative_to(site), "bdlearn was not installed into the runtime"
    assert not Path(torch_file).is_relative_to(site), "the cell reinstalled torch"
    assert (site / "ipycanvas").is_dir(), "the cell did not install bdlearn's dependencies"
    assert not any(site.glob("torch*")) and not any(site.glob("torchvision*")), "the cell reinstalled torch"
    assert ipywidgets_version == "7.7.1", "the cell replaced the ipywidgets the runtime ships"
    printed = cell_text(done.cells[2])
    assert "ERROR" not in printed and "error" not in printed.lower(), f"pip complained:\n{printed}"
    assert "restart" not in printed, f"nothing imported changed, yet the cell says:\n{printed}"
    assert (tmp_path / "widget-manager-enabled").exists(), "the cell did not enable Colab's widget manager"


def test_the_cell_writer_needs_only_the_standard_library():
    """A teacher runs tools/colab_cell.py with a bare python3: -S leaves every installed package out."""
    done = subprocess.run([sys.executable, "-S", str(REPO_ROOT / "tools" / "colab_cell.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "0 notebook(s) differ" in done.stdout, done.stdout + done.stderr


def _run_the_cell(monkeypatch, capsys, tmp_path, pip_exit_codes: list[int], before: dict[str, str],
                  after: dict[str, str]) -> tuple[str, list[str]]:
    """Run the install cell as in Colab, with pip and the installed packages faked: pip exits with the codes
    given, one call after another, and the first that succeeds turns the installed versions into ``after``.
    Returns what the cell printed and the constraints file pip saw at each call."""
    installed = {"versions": before}
    seen: list[str] = []

    def fake_pip(command, **_):
        seen.append(Path(command[command.index("-c") + 1]).read_text())
        code = pip_exit_codes[len(seen) - 1]
        if code == 0:
            installed["versions"] = after
        elif "check" in _ and _["check"]:
            raise subprocess.CalledProcessError(code, command)
        return subprocess.CompletedProcess(command, code)

    def fake_distributions():
        return [SimpleNamespace(metadata={"Name": name}, version=version)
                for name, version in installed["versions"].items()]

    output = SimpleNamespace(enable_custom_widget_manager=lambda: seen.append("widget manager"))
    monkeypatch.setitem(sys.modules, "google.colab", SimpleNamespace(output=output))
    monkeypatch.setattr(subprocess, "run", fake_pip)
    monkeypatch.setattr(importlib.metadata, "distributions", fake_distributions)
    monkeypatch.setattr(importlib.metadata, "packages_distributions",
                        lambda: {"numpy": ["numpy"], "not_imported_here": ["Not_Imported.Here"]})
    monkeypatch.setenv("BDLEARN_SOURCE", str(tmp_path / "bdlearn.whl"))
    exec(colab_cell.colab_cell(), {"__name__": "__main__"})
    assert seen[-1] == "widget manager"
    return capsys.readouterr().out, seen[:-1]


COLAB = {"torch": "2.5.1+cu121", "torchvision": "0.20.1+cu121", "numpy": "1.26.4", "ipywidgets": "7.7.1",
         "not-imported-here": "1.0"}


def test_the_cell_pins_every_package_the_runtime_has(monkeypatch, capsys, tmp_path):
    """bdlearn is satisfied with what Colab ships: pip is told to change nothing, and the cell says nothing."""
    printed, constraints = _run_the_cell(monkeypatch, capsys, tmp_path, [0], COLAB, {**COLAB, "bdlearn": "0.1.0"})
    assert constraints == ["".join(f"{name}=={version}\n" for name, version in sorted(COLAB.items()))]
    assert printed == ""


@pytest.mark.parametrize("updated, restart", [("numpy", True), ("not-imported-here", False)])
def test_the_cell_says_restart_when_pip_updated_an_imported_package(updated, restart, monkeypatch, capsys, tmp_path):
    """A package Colab ships is too old for bdlearn: the pinned install fails, pip may then update it (torch and
    torchvision still pinned), and the cell says to restart the runtime, in one line, when it was imported."""
    after = {**COLAB, updated: "2.0.0", "bdlearn": "0.1.0"}
    printed, constraints = _run_the_cell(monkeypatch, capsys, tmp_path, [1, 0], COLAB, after)
    assert constraints[1] == "torch==2.5.1+cu121\ntorchvision==0.20.1+cu121\n"
    if restart:
        assert printed.count("\n") == 1 and "pip updated numpy" in printed and "restart the runtime" in printed
    else:
        assert printed == ""
