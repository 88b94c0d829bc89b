"""The toy DDPM trainer: checkpoints resume where they stopped, and exported weights load."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from bdlearn.training.common import TrainConfig, learning_rate
from bdlearn.training.ddpm import PRESETS, export_ddpm, train_ddpm, world_batch
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, read_state_dict
from bdlearn.worlds.toy import load_toy_world
from tests.helpers import TINY_UNET

TINY = replace(TINY_UNET, image_size=32)  # the toy world's pictures are 32 px


def test_world_batch_is_deterministic_and_in_range():
    a, b = world_batch(4, data_seed=1, step=0), world_batch(4, data_seed=1, step=0)
    assert a.shape == (4, 3, 32, 32) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, world_batch(4, data_seed=1, step=1))


def test_train_resume_and_export(tmp_path):
    config = replace(PRESETS["quick"], steps=4, checkpoint_every=2, sample_every=4, warmup_steps=2, unet=TINY)
    caller_state = torch.get_rng_state()
    first = train_ddpm(tmp_path, config, progress=False)
    assert first["steps"] == 4
    assert torch.equal(torch.get_rng_state(), caller_state), "training moved the caller's random generator"
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "samples_000004.png").exists()
    assert (tmp_path / "toy_ddpm.safetensors").exists() and (tmp_path / "toy_ddpm.json").exists()

    resumed = train_ddpm(tmp_path, replace(config, steps=6), progress=False)
    assert resumed["steps"] == 6  # continued from step 4, not from scratch
    with pytest.raises(ValueError, match=r"other settings \(data_seed: 1 there, 5 now"):
        train_ddpm(tmp_path, replace(config, steps=8, data_seed=5), progress=False)  # another run's checkpoint

    card = export_ddpm(tmp_path, tmp_path / "exported.safetensors")
    assert card["steps"] == 6 and card["parameters"] > 0
    model = load_unet(tmp_path / "exported.safetensors", TINY)
    assert model(torch.zeros(1, 3, 32, 32), torch.tensor([10.0])).shape == (1, 6, 32, 32)
    # the toy world loads it in place of the shipped DDPM, its architecture read from the card
    assert load_toy_world(ddpm_path=tmp_path / "exported.safetensors").unet.config == TINY


def test_learning_rate_warms_up_then_holds_or_decays():
    constant = TrainConfig(steps=100, lr=1.0, warmup_steps=10, lr_schedule="constant")
    cosine = replace(constant, lr_schedule="cosine")
    for config in (constant, cosine):
        assert learning_rate(config, 0) == pytest.approx(0.1)
        assert learning_rate(config, 9) == pytest.approx(1.0)
    assert learning_rate(constant, 99) == 1.0
    assert learning_rate(cosine, 55) == pytest.approx(0.5)  # halfway from the warm-up's end to the last step
    assert learning_rate(cosine, 100) == pytest.approx(0.0)
    rates = [learning_rate(cosine, step) for step in range(10, 101)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate(replace(constant, lr_schedule="linear"), 50)


def test_training_from_init_weights_starts_there_and_records_the_stages(tmp_path):
    first = replace(PRESETS["quick"], steps=2, checkpoint_every=2, sample_every=0, warmup_steps=1, unet=TINY)
    train_ddpm(tmp_path / "first", first, progress=False)
    init = tmp_path / "first" / "toy_ddpm.safetensors"

    # At a learning rate of 0 the weights cannot move: the export must equal the weights it started from.
    second = replace(first, lr=0.0, steps=3, init_weights=str(init))
    card = train_ddpm(tmp_path / "second", second, progress=False)["card"]
    start, end = read_state_dict(init), read_state_dict(tmp_path / "second" / "toy_ddpm.safetensors")
    assert start.keys() == end.keys() and all(torch.equal(start[k], end[k]) for k in start)

    assert [stage["steps"] for stage in card["stages"]] == [2, 3] and card["steps"] == 5
    assert card["training_seconds"] == pytest.approx(sum(s["training_seconds"] for s in card["stages"]), abs=0.1)
    assert card["stages"][1]["train_config"]["init_weights"] == str(init)


def test_init_weights_without_a_card_is_refused(tmp_path):
    train_ddpm(tmp_path / "first", replace(PRESETS["quick"], steps=1, sample_every=0, warmup_steps=1, unet=TINY),
               progress=False)
    (tmp_path / "first" / "toy_ddpm.json").unlink()
    config = replace(PRESETS["quick"], steps=1, sample_every=0, warmup_steps=1, unet=TINY,
                     init_weights=str(tmp_path / "first" / "toy_ddpm.safetensors"))
    with pytest.raises(CheckpointError, match="no card"):
        train_ddpm(tmp_path / "second", config, progress=False)


def test_anneal_settings_without_init_weights_are_refused(tmp_path):
    with pytest.raises(ValueError, match="init_weights"):
        train_ddpm(tmp_path, replace(PRESETS["anneal"], unet=TINY), progress=False)
