"""The task sets an evaluation runs: the toy world's procedural tasks, or a folder of real photos.

* ``toy:N``: the first N tasks of the reproduction suite (:func:`bdlearn.scenes.edit_task_suite`),
  with the independent judge's target (colour and shape) for each;
* a folder: every picture ``NAME.png`` / ``.jpg`` / ``.jpeg`` / ``.webp`` with its mask
  ``NAME.mask.png`` (or another of those suffixes) and its prompt in ``NAME.txt`` beside it (no judge:
  photos have none); hidden files and subfolders are not read.

A task's ``id`` is what sharding hashes and what the records name: ``toy-<seed>`` or the file's stem.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bdlearn.errors import InputError

#: The picture files a folder task set may hold.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class EvalTask:
    """One picture to edit: its ``id``, the picture and mask (anything :func:`bdlearn.edit` reads), the
    prompt, and the judge's target (colour, shape) where a judge exists (the toy world), else None."""

    id: str
    image: Any
    mask: Any
    prompt: str
    target: tuple[str, str] | None


def task_digest(task: EvalTask) -> str:
    """16 hex digits of SHA-256 over the task's prompt, picture and mask (a file's bytes, an array's shape, type
    and values): a resumed evaluation notices a task that changed since it began."""
    import numpy as np

    digest = hashlib.sha256(task.prompt.encode("utf-8", "surrogateescape"))
    for part in (task.image, task.mask):
        if isinstance(part, Path):
            digest.update(part.read_bytes())
        else:
            array = np.ascontiguousarray(part)
            digest.update(f"{array.shape} {array.dtype}".encode() + array.tobytes())
    return digest.hexdigest()[:16]


def toy_tasks(count: int) -> list[EvalTask]:
    """The first ``count`` tasks of the toy world's reproduction suite."""
    from bdlearn.scenes import edit_task_suite

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"the toy task set holds at least 1 task; got {count!r}")
    return [EvalTask(f"toy-{task.seed}", task.image, task.mask, task.prompt, (task.target_colour, task.target_shape))
            for task in edit_task_suite(count)]


def _beside(picture: Path, names: dict[str, list[Path]], suffixes: tuple[str, ...], what: str) -> Path:
    """The one file named ``<picture's stem><suffix>`` (any case) beside ``picture``: its ``what``."""
    found = [path for suffix in suffixes for path in names.get(f"{picture.stem}{suffix}".lower(), [])]
    wanted = f"{picture.stem}{suffixes[0]}"
    if not found:
        raise InputError(f"{picture} has no {what} {wanted} beside it; each picture NAME needs its mask "
                         "NAME.mask.png (or .jpg, .jpeg, .webp) and its prompt in NAME.txt")
    if len(found) > 1:
        raise InputError(f"{picture} has {len(found)} {what}s beside it ({', '.join(path.name for path in found)}); "
                         "keep one")
    if not found[0].is_file():
        raise InputError(f"{found[0]}, {picture.name}'s {what}, {_not_a_file(found[0])}")
    return found[0]


def _not_a_file(path: Path) -> str:
    """What ``path``, which is not a regular file, is instead."""
    return "is a folder, not a file" if path.is_dir() else "is not a regular file (a pipe, device or socket?)"


def folder_tasks(folder: Path | str) -> list[EvalTask]:
    """Every ``NAME.png`` (or .jpg, .jpeg, .webp, in any case) in ``folder`` with its mask ``NAME.mask.png`` (or
    another of those suffixes) and its prompt ``NAME.txt``; hidden files (``.NAME``) and subfolders are not read."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"--tasks {folder}: not a folder (give toy:N or a folder of NAME.png, NAME.mask.png "
                         "and NAME.txt)")
    names: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if not path.name.startswith("."):  # hidden: a Mac's ._NAME.png, an editor's backups
            names.setdefault(path.name.lower(), []).append(path)
    pictures = [path for paths in names.values() for path in paths if path.suffix.lower() in PICTURE_SUFFIXES
                and not path.stem.lower().endswith(".mask")]
    tasks = []
    for picture in sorted(pictures):
        if not picture.is_file():
            raise InputError(f"{picture} {_not_a_file(picture)}; a task's picture is a file NAME.png")
        mask = _beside(picture, names, tuple(f".mask{suffix}" for suffix in PICTURE_SUFFIXES), "mask")
        prompt = _beside(picture, names, (".txt",), "prompt")
        earlier = next((task.image for task in tasks if task.id == picture.stem), None)
        if earlier is not None:
            raise InputError(f"{folder} holds two pictures of one name, {earlier.name} and {picture.name}; a task is "
                             "named by its file's stem: keep one or rename one")
        try:
            text = prompt.read_text(encoding="utf-8-sig").strip()  # -sig: a Windows editor's byte-order mark
        except UnicodeDecodeError:
            raise InputError(f"{prompt} is not UTF-8 text; save the prompt as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                             ) from None
        tasks.append(EvalTask(picture.stem, picture, mask, text, None))
    if not tasks:
        raise InputError(f"--tasks {folder}: no pictures in it (NAME{', '.join(PICTURE_SUFFIXES)} with its mask "
                         "NAME.mask.png and its prompt NAME.txt)")
    return tasks


def named_task_set(name: str) -> list[EvalTask]:
    """The task set ``name``: ``toy:N`` or a folder (module docstring)."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"--tasks {name!r}: give toy:N or a folder of NAME.png, NAME.mask.png and NAME.txt "
                         "(an empty value: an unset shell variable?)")
    found = re.fullmatch(r"toy:(\d+)", name.strip())
    if found:
        count = int(found[1])
        if not 1 <= count <= 10_000:
            raise InputError(f"--tasks {name}: the toy task set holds 1 to 10000 tasks")
        return toy_tasks(count)
    if name.startswith("toy"):
        raise InputError(f"--tasks {name}: write toy:N, e.g. toy:100")
    return folder_tasks(name)
