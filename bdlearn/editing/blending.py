"""Blending: the step that makes Blended Diffusion keep the background (paper section 4.2, Algorithm 2).

After every denoising step the foreground x_fg (the guided sample) is kept only inside the mask m,
and the outside is replaced by the input image x_0 noised to the same level:

    x_{t−1} = x_fg ⊙ m + x_bg ⊙ (1 − m),   x_bg ~ q(x_{t−1} | x_0).

The two parts therefore share one noise level, and the model's next step smooths the seam.
After the last step x_bg is x_0 itself, so everything outside the mask is the input, bit for bit.
(The official code noises the background one respaced step above the sample it is mixed with, one
noise for the whole batch; bdlearn noises it to exactly the sample's level, as the paper writes, and
``variant="official"`` as the official code does: :mod:`bdlearn.editing.variants`.) Taught in notebook 05.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bdlearn.checks import checked_integer
from bdlearn.clip.checks import check_images
from bdlearn.diffusion.checks import check_same_shape
from bdlearn.diffusion.forward import q_sample
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.editing.checks import check_binary_mask, check_masks


def blend(foreground: Tensor, background: Tensor, mask: Tensor) -> Tensor:
    """x_fg ⊙ m + x_bg ⊙ (1 − m) for a mask of 0s and 1s; exact (no arithmetic) outside and inside.

    ``foreground`` and ``background`` are images [B, C, H, W] of one shape; ``mask`` is [B, 1, H, W] (or any
    shape that broadcasts to theirs), bool or holding only 0s and 1s (a soft mask is refused: binarise it first).
    A float mask's values are read to check them, a host sync on a GPU; the editing loop, which blends at every
    step, hands over its mask as bool.
    """
    check_images("foreground", foreground)
    check_images("background", background)
    check_same_shape("background", background, "foreground", foreground)
    check_masks("mask", mask, foreground, broadcast=True)
    check_binary_mask("mask", mask)
    return torch.where(mask.bool(), foreground, background)


def noised_background(schedule: DiffusionSchedule, x_start: Tensor, step: int, noise: Tensor) -> Tensor:
    """x_bg ~ q(x_step | x_0): the input noised to the level of step index ``step``, in [−1, T − 1]; x_0 itself for
    step −1 (the level after the last step)."""
    step = checked_integer("step", step, -1, schedule.num_timesteps,
                           hint=f" (the schedule has {schedule.num_timesteps} steps; −1: x_0 itself)")
    if step < 0:
        return x_start
    t = torch.full((x_start.shape[0],), step, dtype=torch.long, device=x_start.device)
    return q_sample(schedule, x_start, t, noise)
