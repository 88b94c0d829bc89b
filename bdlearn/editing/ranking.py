"""Ranking repetitions: Blended Diffusion makes many edits and shows the ones CLIP likes best.

Each finished edit is scored by the CLIP distance between the prompt and the masked result
(no augmentation), lower being better (paper section 4.3). In the paper variant the images go to
CLIP as in guidance: masked in [−1, 1] and through CLIP's resize-and-normalise step
(:meth:`ClipBundle.encode_image`). The official code masks the [0, 1] image and leaves the
normalisation out (:mod:`bdlearn.editing.variants`), so its ranking sees images CLIP was not
trained on; the two can order the same edits differently.
"""
from __future__ import annotations

from typing import get_args

import torch
from torch import Tensor

from bdlearn.checks import checked_choice
from bdlearn.choices import Distance, Variant
from bdlearn.clip.bundle import ClipBundle
from bdlearn.clip.checks import check_images
from bdlearn.editing.checks import check_masks, check_text_embedding
from bdlearn.editing.guidance import clip_distance, embedding_distance
from bdlearn.editing.variants import VariantChoices, variant_choices


@torch.no_grad()
def rank_edits(clip: ClipBundle, edits: Tensor, mask: Tensor, text_embedding: Tensor,
               distance: Distance = "spherical", variant: Variant | VariantChoices = "paper") -> tuple[Tensor, Tensor]:
    """Order of ``edits`` [N, 3, S, S] in [−1, 1] from best to worst, and their distances [N] (unsorted).

    ``mask`` [1, 1, S, S] is the region of every edit, ``text_embedding`` the prompt's [1, D], ``distance``
    ``"spherical"`` or ``"cosine"``. Ties keep the original order, so ranking is deterministic.
    """
    check_images("edits", edits, channels=3)
    check_masks("mask", mask, edits, one=True)
    check_text_embedding(text_embedding)
    checked_choice("distance", distance, get_args(Distance))
    masks = mask.expand(edits.shape[0], -1, -1, -1)
    if variant_choices(variant).ranking_normalised:
        distances = clip_distance(clip, edits, masks, text_embedding, num_augmentations=0, distance=distance)
    else:  # the official code: the [0, 1] image times the mask (black outside), not normalised for CLIP
        blacked = torch.where(masks.bool(), edits.clamp(-1, 1), -1.0)
        distances = embedding_distance(clip.encode_image(blacked, normalise=False), text_embedding, distance)
    order = torch.sort(distances, stable=True).indices
    return order, distances
