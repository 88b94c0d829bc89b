"""The CLIP side: tokenizer limits, distances, encoders, training and the shipped toy CLIP."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from open_clip import ClipLoss
from safetensors.torch import save_file

from bdlearn.clip.bundle import ClipBundle, cosine_distance, spherical_distance
from bdlearn.scenes.render import render_object, scene_caption
from bdlearn.training.clip import (
    OBJECT_CAPTIONS,
    OBJECT_CLASSES,
    PRESETS,
    contrastive_loss,
    to_tensor,
    train_clip,
    training_groups,
    zero_shot_accuracy,
)
from bdlearn.worlds.checkpoint import CheckpointError
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS, build_toy_clip, load_toy_clip


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The toy CLIP and these batches are tiny: one thread is as fast, and on a small machine
    shared with a training run, more threads than free cores can slow torch down many times."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy() -> ClipBundle:
    torch.manual_seed(0)
    return build_toy_clip()


# --- tokenizer limits -------------------------------------------------------------------------

def test_longest_world_caption_fits(toy: ClipBundle) -> None:
    longest = scene_caption([("red", "circle"), ("orange", "circle"), ("cyan", "circle")], "horizon")
    tokens = toy.tokenize([longest])
    assert tokens.shape == (1, toy.context_length) == (1, 20)
    assert tokens[0, -1] == toy.tokenizer.eot_token_id  # fits exactly, nothing cut off


@pytest.mark.parametrize("prompts", [[], [""], ["   "], "a red circle"])
def test_empty_or_malformed_prompts_are_refused(toy: ClipBundle, prompts: list[str]) -> None:
    with pytest.raises(ValueError):
        toy.encode_text(prompts)


def test_too_long_prompt_is_refused(toy: ClipBundle) -> None:
    long_prompt = " and ".join(["a red circle"] * 6)
    with pytest.raises(ValueError, match="at most 20"):
        toy.encode_text(["a blue square", long_prompt])


# --- distances --------------------------------------------------------------------------------

def test_distances_vanish_for_equal_directions() -> None:
    a = torch.randn(5, 16)
    assert torch.allclose(spherical_distance(a, 3 * a), torch.zeros(5), atol=1e-6)
    assert torch.allclose(cosine_distance(a, 3 * a), torch.zeros(5), atol=1e-6)


def test_spherical_distance_is_half_the_squared_angle() -> None:
    angles = torch.linspace(0, math.pi, 9)
    a = torch.stack([torch.ones_like(angles), torch.zeros_like(angles)], dim=-1)
    b = torch.stack([angles.cos(), angles.sin()], dim=-1)
    assert torch.allclose(spherical_distance(a, b), angles**2 / 2, atol=1e-4)
    assert torch.allclose(cosine_distance(a, b), 1 - angles.cos(), atol=1e-6)


def test_spherical_and_cosine_distance_order_pairs_alike() -> None:
    a, b = torch.randn(200, 32), torch.randn(200, 32)
    assert torch.equal(spherical_distance(a, b).argsort(), cosine_distance(a, b).argsort())


def test_spherical_distance_gradient_is_finite_at_equal_and_opposite_vectors() -> None:
    a = torch.randn(4, 8, requires_grad=True)
    (spherical_distance(a, a.detach()) + spherical_distance(a, -a.detach())).sum().backward()
    assert torch.isfinite(a.grad).all()


# --- encoders on a randomly initialised toy CLIP ---------------------------------------------

def test_toy_clip_config(toy: ClipBundle) -> None:
    assert toy.image_size == (32, 32)
    assert toy.mean == toy.std == (0.5, 0.5, 0.5)
    assert sum(p.numel() for p in toy.model.parameters()) < 5_000_000
    assert toy.to("cpu") is toy and toy.model.logit_scale.device.type == "cpu"


def test_building_the_toy_clip_logs_nothing_and_registers_nothing(caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        build_toy_clip()
    assert not caplog.records  # open_clip.create_model would warn "No pretrained weights loaded"
    assert "toy_clip" not in open_clip.list_models()  # open_clip's registry is the user's, left as it was


def test_encode_shapes_and_normalisation(toy: ClipBundle) -> None:
    text = toy.encode_text(["a red circle", "an orange cross on a flat background"])
    assert text.shape == (2, 64)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    for size in (32, 64, 20):
        images = torch.rand(3, 3, size, size) * 2 - 1
        embeddings = toy.encode_image(images)
        assert embeddings.shape == (3, 64)
        assert torch.allclose(embeddings.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_preprocess_maps_minus_one_one_to_the_toy_normalisation(toy: ClipBundle) -> None:
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(toy.preprocess(images), images, atol=1e-6)  # mean = std = 0.5
    assert toy.preprocess(torch.rand(2, 3, 64, 64)).shape == (2, 3, 32, 32)


def test_encode_image_is_differentiable(toy: ClipBundle) -> None:
    images = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    loss = spherical_distance(toy.encode_image(images), toy.encode_text(["a red circle"])).mean()
    loss.backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_zero_shot_gives_probabilities(toy: ClipBundle) -> None:
    probabilities = toy.zero_shot(torch.rand(4, 3, 32, 32) * 2 - 1, ["a red circle", "a blue square", "a green cross"])
    assert probabilities.shape == (4, 3)
    assert torch.allclose(probabilities.sum(dim=-1), torch.ones(4), atol=1e-5)


# --- training ---------------------------------------------------------------------------------

def test_training_groups_have_distinct_captions() -> None:
    groups = training_groups(PRESETS["quick"], step=0)
    assert len(groups) == 5
    for images, captions in groups:
        assert images.shape == (len(captions), 3, 32, 32)
        assert len(set(captions)) == len(captions)
        assert images.min() >= -2 and images.max() <= 2
    assert groups[2][1] == list(OBJECT_CAPTIONS)


def test_a_short_training_run_lowers_the_contrastive_loss() -> None:
    torch.manual_seed(0)
    bundle = build_toy_clip()
    classes = OBJECT_CLASSES[::5][:6]  # six classes, no two of one colour
    captions = [OBJECT_CAPTIONS[OBJECT_CLASSES.index(c)] for c in classes]
    rng = np.random.default_rng(0)
    images = to_tensor(np.stack([render_object(shape, colour, rng).image for colour, shape in classes]))
    optimizer = torch.optim.AdamW(bundle.model.parameters(), lr=3e-4)
    losses = []
    for _ in range(30):
        loss = contrastive_loss(bundle, [(images, captions)], ClipLoss())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.8 * math.log(len(classes))  # a random CLIP is near chance, log 6
    assert np.mean(losses[-5:]) < 0.25 * losses[0]


def test_train_clip_exports_weights_a_card_and_resumes(tmp_path: Path) -> None:
    config = replace(PRESETS["quick"], steps=2, warmup_steps=1, checkpoint_every=1, eval_every=100,
                     final_eval_size=28, scenes_per_batch=4)
    caller_state = torch.get_rng_state()
    summary = train_clip(tmp_path, config, progress=False)
    assert torch.equal(torch.get_rng_state(), caller_state), "training moved the caller's random generator"
    card = json.loads((tmp_path / "toy_clip.json").read_text())
    assert summary["steps"] == card["steps"] == 2
    assert card["storage_dtype"] == "float16"
    assert 0 <= card["metrics"]["zero_shot_accuracy_whole"] <= 1
    assert (tmp_path / "checkpoint.pt").exists()
    bundle = load_toy_clip(tmp_path / "toy_clip.safetensors")
    assert bundle.model.logit_scale.dtype == torch.float32
    assert not any(p.requires_grad for p in bundle.model.parameters())
    resumed = train_clip(tmp_path, replace(config, steps=3), progress=False)
    assert resumed["steps"] == 3


# --- loading ----------------------------------------------------------------------------------

def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_toy_clip(tmp_path / "toy_clip.safetensors")


def test_corrupt_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "toy_clip.safetensors"
    path.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_toy_clip(path)


def test_weights_of_another_model_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"logit_scale": torch.zeros(()), "visual.conv1.weight": torch.zeros(8, 3, 2, 2)}, str(path))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_toy_clip(path)


@pytest.mark.skipif(not TOY_CLIP_WEIGHTS.exists(), reason=f"{TOY_CLIP_WEIGHTS} has not been trained and exported")
def test_shipped_toy_clip_classifies_clean_renders() -> None:  # its load time: benchmarks, not a test
    bundle = load_toy_clip()
    rng = np.random.default_rng(2024)
    images = to_tensor(np.stack([render_object(shape, colour, rng).image for colour, shape in OBJECT_CLASSES]))
    predicted = bundle.zero_shot(images, OBJECT_CAPTIONS).argmax(dim=-1)
    assert (predicted == torch.arange(len(OBJECT_CLASSES))).sum() >= 27  # one render of every class
    assert zero_shot_accuracy(bundle, n=100, seed=1, view="masked") >= 0.9


def test_lpips_offline_without_cached_weights_tries_no_download(tmp_path, monkeypatch) -> None:
    """Offline (HF_HUB_OFFLINE) with an empty torch cache: a visible fallback at once, no network try."""
    import socket
    import warnings

    from bdlearn.clip.perceptual import LPIPSUnavailableWarning, load_lpips

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("load_lpips opened a connection while offline")

    monkeypatch.setattr(socket, "create_connection", no_network)
    load_lpips.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module, reason = load_lpips()
    finally:
        load_lpips.cache_clear()
    assert module is None
    assert "offline" in reason and "vgg16-397923af.pth" in reason and str(tmp_path) not in reason
    assert [w.category for w in caught] == [LPIPSUnavailableWarning]
