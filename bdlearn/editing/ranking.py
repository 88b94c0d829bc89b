"""Ranking repetitions: Blended Diffusion makes many edits and shows the ones CLIP likes best.

Each finished edit is scored by the CLIP distance between the prompt and the masked result
(background zeroed, no augmentation), lower being better (paper section 4.3). The images go to
CLIP through its usual resize-and-normalise step (:meth:`ClipBundle.encode_image`); the official
code leaves the normalisation out when ranking, so its ranking sees images CLIP was not trained on.
"""
from __future__ import annotations

import torch
from torch import Tensor

from bdlearn.clip.bundle import ClipBundle
from bdlearn.editing.guidance import Distance, clip_distance


@torch.no_grad()
def rank_edits(clip: ClipBundle, edits: Tensor, mask: Tensor, text_embedding: Tensor,
               distance: Distance = "spherical") -> tuple[Tensor, Tensor]:
    """Order of ``edits`` [N, 3, S, S] from best to worst, and their distances [N] (unsorted).

    Ties keep the original order, so ranking is deterministic.
    """
    masks = mask.expand(edits.shape[0], -1, -1, -1)
    distances = clip_distance(clip, edits, masks, text_embedding, num_augmentations=0, distance=distance)
    order = torch.sort(distances, stable=True).indices
    return order, distances
