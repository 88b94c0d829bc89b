"""A rule-based judge of image regions: is there an object, and what is it?

The judge is deliberately *not* learned and knows nothing of CLIP, so it can
grade edits without sharing the biases of the models being graded. It relies
on how the world is drawn (see :mod:`bdlearn.scenes.render`): backgrounds are
muted, objects are saturated. To judge a region it

1. measures each pixel's chroma (max minus min of R, G, B: how colourful it is)
   and hue (its angle on the colour wheel),
2. keeps the pixels more colourful than any background can be,
3. names each kept pixel after the nearest canonical hue,
4. takes the largest connected blob of pixels sharing one colour name,
5. redoes steps 2-4 with the threshold raised to halfway between the blob's
   chroma and the background's, which recovers the outline of a blurred object,
6. reads the colour from the blob's mean hue and the shape from whichever
   shape template, stretched over the blob's bounding box, overlaps it best.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from bdlearn.checks import shown
from bdlearn.errors import InputError
from bdlearn.scenes.measures import read_picture, read_region
from bdlearn.scenes.render import COLOURS, SHAPES, shape_mask
from bdlearn.scenes.tasks import EditTask

CHROMA_THRESHOLD = 0.35
"""Pixels at most this colourful count as background: muted backgrounds stay below
0.27 and object colours stay above 0.5, so the threshold sits between them."""

MIN_OBJECT_FRACTION = 10 / 1024
"""Smallest blob, as a fraction of the image area, that counts as an object (10 pixels at 32x32)."""


@dataclass(frozen=True)
class Verdict:
    """What the judge saw in a region. Colour and shape are None when there is no object.

    ``colour_confidence`` is 1 when the blob's hue sits exactly on a canonical
    hue and falls to 0 halfway to the next one. ``shape_confidence`` is the
    intersection-over-union of the blob with the best-fitting shape template.
    """

    has_object: bool
    colour: str | None = None
    shape: str | None = None
    colour_confidence: float = 0.0
    shape_confidence: float = 0.0

    def matches(self, colour: str, shape: str) -> bool:
        """True when an object was found and it has this colour and shape."""
        return self.has_object and self.colour == colour and self.shape == shape


def judge_region(image: np.ndarray, mask: np.ndarray) -> Verdict:
    """Judge the object (if any) inside ``mask`` (an (H, W) bool array) of a square (H, W, 3) RGB image.

    The image holds floats in [0, 1] or uint8 values 0..255 (a picture read from a file), read as the
    measures read pictures (:func:`~bdlearn.scenes.measures.read_picture`: uint8 is divided by 255).
    """
    image = read_picture(image).astype(np.float32)
    if image.shape[0] != image.shape[1]:
        raise InputError(f"expected a square (H, W, 3) image, got shape {image.shape}")
    mask = read_region(mask, image)

    chroma = image.max(axis=2) - image.min(axis=2)
    hue = rgb_to_hue(image)
    blob = _colour_blob(chroma, hue, mask, CHROMA_THRESHOLD)
    if blob.sum() < MIN_OBJECT_FRACTION * mask.size:
        return Verdict(has_object=False)
    background = mask & (chroma <= CHROMA_THRESHOLD)
    background_chroma = float(np.median(chroma[background])) if background.any() else 0.0
    half_maximum = (float(np.median(chroma[blob])) + background_chroma) / 2
    blob = _colour_blob(chroma, hue, mask, max(half_maximum, CHROMA_THRESHOLD))
    if blob.sum() < MIN_OBJECT_FRACTION * mask.size:
        return Verdict(has_object=False)

    colour, colour_confidence = classify_hue(circular_mean(hue[blob]))
    shape, shape_confidence = classify_shape(blob)
    return Verdict(True, colour, shape, colour_confidence, shape_confidence)


def judge_edit(image: np.ndarray, task: EditTask) -> bool:
    """True when the task's target colour and shape are found inside the task's mask of ``image`` (as
    :func:`judge_region` takes it); ``task`` is an :class:`~bdlearn.scenes.tasks.EditTask` (a TypeError otherwise)."""
    if not isinstance(task, EditTask):
        raise TypeError(f"task must be an EditTask (make_edit_task or edit_task_suite makes one), got {shown(task)}")
    return judge_region(image, task.mask).matches(task.target_colour, task.target_shape)


def rgb_to_hue(image: np.ndarray) -> np.ndarray:
    """Hue in degrees [0, 360) of each pixel of an (..., 3) RGB array (0 for greys)."""
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    largest = image.max(axis=-1)
    chroma = largest - image.min(axis=-1)
    safe = np.where(chroma > 0, chroma, 1)
    sector = np.where(
        largest == red,
        ((green - blue) / safe) % 6,
        np.where(largest == green, (blue - red) / safe + 2, (red - green) / safe + 4),
    )
    return np.where(chroma > 0, 60 * sector, 0.0)


CANONICAL_HUES = rgb_to_hue(np.array(list(COLOURS.values())))
"""Hue in degrees of each colour in ``COLOURS``, in the same order."""


def hue_distance(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Shortest angle in degrees between hues, going either way round the wheel."""
    return np.abs((np.asarray(a) - b + 180) % 360 - 180)


