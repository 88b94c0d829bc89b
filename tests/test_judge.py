"""Tests of the rule-based judge: accuracy on clean and blurred renders, and empty regions."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np
import pytest

from bdlearn.scenes.judge import (
    Verdict,
    circular_mean,
    classify_hue,
    hue_distance,
    judge_edit,
    judge_region,
    largest_component,
    rgb_to_hue,
)
from bdlearn.scenes.render import (
    BACKGROUNDS,
    COLOUR_NAMES,
    COLOURS,
    SHAPES,
    Scene,
    render_background,
    render_object,
    render_scene,
    shape_mask,
)
from bdlearn.scenes.tasks import box_mask, edit_task_suite


def dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow a bool mask by ``steps`` pixels in the four axis directions."""
    for _ in range(steps):
        padded = np.pad(mask, 1)
        mask = (
            padded[1:-1, 1:-1] | padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
        )
    return mask


def blur(image: np.ndarray) -> np.ndarray:
    """A light 3x3 binomial blur, like the softness of a generated image."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = (padded[:-2] + 2 * padded[1:-1] + padded[2:]) / 4
    return (rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]) / 4


def evaluation_scenes(size: int, scene_count: int, seeds_per_combo: int) -> list[Scene]:
    """Every colour x shape on its own, plus random multi-object scenes."""
    combos = [
        render_object(shape, colour, seed=(seed, size), size=size)
        for shape in SHAPES
        for colour in COLOUR_NAMES
        for seed in range(seeds_per_combo)
    ]
    return combos + [render_scene((seed, size), size) for seed in range(scene_count)]


def accuracy(scenes: list[Scene],
             degrade: Callable[[np.ndarray], np.ndarray] = lambda image: image) -> tuple[float, str]:
    """Fraction of objects judged right inside their own mask dilated by two pixels (at 32x32),
    and a confusion report of the mistakes."""
    mistakes: Counter[str] = Counter()
    total = 0
    for scene in scenes:
        image = degrade(scene.image)
        size = image.shape[0]
        for obj in scene.objects:
            verdict = judge_region(image, dilate(obj.mask, size // 16))
            total += 1
            if not verdict.matches(obj.colour, obj.shape):
                mistakes[f"{obj.colour} {obj.shape} -> {verdict.colour} {verdict.shape}"] += 1
    wrong = sum(mistakes.values())
    report = "\n".join(f"  {count:3d} x {what}" for what, count in mistakes.most_common())
    return 1 - wrong / total, f"{wrong}/{total} wrong:\n{report}"


@pytest.mark.parametrize("size, scene_count, seeds_per_combo", [(32, 200, 4), (64, 40, 1)])
def test_judge_is_accurate_on_clean_renders(size, scene_count, seeds_per_combo):
    score, report = accuracy(evaluation_scenes(size, scene_count, seeds_per_combo))
    print(f"clean accuracy at {size}x{size}: {score:.3f}")
    assert score >= 0.98, report


def test_judge_copes_with_blur_and_noise():
    rng = np.random.default_rng(0)

    def degrade(image: np.ndarray) -> np.ndarray:
        return np.clip(blur(image) + rng.normal(0, 0.03, image.shape), 0, 1)

    score, report = accuracy(evaluation_scenes(32, 100, 2), degrade)
    print(f"blurred accuracy at 32x32: {score:.3f}")
    assert score >= 0.9, report


def test_judge_finds_nothing_in_empty_regions():
    rng = np.random.default_rng(0)
    found: Counter[str] = Counter()
    trials = 0
    for family in BACKGROUNDS:
        for _ in range(40):
            background, _ = render_background(family, rng, 32)
            side = int(rng.integers(8, 33))
            top, left = rng.integers(0, 33 - side, size=2)
            verdict = judge_region(background, box_mask((int(top), int(left), side, side), 32))
            trials += 1
            if verdict.has_object:
                found[f"{family}: {verdict.colour} {verdict.shape}"] += 1
    empty_rate = 1 - sum(found.values()) / trials
    assert empty_rate >= 0.95, f"objects seen on empty backgrounds: {dict(found)}"


def test_tasks_are_not_solved_before_editing_but_an_ideal_edit_passes():
    for task in edit_task_suite(60, seed=1):
        assert not judge_edit(task.image, task)
        if task.kind == "add-object":
            assert not judge_region(task.image, task.mask).has_object
        else:
            assert judge_region(task.image, task.mask).matches(task.original.colour, task.original.shape)
        # Ideal edit: restore the background in the region, then draw the target inside it.
        edited = task.image.copy()
        edited[task.mask] = task.scene.background_image[task.mask]
        rows, cols = np.nonzero(task.mask)
        side = len(np.unique(rows)) - 4
        target = shape_mask(task.target_shape, (rows.min() + 2, cols.min() + 2, side, side), 32)
        edited[target] = COLOURS[task.target_colour]
        assert judge_edit(edited, task), task.prompt


def test_verdict_confidences_lie_in_unit_interval():
    for scene in evaluation_scenes(32, 30, 1):
        for obj in scene.objects:
            verdict = judge_region(scene.image, dilate(obj.mask, 2))
            assert 0 <= verdict.colour_confidence <= 1
            assert 0 <= verdict.shape_confidence <= 1


def test_verdict_matches():
    assert Verdict(True, "red", "circle", 0.9, 0.9).matches("red", "circle")
    assert not Verdict(True, "red", "circle", 0.9, 0.9).matches("red", "square")
    assert not Verdict(has_object=False).matches("red", "circle")


def test_empty_mask_has_no_object():
    assert not judge_region(render_scene(0).image, np.zeros((32, 32), dtype=bool)).has_object


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError):
        judge_region(np.zeros((32, 32)), np.ones((32, 32), dtype=bool))
    with pytest.raises(ValueError):
        judge_region(np.zeros((32, 32, 3)), np.ones((16, 16), dtype=bool))


def test_hue_helpers():
    primaries = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(rgb_to_hue(primaries), [0, 120, 240, 0])
    assert hue_distance(circular_mean(np.array([350.0, 10.0])), 0.0) == pytest.approx(0, abs=1e-9)
    for name, rgb in COLOURS.items():
        colour, confidence = classify_hue(float(rgb_to_hue(np.array(rgb))))
        assert (colour, confidence) == (name, 1.0)


def test_largest_component_respects_labels_and_connectivity():
    labels = np.array(
        [
            [0, 0, -1, 1],
            [0, 1, -1, 1],
            [-1, 1, 1, 1],
        ]
    )
    expected = np.array(
        [
            [False, False, False, True],
            [False, True, False, True],
            [False, True, True, True],
        ]
    )
    np.testing.assert_array_equal(largest_component(labels), expected)
    assert not largest_component(np.full((3, 3), -1)).any()


def test_largest_component_covers_a_uniform_image_and_breaks_ties_in_reading_order():
    assert largest_component(np.zeros((4, 5), dtype=int)).all()
    # two groups of 3 pixels, label 1 first in reading order although its label is larger
    labels = np.array(
        [
            [1, 1, 1, -1],
            [-1, -1, -1, -1],
            [0, 0, 0, -1],
        ]
    )
    np.testing.assert_array_equal(largest_component(labels), labels == 1)
