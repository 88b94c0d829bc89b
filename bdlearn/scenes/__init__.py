"""The toy world's procedural scenes, the edit tasks set on them, and the rule-based judge of edits.

Scenes of saturated shapes on muted backgrounds (:mod:`.render`), edit tasks with a mask and a
prompt (:mod:`.tasks`), a judge that says what an edited region shows (:mod:`.judge`), and judge-free measures of an
edit: the background's change and the seam at the mask's edge (:mod:`.measures`).
"""
from bdlearn.scenes.judge import judge_edit, judge_region
from bdlearn.scenes.measures import background_error, seam
from bdlearn.scenes.render import COLOUR_NAMES, SHAPES, object_caption, render_object, render_scene, sample_scenes
from bdlearn.scenes.tasks import edit_task_suite, make_edit_task

__all__ = [
    "COLOUR_NAMES",
    "SHAPES",
    "background_error",
    "edit_task_suite",
    "judge_edit",
    "judge_region",
    "make_edit_task",
    "object_caption",
    "render_object",
    "render_scene",
    "sample_scenes",
    "seam",
]
