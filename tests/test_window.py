"""The full-size guarantee, as properties (Hypothesis): for any photo size and aspect, any mask shape
and position (touching the borders, outside the centre square, thin, tiny, nearly everything) and
both window fits, an edit comes back at the photo's size and equal to the photo outside the mask.

These exercise :mod:`bdlearn.machinery.window` directly with a stand-in "edit" (no model), so hundreds
of cases run in seconds; tests/test_toy_edits.py and test_bad_inputs.py run the real pipeline.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bdlearn.machinery.window import choose_window, paste_back, to_model

MODEL_SIDES = st.sampled_from([8, 32, 64])


@st.composite
def photo_and_mask(draw):
    """A random RGB photo and a random non-empty mask: a rectangle, a thin line or a few scattered pixels."""
    height, width = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), dtype=bool)
    kind = draw(st.sampled_from(["box", "row", "column", "pixels", "almost all"]))
    if kind == "box":
        top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        mask[top:top + draw(st.integers(1, height)), left:left + draw(st.integers(1, width))] = True
    elif kind == "row":
        mask[draw(st.integers(0, height - 1)), :] = True
    elif kind == "column":
        mask[:, draw(st.integers(0, width - 1))] = True
    elif kind == "pixels":
        count = draw(st.integers(1, 5))
        mask[rng.integers(0, height, count), rng.integers(0, width, count)] = True
    else:
        mask[:] = True
        mask[rng.integers(0, height), rng.integers(0, width)] = height * width == 1
    return image, mask


@settings(max_examples=300, deadline=None)
@given(photo_and_mask(), MODEL_SIDES, st.sampled_from(["mask", "image"]))
def test_outside_the_mask_the_photo_is_returned_exactly(case, model_side, fit):
    image, mask = case
    window = choose_window(mask, model_side, fit)
    pixels, model_mask = to_model(image, mask, window)
    assert pixels.shape == (1, 3, model_side, model_side) and model_mask.shape == (1, 1, model_side, model_side)
    edited = torch.rand(3, model_side, model_side) * 2 - 1  # any edit at all
    full = paste_back(edited, image, mask, window)
    assert full.shape == image.shape and full.dtype == np.uint8
    assert (full[~mask] == image[~mask]).all()


@settings(max_examples=300, deadline=None)
@given(photo_and_mask(), MODEL_SIDES, st.sampled_from(["mask", "image"]))
def test_every_mask_pixel_comes_from_edited_model_pixels(case, model_side, fit):
    """Paint the model's mask white and the rest black: inside the user's mask, the photo must come back
    all white, i.e. no pixel of the composite reads the model's (blurred) copy of the background."""
    image, mask = case
    window = choose_window(mask, model_side, fit)
    _, model_mask = to_model(image, mask, window)
    painted = model_mask[0].expand(3, -1, -1) * 2 - 1  # +1 (white) inside the model's mask, −1 outside
    full = paste_back(painted, image, mask, window)
    assert (full[mask] == 255).all()


@settings(max_examples=300, deadline=None)
@given(photo_and_mask(), MODEL_SIDES)
def test_the_mask_window_holds_the_whole_mask_and_at_least_the_model_side(case, model_side):
    image, mask = case
    height, width = mask.shape
    window = choose_window(mask, model_side, "mask")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert window.top <= rows[0] and rows[-1] < window.top + window.side
    assert window.left <= cols[0] and cols[-1] < window.left + window.side
    assert window.side >= min(model_side, max(height, width)) and window.side <= max(height, width)
    inside_x = window.side > width or 0 <= window.left <= width - window.side
    inside_y = window.side > height or 0 <= window.top <= height - window.side
    assert inside_x and inside_y, "a window that fits the photo must lie inside it (no needless padding)"


def test_a_small_region_of_a_large_photo_is_edited_at_the_model_resolution():
    mask = np.zeros((3000, 4000), dtype=bool)
    mask[2900:2950, 3900:3980] = True  # 80 px wide, near the bottom-right corner
    window = choose_window(mask, 256, "mask")
    assert window.side == 256 and window.left + window.side == 4000 and window.top + window.side == 3000


def test_the_image_window_is_the_whole_photo_padded_to_a_square():
    window = choose_window(np.ones((427, 640), dtype=bool), 256, "image")
    assert (window.side, window.left, window.top) == (640, 0, -106)
    with pytest.raises(ValueError, match="'mask' or 'image'"):
        choose_window(np.ones((4, 4), dtype=bool), 8, "centre")


def test_a_square_photo_of_the_model_side_is_passed_through_unchanged():
    """The toy tasks (32x32) and the demonstration photos (256x256) are their own window: the model sees
    exactly the photo and the user's mask, and the edit is pasted back unresampled."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), dtype=bool)
    mask[10:20, 12:18] = True
    window = choose_window(mask, 32, "mask")
    assert window.is_whole_image
    pixels, model_mask = to_model(image, mask, window)
    assert torch.equal(model_mask[0, 0], torch.from_numpy(mask).float())
    assert torch.allclose(pixels[0].permute(1, 2, 0), torch.from_numpy(image / 127.5 - 1).float(), atol=1e-6)
    assert (paste_back(pixels[0], image, mask, window) == image).all()
