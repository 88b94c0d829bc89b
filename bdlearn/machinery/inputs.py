"""Turning what a user passes (PIL images, arrays, tensors, paths) into pixels and model-ready tensors.

Two layers. :func:`read_image` and :func:`read_mask` read an image and its mask at the image's own
size (uint8 RGB, and a bool array that is True where the edit goes): :func:`bdlearn.edit` works
from these and gives its edits back at that size (:mod:`.window`). :func:`load_image` and
:func:`load_mask` make the square model inputs the notebooks use: the largest centred square,
resized to the model's side (images with Lanczos filtering, masks with nearest neighbour), as
[1, 3, S, S] float32 tensors in [−1, 1] and [1, 1, S, S] tensors of 0s and 1s. Nothing the user
passed is modified.

How pixels are read, the same for images and masks:

* a file or PIL image is turned upright by its EXIF orientation first (as a photo viewer shows it);
* every PIL mode is read at its own scale: 8-bit modes (1, L, P, RGB, CMYK, YCbCr, LAB, HSV, and
  those with alpha) through PIL's conversion to RGB; 16-bit greyscale (I;16, as PIL opens a 16-bit
  PNG) over 0..65535; 32-bit integers (I, as Pillow before 10 opens a 16-bit PNG) over 0..65535
  too, and refused beyond it; 32-bit floats (F) as floats in [0, 1];
* arrays and tensors: bools; uint16 over 0..65535; other integers over 0..255; floats (float16,
  bfloat16, float32, float64) in [0, 1]. Values outside the scale, NaN and infinities are errors;
  floats in [−1, 1] (bdlearn's model format) are refused with the conversion, (x + 1) / 2;
* an image's transparent pixels are shown on white (a mask's alpha is read as :func:`read_mask` says);
* an empty image, one over :data:`MAX_PIXELS` and a file of several frames (an animation, pages)
  are errors; a file's size is checked before its pixels are decoded (so a "decompression bomb"
  costs nothing).
"""
from __future__ import annotations

import numbers
import re
import sys
import unicodedata
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps

from bdlearn.checks import checked_integer
from bdlearn.errors import InputError, first_words

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor, str, Path]

#: The most pixels an image or mask may have: 50 megapixels (8660x5773, more than a 48-megapixel
#: phone photo). Larger files are refused before they are decoded; raise this to read larger ones.
MAX_PIXELS = 50_000_000

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
#: Modes PIL converts to 8-bit RGB at their own scale (those it would clip, I, I;16 and F, are read apart).
_RGB_MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
_RGBA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")



def _check_size(height: int, width: int, what: str) -> None:
    if height == 0 or width == 0:
        raise InputError(f"{what} is empty ({width}x{height} pixels)")
    if height * width > MAX_PIXELS:
        raise _too_large(what, f"{width}x{height} pixels ({height * width / 1e6:.0f} megapixels)")


_PACKAGE = str(Path(__file__).resolve().parents[1])


def _caller_level() -> int:
    """The ``stacklevel`` at which a warning points at the first caller outside bdlearn (the user's line)."""
    level, frame = 1, sys._getframe(1)  # level 1: the function that warns
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    return level


def _too_large(what: str, size: str) -> InputError:
    return InputError(f"{what} is {size}, more than bdlearn reads ({MAX_PIXELS / 1e6:g} megapixels, "
                      "bdlearn.machinery.inputs.MAX_PIXELS); make it smaller first, or raise that limit if you "
                      "trust the file")


