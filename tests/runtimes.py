"""Python environments beside this one, for tests that need a kernel with other packages: a runtime like
Colab's (ipywidgets 7, no bdlearn) for the install cell, and a kernel with ipywidgets 7 for the browser.

A runtime is a new venv (without pip of its own) that sees this environment's packages through a ``.pth``
file, less the ones a test hides; packages a test adds are installed by pip into the new venv itself. It
is made in seconds and takes no space beside the packages added.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

#: The widgets Colab has long shipped: ipywidgets 7.7.1 in the kernel (ipython_genutils is its dependency).
IPYWIDGETS_7_KERNEL = ("ipywidgets==7.7.1", "ipython_genutils==0.2.0")
#: The classic notebook's extension for ipywidgets 7 (Colab has it; pip wants it beside ipywidgets 7.7.1).
IPYWIDGETS_7_EXTENSION = "widgetsnbextension==3.6.10"
#: The JupyterLab widget manager that speaks ipywidgets 7 (its front end runs in JupyterLab 3 and 4).
IPYWIDGETS_7_FRONT_END = "jupyterlab_widgets==1.1.11"
#: The pip messages that mean the package index cannot be reached (the tests then skip, saying so).
UNREACHABLE = re.compile(r"No matching distribution found|Failed to establish a new connection|"
                         r"Could not find a version that satisfies|Network is unreachable")


def site_packages(prefix: Path) -> Path:
    """The ``site-packages`` folder of the environment at ``prefix``."""
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def make_runtime(where: Path, hide: str) -> Path:
    """A venv at ``where/runtime`` seeing this environment's packages, less those whose folder or
    ``.dist-info`` name matches the regular expression ``hide``; returns its prefix.

    bdlearn stays visible unless hidden: an editable install's ``.pth`` hook is carried over (after
    the view, so that its finder module is importable).
    """
    here = site_packages(Path(sys.prefix))
    view = where / "preinstalled"
    view.mkdir(parents=True)
    hidden = re.compile(hide, re.IGNORECASE)
    for entry in here.iterdir():
        if not hidden.fullmatch(entry.name) and entry.suffix != ".pth":
            (view / entry.name).symlink_to(entry)
    runtime = where / "runtime"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(runtime)], check=True)
    site = site_packages(runtime)
    (site / "a_preinstalled.pth").write_text(f"{view}\n")
    if not hidden.fullmatch("bdlearn"):
        for hook in here.glob("__editable__*bdlearn*.pth"):
            shutil.copy(hook, site / f"z{hook.name}")
    return runtime


def pip_install(runtime: Path, *arguments: str) -> None:
    """``pip install arguments`` into ``runtime``, from the package index; skips the test where the
    index cannot be reached."""
    done = subprocess.run([str(runtime / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        if UNREACHABLE.search(done.stdout + done.stderr):
            pytest.skip(f"the package index is unreachable: pip install {' '.join(arguments)}")
        raise RuntimeError(f"pip install {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")


def pins_of_this_environment(path: Path, leave_out: str) -> Path:
    """A pip constraints file pinning every package installed here at its version, less those whose
    name matches ``leave_out``: what a runtime adds must suit what it already has."""
    from importlib.metadata import distributions

    skip = re.compile(leave_out, re.IGNORECASE)
    versions: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name and not skip.fullmatch(name.replace("-", "_")):
            versions.setdefault(name.lower(), dist.version)
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(versions.items())))
    return path
