"""A procedural image world: saturated shapes on muted backgrounds.

Every scene is drawn in NumPy from a seed, so the same seed always gives the
same pixels. Images are float32 RGB arrays of shape (H, W, 3) with values in
[0, 1]. Shapes are drawn without anti-aliasing: a pixel belongs to a shape when
its centre lies inside it, so each object's mask matches its pixels exactly.

The world is designed to be easy to read, both for a small model and for the
rule-based judge in :mod:`bdlearn.scenes.judge`:

* backgrounds use muted (low-saturation) colours,
* objects use a few strongly saturated, well-separated hues,
* objects in one scene all have different colours and overlap only a little
  (an object drawn later hides the part of an earlier one beneath it).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np
from PIL import Image

from bdlearn.checks import checked_integer, checked_real
from bdlearn.errors import InputError

IMAGE_SIZE = 32
"""Default image side in pixels. Every function also takes a ``size`` argument."""

MIN_IMAGE_SIZE = 4
"""Smallest image side: objects (a quarter to half of the side wide) are then at least a pixel wide."""

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.12),
    "orange": (1.00, 0.48, 0.05),
    "yellow": (0.95, 0.90, 0.10),
    "green": (0.15, 0.75, 0.20),
    "cyan": (0.10, 0.85, 0.90),
    "blue": (0.10, 0.30, 0.95),
    "purple": (0.65, 0.20, 0.90),
}
"""Canonical RGB of each object colour (hues roughly 0, 27, 56, 125, 184, 226, 279 degrees)."""

COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

BACKGROUNDS: dict[str, str] = {
    "flat": "a flat background",
    "gradient": "a gradient background",
    "stripes": "a striped background",
    "checker": "a checkered background",
    "noise": "a textured background",
    "horizon": "a two-tone background",
}
"""Background families and the phrase each one uses in captions."""

COLOUR_JITTER = 0.04
"""Largest random shift of each RGB channel away from an object's canonical colour."""

MAX_OVERLAP = 0.1
"""Default largest fraction of an object that may lie under, or over, other objects."""

Seed = Union[int, Sequence[int], np.random.Generator]
"""A non-negative int, a sequence of them, or a ``numpy.random.Generator`` (which is advanced)."""
Box = tuple[int, int, int, int]
"""An axis-aligned box as (top, left, height, width) in pixels."""


def check_object(colour: Any, shape: Any) -> None:
    """Refuse a colour not in :data:`COLOUR_NAMES` or a shape not in :data:`SHAPES` (an :class:`InputError`)."""
    swapped = " (the colour comes first, then the shape)" if colour in SHAPES and shape in COLOUR_NAMES else ""
    if colour not in COLOUR_NAMES:
        raise InputError(f"unknown colour {colour!r}; expected one of {COLOUR_NAMES}{swapped}")
    if shape not in SHAPES:
        raise InputError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def checked_size(size: Any) -> int:
    """``size``, the side of a square picture in pixels, as an int of at least :data:`MIN_IMAGE_SIZE`."""
    return checked_integer("size", size, MIN_IMAGE_SIZE, hint=" (the side of the square picture in pixels)")


def check_seed(seed: Any) -> None:
    """Refuse a seed that is not a :data:`Seed`: an int or an entry of a sequence below 0, or not an int."""
    if isinstance(seed, np.random.Generator):
        return
    if isinstance(seed, (list, tuple, np.ndarray)):
        for i, part in enumerate(seed):
            checked_integer(f"seed[{i}]", part, 0)
    else:
        checked_integer("seed", seed, 0, hint=" (a seed is an int of at least 0, a sequence of them, or a "
                                              "numpy.random.Generator)")


@dataclass
class SceneObject:
    """One drawn object: what it is, where it is, and which pixels show it."""

    shape: str
    colour: str
    rgb: np.ndarray
    """The RGB actually drawn (the canonical colour plus a little jitter)."""
    box: Box
    """The square box (top, left, side, side) the shape was drawn in."""
    mask: np.ndarray
    """(H, W) bool: the pixels where this object is visible."""

    @property
    def size(self) -> int:
        """Side of the object's box in pixels."""
        return self.box[2]

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the object's box as (row, column)."""
        top, left, height, width = self.box
        return top + height / 2, left + width / 2

    @property
    def caption(self) -> str:
        """A short description such as "a red circle"."""
        return object_caption(self.colour, self.shape)


@dataclass
class Scene:
    """A rendered scene: the image, its objects and its background."""

    image: np.ndarray
    """(H, W, 3) float32 RGB in [0, 1]."""
    objects: list[SceneObject]
    background_family: str
    background_colours: tuple[np.ndarray, np.ndarray]
    """The two muted RGB colours the background blends (equal for "flat")."""
    background_image: np.ndarray
    """The background alone, before any object was drawn."""

    @property
    def caption(self) -> str:
        """e.g. "a red circle and a green triangle on a striped background"."""
        return scene_caption([(o.colour, o.shape) for o in self.objects], self.background_family)


