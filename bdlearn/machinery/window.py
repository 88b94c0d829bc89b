"""The square window of the user's photo that the model edits, and the way back to the whole photo.

The diffusion model works on S x S images (S = 256 for the real world, 32 for the toy world); a
photo is any size. bdlearn edits a square **window** of it and pastes the result back:

1. :func:`choose_window`: by default a square around the mask's bounding box with a margin of
   context (half the box's longer side on each side), never smaller than S pixels (so a small
   region gets the model's full resolution without being blown up), clipped to the photo and
   padded (by reflection) where the photo is too small. ``fit="image"`` takes the whole photo,
   padded to a square.
2. :func:`to_model`: the window resized to S x S (Lanczos, antialiased when it shrinks) and the
   model's mask. A model pixel is in the mask when any user pixel under it is, and the model's mask
   is then grown by the footprint of the resampling back (:func:`paste_back`), so every edited pixel
   of the photo is computed from model pixels that the edit produced, never from the model's
   blurred copy of the background.
3. :func:`paste_back`: the edited window resized to the window's size (bilinear) and composited:
   inside the user's mask the edit, outside it the photo's own pixels, exactly.

The paper and the official code have none of this: they squash every photo to 256x256.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from bdlearn.checks import checked_integer, shown
from bdlearn.choices import WindowFit
from bdlearn.errors import InputError

#: Context around the mask's bounding box, on each side, as a fraction of the box's longer side.
CONTEXT = 0.5


@dataclass(frozen=True)
class EditWindow:
    """A square of the photo: its top-left corner (``left``, ``top``, which may be negative where
    the window reaches past the photo and is padded) and ``side`` in the photo's pixels; the
    photo's size; and the model's side it is resized to."""

    left: int
    top: int
    side: int
    image_height: int
    image_width: int
    model_side: int

    @property
    def scale(self) -> float:
        """Model pixels per photo pixel (above 1: the window is enlarged for the model)."""
        return self.model_side / self.side

    @property
    def is_whole_image(self) -> bool:
        """The window is exactly the (square) photo."""
        return (self.left, self.top, self.side, self.side) == (0, 0, self.image_width, self.image_height)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def area(self) -> np.ndarray:
        """The photo's pixels inside the window: an HxW bool array."""
        inside = np.zeros((self.image_height, self.image_width), bool)
        inside[max(self.top, 0):self.top + self.side, max(self.left, 0):self.left + self.side] = True
        return inside


