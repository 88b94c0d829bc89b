"""The CLIP-guided step: the losses that steer a denoising step, and their gradient with respect to x_t.

At step t the UNet predicts ε_θ(x_t, t), hence the clean image x̂_0 (DDPM eq. 15). Blended
Diffusion scores x̂_0 with CLIP and nudges x_t to lower the score (paper section 4.1):

    L = λ_CLIP · D_CLIP(x̂_0 ⊙ m, d)  +  λ_range · L_range(x̂_0)  [+ λ_bg · D_bg(x̂_0, x_0, m)],

* D_CLIP, the distance between the CLIP embeddings of the masked prediction (background zeroed)
  and of the prompt d, averaged over the extending augmentations (:mod:`bdlearn.editing.augmentations`);
* L_range = mean (x̂_0 − clamp(x̂_0, −1, 1))², keeping the prediction inside the image range;
* D_bg = ½(MSE + LPIPS) on the region outside the mask, only for the Local CLIP-guided diffusion
  baseline (paper section 4.1, "Local CLIP-guided diffusion"); Blended Diffusion blends instead.

The gradient −∇_{x_t} L flows through the UNet. bdlearn computes it from the *same* UNet
evaluation that gives the step's mean and variance (:func:`guided_prediction`), so each step costs
one forward and one backward pass; the official code runs the UNet twice per step.
Taught in notebooks 04 and 06.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bdlearn.checks import checked_choice, checked_integer, checked_real, shown
from bdlearn.choices import ClipInput, Distance
from bdlearn.clip.bundle import ClipBundle, cosine_distance, spherical_distance
from bdlearn.clip.checks import check_images
from bdlearn.diffusion.checks import check_model_dtype, check_same_shape
from bdlearn.diffusion.forward import gather
from bdlearn.diffusion.reverse import PMeanVariance, p_mean_variance
from bdlearn.diffusion.schedule import DiffusionSchedule, model_timesteps
from bdlearn.editing.augmentations import WarpParameters, extending_augmentations, warp_copies
from bdlearn.editing.checks import check_masks, check_text_embedding
from bdlearn.editing.variants import VARIANTS, VariantChoices
from bdlearn.errors import InputError


@dataclass(frozen=True)
class GuidanceWeights:
    """The weights and choices of the guidance loss L (see the module docstring).

    ``clip_input``: the paper feeds CLIP the predicted clean image x̂_0 (``"pred_xstart"``).
    The official code feeds x̂_0·f + x_t·(1 − f) with f = √(1 − ᾱ_t) (``"official_mix"``): early,
    when x̂_0 is a blur, it leans on x̂_0; late, on the nearly clean x_t. Its author calls this an
    optional experiment; bdlearn defaults to the paper.

    The weights are finite numbers of at least 0, ``num_augmentations`` an int of at least 0 (0 or 1: no
    augmentation), ``distance`` and ``clip_input`` one of their names (:mod:`bdlearn.choices`).
    """

    clip: float = 1000.0
    range: float = 50.0
    background: float = 0.0
    num_augmentations: int = 16
    distance: Distance = "spherical"
    clip_input: ClipInput = "pred_xstart"
    lpips: float = 0.0  #: λ_lpips of the official background loss (the paper's D_bg weighs both terms by λ)

    def __post_init__(self) -> None:
        checked_choice("distance", self.distance, get_args(Distance))
        checked_choice("clip_input", self.clip_input, get_args(ClipInput))
        checked_integer("num_augmentations", self.num_augmentations, 0)
        for name in ("clip", "range", "background", "lpips"):
            checked_real(f"the {name} weight", getattr(self, name), 0)


def embedding_distance(embeddings: Tensor, text_embedding: Tensor, distance: Distance = "spherical") -> Tensor:
    """The distance of each image embedding [N, D] to the prompt's [1, D]: ``"spherical"`` or ``"cosine"``."""
    checked_choice("distance", distance, get_args(Distance))
    check_text_embedding(text_embedding, embeddings.shape[-1])
    measure = spherical_distance if distance == "spherical" else cosine_distance
    return measure(embeddings, text_embedding.expand_as(embeddings))


