"""Checks of the arguments CLIP and the editing method share: a batch of images, embeddings.

Each refusal is an :class:`~bdlearn.errors.InputError` (a ValueError), or a TypeError for an argument of the wrong
type, that names the argument and says what is accepted. The checks read shapes, dtypes and names only, never a
tensor's values, so they cost nothing in code that runs at every denoising step, on a GPU too (the checks of values
are in :mod:`bdlearn.editing.checks`). They live here, below :mod:`bdlearn.editing`, which imports them, so that the
editing method's building blocks refuse an image batch in the same words as
:meth:`~bdlearn.clip.bundle.ClipBundle.encode_image`.
"""
from __future__ import annotations

from typing import Any

import torch

from bdlearn.errors import InputError

__all__ = ["broadcasts", "check_embeddings", "check_images"]


def check_images(name: str, images: Any, channels: int | None = None) -> None:
    """Refuse anything but a floating-point tensor of at least one image [B, C, H, W] (C = ``channels`` if given)."""
    want = f"[B, {channels if channels is not None else 'C'}, H, W]"
    if not isinstance(images, torch.Tensor):
        hint = " (torch.from_numpy turns an array into one)" if hasattr(images, "__array__") else ""
        raise TypeError(f"{name} must be a torch.Tensor {want} in [−1, 1], got {type(images).__name__}{hint}")
    if not images.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor in [−1, 1], got {images.dtype} (pixels in "
                         "[0, 255]: x.float() / 127.5 - 1)")
    if images.ndim != 4 or (channels is not None and images.shape[1] != channels):
        last = " (channels last? x.permute(0, 3, 1, 2))" if images.ndim == 4 and images.shape[-1] == channels else ""
        raise InputError(f"{name} must have the shape {want} (a batch of images), got {tuple(images.shape)}{last}")
    if images.shape[0] == 0:
        raise InputError(f"{name} must hold at least one image, got shape {tuple(images.shape)}")


def check_embeddings(a: Any, b: Any) -> None:
    """Refuse embeddings ``a`` and ``b`` that are not tensors of one width whose other dimensions broadcast
    (e.g. [N, D] and [N, D], or [N, D] and [1, D])."""
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, torch.Tensor) or value.ndim == 0:
            raise TypeError(f"{name} must be a tensor of embeddings [..., D], got {type(value).__name__}")
    if a.shape[-1] != b.shape[-1] or not broadcasts(a.shape, b.shape):
        raise InputError(f"embeddings a {tuple(a.shape)} and b {tuple(b.shape)} must have one width D and "
                         "otherwise broadcast: [N, D] with [N, D] or [1, D]")


def broadcasts(shape: torch.Size, *others: torch.Size) -> bool:
    """Whether tensors of ``shape`` and ``others`` broadcast together (to ``shape`` when it is the largest)."""
    try:
        torch.broadcast_shapes(shape, *others)
    except RuntimeError:
        return False
    return True
