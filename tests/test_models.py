"""Loading the toy world's models: one call, clear errors for missing or corrupt files."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch

from bdlearn.diffusion.unet import UNet
from bdlearn.worlds.checkpoint import CheckpointError, weight_card
from bdlearn.worlds.load import load_world
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS, TOY_UNET_CONFIG, load_toy_world, toy_unet_config
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS

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


@needs_weights
def test_the_shipped_card_names_the_toy_architecture():
    assert toy_unet_config(TOY_DDPM_WEIGHTS) == TOY_UNET_CONFIG


@needs_weights
def test_a_toy_ddpm_of_another_size_loads_from_its_card(tmp_path):
    """Weights trained with another UNet config load through the ``unet`` entry of their card."""
    from safetensors.torch import save_file

    wider = replace(TOY_UNET_CONFIG, model_channels=16, channel_mult=(1, 2, 3), num_head_channels=16)
    weights = tmp_path / "wider.safetensors"
    save_file(UNet(wider).state_dict(), weights)
    assert toy_unet_config(weights) == TOY_UNET_CONFIG  # no card yet: the shipped architecture
    with pytest.raises(CheckpointError, match="does not fit"):
        load_toy_world(ddpm_path=weights)
    weights.with_suffix(".json").write_text(json.dumps({"unet": wider.to_dict()}))
    world = load_toy_world(ddpm_path=weights)
    assert world.unet.config == wider


def test_a_card_that_is_not_one_is_a_clear_error(tmp_path):
    weights = tmp_path / "toy_ddpm.safetensors"
    weights.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a toy DDPM weight card"):
        toy_unet_config(weights)
    weights.with_suffix(".json").write_text(json.dumps({"unet": replace(TOY_UNET_CONFIG, image_size=64).to_dict()}))
    with pytest.raises(CheckpointError, match="trained at 64x64"):
        toy_unet_config(weights)


def test_unknown_world():
    with pytest.raises(ValueError, match="unknown world"):
        load_world("imaginary")


@needs_weights
def test_toy_ddpm_sees_an_images_overall_colour():
    """At high noise the data's signal left in x_t is mostly its mean colour; ε_θ must follow it.

    Shifting x_t's red channel by δ = 0.1 at t = 800 must shift the red mean of ε̂ by a good part
    of δ (not all of it: part of the shift is better explained as a redder x_0). A UNet whose
    normalisation erases each channel's mean (32 groups over 32 channels, as guided-diffusion's
    default would give the toy UNet) moves it by about 0.001, and its samples get colour casts.
    """
    world = load_toy_world()
    x_t = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    t = torch.full((8,), 800)
    shift = torch.tensor([0.1, 0.0, 0.0]).view(1, 3, 1, 1)
    with torch.no_grad():
        moved = (world.unet(x_t + shift, t) - world.unet(x_t, t))[:, :3].mean(dim=(0, 2, 3))
    assert 0.03 < moved[0] < 0.12
    assert moved[1:].abs().max() < 0.02
