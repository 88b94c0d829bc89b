"""Every bad argument to the editing method's and CLIP's building blocks a clear error (the fifth bad-input battery).

One test per case: blending and its mask (binary, as the editing loop reads it), the guidance's losses and distances,
the extending augmentations, the editing loop's start, ranking, resampling, and CLIP's inputs (images, prompts,
embeddings, the LPIPS backbone).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bdlearn.clip import cosine_distance, load_lpips, spherical_distance
from bdlearn.editing import (
    GuidanceWeights,
    background_loss,
    blend,
    clip_distance,
    extending_augmentations,
    guided_edit_loop,
    guided_prediction,
    noised_background,
    range_loss,
    rank_edits,
    resampling_moves,
    start_step,
)
from bdlearn.errors import InputError

X = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
M = torch.zeros(1, 1, 32, 32)
M[..., 8:24, 8:24] = 1
NO_AUGMENTATION = GuidanceWeights(num_augmentations=0)


@pytest.fixture(scope="module")
def prompt(world) -> torch.Tensor:
    """The prompt's CLIP embedding [1, D]."""
    return world.clip.encode_text(["a red square"])


def _loop(world, prompt, **options):
    """guided_edit_loop on the tiny world's 10 steps, one image, from step 2 (every refusal comes before it)."""
    args = dict(x_start=X, mask=M, text_embedding=prompt, batch=1, skip=7, weights=NO_AUGMENTATION, progress=False,
                generator=torch.Generator().manual_seed(0))
    args.update(options)
    return guided_edit_loop(world.unet, world.clip, world.schedule("10"), **args)


def _prediction(world, prompt, **options):
    """guided_prediction at step 5 of 10, guided by CLIP."""
    args = dict(clip=world.clip, text_embedding=prompt, masks=M, weights=NO_AUGMENTATION, x_start=X)
    args.update(options)
    return guided_prediction(world.unet, world.schedule("10"), X, args.pop("step", 5), **args)


# ------------------------------------------------------------------------------------------------
# Silently wrong before: now refused
# ------------------------------------------------------------------------------------------------

def test_blend_refuses_a_soft_mask():
    with pytest.raises(InputError, match=r"mask must hold only 0s and 1s.*got values such as 0\.5.*\(mask > 0\.5\)"):
        blend(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.full((1, 1, 4, 4), 0.5))


def test_editing_loop_refuses_a_soft_mask(world, prompt):
    with pytest.raises(InputError, match=r"mask must hold only 0s and 1s.*0\.5.*binarise"):
        _loop(world, prompt, mask=M * 0.5)


def test_editing_loop_refuses_pixels_in_0_255(world, prompt):
    with pytest.raises(InputError, match=r"x_start must hold pixels in \[−1, 1\], got values in \[0\.0\d*, 25\d.*"
                                         r"x / 127\.5 - 1"):
        _loop(world, prompt, x_start=(X + 1) * 127.5)


def test_rank_edits_refuses_an_unknown_distance(world, prompt):
    with pytest.raises(InputError, match="distance must be one of 'spherical', 'cosine', got 'euclid'"):
        rank_edits(world.clip, X.expand(2, -1, -1, -1), M, prompt, distance="euclid")


def test_clip_distance_refuses_an_unknown_distance(world, prompt):
    with pytest.raises(InputError, match="distance must be one of 'spherical', 'cosine', got 'l2'"):
        clip_distance(world.clip, X, M, prompt, distance="l2")


def test_guidance_weights_refuse_a_nan_weight():
    with pytest.raises(InputError, match=r"the clip weight must be a finite number, got nan \(float\)"):
        GuidanceWeights(clip=float("nan"))


def test_no_copies_means_no_augmentation_as_documented():
    """num_copies=0 is kept: 0 augmentations means none across bdlearn (an edit's num_augmentations=0 too)."""
    assert "0 and 1 both" in extending_augmentations.__doc__
    views, view_masks = extending_augmentations(X, M, 0)
    assert torch.equal(views, X) and torch.equal(view_masks, M)


def test_augmentations_refuse_a_probability_above_1():
    with pytest.raises(InputError, match=r"p must be in \[0, 1\], got 2"):
        extending_augmentations(X, M, 3, p=2.0)


