"""Every bad argument to the scenes, machinery, training and notebook building blocks a clear error (the fifth
bad-input battery).

One test per case: the toy world's scenes, tasks, judge and measures (seeds, sizes, object counts, overlaps,
captions, pictures and masks of other sizes, a uint8 picture the judge reads as the measures do), the edit window
and batch plan of :mod:`bdlearn.machinery` (a window or mask for another picture, zero repetitions or steps), the
trainers (zero steps, an output folder that is a file, an empty evaluation), and the notebook helpers (a claim's
scale, the exercise checker on a sparse tensor) and a world's vocabulary check.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bdlearn.errors import InputError
from bdlearn.machinery import choose_window, plan_batches, to_model
from bdlearn.notebook import check, claim_greater
from bdlearn.scenes import (
    background_error,
    edit_task_suite,
    judge_region,
    make_edit_task,
    object_caption,
    render_scene,
    sample_scenes,
    seam,
)
from bdlearn.training import DDPMTrainConfig, train_ddpm, zero_shot_accuracy

TASK = make_edit_task(3)
PICTURE = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # a user's photo, as read_image
MASK = np.zeros((64, 64), dtype=bool)
MASK[20:40, 24:44] = True


# ------------------------------------------------------------------------------------------------
# Silently wrong before: now read right, or refused
# ------------------------------------------------------------------------------------------------

def test_judge_reads_a_uint8_picture_as_the_measures_do():
    as_uint8 = judge_region(np.round(TASK.image * 255).astype(np.uint8), TASK.mask)
    as_floats = judge_region(TASK.image, TASK.mask)
    assert (as_uint8.has_object, as_uint8.colour, as_uint8.shape) == (
        as_floats.has_object, as_floats.colour, as_floats.shape)


def test_render_scene_with_a_negative_overlap():
    with pytest.raises(InputError, match=r"max_overlap must be in \[0, 1\], got -1 \(the fraction of an object"):
        render_scene(0, max_overlap=-1.0)


def test_object_caption_with_colour_and_shape_swapped():
    with pytest.raises(InputError, match="unknown colour 'circle'.*the colour comes first, then the shape"):
        object_caption("circle", "red")


def test_object_caption_in_capitals():
    with pytest.raises(InputError, match=r"unknown colour 'Red'; expected one of \('red'"):
        object_caption("Red", "Circle")


def test_plan_batches_of_zero_repetitions(world):
    with pytest.raises(InputError, match="repetitions must be at least 1, got 0"):
        plan_batches(world, 0, 3, 0)


def test_plan_batches_of_zero_steps(world):
    with pytest.raises(InputError, match="steps must be at least 1, got 0"):
        plan_batches(world, 2, 0, 0)


def test_plan_batches_of_negative_augmentations(world):
    with pytest.raises(InputError, match="num_augmentations must be at least 0, got -1"):
        plan_batches(world, 2, 3, -1)


def test_plan_batches_of_a_zero_batch(world):
    with pytest.raises(InputError, match=r"batch_size must be at least 1, got 0 \(or None"):
        plan_batches(world, 2, 3, 0, batch_size=0)


def test_choose_window_for_a_model_of_side_zero():
    with pytest.raises(InputError, match="model_side must be at least 1, got 0"):
        choose_window(MASK, 0)


def test_to_model_with_a_window_chosen_for_another_picture():
    with pytest.raises(InputError, match="window was chosen for a 200x200 picture, and the image is 64x64"):
        to_model(PICTURE, MASK, choose_window(np.ones((200, 200), dtype=bool), 32))


def test_to_model_with_a_mask_of_another_size():
    with pytest.raises(InputError, match=r"mask has shape \(32, 32\); it must be the image's HxW, \(64, 64\)"):
        to_model(PICTURE, MASK[:32, :32], choose_window(MASK, 32))


def test_claim_greater_with_a_scale_of_zero():
    with pytest.raises(InputError, match=r"scale must be a positive finite number.*got 0\.0 \(float\)"):
        claim_greater("s", [1.0, 2.0], [0.0, 1.0], scale=0.0)


# ------------------------------------------------------------------------------------------------
# Tracebacks from NumPy, PIL or Python before: now bdlearn's own words
# ------------------------------------------------------------------------------------------------

def test_render_scene_with_a_negative_seed():
    with pytest.raises(InputError, match="seed must be at least 0, got -1"):
        render_scene(-1)


def test_render_scene_of_size_zero():
    with pytest.raises(InputError, match="size must be at least 4, got 0"):
        render_scene(0, size=0)


def test_render_scene_of_no_objects():
    with pytest.raises(InputError, match=r"num_objects must be in \[1, 7\], got 0"):
        render_scene(0, num_objects=0)


def test_render_scene_of_more_objects_than_colours():
    with pytest.raises(InputError, match=r"num_objects must be in \[1, 7\], got 10 \(.*there are 7\)"):
        render_scene(0, num_objects=10)


def test_sample_scenes_of_none():
    with pytest.raises(InputError, match="n must be at least 1, got 0"):
        sample_scenes(0)


def test_sample_scenes_of_a_negative_count():
    with pytest.raises(InputError, match="n must be at least 1, got -1"):
        sample_scenes(-1)


def test_make_edit_task_with_a_negative_seed():
    with pytest.raises(InputError, match="seed must be at least 0, got -1"):
        make_edit_task(-1)


def test_edit_task_suite_of_a_negative_count():
    with pytest.raises(InputError, match="n must be at least 0, got -1"):
        edit_task_suite(-1)


def test_seam_with_a_mask_of_another_size():
    with pytest.raises(InputError, match=r"mask has shape \(16, 16\); it must be the picture's \(H, W\), \(32, 32\)"):
        seam(TASK.image, np.ones((16, 16), dtype=bool))


def test_background_error_of_pictures_of_two_sizes():
    with pytest.raises(InputError, match=r"edited has shape \(64, 64, 3\) and original \(32, 32, 3\)"):
        background_error(np.zeros((64, 64, 3)), TASK.image, TASK.mask)


def test_choose_window_for_a_one_dimensional_mask():
    with pytest.raises(InputError, match=r"mask must be an HxW array, got shape \(64,\)"):
        choose_window(np.ones(64, dtype=bool), 32)


def test_to_model_with_a_float_picture():
    with pytest.raises(TypeError, match=r"image must be an HxWx3 uint8 array \(read_image gives one\), got a float64"):
        to_model(PICTURE / 255, MASK, choose_window(MASK, 32))


def test_training_config_of_zero_steps():
    with pytest.raises(InputError, match="steps must be at least 1, got 0"):
        DDPMTrainConfig(steps=0)


def test_train_ddpm_into_a_file(tmp_path):
    file = tmp_path / "picture.png"
    file.write_bytes(b"not a folder")
    with pytest.raises(InputError, match=r"out_dir .*picture\.png is a file; name a run folder"):
        train_ddpm(file, DDPMTrainConfig(steps=1), progress=False)
    assert file.read_bytes() == b"not a folder"


def test_zero_shot_accuracy_of_no_renders(world):
    with pytest.raises(InputError, match="n must be at least 1, got 0"):
        zero_shot_accuracy(world.clip, n=0)


def test_zero_shot_accuracy_in_batches_of_zero(world):
    with pytest.raises(InputError, match="batch_size must be at least 1, got 0"):
        zero_shot_accuracy(world.clip, n=10, batch_size=0)


def test_check_of_a_sparse_answer():
    assert check("x", torch.ones(3).to_sparse(), torch.ones(3)) == "exact"
    assert check("x", torch.zeros(3).to_sparse(), torch.ones(3)) == "wrong"


def test_unknown_words_of_a_number(world):
    with pytest.raises(TypeError, match=r"prompt must be a string, got 123 \(int\)"):
        world.unknown_words(123)


def test_the_judge_refuses_a_picture_in_the_models_range():
    with pytest.raises(InputError, match=r"image must hold floats in \[0, 1\].*\(x \+ 1\) / 2"):
        judge_region(TASK.image * 2 - 1, TASK.mask)


def test_a_refusal_quotes_an_array_on_one_short_line():
    """shown() (every check's quote of a bad value) puts an array's repr on one line and cuts it."""
    from bdlearn.diffusion import DiffusionSchedule, q_posterior_mean_variance

    schedule = DiffusionSchedule.create(respacing="10")
    with pytest.raises(TypeError) as refused:
        q_posterior_mean_variance(schedule, np.zeros((1, 3, 8, 8)), torch.zeros(1, 3, 8, 8), 3)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 160 and message.endswith("… (ndarray)"), message


def test_to_model_refuses_a_window_that_is_not_one():
    with pytest.raises(TypeError, match=r"window must be an EditWindow \(choose_window\(mask, \.\.\.\) gives one\), "
                                        r"got 'mask' \(str\)"):
        to_model(PICTURE, MASK, "mask")
