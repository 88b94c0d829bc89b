"""The editing method of the paper (Avrahami, Lischinski & Fried, CVPR 2022), on tensors at the model's side.

* :mod:`.guidance`: the CLIP-guided step (section 4.1): x̂_0 scored by CLIP, the range loss and,
  for the Local CLIP-guided baseline, the background loss λ·D_bg; their gradient shifts the step's mean;
* :mod:`.augmentations`: extending augmentations (section 4.1), random projective views of x̂_0 and its mask;
* :mod:`.blending`: blending with the noised background (section 4.2, Algorithm 2), and the final replacement;
* :mod:`.loop`: the editing loop, Blended Diffusion (Algorithm 2) and the local baseline beside it;
* :mod:`.ranking`: ranking the repetitions by CLIP (section 4.3);
* :mod:`.variants`: where the official code departs from the paper, and ``variant="official"``, which
  follows it; :mod:`.noise`: where the loop's random draws come from (a seed, or a recording to replay);
* beyond the paper: :mod:`.resampling`, RePaint's resampling against the seam (SDEdit is a method of
  :mod:`.loop`).

:func:`bdlearn.edit` runs this method on a user's photo of any size; reading the photo, the window
the model edits, checking the settings and sizing the batches are :mod:`bdlearn.machinery`.
"""
from bdlearn.editing.augmentations import extending_augmentations
from bdlearn.editing.blending import blend, noised_background
from bdlearn.editing.guidance import GuidanceWeights, background_loss, clip_distance, guided_prediction, range_loss
from bdlearn.editing.loop import guided_edit_loop, start_step
from bdlearn.editing.ranking import rank_edits
from bdlearn.editing.resampling import resampling_moves

__all__ = [
    "GuidanceWeights",
    "background_loss",
    "blend",
    "clip_distance",
    "extending_augmentations",
    "guided_edit_loop",
    "guided_prediction",
    "noised_background",
    "range_loss",
    "rank_edits",
    "resampling_moves",
    "start_step",
]
