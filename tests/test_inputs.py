"""Turning user inputs into tensors: every accepted form, the resizing rule, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bdlearn.machinery.inputs import InputError, check_prompt, load_image, load_mask


def _rgb(h=40, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_forms_agree(tmp_path):
    array = _rgb()
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    expected = load_image(array, 32)
    assert expected.shape == (1, 3, 32, 32) and expected.dtype == torch.float32
    assert -1 <= expected.min() and expected.max() <= 1
    for form in (Image.fromarray(array), str(path), path, array.astype(np.float32) / 255,
                 torch.from_numpy(array).permute(2, 0, 1), Image.fromarray(array).convert("RGBA")):
        torch.testing.assert_close(load_image(form, 32), expected, atol=1 / 127.5, rtol=0)


def test_greyscale_and_palette_become_rgb():
    grey = np.full((16, 16), 200, dtype=np.uint8)
    out = load_image(grey, 16)
    assert out.shape == (1, 3, 16, 16) and torch.allclose(out[0, 0], out[0, 2])
    assert load_image(Image.fromarray(grey).convert("P"), 16).shape == (1, 3, 16, 16)


def test_centre_square_crop_then_resize():
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, 10:30] = 255  # the centred 20x20 square is all white
    assert torch.all(load_image(wide, 10) == 1)


def test_mask_forms_binarise_at_half_scale():
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[8:16, 8:16] = 200
    mask[20:24, 20:24] = 100  # below half of 255: not selected
    out = load_mask(mask, 32)
    assert out.shape == (1, 1, 32, 32) and set(out.unique().tolist()) == {0.0, 1.0}
    assert out.sum() == 64
    assert torch.equal(load_mask(mask > 127, 32), out)
    assert torch.equal(load_mask(mask.astype(np.float32) / 255, 32), out)
    assert torch.equal(load_mask(Image.fromarray(mask), 32), out)
    assert torch.equal(load_mask(mask, 32, invert=True), 1 - out)


def test_mask_resizes_with_nearest_neighbour():
    mask = np.zeros((64, 64), dtype=bool)
    mask[:32] = True
    out = load_mask(mask, 32)
    assert out[0, 0, :16].all() and not out[0, 0, 16:].any()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((8, 8)), "selects nothing"),
    (np.full((8, 8), np.nan), "NaN"),
    (np.zeros((2, 8, 8, 3)), "one mask at a time"),
    (np.zeros((8, 8, 2)), "expected"),
])
def test_bad_masks(bad, message):
    with pytest.raises(InputError, match=message):
        load_mask(bad, 8)


def test_mask_with_other_aspect_ratio_is_an_error():
    with pytest.raises(InputError, match="aspect"):
        load_mask(np.ones((10, 20), dtype=bool), 8, image_shape=(20, 20))


def test_bad_images(tmp_path):
    with pytest.raises(InputError, match="NaN"):
        load_image(np.full((8, 8, 3), np.nan, dtype=np.float32), 8)
    with pytest.raises(InputError, match="\\[0, 1\\]"):
        load_image(np.full((8, 8, 3), 3.0, dtype=np.float32), 8)
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "absent.png", 8)
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        load_image(tmp_path / "fake.png", 8)


def test_inputs_not_modified():
    array = _rgb()
    copy = array.copy()
    load_image(array, 16)
    load_mask(array[..., 0] > 100, 16)
    assert np.array_equal(array, copy)


def test_prompt_checks():
    assert check_prompt("  a red circle ") == "a red circle"
    with pytest.raises(InputError, match="empty"):
        check_prompt("   ")