def test_augmentations_refuse_a_negative_seed():
    with pytest.raises(InputError, match=r"seed must be in \[0, 4294967295\], got -1"):
        extending_augmentations(X, M, 3, seed=-1)


def test_start_step_refuses_a_fractional_skip(world):
    with pytest.raises(InputError, match=r"skip must be an integer, got 2\.5 \(float\)"):
        start_step(world.schedule("10"), 2.5)


def test_resampling_refuses_a_fractional_count():
    with pytest.raises(InputError, match=r"resample must be an integer, got 2\.5 \(float\)"):
        resampling_moves(9, resample=2.5)


def test_noised_background_refuses_a_step_below_minus_1(world):
    with pytest.raises(InputError, match=r"step must be in \[-1, 9\], got -2 \(the schedule has 10 steps; −1: x_0"):
        noised_background(world.schedule("10"), X, -2, torch.randn(1, 3, 32, 32))


def test_clip_refuses_uint8_pixels(world):
    with pytest.raises(InputError, match=r"images must be a floating-point tensor in \[−1, 1\], got torch\.uint8.*"
                                         r"x\.float\(\) / 127\.5 - 1"):
        world.clip.encode_image((torch.rand(1, 3, 32, 32) * 255).to(torch.uint8))


def test_clip_refuses_one_channel(world):
    with pytest.raises(InputError, match=r"images must have the shape \[B, 3, H, W\] \(a batch of images\), "
                                         r"got \(1, 1, 32, 32\)"):
        world.clip.encode_image(torch.rand(1, 1, 32, 32))


# ------------------------------------------------------------------------------------------------
# Raw tracebacks before: now a clear error
# ------------------------------------------------------------------------------------------------

def test_blend_refuses_images_of_two_sizes():
    with pytest.raises(InputError, match=r"background must have foreground's shape \(1, 3, 4, 4\), got \(1, 3, 8, 8\)"):
        blend(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 8, 8), torch.ones(1, 1, 4, 4))


def test_background_loss_refuses_a_mask_of_another_size():
    with pytest.raises(InputError, match=r"masks \(1, 1, 16, 16\) does not fit images \(1, 3, 32, 32\): expected "
                                         r"\[1, 1, 32, 32\]"):
        background_loss(X, X, torch.ones(1, 1, 16, 16), None)


def test_background_loss_refuses_batches_that_differ():
    with pytest.raises(InputError, match=r"x_start must have images' shape \(2, 3, 32, 32\), "
                                         r"got \(3, 3, 32, 32\) \(x_start.expand_as"):
        background_loss(X.expand(2, -1, -1, -1), X.expand(3, -1, -1, -1), M, None)


def test_clip_distance_refuses_two_prompts(world):
    with pytest.raises(InputError, match=r"text_embedding must be one prompt's CLIP embedding \[1, D\], got shape "
                                         r"\(2, \d+\)"):
        clip_distance(world.clip, X, M, world.clip.encode_text(["a red square", "a blue circle"]))


def test_clip_distance_refuses_an_embedding_of_another_width(world):
    with pytest.raises(InputError, match=r"text_embedding must be one prompt's CLIP embedding \[1, \d+\] \(this CLIP "
                                         r"embeds in that width\), got shape \(1, 7\)"):
        clip_distance(world.clip, X, M, torch.randn(1, 7))


def test_guided_prediction_refuses_an_embedding_of_another_width(world, prompt):
    with pytest.raises(InputError, match=r"text_embedding must be one prompt's CLIP embedding \[1, \d+\].*\(1, 7\)"):
        _prediction(world, prompt, text_embedding=torch.randn(1, 7))


def test_editing_loop_refuses_a_batch_of_inputs(world, prompt):
    with pytest.raises(InputError, match=r"x_start must be one image \[1, 3, S, S\], got shape \(2, 3, 32, 32\)"):
        _loop(world, prompt, x_start=X.expand(2, -1, -1, -1))


def test_cosine_distance_refuses_batches_that_do_not_broadcast():
    with pytest.raises(InputError, match=r"embeddings a \(2, 8\) and b \(3, 8\) must have one width D"):
        cosine_distance(torch.randn(2, 8), torch.randn(3, 8))


def test_spherical_distance_refuses_two_widths():
    with pytest.raises(InputError, match=r"embeddings a \(2, 8\) and b \(2, 7\) must have one width D"):
        spherical_distance(torch.randn(2, 8), torch.randn(2, 7))


