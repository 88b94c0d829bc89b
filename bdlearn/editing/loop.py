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
* ``method="sdedit"`` (SDEdit, Meng et al., ICLR 2022; beyond the paper): no mask at all. The whole
  picture is noised to the starting level and denoised, CLIP guiding all of it toward the prompt
  (``clip_weight=0``: plain SDEdit). The starting level (``skip``) trades realism for faithfulness;
  nothing keeps the background.

Each step is :func:`edit_step`; its random draws come from a :class:`~bdlearn.editing.noise.NoiseSource`
(a seeded generator, or recorded draws to replay). ``variant="official"`` makes the official code's
choices instead of the paper's (:mod:`bdlearn.editing.variants`: the draw order, the blend level,
the output). Repetitions run as one batch (or several, ``batch_size`` at a time). Taught in notebooks 04–07.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import get_args

import torch
from torch import Tensor
from tqdm.auto import tqdm

from bdlearn.checks import checked_choice, checked_integer
from bdlearn.choices import Method, Sampler, Variant
from bdlearn.clip.bundle import ClipBundle
from bdlearn.clip.checks import check_images
from bdlearn.diffusion.checks import check_model_dtype
from bdlearn.diffusion.forward import q_sample, q_sample_later
from bdlearn.diffusion.reverse import ddim_step, ddpm_step
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.diffusion.unet import UNet
from bdlearn.editing.blending import blend, noised_background
from bdlearn.editing.checks import check_binary_mask, check_masks, check_pixel_range, check_text_embedding
from bdlearn.editing.guidance import GuidanceWeights, GuidedPrediction, guided_prediction
from bdlearn.editing.noise import GeneratorNoise, NoiseSource
from bdlearn.editing.resampling import resampling_moves
from bdlearn.editing.variants import VariantChoices, variant_choices
from bdlearn.errors import InputError


@dataclass
class LoopOutput:
    """The edits [B, 3, S, S] (the variant's output, before clamping and the final replacement) and, if
    asked, every x_t and x̂_0 (on the CPU)."""

    samples: Tensor  #: the last step's output x_0 (blended, for Blended Diffusion)
    edits: Tensor  #: what the variant returns: ``samples`` (paper) or the last step's x̂_0 (official)
    x_t: Tensor | None  #: [K+1, B, 3, S, S]: the start, then the sample after each step
    pred_xstart: Tensor | None  #: [K, B, 3, S, S]: x̂_0 at each step
    clip_distances: Tensor | None  #: [K, B]: D_CLIP at each step (augmented, as guided)
    steps: list[int]  #: the step index of each step, from the start down to 0 (blocks repeated when resampling)


@dataclass
class EditStep:
    """One step of the editing loop at step index t: what it computed and the x_{t−1} it hands on."""

    prediction: GuidedPrediction  #: p_θ(x_{t−1} | x_t) and the guidance gradient
    sample: Tensor  #: the guided sample x_{t−1}, before blending
    background: Tensor | None  #: the noised background it was blended with (Blended Diffusion)
    x_next: Tensor  #: what the next step starts from


def start_step(schedule: DiffusionSchedule, skip: int) -> int:
    """The step index the edit starts from: the last, less ``skip`` (an int in [0, T − 1]) skipped steps."""
    skip = checked_integer("skip", skip, 0, schedule.num_timesteps,
                           hint=f" (the schedule has {schedule.num_timesteps} steps)")
    return schedule.num_timesteps - 1 - skip