def object_caption(colour: str, shape: str) -> str:
    """Caption of a single object, e.g. "a red circle" or "an orange cross": ``colour`` one of
    :data:`COLOUR_NAMES`, ``shape`` one of :data:`SHAPES` (in lower case, as captions spell them)."""
    check_object(colour, shape)
    article = "an" if colour[0] in "aeiou" else "a"
    return f"{article} {colour} {shape}"


def scene_caption(objects: Sequence[tuple[str, str]], background_family: str) -> str:
    """Caption listing (colour, shape) pairs in drawing order, then the background."""
    parts = [object_caption(colour, shape) for colour, shape in objects]
    if len(parts) > 1:
        listed = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        listed = parts[0]
    return f"{listed} on {BACKGROUNDS[background_family]}"


CAPTION_WORDS: frozenset[str] = frozenset(
    " ".join([*(object_caption(colour, shape) for colour in COLOUR_NAMES for shape in SHAPES),
              *BACKGROUNDS.values(), "and on"]).split())
"""Every word a caption uses (articles, colours, shapes, backgrounds, "and", "on"): what the toy CLIP learned."""


def masked_view(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with everything outside ``mask`` set to black."""
    return image * mask[..., None]


def derive_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent integer seeds derived from one seed (stable across runs)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


def shape_mask(shape: str, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """(size, size) bool mask of ``shape`` stretched to fill ``box`` = (top, left, height, width).

    A pixel is inside when its centre is. The box may have fractional edges,
    which lets the judge fit templates to the objects it finds.
    """
    top, left, height, width = box
    centres = np.arange(size) + 0.5
    # u, v run from -1 to 1 across the box: u left to right, v top to bottom.
    v = (centres[:, None] - top) / height * 2 - 1
    u = (centres[None, :] - left) / width * 2 - 1
    inside_box = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if shape == "square":
        return inside_box
    if shape == "circle":
        return u**2 + v**2 <= 1
    if shape == "triangle":  # apex at the top middle, base along the bottom edge
        return inside_box & (np.abs(u) <= (v + 1) / 2)
    if shape == "cross":  # a plus sign with arms one third of the box wide
        return inside_box & ((np.abs(u) <= 1 / 3) | (np.abs(v) <= 1 / 3))
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def render_background(
    family: str, rng: np.random.Generator, size: int = IMAGE_SIZE
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Draw a background of the given family; returns (image, its two colours).

    Each family blends two muted colours with a per-pixel weight in [0, 1].
    A blend of two low-saturation colours is itself low in saturation, so no
    background pixel can be mistaken for an object.
    """
    first, second = _muted_colour_pair(rng)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    if family == "flat":
        weight = np.zeros((size, size))
        second = first
    elif family == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        along = (rows - size / 2) * np.sin(angle) + (cols - size / 2) * np.cos(angle)
        weight = np.clip(along / size + 0.5, 0, 1)
    elif family == "stripes":
        period = rng.uniform(0.12, 0.3) * size
        coordinate = rows if rng.random() < 0.5 else cols
        weight = (coordinate // (period / 2)) % 2
    elif family == "checker":
        cell = rng.uniform(0.1, 0.22) * size
        weight = (rows // cell + cols // cell) % 2
    elif family == "noise":
        coarse = rng.random((5, 5)).astype(np.float32)
        weight = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC))
        weight = np.clip(weight, 0, 1)
    elif family == "horizon":
        horizon = rng.uniform(0.35, 0.65) * size
        weight = (rows > horizon).astype(float)
    else:
        raise ValueError(f"unknown background {family!r}; expected one of {tuple(BACKGROUNDS)}")
    weight = weight[..., None]
    image = (1 - weight) * first + weight * second
    return image.astype(np.float32), (first, second)


def render_scene(
    seed: Seed,
    size: int = IMAGE_SIZE,
    num_objects: int | None = None,
    background_family: str | None = None,
    max_overlap: float = MAX_OVERLAP,
) -> Scene:
    """Render a random scene of 1-3 objects (or ``num_objects``, 1 to 7) with distinct colours.

    ``seed`` may be a non-negative int, a sequence of them, or a ``numpy.random.Generator``
    (which is advanced). Unset options are drawn at random. ``size`` is at least
    :data:`MIN_IMAGE_SIZE`; ``max_overlap`` (in [0, 1]) is the largest fraction of an object that
    other objects may hide or lie under.
    """
    check_seed(seed)
    size = checked_size(size)
    if num_objects is not None:
        num_objects = checked_integer("num_objects", num_objects, 1, len(COLOUR_NAMES) + 1,
                                      hint=f" (a scene's objects have different colours, and there are "
                                           f"{len(COLOUR_NAMES)})")
    checked_real("max_overlap", max_overlap, 0, 1, hint=" (the fraction of an object that others may hide)")
    rng = np.random.default_rng(seed)
    if num_objects is None:
        num_objects = int(rng.integers(1, 4))
    colours = rng.choice(COLOUR_NAMES, size=num_objects, replace=False)
    shapes = rng.choice(SHAPES, size=num_objects)
    specs = [(str(c), str(s)) for c, s in zip(colours, shapes)]
    return _compose(rng, size, specs, background_family, max_overlap)


def render_object(
    shape: str,
    colour: str,
    seed: Seed = 0,
    size: int = IMAGE_SIZE,
    background_family: str | None = None,
) -> Scene:
    """Render a scene holding exactly one object of the given shape and colour (``seed`` and ``size`` as
    :func:`render_scene` takes them)."""
    check_object(colour, shape)
    check_seed(seed)
    size = checked_size(size)
    return _compose(np.random.default_rng(seed), size, [(colour, shape)], background_family, MAX_OVERLAP)


def sample_scenes(n: int, seed: int = 0, size: int = IMAGE_SIZE) -> tuple[np.ndarray, list[str]]:
    """A batch of ``n`` (at least 1) random scenes: images (n, H, W, 3) float32 and their captions.

    Scene ``i`` equals ``render_scene(derive_seeds(seed, n)[i], size)``; ``seed`` is a non-negative int.
    """
    n, seed = checked_integer("n", n, 1), checked_integer("seed", seed, 0)
    scenes = [render_scene(s, size) for s in derive_seeds(seed, n)]
    return np.stack([s.image for s in scenes]), [s.caption for s in scenes]


def object_size_range(size: int) -> tuple[int, int]:
    """Smallest and largest object side: 8 to 16 pixels at 32x32, scaled with ``size``."""
    return round(size / 4), round(size / 2)


def _compose(
    rng: np.random.Generator,
    size: int,
    specs: Sequence[tuple[str, str]],
    background_family: str | None,
    max_overlap: float,
) -> Scene:
    """Draw a background, then each (colour, shape) on top at a random free spot."""
    if background_family is None:
        background_family = str(rng.choice(list(BACKGROUNDS)))
    background, background_colours = render_background(background_family, rng, size)
    image = background.copy()
    objects: list[SceneObject] = []
    for colour, shape in specs:
        placed = _place(rng, shape, size, objects, max_overlap)
        if placed is None:  # a crowded scene: leave this object out rather than fail
            continue
        box, mask = placed
        rgb = np.clip(np.array(COLOURS[colour]) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0, 1)
        image[mask] = rgb
        for earlier in objects:  # the new object hides whatever lies beneath it
            earlier.mask &= ~mask
        objects.append(SceneObject(shape, colour, rgb.astype(np.float32), box, mask))
    return Scene(image, objects, background_family, background_colours, background)


def _place(
    rng: np.random.Generator,
    shape: str,
    size: int,
    objects: Sequence[SceneObject],
    max_overlap: float,
    attempts: int = 200,
) -> tuple[Box, np.ndarray] | None:
    """Pick a random box for a new object that keeps overlaps small (see ``_overlap_is_small``).

    Returns None when no such box turns up in ``attempts`` tries (rare: a crowded scene).
    """
    smallest, largest = object_size_range(size)
    margin = max(1, size // 32)  # keep objects off the very edge of the image
    for _ in range(attempts):
        side = int(rng.integers(smallest, largest + 1))
        top, left = rng.integers(margin, size - side - margin + 1, size=2)
        box = (int(top), int(left), side, side)
        mask = shape_mask(shape, box, size)
        if _overlap_is_small(mask, objects, max_overlap):
            return box, mask
    return None


def _overlap_is_small(mask: np.ndarray, objects: Sequence[SceneObject], max_overlap: float) -> bool:
    """True when at most ``max_overlap`` of the new object lies over earlier objects and,
    once it is drawn, no earlier object has more than ``max_overlap`` of itself hidden."""
    beneath = np.zeros_like(mask)
    for obj in objects:
        beneath |= obj.mask
    if (beneath & mask).sum() > max_overlap * mask.sum():
        return False
    for obj in objects:
        drawn = shape_mask(obj.shape, obj.box, mask.shape[0]).sum()
        if (obj.mask & ~mask).sum() < (1 - max_overlap) * drawn:
            return False
    return True


def _muted_colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two low-saturation colours whose brightness differs enough to see a pattern."""
    hue = rng.random()
    value = rng.uniform(0.2, 0.8)
    other_value = value + rng.choice([-1, 1]) * rng.uniform(0.12, 0.3)
    if not 0.1 <= other_value <= 0.9:  # flip the step when it leaves the usable range
        other_value = 2 * value - other_value
    other_hue = (hue + rng.uniform(-0.15, 0.15)) % 1
    return (
        np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0, 0.3), value)),
        np.array(colorsys.hsv_to_rgb(other_hue, rng.uniform(0, 0.3), other_value)),
    )