def test_clip_refuses_channels_last(world):
    with pytest.raises(InputError, match=r"got \(1, 32, 32, 3\) \(channels last\? x\.permute\(0, 3, 1, 2\)\)"):
        world.clip.encode_image(torch.rand(1, 32, 32, 3))


def test_clip_refuses_a_prompt_that_is_not_a_string(world):
    with pytest.raises(TypeError, match=r"prompts must be strings, got 123 \(int\)"):
        world.clip.encode_text([123])


def test_clip_refuses_a_numpy_array(world):
    with pytest.raises(TypeError, match=r"images must be a torch\.Tensor \[B, 3, H, W\] in \[−1, 1\], got ndarray "
                                        r"\(torch\.from_numpy"):
        world.clip.encode_image(np.random.rand(1, 3, 32, 32).astype(np.float32))


def test_guided_prediction_needs_masks(world, prompt):
    with pytest.raises(TypeError, match=r"masks must be a tensor \[1, 1, 32, 32\] \(one mask per image\), got "
                                        "NoneType"):
        _prediction(world, prompt, masks=None)


def test_guided_prediction_needs_the_prompt(world, prompt):
    with pytest.raises(TypeError, match=r"text_embedding must be the prompt's CLIP embedding \[1, D\] "
                                        r"\(clip\.encode_text\(\[prompt\]\)\), got NoneType"):
        _prediction(world, prompt, text_embedding=None)


def test_guided_prediction_refuses_a_step_past_the_last(world, prompt):
    with pytest.raises(InputError, match=r"step must be in \[0, 9\], got 10 \(the schedule has 10 steps\)"):
        _prediction(world, prompt, step=10)


def test_range_loss_refuses_an_image_without_a_batch():
    with pytest.raises(InputError, match=r"images must have the shape \[B, C, H, W\] \(a batch of images\), "
                                         r"got \(3, 8, 8\)"):
        range_loss(torch.rand(3, 8, 8) * 3)


def test_rank_edits_refuses_no_edits(world, prompt):
    with pytest.raises(InputError, match=r"edits must hold at least one image, got shape \(0, 3, 32, 32\)"):
        rank_edits(world.clip, torch.zeros(0, 3, 32, 32), M, prompt)


def test_editing_loop_refuses_a_batch_of_none(world, prompt):
    with pytest.raises(InputError, match="batch must be at least 1, got 0"):
        _loop(world, prompt, batch=0)


def test_lpips_refuses_an_unknown_backbone():
    with pytest.raises(InputError, match="net must be one of 'vgg', 'alex', 'squeeze', got 'foo'"):
        load_lpips("foo")


# ------------------------------------------------------------------------------------------------
# The sixth battery: a bool mask, which the checks let through, works in the background loss too
# ------------------------------------------------------------------------------------------------

def test_a_bool_mask_gives_the_background_loss_of_its_0_1_float(world, prompt):
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert torch.equal(background_loss(images, X, M.bool(), None), background_loss(images, X, M, None))
    weights = GuidanceWeights(num_augmentations=0, background=10.0)
    local = _loop(world, prompt, mask=M.bool(), method="local", weights=weights)
    assert torch.equal(local.edits, _loop(world, prompt, method="local", weights=weights).edits)


def test_a_bool_mask_works_in_the_official_background_loss_and_float64_images_are_named(world, prompt):
    official = dict(method="local", variant="official", weights=GuidanceWeights(num_augmentations=0, background=1.0))
    as_bool = _loop(world, prompt, mask=M.bool(), **official)
    assert torch.equal(as_bool.edits, _loop(world, prompt, **official).edits)
    with pytest.raises(InputError, match=r"x_start must be torch.float32, the UNet's dtype, got torch.float64"):
        _loop(world, prompt, x_start=X.double())
    with pytest.raises(InputError, match=r"x_t must be torch.float32, the UNet's dtype, got torch.float16"):
        guided_prediction(world.unet, world.schedule("10"), X.half(), 5)


def test_background_loss_refuses_an_lpips_that_is_not_a_module():
    with pytest.raises(TypeError, match=r"lpips must be the LPIPS module .* or None, got 'vgg' \(str\)"):
        background_loss(X, X, M, "vgg")