def _place(centre: float, side: int, length: int) -> int:
    """Where a window of ``side`` starts along an axis of ``length``: centred on ``centre``, moved
    inside the photo where it fits, centred on the photo (padded on both sides) where it does not."""
    if side >= length:
        return -((side - length) // 2)
    start = round(centre - side / 2)
    return min(max(start, 0), length - side)


def choose_window(mask: np.ndarray, model_side: int, fit: WindowFit = "mask") -> EditWindow:
    """The window to edit for a user's ``mask`` (HxW bool, True = edit) and a model of side ``model_side``
    (a positive int); see the module's rules."""
    if fit not in ("mask", "image"):
        raise ValueError(f"window fit must be 'mask' or 'image', got {fit!r}")
    model_side = checked_integer("model_side", model_side, 1, hint=" (the model's image side, e.g. 32 or 256)")
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"mask must be an HxW array, got shape {mask.shape}")
    height, width = mask.shape
    if fit == "image":
        side = max(height, width)
        return EditWindow(-((side - width) // 2), -((side - height) // 2), side, height, width, model_side)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("the mask selects nothing")
    box_top, box_bottom, box_left, box_right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    box_side = max(box_bottom - box_top, box_right - box_left)
    side = max(box_side + 2 * math.ceil(CONTEXT * box_side), model_side)
    side = min(side, max(height, width))
    left = _place((box_left + box_right) / 2, side, width)
    top = _place((box_top + box_bottom) / 2, side, height)
    return EditWindow(left, top, side, height, width, model_side)


def _crop(array: np.ndarray, window: EditWindow, pad_mode: str) -> np.ndarray:
    """The window's square of ``array`` (HxW or HxWxC), padded where it reaches past the photo."""
    height, width = array.shape[:2]
    before_y, before_x = max(0, -window.top), max(0, -window.left)
    after_y = max(0, window.top + window.side - height)
    after_x = max(0, window.left + window.side - width)
    pads = [(before_y, after_y), (before_x, after_x)] + [(0, 0)] * (array.ndim - 2)
    if any(before or after for before, after in pads):
        mode = pad_mode if min(height, width) > 1 else "edge"
        array = np.pad(array, pads, mode=mode) if mode != "constant" else np.pad(array, pads)
    top, left = window.top + before_y, window.left + before_x
    return array[top:top + window.side, left:left + window.side]


def mask_growth(window: EditWindow) -> int:
    """Model pixels to grow the model's mask by, so that the bilinear resampling of
    :func:`paste_back` reads only edited model pixels for every pixel of the user's mask: none where
    the window is the model's size (nothing is resampled), else the filter's reach (one model pixel
    when enlarging, ``scale`` when shrinking) and one more for the coverage's rounding."""
    if window.side == window.model_side:
        return 0
    return math.ceil(max(1.0, window.scale)) + 1


def check_fits(image: np.ndarray, mask: np.ndarray, window: EditWindow) -> None:
    """Refuse an ``image`` that is not HxWx3 uint8 (what :func:`~bdlearn.machinery.inputs.read_image` gives),
    a ``mask`` of another HxW, and a ``window`` that is not an :class:`EditWindow` or was chosen for a picture of
    another size."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else (
            type(image).__name__)
        raise TypeError(f"image must be an HxWx3 uint8 array (read_image gives one), got a {described}")
    height, width = image.shape[:2]
    if np.shape(mask) != (height, width):
        raise InputError(f"mask has shape {np.shape(mask)}; it must be the image's HxW, {(height, width)}")
    if not isinstance(window, EditWindow):
        raise TypeError(f"window must be an EditWindow (choose_window(mask, ...) gives one), got {shown(window)}")
    if (window.image_height, window.image_width) != (height, width):
        raise InputError(f"the window was chosen for a {window.image_height}x{window.image_width} picture, and the "
                         f"image is {height}x{width}; choose it with choose_window(mask, ...) for this picture's mask")


def to_model(image: np.ndarray, mask: np.ndarray, window: EditWindow) -> tuple[torch.Tensor, torch.Tensor]:
    """The window of ``image`` (HxWx3 uint8) and ``mask`` (HxW bool) as the model's inputs:
    a [1, 3, S, S] float32 tensor in [−1, 1] and a [1, 1, S, S] tensor of 0s and 1s. ``window`` is
    :func:`choose_window`'s for this mask (:func:`check_fits`)."""
    check_fits(image, mask, window)
    size = window.model_side
    square = Image.fromarray(_crop(image, window, "reflect"), "RGB")
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    pixels = torch.from_numpy(np.asarray(square, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    coverage = Image.fromarray(_crop(mask, window, "constant").astype(np.float32), "F")
    if coverage.size != (size, size):
        coverage = coverage.resize((size, size), Image.Resampling.BOX)
    model_mask = np.asarray(coverage) > 0
    if mask_growth(window):
        model_mask = ndimage.binary_dilation(model_mask, iterations=mask_growth(window))
    return pixels, torch.from_numpy(model_mask).to(torch.float32)[None, None]


#: How pixels in [−1, 1] become uint8: rounded (bdlearn), or truncated (the official code's PNGs).
Rounding = Literal["round", "truncate"]


def to_pixels(images: torch.Tensor, rounding: Rounding = "round") -> torch.Tensor:
    """Images in [−1, 1] as uint8 pixels (same shape): ×255 rounded, as bdlearn writes them, or
    truncated, as the official code's PNG writer does (:mod:`bdlearn.editing.variants`)."""
    if rounding == "truncate":
        return (((images.detach().double() + 1) / 2).clamp(0, 1) * 255).to(torch.uint8)
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def paste_back(edit: torch.Tensor, image: np.ndarray, mask: np.ndarray, window: EditWindow,
               rounding: Rounding = "round") -> np.ndarray:
    """The photo with the edited window (``edit``, [3, S, S] in [−1, 1]) inside ``mask``: HxWx3 uint8,
    equal to ``image`` wherever ``mask`` is False; ``rounding`` as in :func:`to_pixels`. ``image``, ``mask``
    and ``window`` are :func:`to_model`'s (:func:`check_fits`)."""
    check_fits(image, mask, window)
    pixels = to_pixels(edit, rounding).permute(1, 2, 0).cpu().numpy()
    square = Image.fromarray(pixels, "RGB")
    if square.size != (window.side, window.side):
        square = square.resize((window.side, window.side), Image.Resampling.BILINEAR)
    edited = np.asarray(square)
    height, width = image.shape[:2]
    top, left = max(window.top, 0), max(window.left, 0)
    bottom, right = min(window.top + window.side, height), min(window.left + window.side, width)
    result = image.copy()
    region = mask[top:bottom, left:right]
    inside = edited[top - window.top:bottom - window.top, left - window.left:right - window.left]
    result[top:bottom, left:right][region] = inside[region]
    return result
