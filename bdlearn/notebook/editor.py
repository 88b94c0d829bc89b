"""The interactive editor of notebook 07: Blended Diffusion with every knob on a widget.

Prompt, method, λ, steps, skipped steps, augmentations, repetitions and seed; a Run button, a
progress bar, and the ranked edits updated in place, with a slider over the best edit's trajectory.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import torch

from bdlearn.machinery import plan_batches
from bdlearn.notebook.image_slider import trajectory_slider
from bdlearn.notebook.mask_drawer import MaskDrawer
from bdlearn.notebook.pictures import figure_to_png, whole_picture_png
from bdlearn.notebook.plotting import edit_figure, to_display
from bdlearn.pipeline import checked_edit_settings, edit

if TYPE_CHECKING:
    from bdlearn.pipeline import EditResult
    from bdlearn.worlds import ModelWorld


#: A picture's layout: its natural size, scaled down (keeping its shape) where the notebook is narrower.
_FIT = {"max_width": "100%", "height": "auto"}


class EditorApp(widgets.VBox):
    """Blended Diffusion with every knob on a widget: set them, press Run, see the ranked edits.

    Args:
        world: the :class:`~bdlearn.worlds.world.ModelWorld` to edit with.
        image: the picture to edit (anything :func:`bdlearn.edit` takes).
        mask: a :class:`MaskDrawer` (read when Run is pressed), or a fixed mask.
        prompt: the starting prompt.
        judge: optional ``judge(edit_hxwx3_in_01, mask) -> str``, shown under the results (the
            toy world's rule-based judge, say).
        settings: starting values of the controls (``method``, ``variant``, ``background_weight``,
            ``respacing``, ``skip``, ``num_augmentations``, ``repetitions``, ``seed``). ``respacing`` takes
            every form :func:`bdlearn.edit` takes ("50", 50, "ddim10", "5,5"), checked as it checks it; the
            steps slider shows it at its step count, in place of the plain respacing of that count.

    :meth:`run` does what the Run button does and returns the :class:`~bdlearn.pipeline.EditResult`,
    so a notebook can run the app once without anyone clicking. After a run, a slider scrubs the
    best edit's trajectory (cached: free to move).

    The controls stretch to the notebook's width up to 480 px and their rows wrap, and the pictures
    shrink to fit, so the app fits a narrow notebook (JupyterLab with its side panel open, Colab).
    """

    #: The edit() keywords the editor's controls set, and so the settings it takes.
    CONTROLS = ("method", "variant", "background_weight", "respacing", "skip", "num_augmentations", "repetitions",
                "seed")
    STEP_CHOICES = (10, 20, 25, 50, 100)
    LAMBDA_CHOICES = (0, 10, 100, 1000, 10000)

    def __init__(self, world: ModelWorld | str, image: Any, mask: MaskDrawer | Any, prompt: str = "",
                 judge: Callable[[np.ndarray, np.ndarray], str] | None = None, **settings: Any) -> None:
        if isinstance(world, str):  # "toy" or "real", as edit() takes it: loaded once per process
            from bdlearn.worlds.load import shared_world

            world = shared_world(world)
        unknown = sorted(set(settings) - set(self.CONTROLS))
        if unknown:  # a typo would otherwise be ignored without a word
            raise TypeError(f"EditorApp has no control for {', '.join(unknown)}; its controls set "
                            f"{', '.join(self.CONTROLS)}")
        self.world, self.image, self.mask_source, self.judge = world, image, mask, judge
        self.result: EditResult | None = None
        defaults = world.defaults
        style = {"description_width": "130px"}  # one width for every label, so the controls line up
        wide = widgets.Layout(width="auto", max_width="480px")  # stretched to the notebook's width, up to 480 px
        wraps = widgets.Layout(flex_flow="row wrap", align_items="center")  # a row that wraps where it is too narrow
        # the respacing checked as edit() checks it (skip=0: the skip slider checks the skip against its count)
        chosen = checked_edit_settings(world, respacing=settings.get("respacing", defaults.respacing), skip=0)
        steps = chosen.num_steps
        #: The respacing each step count of the slider runs with: the given one at its count, plain counts elsewhere.
        self.respacings = {**{count: str(count) for count in self.STEP_CHOICES}, steps: chosen.respacing}
        self.prompt = widgets.Text(value=prompt, description="prompt", style=style, layout=wide)
        self.method = widgets.Dropdown(options=[("Blended Diffusion (blend every step)", "blended"),
                                                ("Local CLIP-guided (background loss λ)", "local"),
                                                ("SDEdit (no mask; beyond the paper)", "sdedit")],
                                       value=settings.get("method", "blended"), description="method", style=style,
                                       layout=wide)
        self.variant = widgets.Dropdown(options=[("as the paper describes it", "paper"),
                                                 ("as the official code computes it", "official")],
                                        value=settings.get("variant", "paper"), description="variant", style=style,
                                        layout=wide)
        self.background_weight = widgets.SelectionSlider(options=list(self.LAMBDA_CHOICES),
                                                         value=settings.get("background_weight", 1000),
                                                         description="λ (local only)", style=style,
                                                         layout=wide)
        options = [(self.respacings[count], count) for count in sorted(self.respacings)]
        self.steps = widgets.SelectionSlider(options=options, value=steps, description="steps (respacing)",
                                             style=style, layout=wide)
        self.skip = widgets.IntSlider(value=settings.get("skip", defaults.skip), min=0, max=steps - 1,
                                      description="skipped steps", style=style, layout=wide)
        self.augmentations = widgets.IntSlider(value=settings.get("num_augmentations", defaults.num_augmentations),
                                               min=0, max=16, description="augmentations", style=style, layout=wide)
        self.repetitions = widgets.IntSlider(value=settings.get("repetitions", defaults.repetitions), min=1, max=16,
                                             description="repetitions", style=style, layout=wide)
        self.seed = widgets.BoundedIntText(value=settings.get("seed", 0), min=0, max=2**31 - 1, description="seed",
                                           style=style, layout=widgets.Layout(width="260px", max_width="100%"))
        for name, control in (("skip", self.skip), ("num_augmentations", self.augmentations),
                              ("repetitions", self.repetitions), ("seed", self.seed)):
            if name in settings and control.value != settings[name]:  # ipywidgets clamps without a word
                raise ValueError(f"{name}={settings[name]!r} is outside the editor's control for it "
                                 f"({control.min} to {control.max}); call bdlearn.edit() for other values")
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress (steps)", style=style,
                                            layout=widgets.Layout(width="100%", max_width="420px"))
        self.status = widgets.HTML("Set the controls and press <b>Run</b>.", layout=widgets.Layout(max_width="100%"))
        self.results = widgets.Image(format="png", layout={**_FIT, "display": "none"})  # shown after a run
        self.trajectory = widgets.VBox()
        self.whole_picture = widgets.VBox()

        self.method.observe(self._method_changed, names="value")
        self.steps.observe(self._steps_changed, names="value")
        self.run_button.on_click(lambda _: self.run())
        self._method_changed()
        controls = widgets.VBox([self.prompt, self.method, self.variant, self.background_weight, self.steps, self.skip,
                                 self.augmentations, self.repetitions,
                                 widgets.HBox([self.seed, self.run_button], layout=wraps)])
        super().__init__([controls, widgets.HBox([self.progress, self.status], layout=wraps), self.results,
                          self.whole_picture, self.trajectory])

    def _method_changed(self, *_: Any) -> None:
        self.background_weight.disabled = self.method.value != "local"

    def _steps_changed(self, change: Mapping[str, Any]) -> None:
        old, new = int(change["old"]), int(change["new"])
        fraction = self.skip.value / old
        self.skip.max = new - 1
        self.skip.value = min(new - 1, round(fraction * new))

    def settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`bdlearn.edit` the controls stand for now."""
        local = self.method.value == "local"
        return {
            "method": self.method.value,
            "variant": self.variant.value,
            "background_weight": float(self.background_weight.value) if local else 0.0,
            "respacing": self.respacings[self.steps.value],
            "skip": int(self.skip.value),
            "num_augmentations": int(self.augmentations.value),
            "repetitions": int(self.repetitions.value),
            "seed": int(self.seed.value),
        }

    def current_mask(self) -> Any:
        """The mask the next run uses."""
        return self.mask_source.mask if isinstance(self.mask_source, MaskDrawer) else self.mask_source

    def run(self) -> EditResult | None:
        """Edit with the current settings; show the ranked edits and a trajectory slider. Returns the result."""
        settings = self.settings()
        steps = int(self.steps.value) - settings["skip"]
        self.progress.max, self.progress.value = steps * settings["repetitions"], 0
        self.progress.bar_style = ""
        self.run_button.disabled = True
        started = time.perf_counter()
        try:
            plan = plan_batches(self.world, settings["repetitions"], steps, settings["num_augmentations"])
            self.status.value = f"editing: {plan.describe()}..."
            with _CountSteps(self, plan.describe()):
                result = edit(self.image, self.current_mask(), self.prompt.value, self.world,
                              return_trajectory=self.world.image_size <= 64, progress=False, **settings)
        except Exception as err:  # shown in the app: a bad prompt or mask should not need a traceback
            self.progress.bar_style = "danger"
            self.status.value = f"<span style='color:#b00'>{type(err).__name__}: {err}</span>"
            return None
        finally:
            self.run_button.disabled = False
        seconds = time.perf_counter() - started
        self.result = result
        self.progress.value, self.progress.bar_style = self.progress.max, "success"
        self.results.value = figure_to_png(edit_figure(result, top=min(8, result.images.shape[0]), size=1.8))
        self.results.layout.display = None
        verdict = ""
        if self.judge is not None:
            best = to_display(result.best)
            verdict = f"; the judge sees <b>{self.judge(best, result.mask[0].numpy() > 0.5)}</b> in the best edit"
        self.status.value = (f"done in {seconds:.1f} s: {result.images.shape[0]} edit(s), best CLIP distance "
                             f"{float(result.distances[0]):.3f}{verdict}")
        self.whole_picture.children = ([] if result.window.is_whole_image else
                                       [widgets.HTML("<b>the best edit, the whole picture</b>"),
                                        widgets.Image(value=whole_picture_png(result.full_size(0)), format="png",
                                                      layout=_FIT)])
        self.trajectory.children = ([widgets.HTML("<b>the best edit, step by step</b>"), trajectory_slider(result)]
                                    if result.x_t is not None else [])
        return result


class _CountSteps:
    """Feed the app's progress bar: count the editing loop's UNet evaluations while active.

    bdlearn's loop evaluates the UNet once per step and batch (:func:`bdlearn.editing.guidance.guided_prediction`);
    a forward hook on the UNet counts those calls, without changing anything the edit computes.
    """

    def __init__(self, app: EditorApp, plan: str) -> None:
        self.app, self.plan, self.done, self.handle = app, plan, 0, None
        self.started = time.perf_counter()

    def __enter__(self) -> _CountSteps:
        def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self.done += int(output.shape[0])  # one step of every edit in the batch
            self.app.progress.value = min(self.app.progress.max, self.done)
            seconds = time.perf_counter() - self.started
            left = seconds / self.done * max(0, self.app.progress.max - self.done)
            self.app.status.value = f"editing: {self.plan}; about {left:.0f} s left"

        self.handle = self.app.world.unet.register_forward_hook(hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.remove()
