"""A model world goes only to a device this machine has (the eighth bad-input battery).

``load_world``, ``load_toy_world`` and ``ModelWorld.to`` share one check
(:func:`bdlearn.diffusion.checks.available_device`),
so each refuses the meta device, a CUDA device without a GPU and a name torch does not know in the same words;
a world's schedule takes an int respacing as ``edit()`` does.
"""
from __future__ import annotations

import pytest
import torch

from bdlearn.errors import InputError
from bdlearn.worlds.toy import load_toy_world


def test_world_to_the_meta_device(world):
    with pytest.raises(InputError, match="device 'meta' holds shapes, not weights: a world there cannot edit"):
        world.to("meta")
    assert world.to("cpu").device.type == "cpu"


def test_world_to_cuda_without_a_gpu(world, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="device 'cuda': torch sees no CUDA GPU on this machine; use 'cpu'"):
        world.to("cuda")


def test_load_toy_world_on_a_device_torch_does_not_know():
    with pytest.raises(InputError, match="device 'gpu' is not a device torch knows; use 'cpu', or 'cuda'"):
        load_toy_world(device="gpu")


def test_world_schedule_takes_an_int_respacing(world):
    assert torch.equal(world.schedule(10).timestep_map, world.schedule("10").timestep_map)
