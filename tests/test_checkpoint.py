"""Loading weights: safe formats only, and clear errors that name the offending keys."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from bdlearn.diffusion.unet import UNet
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, read_state_dict
from tests.helpers import TINY_UNET


@pytest.fixture
def tiny_state():
    torch.manual_seed(0)
    return UNet(TINY_UNET).state_dict()


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip(tmp_path, tiny_state, suffix):
    path = tmp_path / f"w{suffix}"
    if suffix == ".pt":
        torch.save(tiny_state, path)
    else:
        save_file(tiny_state, str(path))
    model = load_unet(path, TINY_UNET)
    for key, value in model.state_dict().items():
        assert torch.equal(value, tiny_state[key]), key


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "absent.pt")


def test_not_a_checkpoint(tmp_path):
    for name, payload in [("garbage.pt", b"\x00not a checkpoint" * 10), ("garbage.safetensors", b"{}{}{}")]:
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(CheckpointError):
            read_state_dict(tmp_path / name)


def test_a_pickle_carrying_code_is_refused_and_never_runs(evil_checkpoint):
    path, marker = evil_checkpoint
    with pytest.raises(CheckpointError, match="weights-only"):
        read_state_dict(path)
    assert not marker.exists()


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_state_dict(path)
    path = tmp_path / "mixed.pt"
    torch.save({"a": torch.zeros(1), "b": 3}, path)
    with pytest.raises(CheckpointError, match="offending entries: b"):
        read_state_dict(path)


def test_key_and_shape_errors_name_the_first_offenders(tmp_path, tiny_state):
    broken = dict(tiny_state)
    del broken["out.2.weight"]
    broken["extra.weight"] = torch.zeros(1)
    broken["time_embed.0.bias"] = torch.zeros(7)
    path = tmp_path / "broken.safetensors"
    save_file(broken, str(path))
    with pytest.raises(CheckpointError) as info:
        load_unet(path, TINY_UNET)
    message = str(info.value)
    assert "1 missing keys: out.2.weight" in message
    assert "1 unexpected keys: extra.weight" in message
    assert "time_embed.0.bias (7,) != (128,)" in message


def test_fp16_option_casts_only_the_torso(tmp_path, tiny_state):
    path = tmp_path / "w.safetensors"
    save_file(tiny_state, str(path))
    model = load_unet(path, replace(TINY_UNET, use_fp16=True))
    assert model.input_blocks[0][0].weight.dtype == torch.float16
    assert model.time_embed[0].weight.dtype == torch.float32
    assert model.out[2].weight.dtype == torch.float32
