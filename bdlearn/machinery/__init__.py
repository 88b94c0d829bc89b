"""What :func:`bdlearn.edit` needs besides the method: the machinery between a user's photo and the model.

* :mod:`.inputs`: reading images, masks and prompts, of any size, mode and type, with clear errors;
  ``load_image`` / ``load_mask`` make the square model inputs the notebooks use;
* :mod:`.window`: the square of a photo the model edits, and the way back to the whole photo;
* :mod:`.settings`: every option of ``edit`` checked before any work, unset ones from the world's defaults;
* :mod:`.cost`: what an edit costs before it runs (memory per edit, arithmetic), and the batch that fits;
* :mod:`.batches`: running the repetitions a batch at a time, a smaller batch after running out of GPU memory.

The paper's method itself, on tensors at the model's side, is :mod:`bdlearn.editing`. Importing
this package is light (NumPy, PIL, torch): the cost names load :mod:`.cost`, and with it CLIP and
the augmentations, on first use, so notebook 01 can read an image without them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from bdlearn._lazy import lazy_names
from bdlearn.machinery.inputs import InputError, load_image, load_mask, read_image, read_mask
from bdlearn.machinery.window import choose_window, to_model

#: Names whose module needs the editing method (CLIP, kornia), imported on first use (PEP 562).
_LAZY = {"plan_batches": "bdlearn.machinery.cost"}

if TYPE_CHECKING:
    from bdlearn.machinery.cost import plan_batches

__all__ = [
    "InputError",
    "choose_window",
    "load_image",
    "load_mask",
    "plan_batches",
    "read_image",
    "read_mask",
    "to_model",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