def _open(path: str | Path, what: str = "image") -> Image.Image:
    """The image in the file at ``path``, decoded, upright by its EXIF orientation (a URL is refused: bdlearn
    reads files on this machine)."""
    if isinstance(path, str) and re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", path):  # Path() would fold its '//'
        raise InputError(f"{what} {path} is a URL; bdlearn reads files on this machine: download it first and give "
                         "the file's path")
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not an image file")
    if path.is_symlink() and not path.exists():
        raise InputError(f"{what} {path} is a symbolic link to nothing (broken, or looping)")
    if path.exists() and not path.is_file():
        raise InputError(f"{what} {path} is not a regular file (a pipe, device or socket): save it to a file first")
    if not path.is_file():
        shown = repr(str(path)) if str(path) != str(path).strip() else path  # a space at an end is invisible
        raise InputError(f"file not found: {shown}")
    # Image.open reads only the header; bdlearn's limit, MAX_PIXELS, stricter than PIL's
    # decompression-bomb check, is applied before load(). Past twice PIL's own limit, Image.open
    # refuses the file itself (PIL's limit is a global setting, which bdlearn leaves alone).
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as err:
        pixels = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(pixels.group(1)) / 1e6:.0f} megapixels" if pixels else "too large for PIL"
        raise _too_large(f"{what} {path}", size) from err
    except Exception as err:  # PIL's plugins raise many kinds for a broken file
        raise InputError(f"{path} is not an image PIL can read: {err}") from err
    with image:
        _check_size(image.height, image.width, f"{what} {path}")
        if getattr(image, "n_frames", 1) > 1:  # an animation, or a multi-page file
            raise InputError(f"{what} {path} holds {image.n_frames} frames (an animation or pages); bdlearn edits "
                             "one still picture: save the frame you want as a PNG")
        try:
            image.load()
        except Exception as err:
            raise InputError(f"{path} is not an image PIL can read: {err}") from err
        upright = _upright(image, f"{what} {path}")
        return image.copy() if upright is image else upright


def _upright(image: Image.Image, what: str) -> Image.Image:
    """``image`` turned as its EXIF orientation says: a new image, or ``image`` itself where it has none."""
    try:
        image.load()
    except ValueError as err:  # PIL: "Operation on closed image"
        raise InputError(f"{what}: the PIL image was closed ({err}); pass it before closing it (or after a "
                         "`with Image.open(...)` block, pass image.copy() made inside it), or pass the path") from None
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # EXIF data PIL cannot parse: the pixels are fine, read them as stored
        warnings.warn(f"{what}: its EXIF data is damaged (PIL cannot parse it), so its orientation is unknown: "
                      "read as stored (re-save the picture without metadata to silence this)", UserWarning,
                      stacklevel=_caller_level())
        return image
    if orientation in (None, 1):
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception as err:  # an orientation PIL read but cannot apply
        raise InputError(f"{what}: its EXIF orientation could not be applied: {first_words(err)}") from err


def _warn_if_8_bit(what: str, kind: str, high: int, fix: str) -> None:
    """Warn that 16-bit pixels whose largest value is ``high`` in 2..255 (8-bit values saved as 16 bits?) come out
    nearly black, read over 0..65535 as they are (0/1 masks are read as 0/1: no warning for them)."""
    if 1 < high <= 255:
        warnings.warn(f"{what}: {kind} is read over 0..65535, and this one's values all lie in 0..{high}, so it "
                      f"comes out nearly black; if it holds 8-bit data, {fix}", UserWarning, stacklevel=_caller_level())


