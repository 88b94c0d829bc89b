"""bdlearn: Blended Diffusion, taught from first principles.

``edit(image, mask, prompt)`` edits the masked region of an image to match the prompt;
``load_world("toy" | "real")`` loads the models it runs on.

The subpackages follow the course: :mod:`bdlearn.diffusion` (the diffusion core),
:mod:`bdlearn.clip`, :mod:`bdlearn.editing` (the method of the paper), :mod:`bdlearn.machinery`
(what :func:`edit`, in :mod:`bdlearn.pipeline`, needs besides the method: inputs, windows, settings,
batches), :mod:`bdlearn.worlds` (the two model worlds), :mod:`bdlearn.scenes` (the toy world's scenes and judge),
:mod:`bdlearn.training` and :mod:`bdlearn.notebook` (plots and widgets).

``import bdlearn`` is light: the names below load their modules (and open_clip, kornia, lpips)
the first time they are used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from bdlearn._lazy import lazy_names

__version__ = "0.1.0"

#: The top-level names and the module each one lives in, imported on first use (PEP 562).
_LAZY = {
    "edit": "bdlearn.pipeline",
    "EditResult": "bdlearn.pipeline",
    "load_world": "bdlearn.worlds.load",
    "ModelWorld": "bdlearn.worlds.world",
}

if TYPE_CHECKING:
    from bdlearn.pipeline import EditResult, edit
    from bdlearn.worlds.load import load_world
    from bdlearn.worlds.world import ModelWorld

__all__ = ["EditResult", "ModelWorld", "__version__", "edit", "load_world"]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
