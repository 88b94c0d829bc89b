"""Judge-free measures of an edit: how much the background changed, and the seam at the mask's edge.

Both take pictures as (H, W, 3) arrays in [0, 1] (a float array) or 0..255 (uint8), as the judge
does (:func:`read_picture`), and a (H, W) bool mask of the picture's size that is True where the edit
goes (:func:`read_region`); anything else is refused with an error that says what is accepted.

* :func:`background_error`: the root-mean-square change of the pixels *outside* the mask. 0 means
  the background is the input's; Blended Diffusion's final replacement makes it exactly 0.
* :func:`seam`: the mean absolute jump between 4-neighbour pixels on either side of the mask's
  edge. Compared with the same figure for the input (the picture's own contrast there), a much
  larger value is a visible seam: the edited region does not continue its surroundings.
"""
from __future__ import annotations

import numpy as np

from bdlearn.errors import InputError


def read_picture(image: np.ndarray, name: str = "image") -> np.ndarray:
    """``image``, an (H, W, 3) RGB picture of floats in [0, 1] or of uint8 values 0..255, as float64 in [0, 1]
    (uint8 pictures are divided by 255); ``name`` names it in a refusal."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InputError(f"{name} must be an (H, W, 3) RGB picture, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name} must hold floats in [0, 1] or uint8 values 0..255, got dtype {array.dtype}")
    if array.size and (array.min() < -1e-6 or array.max() > 1 + 1e-6):
        raise InputError(f"{name} must hold floats in [0, 1], got [{array.min():.3g}, {array.max():.3g}] (from the "
                         "model's [−1, 1]: (x + 1) / 2)")
    return array.astype(np.float64)


def read_region(mask: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """``mask`` as a bool array, refused unless it is the (H, W) of ``picture``, an (H, W, 3) picture."""
    region = np.asarray(mask, dtype=bool)
    if region.shape != picture.shape[:2]:
        raise InputError(f"mask has shape {region.shape}; it must be the picture's (H, W), {picture.shape[:2]}")
    return region


def background_error(edited: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """RMS of ``edited − original`` over the pixels outside ``mask`` (and all three channels), in [0, 1]."""
    edited, original = read_picture(edited, "edited"), read_picture(original, "original")
    if edited.shape != original.shape:
        raise InputError(f"edited has shape {edited.shape} and original {original.shape}; "
                         "compare an edit with the picture it was made from, at the same size")
    outside = ~read_region(mask, original)
    change = edited[outside] - original[outside]
    return float(np.sqrt((change**2).mean())) if change.size else 0.0


def seam(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean |image(p) − image(q)| over 4-neighbours p, q on opposite sides of the mask's edge, in [0, 1].

    Each pair's difference is averaged over the colour channels. 0 for a mask with no edge (empty,
    or the whole picture).
    """
    pixels = read_picture(image)
    mask = read_region(mask, pixels)
    jumps = []
    for axis in (0, 1):
        here, there = [slice(None)] * 2, [slice(None)] * 2
        here[axis], there[axis] = slice(None, -1), slice(1, None)
        crossing = mask[tuple(here)] != mask[tuple(there)]
        jumps.append(np.abs(pixels[tuple(here)] - pixels[tuple(there)])[crossing].mean(axis=-1))
    jumps = np.concatenate(jumps)
    return float(jumps.mean()) if jumps.size else 0.0