def _pil_pixels(image: Image.Image, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A PIL image as an HxWxC array (C = 1, 2, 3 or 4; with 2 and 4 the last is alpha) and the full
    scale of each channel."""
    _check_size(image.height, image.width, what)
    mode = image.mode
    if mode in _SIXTEEN_BIT or mode == "I":
        array = np.asarray(image)
        if mode == "I" and (array.min() < 0 or array.max() > 65535):
            raise InputError(f"{what}: a 32-bit integer image (PIL mode 'I') is read over 0..65535 (16 bits); "
                             f"this one holds {array.min()}..{array.max()}")
        _warn_if_8_bit(what, f"a 16-bit image (PIL mode {mode!r})", array.max(), "save it as an 8-bit image")
        return array.astype(np.float32)[..., None], np.array([65535.0], np.float32)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if np.isfinite(array).all() and (array.min() < 0 or array.max() > 1):
            raise InputError(f"{what}: a 32-bit float image (PIL mode 'F') is read as floats in [0, 1]; this one "
                             f"holds [{array.min():.3g}, {array.max():.3g}] (divide 8-bit values by 255 first)")
        return array[..., None], np.array([1.0], np.float32)
    if mode == "P":
        converted = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in _RGB_MODES:
        converted = image.convert("RGB") if mode not in ("1", "L") else image.convert("L")
    elif mode in _RGBA_MODES:
        converted = image.convert("LA" if mode in ("LA", "La") else "RGBA")
    else:
        try:
            converted = image.convert("RGB")
        except ValueError as err:
            raise InputError(f"{what}: PIL mode {mode!r} is not supported; convert it to RGB or L first") from err
    array = np.asarray(converted)
    if array.ndim == 2:
        array = array[..., None]
    return array, np.full(array.shape[-1], 255.0, np.float32)


def _array_pixels(value, what: str) -> tuple[np.ndarray, np.ndarray]:
    """An array or tensor as :func:`_pil_pixels` gives a PIL image (HxWxC and the channels' scales)."""
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":
            raise InputError(f"{what}: a tensor on the meta device has a shape but no values; pass a real tensor")
        value = value.detach().cpu()
        if value.is_complex():
            raise InputError(f"{what}: complex tensors are not images (dtype {value.dtype})")
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        if value.ndim == 3 and value.shape[0] in (1, 3, 4) and value.shape[-1] not in (1, 3, 4):
            value = value.permute(1, 2, 0)  # CxHxW -> HxWxC
        elif value.ndim == 4 and value.shape[1] in (1, 3, 4) and value.shape[-1] not in (1, 3, 4):
            value = value.permute(0, 2, 3, 1)  # 1xCxHxW -> 1xHxWxC
        value = value.numpy()
    elif not isinstance(value, (np.ndarray, list, tuple)):
        hint = " (a file object: pass PIL.Image.open(it))" if hasattr(value, "read") else ""
        raise InputError(f"{what}: expected a PIL image, a path, or an array or tensor; got {type(value).__name__}"
                         f"{hint}")
    try:
        array = np.asarray(value)
    except ValueError:  # nested lists of unequal lengths
        raise InputError(f"{what}: its nested lists are not all of one length (rows of unequal width?); an image is "
                         "H rows of W pixels") from None
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # CxHxW -> HxWxC, as for tensors
    elif array.ndim == 4 and array.shape[1] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(0, 2, 3, 1)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise InputError(f"{what}: pass one {what} at a time, got a batch of {array.shape[0]}")
        array = array[0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise InputError(f"{what}: expected HxW, HxWx3, HxWx4 or CxHxW, got shape {array.shape}")
    _check_size(array.shape[0], array.shape[1], what)
    channels = array.shape[-1]
    if array.dtype == bool:
        return array.astype(np.float32), np.ones(channels, np.float32)
    if np.issubdtype(array.dtype, np.integer):
        full = 65535 if array.dtype == np.uint16 else 255
        low, high = array.min(), array.max()
        if low < 0 or high > full:
            hint = " (pass 16-bit data as a uint16 array)" if full == 255 and 0 <= low and high <= 65535 else ""
            raise InputError(f"{what}: {array.dtype} values must lie in 0..{full}; got {low}..{high}{hint}")
        if array.dtype == np.uint16:
            _warn_if_8_bit(what, "a uint16 array", high, "pass array.astype(np.uint8)")
        return array.astype(np.float32), np.full(channels, float(full), np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{what}: unsupported dtype {array.dtype}; pass integers in 0..255 or floats in [0, 1]")
    return array.astype(np.float32), np.ones(channels, np.float32)


def _pixels(value: ImageLike, what: str, zero_one: bool = False) -> np.ndarray:
    """Any image or mask as HxWxC float32 in [0, 1] (C = 1..4; with 2 and 4 the last is alpha).

    With ``zero_one``, integer colour channels whose largest value is 1 are read as 0/1 (a mask
    saved as 0s and 1s), not as 1/255.
    """
    if isinstance(value, (str, Path)):
        value = _open(value, what)
    elif isinstance(value, Image.Image):
        value = _upright(value, what)
    if isinstance(value, Image.Image):
        array, scale = _pil_pixels(value, what)
        is_float = value.mode == "F"
    else:
        array, scale = _array_pixels(value, what)
        is_float = bool(np.all(scale == 1.0))
    if not np.isfinite(array).all():
        raise InputError(f"{what} contains NaN or infinite values")
    if is_float:
        low, high = float(array.min()), float(array.max())
        if low < -1e-6 or high > 1 + 1e-6:
            if low >= -1 - 1e-6 and high <= 1 + 1e-6:
                raise InputError(f"{what}: float values must lie in [0, 1], and these lie in [{low:.3g}, {high:.3g}]: "
                                 "bdlearn's model format [−1, 1], as in EditResult.images; convert with (x + 1) / 2")
            raise InputError(f"{what}: values must lie in [0, 1] (floats) or 0..255 (integers); "
                             f"got [{low:.3g}, {high:.3g}]")
        return np.clip(array, 0, 1)
    colours = array.shape[-1] - (1 if array.shape[-1] in (2, 4) else 0)
    if zero_one and array[..., :colours].max() == 1:
        scale = scale.copy()
        scale[:colours] = 1.0
    return array / scale


def _centre_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def read_image(image: ImageLike) -> np.ndarray:
    """Any image at its own size, as an HxWx3 uint8 RGB array.

    Accepts PIL images of any mode, paths, and arrays or tensors shaped HxW, HxWx3, HxWx4 or
    CxHxW, read as the module docstring says (integers over 0..255, uint16 over 0..65535, floats
    in [0, 1]; EXIF orientation applied). Transparent pixels (alpha, or a palette's transparent
    colour) are shown on white, as most viewers show them; greyscale is repeated to RGB. Raises
    :class:`InputError` for anything else.
    """
    if isinstance(image, (str, Path)):
        image = _open(image, "image")
    # 8 bits: no float copy
    if isinstance(image, Image.Image) and image.mode in _RGB_MODES + ("LA", "PA", "RGBA", "RGBa"):
        _check_size(image.height, image.width, "image")
        image = _upright(image, "image")
        if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image.convert("RGBA"))
        return np.asarray(image.convert("RGB")).copy()
    pixels = _pixels(image, "image")
    if pixels.shape[-1] in (2, 4):  # on white
        alpha = pixels[..., -1:]
        pixels = pixels[..., :-1] * alpha + (1 - alpha)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return np.round(pixels * 255).astype(np.uint8)


def load_image(image: ImageLike, size: int) -> torch.Tensor:
    """Any image as a [1, 3, size, size] float32 tensor in [−1, 1]: its centred square, resized (``size``, a
    whole number of pixels, at least 1)."""
    size = checked_integer("size", size, 1)
    pil = Image.fromarray(read_image(image), "RGB")
    square = pil.crop(_centre_square(*pil.size))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(square, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None]


#: A colour mask with more distinct colours than this is a photo, not a mask (an anti-aliased
#: mask of a few colours has a few hundred at most).
MAX_MASK_COLOURS = 1024


#: A colourful mask with more than this share of mid-tone pixels (brightest channel between 0.2 and
#: 0.8) is a picture, not a mask: a mask's pixels are dark or bright, but for its anti-aliased edges.
MAX_MID_TONES = 0.25


def _refuse_a_photo(colour: np.ndarray) -> None:
    """Refuse a colour mask [H, W, 3] in [0, 1] that is a picture: many distinct colours, or (if
    colourful) mostly mid-tones, like a photo or a toy scene given as its own mask."""
    levels = np.round(colour * 255).astype(np.uint32)
    codes = (levels[..., 0] << 16) | (levels[..., 1] << 8) | levels[..., 2]
    count = np.unique(codes).size
    brightest = colour.max(axis=-1)
    mid_tones = float(((brightest > 0.2) & (brightest < 0.8)).mean())
    colourful = float(np.ptp(colour, axis=-1).max()) > 0.1
    if count > MAX_MASK_COLOURS or (colourful and mid_tones > MAX_MID_TONES):
        raise InputError(f"the mask looks like a picture ({count:,} colours, {100 * mid_tones:.0f}% mid-tones): a "
                         "mask is white (or any bright colour) where the edit goes and black elsewhere, in a file "
                         "of its own, not strokes on the photo itself (see bdlearn.notebook.mask_drawer to draw one)")


def read_mask(mask: ImageLike, image_shape: tuple[int, int] | None = None, invert: bool = False) -> np.ndarray:
    """Any mask as an HxW bool array at the image's size ``image_shape`` (H, W; None: the mask's own);
    True marks the edit.

    Read as images are (module docstring), then binarised at half of full scale (> 127.5 of 255,
    > 0.5 of 1): a pixel is selected when any of its channels is, so strokes of any bright colour
    on black count (red as well as white). A colour mask that looks like a picture (more than
    :data:`MAX_MASK_COLOURS` distinct colours, or colourful and more than :data:`MAX_MID_TONES`
    mid-tones: a stroke painted on the photo itself, or the image given as its own mask) is
    refused. Integer masks whose largest value is 1
    (0/1 masks, in 8 or 16 bits, files or arrays) are read as 0/1. A mask with alpha (LA, RGBA,
    HxWx4) whose colour is the same everywhere while its alpha varies is an alpha mask: the alpha
    is the mask (opaque = edit); otherwise the colour is the mask and alpha is ignored. A mask of
    the image's aspect ratio but another size is resized by nearest neighbour; another aspect ratio
    cannot be matched to the image and is an error. ``invert`` swaps edit and keep. A mask that
    selects nothing is an error; one that selects everything turns the edit into plain guided
    generation.
    """
    if not isinstance(invert, (bool, np.bool_)):
        raise InputError(f"invert must be True or False, got {invert!r}")
    if image_shape is not None:
        if (not isinstance(image_shape, (tuple, list)) or len(image_shape) != 2
                or not all(isinstance(side, numbers.Integral) and not isinstance(side, bool) and side >= 1
                           for side in image_shape)):
            raise InputError(f"image_shape must be the image's (height, width), two whole numbers >= 1, "
                             f"got {image_shape!r}")
        image_shape = (int(image_shape[0]), int(image_shape[1]))
    pixels = _pixels(mask, "mask", zero_one=True)
    if pixels.shape[-1] in (2, 4):
        colour, alpha = pixels[..., :-1], pixels[..., -1]
        colour_constant = bool(np.all(colour.max(axis=(0, 1)) == colour.min(axis=(0, 1))))
        pixels = alpha[..., None] if colour_constant and alpha.max() != alpha.min() else colour
    if pixels.shape[-1] == 3:
        _refuse_a_photo(pixels)
    binary = pixels.max(axis=-1) > 0.5
    drawn = binary
    if image_shape is not None:
        binary = _resized_to(binary, image_shape)
    if invert:
        binary, drawn = ~binary, ~drawn
    if not binary.any():
        if drawn.any():  # the marks were lost in resizing to the image's size
            raise InputError(f"the mask ({drawn.shape[0]}x{drawn.shape[1]}) selects nothing once resized to the "
                             f"image's {binary.shape[0]}x{binary.shape[1]}: its marks are too small for that size; "
                             "draw the mask at the image's size")
        raise InputError("the mask selects nothing to edit; mark the region to change with white / True / 1")
    return binary


def _resized_to(binary: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """A bool mask at the image's size (H, W) by nearest neighbour; another aspect ratio is an error."""
    (height, width), (image_h, image_w) = binary.shape, image_shape
    if abs(height / width - image_h / image_w) > 0.02:
        raise InputError(f"the mask ({height}x{width}) and the image ({image_h}x{image_w}) have different "
                         "aspect ratios; draw the mask on the image itself")
    if binary.shape == (image_h, image_w):
        return binary
    resized = Image.fromarray(binary.astype(np.uint8) * 255, "L").resize((image_w, image_h), Image.Resampling.NEAREST)
    return np.asarray(resized) > 127


def load_mask(mask: ImageLike, size: int, invert: bool = False,
              image_shape: tuple[int, int] | None = None) -> torch.Tensor:
    """Any mask as a [1, 1, size, size] float32 tensor of 0s and 1s; 1 marks the region to edit.

    The mask of :func:`read_mask` (at the image's size ``image_shape`` when given, which checks the
    aspect ratio; else at its own), its centred square resized by nearest neighbour to ``size`` (a
    whole number of pixels, at least 1), as :func:`load_image` crops the image.
    """
    size = checked_integer("size", size, 1)
    binary = read_mask(mask, image_shape, invert)
    height, width = binary.shape
    left, top, right, bottom = _centre_square(width, height)
    square = Image.fromarray(binary[top:bottom, left:right].astype(np.uint8) * 255, "L")
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.NEAREST)
    result = torch.from_numpy(np.asarray(square) > 127).to(torch.float32)[None, None]
    if result.sum() == 0:
        raise InputError("the mask selects nothing to edit (after resizing to "
                         f"{size}x{size}); mark the region to change with white / True / 1")
    return result


def check_prompt(prompt: str) -> str:
    """The prompt stripped of surrounding space; an empty one, one of punctuation alone (it names nothing), or one
    that is not text (undecodable bytes), is an error. Letters, digits and symbols such as emoji are words."""
    if not isinstance(prompt, str):
        raise InputError(f"the prompt must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InputError("the prompt is empty; describe what the masked region should become")
    if all(unicodedata.category(character)[0] in "PZC" for character in prompt):  # punctuation, space, control
        shown_prompt = prompt.strip() if len(prompt.strip()) <= 20 else prompt.strip()[:20] + "…"
        raise InputError(f"the prompt {shown_prompt!r} has no words, only punctuation; describe what the masked "
                         "region should become")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:  # bytes a shell passed on undecoded, e.g. "$(cat prompt.txt)" of a Latin-1 file
        raise InputError("the prompt holds bytes that are not UTF-8 text (a file in another encoding?); convert it to "
                         "UTF-8, e.g. iconv -f latin1 -t utf-8") from None
    return prompt.strip()
