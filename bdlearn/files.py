"""Files and folders bdlearn writes: a file written whole (to a temporary name beside it, then renamed into place;
``os.replace`` is atomic), so that a crash or a kill leaves the old file or the new one, never half of one; a run's
folder checked before the run. Imports only the standard library and :mod:`bdlearn.errors`."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bdlearn.errors import InputError


def write_whole(path: Path, write: Callable[[Path], object]) -> None:
    """``write(partial)`` to a temporary name beside ``path`` (``.NAME.<process id>.partial``: two processes
    writing the same file at once each write their own), then rename it into place; after an error no
    temporary file is left."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def run_folder(out_dir: str | Path, name: str = "out_dir") -> Path:
    """``out_dir`` as the Path of a run's folder, refused (an :class:`~bdlearn.errors.InputError` naming it
    ``name``) where it is a file; a missing folder is created by the run."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{name} {out_dir} is a file; name a run folder (it is created if missing)")
    return out_dir


def write_text_whole(path: Path, text: str) -> None:
    """``text`` into ``path`` as UTF-8, whole (:func:`write_whole`)."""
    write_whole(path, lambda partial: partial.write_text(text, encoding="utf-8"))
