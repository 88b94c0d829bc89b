"""The editing loop: Blended Diffusion (paper Algorithm 2) and its baseline, Local CLIP-guided diffusion.

Both start from the input x_0 noised to the starting level, x_k ~ q(x_k | x_0) (k = the number
of respaced steps minus ``skip``), and take one CLIP-guided step per level down to x_0
(:mod:`bdlearn.editing.guidance`). They differ in how they keep the background:

* ``method="local"`` (the paper's first algorithm): nothing but a loss; the guidance adds
  λ·D_bg(x̂_0, x_0, m), a penalty on changes outside the mask. Small λ lets the background drift;
  large λ fights the edit.
* ``method="blended"`` (Algorithm 2): after every step, x_{t−1} = x_fg ⊙ m + x_bg ⊙ (1 − m)
  with x_bg the input noised to the same level (:mod:`bdlearn.editing.blending`); after the last step
  the outside of the mask is the input, bit for bit.

Repetitions run as one batch (or several, ``batch_size`` at a time). Taught in notebooks 04–07.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
from torch import Tensor
from tqdm.auto import tqdm

from bdlearn.clip.bundle import ClipBundle
from bdlearn.diffusion.forward import q_sample
from bdlearn.diffusion.reverse import ddim_step, ddpm_step
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.diffusion.unet import UNet
from bdlearn.editing.blending import blend, noised_background
from bdlearn.editing.guidance import GuidanceWeights, guided_prediction

Method = Literal["blended", "local"]
Sampler = Literal["ddpm", "ddim"]


@dataclass
class LoopOutput:
    """Final samples [B, 3, S, S] in [−1, 1] and, if asked, every x_t and x̂_0 (on the CPU)."""

    samples: Tensor
    x_t: Tensor | None  #: [K+1, B, 3, S, S]: the start, then the sample after each step
    pred_xstart: Tensor | None  #: [K, B, 3, S, S]: x̂_0 at each step
    clip_distances: Tensor | None  #: [K, B]: D_CLIP at each step (augmented, as guided)
    steps: list[int]  #: the step index of each step, from the start down to 0


def start_step(schedule: DiffusionSchedule, skip: int) -> int:
    """The step index the edit starts from: the last, less ``skip`` skipped steps."""
    if not 0 <= skip < schedule.num_timesteps:
        raise ValueError(f"skip must be in [0, {schedule.num_timesteps - 1}] for {schedule.num_timesteps} steps, "
                         f"got {skip}")
    return schedule.num_timesteps - 1 - skip


def guided_edit_loop(unet: UNet, clip: ClipBundle, schedule: DiffusionSchedule, x_start: Tensor,
                     mask: Tensor, text_embedding: Tensor, *, batch: int, skip: int,
                     weights: GuidanceWeights, method: Method = "blended", sampler: Sampler = "ddpm",
                     eta: float = 0.0, generator: torch.Generator, lpips: torch.nn.Module | None = None,
                     clip_denoised: bool = False, autocast: bool = False, keep_trajectory: bool = False,
                     progress: bool = True, on_step: Callable[[int], object] | None = None) -> LoopOutput:
    """Edit ``batch`` copies of x_0 [1, 3, S, S] inside ``mask`` [1, 1, S, S] toward ``text_embedding``.

    All randomness (initial noise, step noise, background noise, augmentations) comes from
    ``generator``, so a seed gives the same edits on the CPU. ``progress`` shows a bar over the
    steps; ``on_step(batch)`` is called after each step (for a caller's own bar).
    """
    if method not in get_args(Method):
        raise ValueError(f"method must be one of {get_args(Method)}, got {method!r}")
    if sampler not in get_args(Sampler):
        raise ValueError(f"sampler must be one of {get_args(Sampler)}, got {sampler!r}")
    device = x_start.device
    x0 = x_start.expand(batch, -1, -1, -1)
    masks = mask.expand(batch, -1, -1, -1)
    if method == "local":
        weights_used = weights
    else:  # blending keeps the background; a background loss has nothing to do
        weights_used = replace(weights, background=0.0)

    def randn() -> Tensor:
        return torch.randn(x0.shape, generator=generator).to(device)

    first = start_step(schedule, skip)
    steps = list(range(first, -1, -1))
    x = q_sample(schedule, x0, torch.full((batch,), first, dtype=torch.long, device=device), randn())
    xs, preds, distances = [x.cpu()], [], []
    for step in tqdm(steps, desc=f"{method} diffusion", disable=not progress, leave=False):
        prediction = guided_prediction(unet, schedule, x, step, clip=clip, text_embedding=text_embedding,
                                       masks=masks, weights=weights_used, x_start=x0, lpips=lpips,
                                       clip_denoised=clip_denoised, seed=generator, autocast=autocast)
        t = torch.full((batch,), step, dtype=torch.long, device=device)
        if sampler == "ddpm":
            x = ddpm_step(prediction.pmv, t, randn(), grad=prediction.grad).sample
        else:
            x = ddim_step(schedule, prediction.pmv, x, t, randn() if eta else None, eta=eta,
                          grad=prediction.grad).sample
        if method == "blended":
            x = blend(x, noised_background(schedule, x0, step - 1, randn()), masks)
        if keep_trajectory:
            xs.append(x.cpu())
            preds.append(prediction.pmv.pred_xstart.cpu())
            if prediction.clip_distance is not None:
                distances.append(prediction.clip_distance.cpu())
        if on_step is not None:
            on_step(batch)
    return LoopOutput(
        samples=x,
        x_t=torch.stack(xs) if keep_trajectory else None,
        pred_xstart=torch.stack(preds) if keep_trajectory else None,
        clip_distances=torch.stack(distances) if keep_trajectory and distances else None,
        steps=steps,
    )
