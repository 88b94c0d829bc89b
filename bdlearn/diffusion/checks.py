"""Checks of the diffusion core's tensor arguments (its plain ones, counts, seeds, flags and η, are
:mod:`bdlearn.checks`').

Step indices ``t`` are ints or integer tensors in [0, T), one per image or one for all; the tensors a function
combines must have the same shape; images are floating-point tensors. Every refusal of a value is an
:class:`~bdlearn.errors.InputError` (a ValueError), and of something that is not a tensor a TypeError; each names the
argument and says what it accepts, in the same words in every public function of the core.

They are cheap enough for every denoising step: shapes and dtypes are read without touching the data, and the only
values read are those of ``t``, on the CPU copy that indexing the schedule needs anyway (:func:`checked_steps`).
:func:`available_device` checks a device the models are moved to; it lives here, in the lowest layer that holds
models, so that a CLIP (:meth:`bdlearn.clip.bundle.ClipBundle.to`) and a model world refuse a device in the same words.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from bdlearn.checks import shown
from bdlearn.errors import InputError

if TYPE_CHECKING:
    from bdlearn.diffusion.schedule import DiffusionSchedule

__all__ = [
    "available_device",
    "check_float_images",
    "check_model_dtype",
    "check_model_output",
    "check_same_shape",
    "check_shape",
    "checked_steps",
]


def checked_steps(steps: DiffusionSchedule | int | None, t: Tensor | int, batch: int | None = None) -> Tensor:
    """``t`` checked as step indices, as a CPU int64 tensor of its shape (a 1-D tensor of one value for an int).

    ``t`` is an int, or an integer tensor (on any device) of ``batch`` values, or of one value for every image; with
    ``batch`` None any number of values. Each index lies in [0, T), T being ``steps``' number of steps (a schedule,
    or T itself); a negative index is refused, as it does not count back from T here. The indices are read on the
    CPU copy, which indexing a schedule's buffers needs anyway: pass the result on, and the next check reads no
    device memory. With ``steps`` None (a function that has no schedule to index) no value is read, so that no
    copy waits for the device: only the type and the count are checked, and ``t`` stays where it is.
    """
    if isinstance(t, numbers.Integral) and not isinstance(t, (bool, np.bool_)):
        t = torch.tensor([int(t)])
    if not isinstance(t, Tensor) or t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        got = f"a tensor of {t.dtype}" if isinstance(t, Tensor) else shown(t)
        raise InputError(f"t must be an int or an integer tensor of step indices, got {got}")
    if batch is not None and t.numel() not in (1, batch):
        raise InputError(f"t holds {t.numel()} step indices for a batch of {batch}; give one per image, "
                         "or one for them all")
    if steps is None:
        return t.long()
    count = steps if isinstance(steps, int) else steps.num_timesteps
    t = t.cpu().long()
    outside = t[(t < 0) | (t >= count)]
    if outside.numel():
        raise InputError(f"t must be step indices in [0, {count - 1}] (the schedule has {count} steps), "
                         f"got {int(outside[0])}")
    return t


def check_shape(name: str, tensor: Any, shape: Sequence[int], what: str = "shape", hint: str = "") -> None:
    """Refuse a ``tensor`` that is not a tensor of ``shape``; ``what`` says where the shape comes from, e.g.
    "x_start's shape", in the refusal "noise must have x_start's shape (1, 3, 8, 8), got (1, 3, 4, 4)";
    ``hint``, when given, ends the refusal in brackets (how to make the shapes agree)."""
    shape = tuple(shape)
    advice = f" ({hint})" if hint else ""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a tensor of {what} {shape}, got {shown(tensor)}")
    if tuple(tensor.shape) != shape:
        raise InputError(f"{name} must have {what} {shape}, got {tuple(tensor.shape)}{advice}")


def check_same_shape(name: str, tensor: Any, other_name: str, other: Tensor, hint: str = "") -> None:
    """Refuse a ``tensor`` (the argument ``name``) whose shape is not ``other``'s: no silent broadcasting."""
    plural_word = other_name.isalpha() and other_name.endswith("s")  # "images'", but "x_s's"
    owner = f"{other_name}'" if plural_word else f"{other_name}'s"
    check_shape(name, tensor, other.shape, f"{owner} shape", hint)


def check_module(function: str, model: Any) -> None:
    """Refuse a ``model`` that is not a torch module (a name such as 'unet', a state dict), naming ``function``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{function} needs a torch.nn.Module, got {shown(model)}")


def check_model_output(output: Any, x_t: Tensor, learned_sigma: bool) -> None:
    """Refuse a network output ``output`` for ``x_t`` that does not have x_t's shape with x_t's C channels of ε,
    and C more of the variance's v (IDDPM eq. 15) when ``learned_sigma``."""
    channels = x_t.shape[1]
    holds = (f"2 × {channels} channels, ε then v (learned_sigma=True)" if learned_sigma
             else f"{channels} channels, ε alone (learned_sigma=False)")
    expected = (x_t.shape[0], 2 * channels if learned_sigma else channels, *x_t.shape[2:])
    check_shape("model_output", output, expected, f"x_t's shape with {holds}:")


def check_model_dtype(name: str, images: Tensor, model: Any) -> None:
    """Refuse ``images`` of another floating-point type than the weights of ``model`` (the UNet) take: float64 or
    float16 images into a float32 UNet fail deep inside torch. Reads the dtype only; a model without weights of its
    own (a function wrapping the UNet) is not checked."""
    first = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    expected = first.dtype if first is not None else images.dtype
    if images.dtype != expected:
        raise InputError(f"{name} must be {expected}, the UNet's dtype, got {images.dtype} (x.to({expected}))")


def check_float_images(name: str, images: Any) -> None:
    """Refuse ``images`` that are not a floating-point tensor: the diffusion core takes images in [−1, 1], and
    8-bit pixels in 0..255 would be neither in range nor computable."""
    if not isinstance(images, Tensor):
        raise TypeError(f"{name} must be a tensor of images in [-1, 1], got {shown(images)}")
    if not images.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor of images in [-1, 1], got a tensor of "
                         f"{images.dtype} (for 8-bit pixels use x.float() / 127.5 - 1)")


def available_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, checked to exist here; else an InputError saying what there is."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"device {device!r} is not a device torch knows; use 'cpu', or 'cuda' on a machine with "
                         "an NVIDIA GPU") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {device!r}: torch sees no CUDA GPU on this machine; use 'cpu' (or leave "
                             "device unset)")
        if parsed.index is not None and parsed.index >= count:
            raise InputError(f"device {device!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r}: this machine has no Apple GPU (MPS); use 'cpu'")
    elif parsed.type == "meta":
        raise InputError(f"device {device!r} holds shapes, not weights: a world there cannot edit; use 'cpu' or "
                         "'cuda' (bdlearn.machinery.cost measures memory on the meta device without a world)")
    return parsed
