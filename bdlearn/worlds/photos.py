"""Real photographs to edit with the real models: each with masks, prompts, source and licence.

The photos ship inside the package, in ``data/photos/`` (``bdlearn/data/photos/`` once installed; at
their original sizes, public domain or CC0; see its README), described by its ``photos.json``. A mask,
at its photo's size, is white where the edit goes, the form :func:`bdlearn.edit` takes; the edits come
back at that size::

    photo = load_photo("coffee")
    edit(photo.image, photo.masks[0], photo.prompts[0], world="real")
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bdlearn.worlds.package_data import DATA_DIR, shipped_file

PHOTOS_DIR = DATA_DIR / "photos"


@dataclass(frozen=True)
class PhotoEdit:
    """One demonstration edit of a photo: the region to change and what it should show."""

    mask: Path
    region: str
    """The masked region in words, e.g. "the helmet"."""
    prompt: str


@dataclass(frozen=True)
class Photo:
    """A photo with its demonstration edits, where it comes from and under which licence."""

    name: str
    image: Path
    title: str
    source: str
    credit: str
    licence: str
    edits: tuple[PhotoEdit, ...]

    @property
    def masks(self) -> list[Path]:
        """The mask of every edit, in order."""
        return [e.mask for e in self.edits]

    @property
    def prompts(self) -> list[str]:
        """The prompt of every edit, in order (``prompts[i]`` goes with ``masks[i]``)."""
        return [e.prompt for e in self.edits]


def _catalogue() -> dict[str, dict]:
    entries = json.loads(shipped_file(PHOTOS_DIR / "photos.json").read_text())["photos"]
    return {entry["name"]: entry for entry in entries}


def list_photos() -> list[str]:
    """The names of the photos, e.g. ``["astronaut", "coffee", ...]``."""
    return list(_catalogue())


def load_photo(name: str) -> Photo:
    """The photo ``name`` with paths to its image and masks; raises KeyError naming the choices."""
    catalogue = _catalogue()
    if name not in catalogue:
        raise KeyError(f"no photo named {name!r}; choose from {sorted(catalogue)}")
    entry = catalogue[name]
    edits = tuple(PhotoEdit(PHOTOS_DIR / e["mask"], e["region"], e["prompt"]) for e in entry["edits"])
    return Photo(name, PHOTOS_DIR / entry["image"], entry["title"], entry["source"], entry["credit"],
                 entry["licence"], edits)
