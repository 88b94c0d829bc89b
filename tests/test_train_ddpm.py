"""The toy DDPM trainer: checkpoints resume where they stopped, and exported weights load."""
from __future__ import annotations

from dataclasses import replace

import torch

from bdlearn.checkpoint import load_unet
from bdlearn.train_ddpm import PRESETS, export_ddpm, train_ddpm, world_batch
from bdlearn.unet import UNetConfig

TINY = UNetConfig(image_size=32, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                  attention_resolutions=(2,), num_head_channels=32)


def test_world_batch_is_deterministic_and_in_range():
    a, b = world_batch(4, data_seed=1, step=0), world_batch(4, data_seed=1, step=0)
    assert a.shape == (4, 3, 32, 32) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, world_batch(4, data_seed=1, step=1))


def test_train_resume_and_export(tmp_path):
    config = replace(PRESETS["quick"], steps=4, checkpoint_every=2, sample_every=4, warmup_steps=2, unet=TINY)
    first = train_ddpm(tmp_path, config, progress=False)
    assert first["steps"] == 4
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "samples_000004.png").exists()
    assert (tmp_path / "toy_ddpm.safetensors").exists() and (tmp_path / "toy_ddpm.json").exists()

    resumed = train_ddpm(tmp_path, replace(config, steps=6), progress=False)
    assert resumed["steps"] == 6  # continued from step 4, not from scratch

    card = export_ddpm(tmp_path, tmp_path / "exported.safetensors")
    assert card["steps"] == 6 and card["parameters"] > 0
    model = load_unet(tmp_path / "exported.safetensors", TINY)
    assert model(torch.zeros(1, 3, 32, 32), torch.tensor([10.0])).shape == (1, 6, 32, 32)
