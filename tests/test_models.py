"""Loading the toy world's models: one call, clear errors for missing or corrupt files."""
from __future__ import annotations

import shutil

import pytest
import torch

from bdlearn.checkpoint import CheckpointError
from bdlearn.models import TOY_DDPM_WEIGHTS, load_toy_world, load_world, weight_card
from bdlearn.toy_clip import TOY_CLIP_WEIGHTS

needs_weights = pytest.mark.skipif(not (TOY_DDPM_WEIGHTS.exists() and TOY_CLIP_WEIGHTS.exists()),
                                   reason="the toy weights are not in data/ (run `bdlearn train`)")


@needs_weights
def test_toy_world_loads_in_one_call():
    world = load_toy_world()
    assert world.name == "toy" and world.image_size == 32
    with torch.no_grad():
        out = world.unet(torch.zeros(2, 3, 32, 32), torch.tensor([0.0, 999.0]))
    assert out.shape == (2, 6, 32, 32) and torch.isfinite(out).all()
    text = world.clip.encode_text(["a red circle"])
    assert text.shape[0] == 1 and torch.isclose(text.norm(), torch.tensor(1.0))
    assert not any(p.requires_grad for p in world.unet.parameters())


@needs_weights
def test_weight_cards_describe_the_weights():
    for path in (TOY_DDPM_WEIGHTS, TOY_CLIP_WEIGHTS):
        card = weight_card(path)
        assert card["steps"] > 0 and card["training_seconds"] > 0 and "machine" in card


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*absent.safetensors"):
        load_toy_world(ddpm_path=tmp_path / "absent.safetensors")


@needs_weights
def test_corrupt_weights_are_a_clear_error(tmp_path):
    corrupt = tmp_path / "toy_ddpm.safetensors"
    corrupt.write_bytes(TOY_DDPM_WEIGHTS.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="toy_ddpm.safetensors"):
        load_toy_world(ddpm_path=corrupt)
    wrong = tmp_path / "clip_as_ddpm.safetensors"
    shutil.copy(TOY_CLIP_WEIGHTS, wrong)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_toy_world(ddpm_path=wrong)


def test_unknown_world():
    with pytest.raises(ValueError, match="unknown world"):
        load_world("imaginary")