def edit_step(unet: UNet, clip: ClipBundle, schedule: DiffusionSchedule, x: Tensor, step: int, x_start: Tensor,
              masks: Tensor, text_embedding: Tensor, *, weights: GuidanceWeights, noise: NoiseSource,
              method: Method = "blended", variant: VariantChoices, sampler: Sampler = "ddpm", eta: float = 0.0,
              generator: torch.Generator | None = None, lpips: torch.nn.Module | None = None,
              clip_denoised: bool = False, autocast: bool = False) -> EditStep:
    """One CLIP-guided step from x_t (``x`` [B, 3, S, S]) at step index ``step``, then blending.

    The random draws come from ``noise`` in the variant's order (:mod:`bdlearn.editing.noise`):
    the step noise before the guidance (official) or after it (paper), the warps of the official
    augmentations inside it, the background noise last. ``generator`` seeds the paper's augmentations.
    ``masks`` [B, 1, S, S] hold 0s and 1s (:func:`guided_edit_loop` checks them).
    """
    batch = x.shape[0]
    t = torch.full((batch,), step, dtype=torch.long, device=x.device)
    step_noise = noise.normal("step", tuple(x.shape), x) if variant.step_noise_first and sampler == "ddpm" else None
    warps = None
    if variant.augmentations == "mask_pool_then_warp" and weights.clip > 0 and weights.num_augmentations > 1:
        warps = noise.warps((weights.num_augmentations - 1) * batch, clip.image_size[-1], x)
    prediction = guided_prediction(unet, schedule, x, step, clip=clip, text_embedding=text_embedding, masks=masks,
                                   weights=weights, x_start=x_start, lpips=lpips, clip_denoised=clip_denoised,
                                   seed=generator, autocast=autocast, variant=variant, warps=warps)
    if sampler == "ddpm":
        if step_noise is None:
            step_noise = noise.normal("step", tuple(x.shape), x)
        sample = ddpm_step(prediction.pmv, t, step_noise, grad=prediction.grad).sample
    else:
        sample = ddim_step(schedule, prediction.pmv, x, t, noise.normal("step", tuple(x.shape), x) if eta else None,
                           eta=eta, grad=prediction.grad).sample
    if method != "blended":
        return EditStep(prediction, sample, None, sample)
    # The paper noises the background to the sample's level (step − 1: x_0 itself after the last
    # step); the official code to the step input's level, with one noise shared by the batch.
    level = step if variant.background_level == "step_input" else step - 1
    shape = (1, *x.shape[1:]) if variant.shared_background_noise else tuple(x.shape)
    background = noised_background(schedule, x_start[:shape[0]], level, noise.normal("background", shape, x))
    return EditStep(prediction, sample, background, blend(sample, background.expand_as(sample), masks.bool()))


class NonFiniteStep(FloatingPointError):
    """The loop's x_t came out NaN or infinite at its ``count``-th guided step, step index ``step`` (an unstable
    setting, or broken weights)."""

    def __init__(self, step: int, count: int):
        super().__init__(f"x_t came out NaN or infinite at guided step {count} (step index {step})")
        self.step, self.count = step, count


