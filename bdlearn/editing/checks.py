"""Checks of the editing method's arguments: masks, pixel ranges, weights and the prompt's embedding.

The editing loop's mask is binary: 1 inside the region to edit, 0 outside. A soft mask (0.5 at the edge) has no
meaning here, since blending keeps a pixel or replaces it; it is refused, with how to binarise it, by :func:`blend`
and :func:`guided_edit_loop` alike (:func:`bdlearn.edit` binarises a user's mask itself).

Two kinds of check, by cost. Checks of shapes, dtypes and plain Python values read no tensor's values and cost
nothing, so the building blocks that run once per denoising step call them (:func:`check_masks`,
:func:`check_text_embedding`). Checks of values (:func:`check_binary_mask`,
:func:`check_pixel_range`) wait for the tensor's values, a host sync on a GPU; they run where an edit starts, once.
Every refusal is an :class:`~bdlearn.errors.InputError` (a ValueError), or a TypeError for an argument of the wrong
type, naming the argument and what it accepts. Plain numbers, seeds and names are
checked by :mod:`bdlearn.checks`, image batches by :mod:`bdlearn.clip.checks`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bdlearn.clip.checks import broadcasts
from bdlearn.errors import InputError

__all__ = ["check_binary_mask", "check_masks", "check_pixel_range", "check_text_embedding"]


def check_masks(name: str, masks: Any, images: Tensor, one: bool = False, broadcast: bool = False) -> None:
    """Refuse anything but a tensor of masks [B, 1, H, W], one per image of ``images`` [B, C, H, W]; with ``one``
    a single mask [1, 1, H, W] for them all; with ``broadcast`` any 4-D shape that broadcasts to the images'
    (e.g. [1, 1, H, W] or [B, C, H, W]). Shapes only."""
    count = 1 if one else images.shape[0]
    want = f"[{count}, 1, {images.shape[-2]}, {images.shape[-1]}]"
    which = ("one mask for all the images" if one else "one mask per image"
             + (", or a shape that broadcasts to the images'" if broadcast else ""))
    if not isinstance(masks, Tensor):
        raise TypeError(f"{name} must be a tensor {want} ({which}), got {type(masks).__name__}")
    fits = masks.shape == (count, 1, *images.shape[-2:])
    if broadcast and masks.ndim == 4 and broadcasts(masks.shape, images.shape):
        fits = torch.broadcast_shapes(masks.shape, images.shape) == images.shape
    if not fits:
        hint = "" if one else " (mask.expand(B, -1, -1, -1) repeats one mask)"
        raise InputError(f"{name} {tuple(masks.shape)} does not fit images {tuple(images.shape)}: expected {want} "
                         f"({which}){hint}")


def check_binary_mask(name: str, mask: Tensor) -> None:
    """Refuse a mask with values other than 0 and 1 (a bool mask passes unread). Reads the values: once per edit."""
    if mask.dtype != torch.bool and not ((mask == 0) | (mask == 1)).all():
        raise InputError(f"{name} must hold only 0s and 1s (1: the region to edit), got values such as "
                         f"{float(mask[(mask != 0) & (mask != 1)][0]):g}; binarise a soft mask, e.g. "
                         f"({name} > 0.5).float()")


def check_pixel_range(name: str, images: Tensor) -> None:
    """Refuse images with values outside [−1, 1], the model's range. Reads the values: once per edit."""
    low, high = float(images.min()), float(images.max())
    if not -1 <= low <= high <= 1:
        raise InputError(f"{name} must hold pixels in [−1, 1], got values in [{low:g}, {high:g}] (from [0, 255]: "
                         "x / 127.5 - 1; from [0, 1]: x * 2 - 1)")


def check_text_embedding(text_embedding: Any, width: int | None = None) -> None:
    """Refuse anything but the prompt's embedding [1, D] (D = ``width`` when given): ``clip.encode_text([prompt])``."""
    want = f"[1, {width if width is not None else 'D'}]"
    if not isinstance(text_embedding, Tensor):
        raise TypeError(f"text_embedding must be the prompt's CLIP embedding {want} (clip.encode_text([prompt])), "
                        f"got {type(text_embedding).__name__}")
    if text_embedding.ndim != 2 or text_embedding.shape[0] != 1 or (width is not None
                                                                     and text_embedding.shape[1] != width):
        raise InputError(f"text_embedding must be one prompt's CLIP embedding {want}"
                         f"{' (this CLIP embeds in that width)' if width is not None else ''}, got shape "
                         f"{tuple(text_embedding.shape)}")