def clip_distance(clip: ClipBundle, images: Tensor, masks: Tensor, text_embedding: Tensor,
                  num_augmentations: int = 0, distance: Distance = "spherical",
                  seed: int | torch.Generator | None = None) -> Tensor:
    """D_CLIP per image [B]: the distance between the prompt and each masked image, averaged over views.

    ``images`` [B, 3, H, W] in [−1, 1], ``masks`` [B, 1, H, W], ``text_embedding`` the prompt's [1, D];
    each image and its mask are warped together into ``num_augmentations`` views (the first unwarped;
    0 or 1 means no augmentation), the background is zeroed (image ⊙ mask), and CLIP embeds the result.
    ``distance`` is ``"spherical"`` or ``"cosine"``.
    """
    checked_choice("distance", distance, get_args(Distance))
    check_text_embedding(text_embedding)
    views, view_masks = extending_augmentations(images, masks, num_augmentations, seed=seed)
    per_view = embedding_distance(clip.encode_image(views * view_masks), text_embedding, distance)
    return per_view.view(-1, images.shape[0]).mean(dim=0)


def range_loss(images: Tensor) -> Tensor:
    """L_range per image [B] of ``images`` [B, C, H, W]: the mean squared amount by which pixels leave [−1, 1]."""
    check_images("images", images)
    return (images - images.clamp(-1, 1)).pow(2).mean(dim=(1, 2, 3))


def background_loss(images: Tensor, x_start: Tensor, masks: Tensor, lpips: nn.Module | None) -> Tensor:
    """D_bg per image [B] = ½(MSE + LPIPS) between x̂_0 and x_0 outside the mask (both ⊙ (1 − m)).

    ``images`` (x̂_0) and ``x_start`` (x_0) are [B, 3, H, W] of one shape, ``masks`` [B, 1, H, W].
    With ``lpips`` None (its ImageNet backbone unavailable), the LPIPS term is left out, so
    D_bg = ½ MSE; :func:`bdlearn.clip.perceptual.load_lpips` warns when that happens.
    """
    check_images("images", images)
    check_images("x_start", x_start)
    check_same_shape("x_start", x_start, "images", images, hint="x_start.expand_as(images) repeats one input")
    check_masks("masks", masks, images)
    if lpips is not None and not callable(lpips):
        raise TypeError(f"lpips must be the LPIPS module (bdlearn.clip.perceptual.load_lpips) or None, got "
                        f"{shown(lpips)}")
    keep = 1 - masks.to(images.dtype)  # a bool mask too
    ours, theirs = images * keep, x_start * keep
    mse = (ours - theirs).pow(2).mean(dim=(1, 2, 3))
    perceptual = lpips(ours, theirs).flatten() if lpips is not None else torch.zeros_like(mse)
    return 0.5 * (mse + perceptual)


