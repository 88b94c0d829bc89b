"""Bad inputs to the CLIP bundle, the scenes and the world loaders (the ninth bad-input battery).

A generator of prompts is read once, not emptied by the checks; integer embeddings are distances' floats; the
CLIP goes only to a device this machine has, in the words of ``ModelWorld.to``; a wrong type, or no attempts,
is refused by bdlearn, naming what it takes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bdlearn.clip import cosine_distance, spherical_distance
from bdlearn.errors import InputError
from bdlearn.scenes import judge_edit, make_edit_task
from bdlearn.worlds.checkpoint import load_unet

PROMPTS = ["a red square", "a blue circle"]


def test_a_generator_of_prompts_or_labels_is_read_once(world):
    clip = world.clip
    assert torch.equal(clip.tokenize(iter(PROMPTS)), clip.tokenize(PROMPTS))
    assert torch.equal(clip.encode_text(p for p in PROMPTS), clip.encode_text(PROMPTS))
    images = torch.zeros(1, 3, 32, 32)
    assert torch.equal(clip.zero_shot(images, (label for label in PROMPTS)), clip.zero_shot(images, PROMPTS))
    with pytest.raises(TypeError, match=r"prompts must be a list of strings, got 3 \(int\)"):
        clip.tokenize(3)


def test_an_empty_array_of_prompts(world):
    with pytest.raises(InputError, match="no prompts: expected at least one"):
        world.clip.encode_text(np.array([], dtype=str))


@pytest.mark.parametrize("distance", [cosine_distance, spherical_distance])
def test_integer_embeddings_are_taken_as_floats(distance):
    a, b = torch.tensor([[1, 0], [0, 2]]), torch.tensor([[1, 1]])
    assert torch.equal(distance(a, b), distance(a.float(), b.float()))


@pytest.mark.parametrize(("device", "message"), [
    ("gpu", "device 'gpu' is not a device torch knows; use 'cpu', or 'cuda'"),
    ("cuda", "device 'cuda': torch sees no CUDA GPU on this machine; use 'cpu'"),
    ("meta", "device 'meta' holds shapes, not weights"),
])
def test_clip_to_a_device_this_machine_lacks(world, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match=message):
        world.clip.to(device)
    assert world.clip.to("cpu").logit_scale.device.type == "cpu"


def test_judge_edit_of_something_that_is_not_a_task():
    task = make_edit_task(0)
    with pytest.raises(TypeError, match=r"task must be an EditTask \(make_edit_task or edit_task_suite makes one\), "
                                        r"got 'not a task' \(str\)"):
        judge_edit(task.image, "not a task")


def test_load_unet_with_a_dict_config(tmp_path):
    with pytest.raises(TypeError, match=r"config must be a UNetConfig, got \{'image_size': 32\} \(dict\) "
                                        r"\(UNetConfig\(\*\*config\) makes one of a dict\)"):
        load_unet(tmp_path / "unet.safetensors", {"image_size": 32})


def test_make_edit_task_with_no_attempts():
    with pytest.raises(InputError, match="attempts must be at least 1, got 0"):
        make_edit_task(0, attempts=0)
