"""The two variants of the method: as the paper describes it, and as the official code computes it.

bdlearn follows the paper by default (``variant="paper"``). The official code (omriav/blended-diffusion,
commit 86ed6ce) departs from the paper in a handful of places; ``variant="official"`` makes every one
of those choices together, so an edit can be compared with the official code step for step. This
module is the one place that says what each variant means; the loop, the guidance, the augmentations,
the ranking and the written images read their choices from :data:`VARIANTS`.

What the official code does differently, as recorded by running it (the conformance fixtures in
``../shared/reference/blended_diffusion/``, whose README gives the exact order of every computation
and random draw; ``tests/test_conformance_official.py`` replays them):

* **CLIP's input** (``clip_input``): the mix x̂_0·f + x_t·(1 − f), f = √(1 − ᾱ_t), not x̂_0 itself.
* **Augmentations** (``augmentations``): the image is masked first and pooled to CLIP's size
  (adaptive average pooling), then its copies are warped (kornia: affine, then perspective); the
  mask is not warped with them. The paper warps the image and its mask together.
* **Blend level** (``background_level``): the background is noised to the level of the step's
  *input* x_t, one respaced step noisier than the sample x_{t−1} it is mixed with, with one noise
  shared by the batch; after the last step it still carries noise of std √(1 − ᾱ_0). The paper
  noises it to the sample's own level, so after the last step it is x_0 itself.
* **Draw order** (``step_noise_first``): each step's noise is drawn before the guidance runs, and
  at the last step too (where it is multiplied by 0). bdlearn's paper variant draws it after.
* **The output** (``output``): the last step's x̂_0 (before its guidance shift), not the last
  sample; the outside of the mask is then replaced by the input for Blended Diffusion.
* **Local CLIP-guided background loss** (``background_loss``): on the CLIP mix, against the
  unmasked input, an L2 mean over the whole batch (each image's gradient scaled by 1/B) with its
  own weight and a separate LPIPS weight; the paper's D_bg is ½(MSE + LPIPS) of x̂_0 outside the mask.
* **Ranking** (``ranking_normalised``): the masked [0, 1] image goes to CLIP without CLIP's input
  normalisation, resized bilinearly; the paper's ranking uses CLIP as in guidance.
* **PNGs** (``png_rounding``): ×255 truncated to uint8; bdlearn rounds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from bdlearn.checks import checked_choice
from bdlearn.choices import Variant


@dataclass(frozen=True)
class VariantChoices:
    """The choices where the paper and the official code differ (module docstring)."""

    clip_input: Literal["pred_xstart", "official_mix"]
    augmentations: Literal["warp_image_and_mask", "mask_pool_then_warp"]
    background_level: Literal["sample", "step_input"]
    shared_background_noise: bool
    step_noise_first: bool
    output: Literal["sample", "pred_xstart"]
    background_loss: Literal["paper", "official"]
    ranking_normalised: bool
    png_rounding: Literal["round", "truncate"]


VARIANTS: dict[str, VariantChoices] = {
    "paper": VariantChoices(clip_input="pred_xstart", augmentations="warp_image_and_mask", background_level="sample",
                            shared_background_noise=False, step_noise_first=False, output="sample",
                            background_loss="paper", ranking_normalised=True, png_rounding="round"),
    "official": VariantChoices(clip_input="official_mix", augmentations="mask_pool_then_warp",
                               background_level="step_input", shared_background_noise=True, step_noise_first=True,
                               output="pred_xstart", background_loss="official", ranking_normalised=False,
                               png_rounding="truncate"),
}
assert set(VARIANTS) == set(get_args(Variant))


def variant_choices(variant: Variant | VariantChoices) -> VariantChoices:
    """The choices of ``variant``, given by name (:data:`VARIANTS`) or as choices already."""
    if isinstance(variant, VariantChoices):
        return variant
    return VARIANTS[checked_choice("variant", variant, tuple(VARIANTS))]
