"""Edit tasks: an image, a box-shaped region to edit, and what should appear there.

Two kinds of task test a region-editing method:

* ``"replace-object"``: the region is a box a little larger than one object,
  and the prompt names a different object to put in its place;
* ``"add-object"``: the region is an empty patch of background, and the
  prompt names an object to draw there.

Regions never contain (parts of) any other object, so a judge looking only
inside the region sees just the edit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bdlearn.checks import checked_integer
from bdlearn.scenes.render import (
    COLOUR_NAMES,
    IMAGE_SIZE,
    SHAPES,
    Box,
    Scene,
    SceneObject,
    checked_size,
    derive_seeds,
    object_caption,
    render_scene,
)

TASK_KINDS: tuple[str, ...] = ("replace-object", "add-object")


@dataclass
class EditTask:
    """One edit to perform: change what lies in ``mask`` into the object in ``prompt``."""

    image: np.ndarray
    """(H, W, 3) float32 RGB in [0, 1]: the picture before editing."""
    mask: np.ndarray
    """(H, W) bool: the box-shaped region to edit."""
    prompt: str
    """Text naming the target object, e.g. "a yellow triangle"."""
    target_colour: str
    target_shape: str
    kind: str
    """One of ``TASK_KINDS``."""
    seed: int
    """``make_edit_task(seed, size, kind)`` rebuilds this task."""
    scene: Scene
    """The scene the image was rendered from."""
    original: SceneObject | None
    """The object being replaced, or None for an add-object task."""


def make_edit_task(seed: int, size: int = IMAGE_SIZE, kind: str | None = None, attempts: int = 100) -> EditTask:
    """Build one random edit task from ``seed`` (a non-negative int); ``kind`` is drawn at random unless given.

    ``size`` is the picture's side (at least :data:`~bdlearn.scenes.render.MIN_IMAGE_SIZE`). Scenes
    whose region would include another object are redrawn, up to ``attempts`` (at least 1) times.
    """
    seed, size = checked_integer("seed", seed, 0), checked_size(size)
    attempts = checked_integer("attempts", attempts, 1)
    rng = np.random.default_rng(seed)
    if kind is None:
        kind = str(rng.choice(TASK_KINDS))
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {TASK_KINDS}")
    for _ in range(attempts):
        if kind == "replace-object":
            scene = render_scene(rng, size)
            original = scene.objects[int(rng.integers(len(scene.objects)))]
            box = _box_around(original.box, size)
        else:  # add-object: fewer objects leave room for an empty patch
            scene = render_scene(rng, size, num_objects=int(rng.integers(1, 3)))
            original = None
            box = _random_box(rng, size)
        mask = box_mask(box, size)
        if any((o.mask & mask).any() for o in scene.objects if o is not original):
            continue
        colour, shape = _pick_target(rng, original)
        return EditTask(
            image=scene.image,
            mask=mask,
            prompt=object_caption(colour, shape),
            target_colour=colour,
            target_shape=shape,
            kind=kind,
            seed=seed,
            scene=scene,
            original=original,
        )
    raise RuntimeError(f"no valid {kind} task found for seed {seed} in {attempts} attempts")


def edit_task_suite(n: int = 100, seed: int = 0, size: int = IMAGE_SIZE) -> list[EditTask]:
    """A fixed, reproducible list of ``n`` (at least 0) edit tasks of both kinds; ``seed`` a non-negative int."""
    n, seed, size = checked_integer("n", n, 0), checked_integer("seed", seed, 0), checked_size(size)
    return [make_edit_task(s, size) for s in derive_seeds(seed, n)]


def min_region_side(size: int) -> int:
    """Smallest side of an edit region: 12 pixels at 32x32, room for a mid-sized object."""
    return round(size * 3 / 8)


def box_mask(box: Box, size: int) -> np.ndarray:
    """(size, size) bool mask that is True inside ``box`` = (top, left, height, width)."""
    top, left, height, width = box
    mask = np.zeros((size, size), dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def _box_around(box: Box, size: int) -> Box:
    """A square box containing ``box`` with a margin, at least ``min_region_side`` wide, inside the image."""
    top, left, side, _ = box
    margin = max(2, size // 16)
    grown = max(side + 2 * margin, min_region_side(size))
    top -= (grown - side) // 2
    left -= (grown - side) // 2
    top = min(max(top, 0), size - grown)
    left = min(max(left, 0), size - grown)
    return top, left, grown, grown


def _random_box(rng: np.random.Generator, size: int) -> Box:
    """A random square box, between ``min_region_side`` and half the image wide."""
    side = int(rng.integers(min_region_side(size), size // 2 + 1))
    top, left = (int(x) for x in rng.integers(0, size - side + 1, size=2))
    return top, left, side, side


def _pick_target(rng: np.random.Generator, original: SceneObject | None) -> tuple[str, str]:
    """A random (colour, shape), never the same pair as the original object."""
    while True:
        colour, shape = str(rng.choice(COLOUR_NAMES)), str(rng.choice(SHAPES))
        if original is None or (colour, shape) != (original.colour, original.shape):
            return colour, shape
