"""Writing a file whole: to a temporary name beside it, then renamed into place (``os.replace`` is atomic), so
that a crash or a kill leaves the old file or the new one, never half of one. Imports only the standard library."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


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


def write_text_whole(path: Path, text: str) -> None:
    """``text`` into ``path`` as UTF-8, whole (:func:`write_whole`)."""
    write_whole(path, lambda partial: partial.write_text(text, encoding="utf-8"))
