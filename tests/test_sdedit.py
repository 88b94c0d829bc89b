"""SDEdit (Meng et al., ICLR 2022), beyond the paper: the whole picture noised and denoised, no mask, no
blending (on the small random models of conftest's ``world``)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from bdlearn.cli import main
from bdlearn.editing.guidance import clip_distance
from bdlearn.machinery.inputs import InputError
from bdlearn.pipeline import edit

FAST = dict(respacing="10", skip=5, num_augmentations=0, repetitions=3, progress=False, seed=2)


def _case():
    rng = np.random.default_rng(0)
    image = rng.random((32, 32, 3)).astype(np.float32)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 10:24] = True
    return image, mask


def test_unguided_sdedit_is_the_unguided_diffusion_of_the_whole_picture(world):
    """With no guidance at all, SDEdit and the local method draw the same noise and take the same steps."""
    image, mask = _case()
    off = dict(clip_weight=0.0, range_weight=0.0)
    sdedit = edit(image, mask, "a red circle", world, method="sdedit", **off, **FAST)
    local = edit(image, mask, "a red circle", world, method="local", **off, **FAST)
    def as_set(images):  # the two rank differently (the whole picture, the mask): compare the edits as a set
        return sorted(image.numpy().tobytes() for image in images)

    assert as_set(sdedit.images) == as_set(local.images)


def test_sdedit_guides_and_ranks_the_whole_picture_and_keeps_nothing(world):
    image, mask = _case()
    sdedit = edit(image, mask, "a red circle", world, method="sdedit", **FAST)
    local = edit(image, mask, "a red circle", world, method="local", **FAST)
    assert not torch.equal(sdedit.images, local.images), "the guidance saw only the mask"
    whole = torch.ones_like(sdedit.mask)[None].expand(len(sdedit.images), -1, -1, -1)
    text = world.clip.encode_text(["a red circle"])
    expected = clip_distance(world.clip, sdedit.images, whole, text, num_augmentations=0)
    assert torch.allclose(sdedit.distances, expected, atol=1e-6)
    assert torch.equal(sdedit.distances, sdedit.distances.sort().values), "not ranked best first"
    source = np.round(image * 255).astype(np.uint8)
    assert not np.array_equal(sdedit.full_size(0)[~mask], source[~mask]), "SDEdit has no final replacement"


def test_the_official_variant_has_no_sdedit():
    image, mask = _case()
    with pytest.raises(InputError, match="SDEdit runs with variant='paper'"):
        edit(image, mask, "a red circle", "toy", method="sdedit", variant="official", **FAST)


def test_the_report_says_sdedit_keeps_nothing(tmp_path, capsys):
    image, mask = _case()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(tmp_path / "in.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    assert main(["edit", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "--prompt",
                 "a red circle", "--out", str(out), "--method", "sdedit", "--respacing", "10", "--skip", "6",
                 "--repetitions", "1", "--augmentations", "0"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["method"] == "sdedit"
    assert report["outside_the_mask"] == "the model's whole window (SDEdit has no final replacement)"
