"""The editing method of the paper (Avrahami, Lischinski & Fried, CVPR 2022).

The CLIP-guided step (:mod:`.guidance`, section 3.1), extending augmentations (:mod:`.augmentations`,
section 3.2), blending with the noised background (:mod:`.blending`, Algorithm 1), the editing loop
with the Local CLIP-guided baseline beside it (:mod:`.loop`), ranking the repetitions
(:mod:`.ranking`), input handling (:mod:`.inputs`), what an edit costs before it runs (:mod:`.cost`), the window of a photo the model edits and the way
back to the whole photo (:mod:`.window`), and :func:`edit`, the pipeline that ties them together
(:mod:`.pipeline`).
"""
from bdlearn.editing.augmentations import extending_augmentations
from bdlearn.editing.blending import blend, noised_background
from bdlearn.editing.cost import BatchPlan, StepCost, guided_step_cost, plan_batches
from bdlearn.editing.guidance import (
    GuidanceWeights,
    GuidedPrediction,
    background_loss,
    clip_distance,
    guided_prediction,
    range_loss,
)
from bdlearn.editing.inputs import (
    ImageLike,
    InputError,
    check_prompt,
    load_image,
    load_mask,
    read_image,
    read_mask,
)
from bdlearn.editing.loop import LoopOutput, guided_edit_loop, start_step
from bdlearn.editing.pipeline import EditResult, edit
from bdlearn.editing.window import EditWindow, choose_window, paste_back, to_model
from bdlearn.editing.ranking import rank_edits

__all__ = [
    "BatchPlan",
    "EditResult",
    "EditWindow",
    "GuidanceWeights",
    "GuidedPrediction",
    "ImageLike",
    "InputError",
    "StepCost",
    "LoopOutput",
    "background_loss",
    "blend",
    "check_prompt",
    "choose_window",
    "clip_distance",
    "edit",
    "extending_augmentations",
    "guided_edit_loop",
    "guided_prediction",
    "guided_step_cost",
    "load_image",
    "load_mask",
    "noised_background",
    "paste_back",
    "plan_batches",
    "range_loss",
    "rank_edits",
    "read_image",
    "read_mask",
    "start_step",
    "to_model",
]
