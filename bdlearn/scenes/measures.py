"""Judge-free measures of an edit: how much the background changed, and the seam at the mask's edge.

Both take pictures as (H, W, 3) arrays in [0, 1] (a float array) or 0..255 (uint8), as the judge
does, and a (H, W) bool mask that is True where the edit goes.

* :func:`background_error`: the root-mean-square change of the pixels *outside* the mask. 0 means
  the background is the input's; Blended Diffusion's final replacement makes it exactly 0.
* :func:`seam`: the mean absolute jump between 4-neighbour pixels on either side of the mask's
  edge. Compared with the same figure for the input (the picture's own contrast there), a much
  larger value is a visible seam: the edited region does not continue its surroundings.
"""
from __future__ import annotations

import numpy as np


def _unit(image: np.ndarray) -> np.ndarray:
    """A picture as float64 in [0, 1] (uint8 pictures are divided by 255)."""
    image = np.asarray(image)
    return image.astype(np.float64) / 255 if image.dtype == np.uint8 else image.astype(np.float64)


def background_error(edited: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """RMS of ``edited − original`` over the pixels outside ``mask`` (and all three channels), in [0, 1]."""
    outside = ~np.asarray(mask, dtype=bool)
    change = _unit(edited)[outside] - _unit(original)[outside]
    return float(np.sqrt((change**2).mean())) if change.size else 0.0


def seam(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean |image(p) − image(q)| over 4-neighbours p, q on opposite sides of the mask's edge, in [0, 1].

    Each pair's difference is averaged over the colour channels. 0 for a mask with no edge (empty,
    or the whole picture).
    """
    pixels, mask = _unit(image), np.asarray(mask, dtype=bool)
    jumps = []
    for axis in (0, 1):
        here, there = [slice(None)] * 2, [slice(None)] * 2
        here[axis], there[axis] = slice(None, -1), slice(1, None)
        crossing = mask[tuple(here)] != mask[tuple(there)]
        jumps.append(np.abs(pixels[tuple(here)] - pixels[tuple(there)])[crossing].mean(axis=-1))
    jumps = np.concatenate(jumps)
    return float(jumps.mean()) if jumps.size else 0.0
