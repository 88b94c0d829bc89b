"""The toy world's procedural scenes, the edit tasks set on them, and the rule-based judge of edits.

Scenes of saturated shapes on muted backgrounds (:mod:`.render`), edit tasks with a mask and a
prompt (:mod:`.tasks`), a judge that says what an edited region shows (:mod:`.judge`), and judge-free measures of an
edit: the background's change and the seam at the mask's edge (:mod:`.measures`).
"""
from bdlearn.scenes.judge import Verdict, judge_edit, judge_region
from bdlearn.scenes.measures import background_error, seam
from bdlearn.scenes.render import (
    BACKGROUNDS,
    COLOUR_NAMES,
    COLOURS,
    IMAGE_SIZE,
    SHAPES,
    Scene,
    SceneObject,
    derive_seeds,
    masked_view,
    object_caption,
    render_background,
    render_object,
    render_scene,
    sample_scenes,
    scene_caption,
    shape_mask,
)
from bdlearn.scenes.tasks import TASK_KINDS, EditTask, edit_task_suite, make_edit_task

__all__ = [
    "BACKGROUNDS",
    "COLOUR_NAMES",
    "COLOURS",
    "IMAGE_SIZE",
    "SHAPES",
    "TASK_KINDS",
    "EditTask",
    "Scene",
    "SceneObject",
    "Verdict",
    "background_error",
    "derive_seeds",
    "edit_task_suite",
    "judge_edit",
    "judge_region",
    "make_edit_task",
    "masked_view",
    "object_caption",
    "render_background",
    "render_object",
    "render_scene",
    "sample_scenes",
    "scene_caption",
    "seam",
    "shape_mask",
]
