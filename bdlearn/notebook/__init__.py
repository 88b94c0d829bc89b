"""The notebook side: plots, the exercise checker, and one module per widget.

Plots of images, trajectories and CLIP similarities (:mod:`.plotting`); ``check(name, mine,
reference)`` for exercises (:mod:`.exercises`); pictures as PNG bytes (:mod:`.pictures`); sliders
over cached pictures (:mod:`.image_slider`); the mask drawer (:mod:`.mask_drawer`); the
interactive editor (:mod:`.editor`); claims a notebook checks in its own run, and its seed (:mod:`.claims`).

Importing it does not load CLIP or the augmentations: :class:`EditorApp`, which edits, loads its
module (and with it :func:`bdlearn.edit`) on first use, so notebooks 01-02 start quickly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from bdlearn._lazy import lazy_names
from bdlearn.notebook.claims import claim, claim_greater, mean_value, notebook_seed, success_rate
from bdlearn.notebook.exercises import check
from bdlearn.notebook.image_slider import gallery_slider, trajectory_slider
from bdlearn.notebook.mask_drawer import MaskDrawer, mask_drawer, preset_masks
from bdlearn.notebook.plotting import (
    animate_trajectory,
    edit_figure,
    equation_figure,
    mask_overlay,
    show_images,
    similarity_heatmap,
    to_display,
    trajectory_grid,
    zero_shot_bars,
)

#: Names whose module edits (CLIP, kornia), imported on first use (PEP 562).
_LAZY = {"EditorApp": "bdlearn.notebook.editor"}

if TYPE_CHECKING:
    from bdlearn.notebook.editor import EditorApp

__all__ = [
    "EditorApp",
    "MaskDrawer",
    "animate_trajectory",
    "check",
    "claim",
    "claim_greater",
    "edit_figure",
    "equation_figure",
    "gallery_slider",
    "mask_drawer",
    "mask_overlay",
    "mean_value",
    "notebook_seed",
    "preset_masks",
    "show_images",
    "similarity_heatmap",
    "success_rate",
    "to_display",
    "trajectory_grid",
    "trajectory_slider",
    "zero_shot_bars",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
