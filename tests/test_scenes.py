"""Tests of the procedural scenes (bdlearn.scenes.render) and the edit tasks built on them (bdlearn.scenes.tasks)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from bdlearn.scenes.render import (
    BACKGROUNDS,
    COLOUR_NAMES,
    COLOURS,
    MAX_OVERLAP,
    SHAPES,
    derive_seeds,
    masked_view,
    object_caption,
    object_size_range,
    render_object,
    render_scene,
    sample_scenes,
    shape_mask,
)
from bdlearn.scenes.tasks import TASK_KINDS, edit_task_suite, make_edit_task, min_region_side

SIZES = (32, 64)


def chroma(image: np.ndarray) -> np.ndarray:
    """How colourful each pixel is: max minus min of its R, G, B."""
    return image.max(axis=-1) - image.min(axis=-1)


def test_same_seed_gives_identical_scenes():
    first, second = render_scene(7), render_scene(7)
    np.testing.assert_array_equal(first.image, second.image)
    assert first.caption == second.caption
    for a, b in zip(first.objects, second.objects):
        np.testing.assert_array_equal(a.mask, b.mask)


def test_different_seeds_give_different_scenes():
    images = [render_scene(seed).image for seed in range(10)]
    assert all(not np.array_equal(images[0], other) for other in images[1:])


def test_generator_seed_is_advanced():
    rng = np.random.default_rng(0)
    assert not np.array_equal(render_scene(rng).image, render_scene(rng).image)


@pytest.mark.parametrize("size", SIZES)
def test_image_format(size):
    for seed in range(20):
        scene = render_scene(seed, size)
        assert scene.image.shape == (size, size, 3)
        assert scene.image.dtype == np.float32
        assert 0 <= scene.image.min() and scene.image.max() <= 1
        assert 1 <= len(scene.objects) <= 3
        for obj in scene.objects:
            assert obj.mask.shape == (size, size) and obj.mask.dtype == bool
            smallest, largest = object_size_range(size)
            assert smallest <= obj.size <= largest


@pytest.mark.parametrize("size", SIZES)
def test_masks_match_the_drawn_objects(size):
    for seed in range(60):
        scene = render_scene(seed, size)
        covered = np.zeros((size, size), dtype=bool)
        for i, obj in enumerate(scene.objects):
            assert obj.mask.any()
            np.testing.assert_allclose(scene.image[obj.mask], np.broadcast_to(obj.rgb, (obj.mask.sum(), 3)))
            # The mask is the drawn shape minus what later objects hide.
            hidden_by_later = np.zeros_like(obj.mask)
            for later in scene.objects[i + 1 :]:
                hidden_by_later |= later.mask
            np.testing.assert_array_equal(obj.mask, shape_mask(obj.shape, obj.box, size) & ~hidden_by_later)
            assert not (covered & obj.mask).any(), "masks of different objects overlap"
            covered |= obj.mask
        np.testing.assert_array_equal(scene.image[~covered], scene.background_image[~covered])


def test_objects_overlap_only_a_little_and_have_distinct_colours():
    for seed in range(100):
        scene = render_scene(seed)
        for obj in scene.objects:
            drawn = shape_mask(obj.shape, obj.box, 32).sum()
            assert obj.mask.sum() >= (1 - MAX_OVERLAP) * drawn
        colours = [obj.colour for obj in scene.objects]
        assert len(set(colours)) == len(colours)


def test_backgrounds_are_muted_and_objects_saturated():
    for seed in range(100):
        scene = render_scene(seed)
        assert chroma(scene.background_image).max() < 0.3
        for obj in scene.objects:
            assert chroma(obj.rgb) > 0.5


def test_every_shape_colour_and_background_is_reachable():
    scenes = [render_scene(seed) for seed in range(200)]
    assert {o.shape for s in scenes for o in s.objects} == set(SHAPES)
    assert {o.colour for s in scenes for o in s.objects} == set(COLOUR_NAMES)
    assert {s.background_family for s in scenes} == set(BACKGROUNDS)
    assert {len(s.objects) for s in scenes} == {1, 2, 3}


@pytest.mark.parametrize("family", list(BACKGROUNDS))
def test_render_object_draws_exactly_that_object(family):
    for shape in SHAPES:
        for colour in COLOUR_NAMES:
            scene = render_object(shape, colour, seed=3, background_family=family)
            (obj,) = scene.objects
            assert (obj.shape, obj.colour, scene.background_family) == (shape, colour, family)
            assert np.abs(obj.rgb - COLOURS[colour]).max() <= 0.04 + 1e-6


def test_object_captions():
    assert object_caption("red", "circle") == "a red circle"
    assert object_caption("orange", "cross") == "an orange cross"


def test_scene_captions_are_well_formed():
    objects = r"an? \w+ \w+"
    backgrounds = "|".join(re.escape(phrase) for phrase in BACKGROUNDS.values())
    pattern = re.compile(rf"^{objects}((, {objects})? and {objects})? on ({backgrounds})$")
    for seed in range(100):
        scene = render_scene(seed)
        assert pattern.match(scene.caption), scene.caption
        for obj in scene.objects:
            assert obj.caption in scene.caption
        assert scene.caption.endswith(BACKGROUNDS[scene.background_family])


def test_shape_fill_ratios():
    """Each shape fills its box by a characteristic fraction (the judge relies on their differences)."""
    expected = {"square": 1.0, "circle": np.pi / 4, "triangle": 0.5, "cross": 5 / 9}
    for shape, ratio in expected.items():
        filled = shape_mask(shape, (2, 2, 60, 60), 64).sum() / 60**2
        assert filled == pytest.approx(ratio, abs=0.02), shape


def test_sample_scenes_batch():
    images, captions = sample_scenes(5, seed=11)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.float32
    assert len(captions) == 5
    third = render_scene(derive_seeds(11, 5)[2])
    np.testing.assert_array_equal(images[2], third.image)
    assert captions[2] == third.caption
    np.testing.assert_array_equal(sample_scenes(5, seed=11)[0], images)


def test_masked_view_blacks_out_everything_else():
    scene = render_scene(1)
    obj = scene.objects[0]
    view = masked_view(scene.image, obj.mask)
    np.testing.assert_array_equal(view[obj.mask], scene.image[obj.mask])
    assert not view[~obj.mask].any()


def test_edit_tasks_are_deterministic():
    first, second = make_edit_task(5), make_edit_task(5)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert (first.prompt, first.kind) == (second.prompt, second.kind)
    suite, again = edit_task_suite(10, seed=3), edit_task_suite(10, seed=3)
    assert [t.prompt for t in suite] == [t.prompt for t in again]
    rebuilt = make_edit_task(suite[4].seed)
    np.testing.assert_array_equal(rebuilt.image, suite[4].image)


@pytest.mark.parametrize("size, count", [(32, 80), (64, 20)])
def test_edit_tasks_are_valid(size, count):
    tasks = edit_task_suite(count, seed=0, size=size)
    assert {t.kind for t in tasks} == set(TASK_KINDS)
    for task in tasks:
        rows, cols = np.nonzero(task.mask)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert task.mask.sum() == height * width, "the mask should be a box"
        assert min(height, width) >= min_region_side(size)
        assert task.prompt == object_caption(task.target_colour, task.target_shape)
        others = [o for o in task.scene.objects if o is not task.original]
        assert not any((o.mask & task.mask).any() for o in others)
        if task.kind == "replace-object":
            assert not (task.original.mask & ~task.mask).any(), "the mask must cover the object"
            assert (task.target_colour, task.target_shape) != (task.original.colour, task.original.shape)
        else:
            assert task.original is None


@pytest.mark.parametrize("kind", TASK_KINDS)
def test_edit_task_kind_can_be_chosen(kind):
    assert all(make_edit_task(seed, kind=kind).kind == kind for seed in range(5))


def test_crowded_scenes_never_fail():
    """A seed on which object placement once ran out of attempts (it crashed a training run)."""
    from bdlearn.scenes.render import sample_scenes

    images, captions = sample_scenes(32, seed=1_000_003 + 2678)
    assert images.shape == (32, 32, 32, 3) and all(captions)
