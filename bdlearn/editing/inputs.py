"""Turning what a user passes (PIL images, arrays, tensors, paths) into pixels and model-ready tensors.

Two layers. :func:`read_image` and :func:`read_mask` read an image and its mask at the image's own
size (uint8 RGB, and a bool array that is True where the edit goes): :func:`bdlearn.edit` works
from these and gives its edits back at that size (:mod:`.window`). :func:`load_image` and
:func:`load_mask` make the square model inputs the notebooks use: the largest centred square,
resized to the model's side (images with Lanczos filtering, masks with nearest neighbour), as
[1, 3, S, S] float32 tensors in [−1, 1] and [1, 1, S, S] tensors of 0s and 1s. Nothing the user
passed is modified.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor, str, Path]


class InputError(ValueError):
    """An image, mask or prompt that bdlearn cannot use, with what to do about it."""


def _open(path: str | Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except OSError as err:
        raise InputError(f"{path} is not an image PIL can read: {err}") from err


def _to_float_array(value: np.ndarray | torch.Tensor, what: str) -> tuple[np.ndarray, float]:
    """An HxW or HxWxC float64 array and its full scale (255 for integers, 1 for floats and bools)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.ndim == 4:
            if value.shape[0] != 1:
                raise InputError(f"{what}: pass one {what} at a time, got a batch of {value.shape[0]}")
            value = value[0]
        if value.ndim == 3 and value.shape[0] in (1, 3, 4) and value.shape[-1] not in (1, 3, 4):
            value = value.permute(1, 2, 0)  # CxHxW -> HxWxC
        value = value.numpy()
    array = np.asarray(value)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise InputError(f"{what}: expected HxW, HxWx3, HxWx4 or CxHxW, got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(np.float64), 1.0
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.float64), 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{what}: unsupported dtype {array.dtype}")
    array = array.astype(np.float64)
    if np.isnan(array).any() or np.isinf(array).any():
        raise InputError(f"{what} contains NaN or infinite values")
    return array, 1.0


def _centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def read_image(image: ImageLike) -> np.ndarray:
    """Any image at its own size, as an HxWx3 uint8 RGB array.

    Accepts PIL images of any mode, paths, and arrays or tensors shaped HxW, HxWx3, HxWx4 or
    CxHxW, either integers in 0..255 or floats in [0, 1]. Alpha is dropped; greyscale is
    repeated to RGB.
    """
    if isinstance(image, (str, Path)):
        image = _open(image)
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB")).copy()
    array, scale = _to_float_array(image, "image")
    array = array / scale
    if array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise InputError(f"image values must lie in [0, 1] (floats) or 0..255 (integers); "
                         f"got [{array.min():.3g}, {array.max():.3g}]")
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return np.round(np.clip(array[..., :3], 0, 1) * 255).astype(np.uint8)


def load_image(image: ImageLike, size: int) -> torch.Tensor:
    """Any image as a [1, 3, size, size] float32 tensor in [−1, 1]: its centred square, resized."""
    pil = Image.fromarray(read_image(image), "RGB")
    square = pil.crop(_centre_square(*pil.size))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(square, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None]


def _binary_mask(mask: ImageLike) -> np.ndarray:
    """Any mask at its own size as an HxW bool array, True where the edit goes.

    Binarised at half of full scale (> 127.5 of 255, > 0.5 of 1). Colour masks are averaged over
    channels (alpha ignored).
    """
    if isinstance(mask, (str, Path)):
        mask = _open(mask)
    if isinstance(mask, Image.Image):
        grey = mask.convert("L") if mask.mode not in ("1", "L", "F", "I", "I;16") else mask
        if grey.mode == "1":
            grey = grey.convert("L")
        array, scale = _to_float_array(np.asarray(grey), "mask")
        if grey.mode in ("I", "I;16"):
            scale = float(max(array.max(), 1.0))
    else:
        array, scale = _to_float_array(mask, "mask")
    if array.ndim == 3:
        array = array[..., :3].mean(axis=-1)
    return (array / scale) > 0.5


def _check_aspect(mask_shape: tuple[int, int], image_shape: tuple[int, int] | None) -> None:
    if image_shape is None:
        return
    (height, width), (image_h, image_w) = mask_shape, image_shape
    if abs(height / width - image_h / image_w) > 0.02:
        raise InputError(f"the mask ({height}x{width}) and the image ({image_h}x{image_w}) have different "
                         "aspect ratios; draw the mask on the image itself")


def read_mask(mask: ImageLike, image_shape: tuple[int, int], invert: bool = False) -> np.ndarray:
    """Any mask as an HxW bool array at the image's size ``image_shape`` (H, W); True marks the edit.

    Binarised at half of full scale (> 127.5 of 255, > 0.5 of 1); colour masks are averaged over
    channels (alpha ignored). A mask of the image's aspect ratio but another size is resized by
    nearest neighbour; another aspect ratio cannot be matched to the image and is an error.
    ``invert`` swaps edit and keep. A mask that selects nothing is an error; one that selects
    everything turns the edit into plain guided generation.
    """
    binary = _binary_mask(mask)
    _check_aspect(binary.shape, image_shape)
    height, width = image_shape
    if binary.shape != (height, width):
        resized = Image.fromarray(binary.astype(np.uint8) * 255, "L").resize((width, height), Image.Resampling.NEAREST)
        binary = np.asarray(resized) > 127
    if invert:
        binary = ~binary
    if not binary.any():
        raise InputError("the mask selects nothing to edit; mark the region to change with white / True / 1")
    return binary


def load_mask(mask: ImageLike, size: int, invert: bool = False,
              image_shape: tuple[int, int] | None = None) -> torch.Tensor:
    """Any mask as a [1, 1, size, size] float32 tensor of 0s and 1s; 1 marks the region to edit.

    The centred square of the mask of :func:`read_mask`'s rules, resized by nearest neighbour.
    ``image_shape`` (H, W of the user's image), when given, is checked against the mask's aspect
    ratio.
    """
    binary = _binary_mask(mask)
    _check_aspect(binary.shape, image_shape)
    height, width = binary.shape
    left, top, right, bottom = _centre_square(width, height)
    square = Image.fromarray(binary[top:bottom, left:right].astype(np.uint8) * 255, "L")
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.NEAREST)
    result = torch.from_numpy(np.asarray(square) > 127).to(torch.float32)[None, None]
    if invert:
        result = 1.0 - result
    if result.sum() == 0:
        raise InputError("the mask selects nothing to edit (after resizing to "
                         f"{size}x{size}); mark the region to change with white / True / 1")
    return result


def image_shape_of(image: ImageLike) -> tuple[int, int] | None:
    """(H, W) of a user's image before any resizing, or None when it cannot be told cheaply."""
    if isinstance(image, (str, Path)):
        image = _open(image)
    if isinstance(image, Image.Image):
        return image.size[1], image.size[0]
    if isinstance(image, torch.Tensor):
        shape = tuple(image.shape[-3:]) if image.ndim >= 3 else tuple(image.shape)
        if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
            return shape[1], shape[2]
        return shape[0], shape[1]
    if isinstance(image, np.ndarray):
        return image.shape[0], image.shape[1]
    return None


def check_prompt(prompt: str) -> str:
    """The prompt stripped of surrounding space; an empty one is an error."""
    if not isinstance(prompt, str):
        raise InputError(f"the prompt must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InputError("the prompt is empty; describe what the masked region should become")
    return prompt.strip()