def circular_mean(hues: np.ndarray) -> float:
    """Mean of angles in degrees (so that the mean of 350 and 10 is 0, not 180)."""
    radians = np.deg2rad(hues)
    return float(np.rad2deg(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean())) % 360)


def classify_hue(hue: float) -> tuple[str, float]:
    """Nearest colour name to ``hue`` and a confidence from the margin to the runner-up."""
    distances = hue_distance(hue, CANONICAL_HUES)
    nearest, runner_up = np.argsort(distances)[:2]
    d1, d2 = distances[nearest], distances[runner_up]
    return list(COLOURS)[nearest], float((d2 - d1) / (d2 + d1))


def classify_shape(blob: np.ndarray) -> tuple[str, float]:
    """Best-fitting shape for a (size, size) bool blob, and its intersection-over-union."""
    rows, cols = np.nonzero(blob)
    top, left = rows.min(), cols.min()
    box = (top, left, rows.max() + 1 - top, cols.max() + 1 - left)
    scores = [_iou(shape_mask(shape, box, blob.shape[0]), blob) for shape in SHAPES]
    best = int(np.argmax(scores))
    return SHAPES[best], float(scores[best])


def largest_component(labels: np.ndarray) -> np.ndarray:
    """Bool mask of the largest 4-connected group of equal, non-negative labels.

    ``scipy.ndimage.label`` finds the connected groups of each label value (its default
    structure connects the 4 neighbours of a pixel). Of equally large groups the one that
    starts first in reading order wins, so the answer never depends on the order of the labels.
    """
    best = np.zeros(labels.shape, dtype=bool)
    best_key = (0, 0)  # (size, -flat index of its first pixel): larger is better
    for value in np.unique(labels[labels >= 0]):
        groups, _ = ndimage.label(labels == value)  # groups numbered 1, 2, ... in reading order
        sizes = np.bincount(groups.ravel())[1:]
        component = groups == int(np.argmax(sizes)) + 1  # argmax: of equal sizes, the first group
        key = (int(sizes.max()), -int(np.argmax(component)))
        if key > best_key:
            best_key, best = key, component
    return best


def _colour_blob(chroma: np.ndarray, hue: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """Largest connected blob of same-named pixels in ``mask`` with chroma above ``threshold``."""
    colourful = mask & (chroma > threshold)
    return largest_component(np.where(colourful, _nearest_hue_index(hue), -1))


def _nearest_hue_index(hue: np.ndarray) -> np.ndarray:
    """Index into ``COLOURS`` of the canonical hue nearest to each pixel's hue."""
    return hue_distance(hue[..., None], CANONICAL_HUES).argmin(axis=-1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks."""
    return float((a & b).sum() / max(1, (a | b).sum()))
