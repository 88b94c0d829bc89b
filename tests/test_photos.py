"""The demonstration photos: present, small, licensed, with usable masks and prompts."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bdlearn.worlds.photos import PHOTOS_DIR, list_photos, load_photo


def test_few_small_photos():
    assert 1 <= len(list_photos()) <= 5
    assert sum(f.stat().st_size for f in PHOTOS_DIR.iterdir()) <= 2_000_000


@pytest.mark.parametrize("name", list_photos())
def test_photo(name):
    photo = load_photo(name)
    assert photo.licence in ("public domain", "CC0") and photo.source and photo.credit
    image = Image.open(photo.image)
    assert image.mode == "RGB" and min(image.size) >= 256, "at least the real model's side, at the original size"
    assert photo.edits and len(photo.masks) == len(photo.prompts)
    for mask_path, prompt in zip(photo.masks, photo.prompts):
        mask = np.asarray(Image.open(mask_path))
        assert mask.shape == image.size[::-1] and set(np.unique(mask)) == {0, 255}, "a mask at the photo's size"
        assert 0.01 < (mask == 255).mean() < 0.5, "an edit region covers part of the photo"
        assert prompt.strip()


def test_unknown_photo_names_the_choices():
    with pytest.raises(KeyError, match="astronaut"):
        load_photo("mona lisa")
