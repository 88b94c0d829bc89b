"""The judge-free measures of an edit: background error and the seam at the mask's edge."""
from __future__ import annotations

import numpy as np

from bdlearn.scenes import background_error, seam


def _box(size: int = 8) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[2:6, 2:6] = True
    return mask


def test_background_error_counts_only_pixels_outside_the_mask():
    mask = _box()
    original = np.full((8, 8, 3), 0.5)
    inside_only = original.copy()
    inside_only[mask] = 1.0
    assert background_error(inside_only, original, mask) == 0.0
    shifted = original + 0.1
    assert np.isclose(background_error(shifted, original, mask), 0.1)


def test_seam_is_the_step_at_the_edge_and_zero_for_a_smooth_picture():
    mask = _box()
    flat = np.full((8, 8, 3), 0.3)
    assert seam(flat, mask) == 0.0
    stepped = flat.copy()
    stepped[mask] = 0.7  # a region painted without regard to its surroundings
    assert np.isclose(seam(stepped, mask), 0.4)
    # a step one pixel inside the edge is not a seam: both sides of the edge agree
    inner = flat.copy()
    inner[3:5, 3:5] = 0.7
    assert seam(inner, mask) == 0.0


def test_uint8_pictures_are_read_in_unit_range():
    mask = _box()
    picture = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    assert np.isclose(seam(picture, mask), seam(picture / 255, mask))
    assert np.isclose(background_error(picture, np.zeros_like(picture), mask),
                      background_error(picture / 255, np.zeros((8, 8, 3)), mask))


def test_a_mask_without_an_edge_has_no_seam():
    picture = np.random.default_rng(1).random((8, 8, 3))
    assert seam(picture, np.zeros((8, 8), dtype=bool)) == 0.0
    assert seam(picture, np.ones((8, 8), dtype=bool)) == 0.0