def official_clip_distance(clip: ClipBundle, images: Tensor, masks: Tensor, text_embedding: Tensor,
                           warps: WarpParameters | None = None, distance: Distance = "spherical") -> Tensor:
    """D_CLIP per image [B] as the official code computes it (:mod:`bdlearn.editing.variants`).

    The image is masked (image ⊙ m, in [−1, 1]) and pooled to CLIP's size (adaptive average
    pooling) first; the views are that, then its copies warped by ``warps`` (none: no augmentation),
    copy-major; the distance is averaged over each image's views.
    """
    pooled = F.adaptive_avg_pool2d(images * masks, clip.image_size)
    views = pooled
    if warps is not None:
        copies = pooled.repeat(warps.affine.shape[0] // pooled.shape[0], 1, 1, 1)
        views = torch.cat([pooled, warp_copies(copies, warps)])
    per_view = embedding_distance(clip.encode_image(views), text_embedding, distance)
    return per_view.view(-1, images.shape[0]).mean(dim=0)


def official_background_loss(images: Tensor, x_start: Tensor, masks: Tensor, lpips: nn.Module | None,
                             l2_weight: float, lpips_weight: float) -> Tensor:
    """The official Local CLIP-guided background loss per image [B], weights included.

    ``images`` are the CLIP mix x_in; the outside of the mask, x_in ⊙ (1 − m), is compared with the
    whole input x_0 (inside the mask the L2 term is a constant): λ_l2 · MSE over the whole batch (so
    each image's share is its own mean divided by B) + λ_lpips · LPIPS per image.
    """
    background = images * (1 - masks.to(images.dtype))  # a bool mask too
    l2 = (background - x_start).pow(2).mean(dim=(1, 2, 3)) / images.shape[0]
    loss = l2_weight * l2
    if lpips_weight and lpips is not None:
        loss = loss + lpips_weight * lpips(background, x_start.expand_as(background)).flatten()
    return loss


@dataclass
class GuidedPrediction:
    """One UNet evaluation at x_t: the reverse step's Gaussian, and the guidance gradient −∇_{x_t} L."""

    pmv: PMeanVariance
    grad: Tensor | None
    clip_distance: Tensor | None


def guided_prediction(unet: nn.Module, schedule: DiffusionSchedule, x_t: Tensor, step: int, *,
                      clip: ClipBundle | None = None, text_embedding: Tensor | None = None,
                      masks: Tensor | None = None, weights: GuidanceWeights = GuidanceWeights(),
                      x_start: Tensor | None = None, lpips: nn.Module | None = None,
                      clip_denoised: bool = False, seed: int | torch.Generator | None = None,
                      autocast: bool = False, variant: VariantChoices = VARIANTS["paper"],
                      warps: WarpParameters | None = None) -> GuidedPrediction:
    """Evaluate the UNet once at (x_t, t) and, when ``clip`` is given, the guidance gradient.

    Returns p_θ(x_{t−1} | x_t) (detached) and grad = −∇_{x_t} L, the direction that lowers the
    loss (module docstring), found by back-propagating through CLIP and the UNet.
    ``autocast`` runs the UNet in bfloat16 on the CPU (faster where the CPU supports it).
    ``variant`` chooses the augmentations and the background loss (:mod:`bdlearn.editing.variants`);
    the official augmentations warp with ``warps`` (``seed`` draws the paper's).

    ``x_t`` is [B, 3, H, W], ``step`` a step index in [0, T − 1]. Guided, it needs ``text_embedding`` (the
    prompt's [1, D]) and ``masks`` [B, 1, H, W], and ``x_start`` (x_0 [B, 3, H, W]) for a background loss.
    """
    check_images("x_t", x_t)
    check_model_dtype("x_t", x_t, unet)
    step = checked_integer("step", step, 0, schedule.num_timesteps,
                           hint=f" (the schedule has {schedule.num_timesteps} steps)")
    guided = clip is not None and weights.clip + weights.range + weights.background + weights.lpips > 0
    background = weights.background > 0 or weights.lpips > 0
    if guided:
        check_text_embedding(text_embedding)
        check_masks("masks", masks, x_t)
        if background and x_start is None:
            raise InputError("the background loss needs x_start, the input image")
    t = torch.full((x_t.shape[0],), step, dtype=torch.long)  # on the CPU, where the schedule lives
    with torch.enable_grad() if guided else torch.no_grad():
        x_in = x_t.detach().requires_grad_(guided)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast and x_t.device.type == "cpu"):
            output = unet(x_in, model_timesteps(schedule, t).to(x_t.device))
        output = output.to(x_t.dtype)
        pmv = p_mean_variance(schedule, output, x_in, t, clip_denoised=clip_denoised)
        if not guided:
            return GuidedPrediction(pmv, None, None)
        clip_image = pmv.pred_xstart
        if weights.clip_input == "official_mix":
            fac = gather(schedule.sqrt_one_minus_alphas_cumprod, t, x_t)
            clip_image = pmv.pred_xstart * fac + x_in * (1 - fac)
        if variant.augmentations == "mask_pool_then_warp":
            distance = official_clip_distance(clip, clip_image, masks, text_embedding, warps, weights.distance)
        else:
            distance = clip_distance(clip, clip_image, masks, text_embedding, weights.num_augmentations,
                                     weights.distance, seed)
        loss = weights.clip * distance + weights.range * range_loss(pmv.pred_xstart)
        if background:
            if variant.background_loss == "official":
                loss = loss + official_background_loss(clip_image, x_start, masks, lpips, weights.background,
                                                       weights.lpips)
            else:
                loss = loss + weights.background * background_loss(pmv.pred_xstart, x_start, masks, lpips)
        grad = -torch.autograd.grad(loss.sum(), x_in)[0]
    detached = PMeanVariance(*(value.detach() for value in pmv))
    return GuidedPrediction(detached, grad.detach(), distance.detach())
