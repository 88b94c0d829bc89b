"""The files that ship inside the package: the toy world's weights and their cards, the toy CLIP's
open_clip config, and the demonstration photos.

They live in the project's top-level ``data/`` folder, which installs as the package ``bdlearn.data``
(pyproject.toml's package-dir). :mod:`importlib.resources` finds it the same way from a wheel
(``site-packages/bdlearn/data/``), an sdist install and an editable install (``data/`` in the clone,
read in place), in any working directory.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: Where the package's data files are (an incomplete install may lack them: :func:`shipped_file`).
DATA_DIR = Path(str(files("bdlearn.data")))


class PackageDataError(FileNotFoundError):
    """A file that should ship inside bdlearn is not there (an incomplete install)."""


def shipped_file(path: Path) -> Path:
    """``path`` (a file under :data:`DATA_DIR`) when it is there; otherwise raises
    :class:`PackageDataError` saying what is missing and how to get it."""
    if not path.exists():
        raise PackageDataError(
            f"bdlearn's package data is missing: {path} is not there. This install of bdlearn lacks the "
            "files that ship with it (toy weights, photos); reinstall bdlearn from its wheel or a full clone "
            "(`pip install --force-reinstall bdlearn-*.whl`, or `pip install -e .` in the clone)")
    return path