def guided_edit_loop(unet: UNet, clip: ClipBundle, schedule: DiffusionSchedule, x_start: Tensor,
                     mask: Tensor, text_embedding: Tensor, *, batch: int, skip: int,
                     weights: GuidanceWeights, method: Method = "blended", sampler: Sampler = "ddpm",
                     eta: float = 0.0, generator: torch.Generator | None = None, noise: NoiseSource | None = None,
                     variant: Variant | VariantChoices = "paper", lpips: torch.nn.Module | None = None,
                     clip_denoised: bool = False, autocast: bool = False, resample: int = 1, jump: int = 1,
                     keep_trajectory: bool = False, progress: bool = True,
                     on_step: Callable[[int], object] | None = None) -> LoopOutput:
    """Edit ``batch`` copies of x_0 [1, 3, S, S] inside ``mask`` [1, 1, S, S] toward ``text_embedding``.

    ``x_start`` holds pixels in [−1, 1]; ``mask`` only 0s and 1s (1: the region to edit; binarise a soft mask
    first); ``text_embedding`` is the prompt's CLIP embedding [1, D]; ``batch`` is an int of at least 1. These
    are checked once, before the first step (reading the values of ``x_start`` and ``mask``).

    All randomness (initial noise, step noise, background noise, augmentations) comes from
    ``generator``, so a seed gives the same edits on the CPU; or from ``noise``, e.g. recorded
    draws to replay (:class:`~bdlearn.editing.noise.RecordedNoise`; ``generator`` then seeds only
    the paper's augmentations). ``variant`` is ``"paper"`` or ``"official"``
    (:mod:`bdlearn.editing.variants`). ``resample`` > 1 runs each block of ``jump`` steps that many
    times, re-noising in between (RePaint's resampling, :mod:`bdlearn.editing.resampling`; beyond the
    paper). ``progress`` shows a bar over the steps; ``on_step(batch)`` is called after each step
    (for a caller's own bar). A step whose x_t comes out NaN or infinite (an unstable setting) raises
    :class:`NonFiniteStep` at once.
    """
    checked_choice("method", method, get_args(Method))
    checked_choice("sampler", sampler, get_args(Sampler))
    batch = checked_integer("batch", batch, 1)
    check_images("x_start", x_start, channels=3)
    check_model_dtype("x_start", x_start, unet)
    if x_start.shape[0] != 1:
        raise InputError(f"x_start must be one image [1, 3, S, S], got shape {tuple(x_start.shape)} (the loop "
                         "edits batch copies of it)")
    check_masks("mask", mask, x_start)
    check_text_embedding(text_embedding)
    check_pixel_range("x_start", x_start)
    check_binary_mask("mask", mask)
    if noise is None:
        if generator is None:
            raise ValueError("give a generator (or recorded noise) for the edit's random draws")
        noise = GeneratorNoise(generator)
    choices = variant_choices(variant)
    x0 = x_start.expand(batch, -1, -1, -1)
    masks = (torch.ones_like(mask) if method == "sdedit" else mask).expand(batch, -1, -1, -1)  # SDEdit: no mask
    if method == "blended":  # blending keeps the background; a background loss has nothing to do
        weights = replace(weights, background=0.0, lpips=0.0)

    first = start_step(schedule, skip)
    moves = resampling_moves(first, resample, jump)
    x = q_sample(schedule, x0, torch.full((batch,), first, dtype=torch.long, device=x0.device),
                 noise.normal("start", tuple(x0.shape), x0))
    xs, preds, distances, steps = [x.cpu()], [], [], []
    bar = tqdm(total=sum(move.kind == "step" for move in moves), desc=f"{method} diffusion", disable=not progress,
               leave=False)
    for move in moves:
        if move.kind == "renoise":  # RePaint: back up ``jump`` levels, then denoise that block again
            x = q_sample_later(schedule, x, move.t, move.to, noise.normal("renoise", tuple(x.shape), x))
            continue
        out = edit_step(unet, clip, schedule, x, move.t, x0, masks, text_embedding, weights=weights, noise=noise,
                        method=method, variant=choices, sampler=sampler, eta=eta, generator=generator, lpips=lpips,
                        clip_denoised=clip_denoised, autocast=autocast)
        x = out.x_next
        if not torch.isfinite(x).all():  # NaN stays NaN: stop now rather than after every remaining step
            raise NonFiniteStep(move.t, len(steps) + 1)
        steps.append(move.t)
        if keep_trajectory:
            xs.append(x.cpu())
            preds.append(out.prediction.pmv.pred_xstart.cpu())
            if out.prediction.clip_distance is not None:
                distances.append(out.prediction.clip_distance.cpu())
        bar.update()
        if on_step is not None:
            on_step(batch)
    bar.close()
    return LoopOutput(
        samples=x,
        edits=x if choices.output == "sample" else out.prediction.pmv.pred_xstart,
        x_t=torch.stack(xs) if keep_trajectory else None,
        pred_xstart=torch.stack(preds) if keep_trajectory else None,
        clip_distances=torch.stack(distances) if keep_trajectory and distances else None,
        steps=steps,
    )
