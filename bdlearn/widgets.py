"""Widgets for the notebooks: sliders over cached pictures, a mask drawer and the interactive editor.

Everything here is built from ipywidgets (and ipycanvas for drawing, where it renders), so it
works in JupyterLab, Jupyter Notebook and Colab (after ``output.enable_custom_widget_manager()``).

* :class:`ImageSlider` shows one of a list of precomputed PNG frames; moving the slider only swaps
  bytes, so it costs nothing. :func:`trajectory_slider` makes one over an edit's trajectory
  (x_t beside x̂_0 at every step) and :func:`gallery_slider` over any labelled set of pictures.
* :class:`MaskDrawer` (:func:`mask_drawer`) gives a mask from a preset, a rectangle set by sliders,
  or a brush on an ipycanvas canvas. Presets need no interaction, so a notebook that uses one runs
  top to bottom headless (nbval, CI) and wherever ipycanvas cannot render.
* :class:`EditorApp` is the full editor of notebook 07: prompt, method, λ, steps, skipped steps,
  augmentations, repetitions and seed; a Run button, a progress bar, results updated in place.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from bdlearn.plotting import mask_overlay, to_display

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bdlearn.edit import EditResult
    from bdlearn.models import ModelWorld

__all__ = [
    "EditorApp",
    "ImageSlider",
    "MaskDrawer",
    "figure_to_png",
    "gallery_slider",
    "mask_drawer",
    "preset_masks",
    "to_png",
    "trajectory_frames",
    "trajectory_slider",
]

GAP = 4  #: white pixels between panels of one frame


# ----------------------------------------------------------------------------------------------
# Pictures as PNG bytes (what an ipywidgets.Image shows)
# ----------------------------------------------------------------------------------------------

def _to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """HxWx3 uint8 from a tensor [3, H, W] in [−1, 1] or an array HxWx3 in [0, 1]."""
    return np.round(to_display(image) * 255).astype(np.uint8)


def to_png(images: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray], scale: int = 6) -> bytes:
    """PNG bytes of one image, or of several side by side, each enlarged ``scale`` times (pixelated)."""
    if isinstance(images, (torch.Tensor, np.ndarray)) and (images.ndim == 3):
        images = [images]
    panels = [_to_uint8(image) for image in images]
    height = max(p.shape[0] for p in panels) * scale
    width = sum(p.shape[1] * scale for p in panels) + GAP * (len(panels) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    left = 0
    for panel in panels:
        picture = Image.fromarray(panel).resize((panel.shape[1] * scale, panel.shape[0] * scale), Image.Resampling.NEAREST)
        canvas.paste(picture, (left, 0))
        left += picture.width + GAP
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure, which is then closed (so the notebook does not show it too)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# Sliders over cached frames
# ----------------------------------------------------------------------------------------------

class ImageSlider(widgets.VBox):
    """A slider over precomputed PNG frames; moving it swaps the picture and its caption.

    ``frames[i]`` (PNG bytes) and ``captions[i]`` are shown for position ``i``. With
    ``positions`` (one label per frame, e.g. augmentation counts) the slider steps through those
    labels (a SelectionSlider); otherwise it is an IntSlider over 0..len(frames)−1.
    """

    def __init__(self, frames: Sequence[bytes], captions: Sequence[str] | None = None,
                 description: str = "frame", positions: Sequence[Any] | None = None, value: int = 0) -> None:
        if not frames:
            raise ValueError("an ImageSlider needs at least one frame")
        self.frames = list(frames)
        self.captions = list(captions) if captions is not None else [""] * len(self.frames)
        if len(self.captions) != len(self.frames):
            raise ValueError(f"{len(self.frames)} frames but {len(self.captions)} captions")
        style = {"description_width": "initial"}
        layout = widgets.Layout(width="420px")
        if positions is not None:
            if len(positions) != len(self.frames):
                raise ValueError(f"{len(self.frames)} frames but {len(positions)} positions")
            options = [(str(label), index) for index, label in enumerate(positions)]
            self.slider = widgets.SelectionSlider(options=options, value=value, description=description,
                                                  continuous_update=True, style=style, layout=layout)
        else:
            self.slider = widgets.IntSlider(value=value, min=0, max=len(self.frames) - 1, description=description,
                                            continuous_update=True, style=style, layout=layout)
        width, _ = Image.open(io.BytesIO(self.frames[value])).size
        self.image = widgets.Image(value=self.frames[value], format="png", width=width)  # natural size, no stretching
        self.caption = widgets.HTML(self.captions[value])
        self.slider.observe(self._show, names="value")
        super().__init__([self.slider, self.caption, self.image])

    @property
    def index(self) -> int:
        """The frame on show."""
        return int(self.slider.value)

    def _show(self, change: Mapping[str, Any]) -> None:
        index = int(change["new"])
        self.image.value = self.frames[index]
        self.caption.value = self.captions[index]


def trajectory_frames(x_t: torch.Tensor, pred_xstart: torch.Tensor | None = None, index: int = 0,
                      scale: int = 6, extra: Sequence[torch.Tensor | np.ndarray] = ()) -> list[bytes]:
    """PNG frames of one edit's trajectory: frame k shows x_t after k steps and the x̂_0 predicted from it.

    ``x_t`` [K+1, B, 3, S, S], ``pred_xstart`` [K, B, 3, S, S] (the last frame, the finished edit,
    has no prediction of its own and repeats the sample); ``extra`` panels (e.g. the input) are
    appended to every frame.
    """
    frames = []
    for k in range(x_t.shape[0]):
        panels: list[torch.Tensor | np.ndarray] = [x_t[k, index]]
        if pred_xstart is not None:
            panels.append(pred_xstart[k, index] if k < pred_xstart.shape[0] else x_t[k, index])
        frames.append(to_png([*panels, *extra], scale=scale))
    return frames


def trajectory_slider(result: Any, index: int = 0, scale: int = 6, show_input: bool = True,
                      value: int | None = None) -> ImageSlider:
    """A slider that scrubs the cached trajectory of an edit: x_t | x̂_0 (| the input) at every step.

    ``result`` is an :class:`~bdlearn.edit.EditResult` made with ``return_trajectory=True`` or a
    :class:`~bdlearn.blended.LoopOutput` with ``keep_trajectory=True`` (anything with ``x_t``,
    ``pred_xstart`` and ``steps``); ``index`` picks the edit (0 = the best ranked). All frames are
    drawn once, here, so scrubbing costs nothing.
    """
    x_t, pred_xstart, steps = getattr(result, "x_t", None), getattr(result, "pred_xstart", None), list(result.steps)
    if x_t is None:
        raise ValueError("this result has no trajectory: make it with return_trajectory=True "
                         "(edit) or keep_trajectory=True (guided_edit_loop)")
    extra = [result.input] if show_input and getattr(result, "input", None) is not None else []
    frames = trajectory_frames(x_t, pred_xstart, index=index, scale=scale, extra=extra)
    right = " | the input" if extra else ""
    captions = []
    for k in range(len(frames)):
        if k < len(steps):
            what = "the start: the input noised to" if k == 0 else f"after {k} step{'s' if k > 1 else ''}: now at"
            captions.append(f"<b>k = {k}</b> &nbsp; {what} step index t = {steps[k]} &nbsp; "
                            f"(shown: x<sub>t</sub> | x̂<sub>0</sub> predicted from it{right})")
        else:
            captions.append(f"<b>k = {k}</b> &nbsp; finished: x<sub>0</sub> after all {len(steps)} steps"
                            f" (shown: x<sub>0</sub> | x<sub>0</sub>{right})")
    return ImageSlider(frames, captions, description="step k", value=len(frames) - 1 if value is None else value)


def gallery_slider(pictures: Mapping[Any, bytes | Figure], description: str = "",
                   captions: Sequence[str] | None = None) -> ImageSlider:
    """A slider over labelled pictures (PNG bytes or matplotlib figures), e.g. ``{0: png, 4: png, 8: png}``.

    The slider's positions are the labels, in the mapping's order; figures are rendered (and
    closed) once, here.
    """
    labels = list(pictures)
    frames = [value if isinstance(value, bytes) else figure_to_png(value) for value in pictures.values()]
    captions = list(captions) if captions is not None else [f"{description} = {label}" for label in labels]
    return ImageSlider(frames, captions, description=description, positions=labels)


# ----------------------------------------------------------------------------------------------
# Masks: presets, a rectangle by sliders, a brush on a canvas
# ----------------------------------------------------------------------------------------------

def preset_masks(size: int) -> dict[str, np.ndarray]:
    """A few ready-made masks (bool, ``size`` x ``size``): useful wherever drawing is impossible."""
    def box(top: float, left: float, height: float, width: float) -> np.ndarray:
        mask = np.zeros((size, size), dtype=bool)
        mask[round(top * size):round((top + height) * size), round(left * size):round((left + width) * size)] = True
        return mask

    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    disc = (rows - size / 2) ** 2 + (cols - size / 2) ** 2 <= (size * 0.28) ** 2
    return {
        "centre square": box(0.3, 0.3, 0.4, 0.4),
        "centre disc": disc,
        "top-left quarter": box(0.0, 0.0, 0.5, 0.5),
        "bottom-right quarter": box(0.5, 0.5, 0.5, 0.5),
        "left half": box(0.0, 0.0, 1.0, 0.5),
    }


def _ipycanvas() -> Any | None:
    try:
        import ipycanvas
    except ImportError:
        return None
    return ipycanvas


class MaskDrawer(widgets.VBox):
    """Choose the region to edit: a preset, a rectangle by sliders, or a brush on a canvas.

    :attr:`mask` is always a (size, size) bool array, True where the edit goes. The source is the
    "mask from" dropdown; it starts on the first preset, so code that reads :attr:`mask` without
    anyone touching the widget (headless runs, CI) gets a fixed, known mask. Painting on the
    canvas switches the source to "drawn". The canvas needs ipycanvas and a Jupyter that renders
    it (JupyterLab, Notebook, Colab with the custom widget manager); elsewhere use the presets or
    the rectangle.
    """

    DRAWN = "drawn on the canvas"
    RECTANGLE = "rectangle (sliders)"

    def __init__(self, image: torch.Tensor | np.ndarray, presets: Mapping[str, np.ndarray] | None = None,
                 scale: int = 8, brush: int = 2) -> None:
        self.picture = to_display(image[0] if isinstance(image, torch.Tensor) and image.ndim == 4 else image)
        self.size = self.picture.shape[0]
        self.presets = {name: np.asarray(mask, dtype=bool) for name, mask in (presets or preset_masks(self.size)).items()}
        for name, mask in self.presets.items():
            if mask.shape != (self.size, self.size):
                raise ValueError(f"preset {name!r} has shape {mask.shape}, expected {(self.size, self.size)}")
        self.scale = scale
        self.drawn = np.zeros((self.size, self.size), dtype=bool)
        self._pressed = False

        style = {"description_width": "initial"}
        self.source = widgets.Dropdown(options=[*self.presets, self.RECTANGLE, self.DRAWN], description="mask from",
                                       style=style)
        half = self.size // 2
        quarter = self.size // 4
        self.rows = widgets.IntRangeSlider(value=(quarter, quarter + half), min=0, max=self.size, description="rows",
                                           style=style)
        self.cols = widgets.IntRangeSlider(value=(quarter, quarter + half), min=0, max=self.size,
                                           description="columns", style=style)
        self.preview_scale = max(1, 192 // self.size)  # about 200 pixels wide, whatever the image size
        self.preview = widgets.Image(format="png", width=self.size * self.preview_scale)
        self.canvas = None
        canvas_box: list[widgets.Widget] = []
        ipycanvas = _ipycanvas()
        if ipycanvas is not None:
            self.brush = widgets.IntSlider(value=brush, min=0, max=max(1, self.size // 4), description="brush radius",
                                           style=style)
            self.erase = widgets.ToggleButton(value=False, description="erase", icon="eraser")
            self.clear = widgets.Button(description="clear drawing")
            self.canvas = ipycanvas.Canvas(width=self.size * scale, height=self.size * scale,
                                           layout=widgets.Layout(width=f"{self.size * scale}px",
                                                                 height=f"{self.size * scale}px"))
            self.canvas.on_mouse_down(self._down)
            self.canvas.on_mouse_move(self._move)
            self.canvas.on_mouse_up(self._up)
            self.canvas.on_mouse_out(self._up)
            self.canvas.on_client_ready(lambda *_: self._redraw_canvas())
            self.clear.on_click(self._clear)
            note = widgets.HTML("<small>Paint on the picture to draw a mask. No canvas above? This Jupyter "
                                "cannot show ipycanvas: pick a preset or the rectangle instead.</small>")
            canvas_box = [widgets.HTML("<b>draw</b>"), self.canvas,
                          widgets.HBox([self.brush, self.erase, self.clear]), note]
            self._redraw_canvas()
        else:
            canvas_box = [widgets.HTML("<small>ipycanvas is not installed, so there is no canvas to draw on: "
                                       "pick a preset or the rectangle.</small>")]
        for control in (self.source, self.rows, self.cols):
            control.observe(self._update_preview, names="value")
        self._update_preview()
        chooser = widgets.VBox([self.source, self.rows, self.cols, widgets.HTML("<b>the mask</b> (tinted)"),
                                self.preview])
        super().__init__([widgets.HBox([widgets.VBox(canvas_box), chooser])])

    # --- the mask --------------------------------------------------------------------------
    @property
    def mask(self) -> np.ndarray:
        """The chosen mask: (size, size) bool, True where the edit goes."""
        source = self.source.value
        if source == self.DRAWN:
            return self.drawn.copy()
        if source == self.RECTANGLE:
            mask = np.zeros((self.size, self.size), dtype=bool)
            (top, bottom), (left, right) = self.rows.value, self.cols.value
            mask[top:bottom, left:right] = True
            return mask
        return self.presets[source].copy()

    def set_drawn(self, mask: np.ndarray) -> None:
        """Replace the drawing by ``mask`` (as if painted) and make it the source."""
        self.drawn = np.asarray(mask, dtype=bool).copy()
        self._redraw_canvas()
        self.source.value = self.DRAWN
        self._update_preview()

    def _update_preview(self, *_: Any) -> None:
        rectangle = self.source.value == self.RECTANGLE
        self.rows.disabled = self.cols.disabled = not rectangle
        self.preview.value = to_png(mask_overlay(self.picture, self.mask), scale=self.preview_scale)

    # --- the canvas --------------------------------------------------------------------------
    def _cell_colour(self, row: int, col: int) -> str:
        pixel = mask_overlay(self.picture[row:row + 1, col:col + 1], self.drawn[row:row + 1, col:col + 1])[0, 0]
        r, g, b = (int(round(v * 255)) for v in pixel)
        return f"rgb({r},{g},{b})"

    def _redraw_canvas(self) -> None:
        if self.canvas is None:
            return
        picture = mask_overlay(self.picture, self.drawn)
        big = np.repeat(np.repeat(np.round(picture * 255).astype(np.uint8), self.scale, 0), self.scale, 1)
        self.canvas.put_image_data(big, 0, 0)

    def _paint(self, x: float, y: float) -> None:
        centre_row, centre_col = int(y // self.scale), int(x // self.scale)
        radius = self.brush.value
        rows, cols = np.mgrid[0:self.size, 0:self.size]
        touched = (rows - centre_row) ** 2 + (cols - centre_col) ** 2 <= radius ** 2
        changed = touched & (self.drawn != (not self.erase.value))
        if not changed.any():
            return
        self.drawn[touched] = not self.erase.value
        from ipycanvas import hold_canvas

        with hold_canvas():
            for row, col in zip(*np.nonzero(changed)):
                self.canvas.fill_style = self._cell_colour(row, col)
                self.canvas.fill_rect(int(col) * self.scale, int(row) * self.scale, self.scale, self.scale)

    def _down(self, x: float, y: float) -> None:
        self._pressed = True
        self._paint(x, y)
        if self.source.value != self.DRAWN:
            self.source.value = self.DRAWN  # also refreshes the preview
        else:
            self._update_preview()

    def _move(self, x: float, y: float) -> None:
        if self._pressed:
            self._paint(x, y)

    def _up(self, *_: Any) -> None:
        if self._pressed:
            self._pressed = False
            self._update_preview()

    def _clear(self, *_: Any) -> None:
        self.drawn[:] = False
        self._redraw_canvas()
        self._update_preview()


def mask_drawer(image: torch.Tensor | np.ndarray, presets: Mapping[str, np.ndarray] | None = None,
                scale: int = 8, brush: int = 2) -> MaskDrawer:
    """A :class:`MaskDrawer` over ``image`` ([3, S, S] in [−1, 1] or S x S x 3 in [0, 1])."""
    return MaskDrawer(image, presets, scale=scale, brush=brush)


# ----------------------------------------------------------------------------------------------
# The editor
# ----------------------------------------------------------------------------------------------

class EditorApp(widgets.VBox):
    """Blended Diffusion with every knob on a widget: set them, press Run, see the ranked edits.

    Args:
        world: the :class:`~bdlearn.models.ModelWorld` to edit with.
        image: the picture to edit (anything :func:`bdlearn.edit` takes).
        mask: a :class:`MaskDrawer` (read when Run is pressed), or a fixed mask.
        prompt: the starting prompt.
        judge: optional ``judge(edit_hxwx3_in_01, mask) -> str``, shown under the results (the
            toy world's rule-based judge, say).
        settings: starting values of the controls (``method``, ``background_weight``,
            ``respacing``, ``skip``, ``num_augmentations``, ``repetitions``, ``seed``).

    :meth:`run` does what the Run button does and returns the :class:`~bdlearn.edit.EditResult`,
    so a notebook can run the app once without anyone clicking. After a run, a slider scrubs the
    best edit's trajectory (cached: free to move).
    """

    STEP_CHOICES = (10, 20, 25, 50, 100)
    LAMBDA_CHOICES = (0, 10, 100, 1000, 10000)

    def __init__(self, world: ModelWorld, image: Any, mask: MaskDrawer | Any, prompt: str = "",
                 judge: Callable[[np.ndarray, np.ndarray], str] | None = None, **settings: Any) -> None:
        self.world, self.image, self.mask_source, self.judge = world, image, mask, judge
        self.result: EditResult | None = None
        defaults = world.defaults
        style = {"description_width": "200px"}  # one width for every label, so the controls line up
        wide = widgets.Layout(width="520px")
        steps = int(settings.get("respacing", defaults.respacing))
        step_choices = sorted({*self.STEP_CHOICES, steps})
        self.prompt = widgets.Text(value=prompt, description="prompt", style=style, layout=wide)
        self.method = widgets.Dropdown(options=[("Blended Diffusion (blend every step)", "blended"),
                                                ("Local CLIP-guided (background loss λ)", "local")],
                                       value=settings.get("method", "blended"), description="method", style=style,
                                       layout=wide)
        self.background_weight = widgets.SelectionSlider(options=list(self.LAMBDA_CHOICES),
                                                         value=settings.get("background_weight", 1000),
                                                         description="λ (background loss, local only)", style=style,
                                                         layout=wide)
        self.steps = widgets.SelectionSlider(options=step_choices, value=steps, description="steps (respacing)",
                                             style=style, layout=wide)
        self.skip = widgets.IntSlider(value=settings.get("skip", defaults.skip), min=0, max=steps - 1,
                                      description="skipped steps", style=style, layout=wide)
        self.augmentations = widgets.IntSlider(value=settings.get("num_augmentations", defaults.num_augmentations),
                                               min=0, max=16, description="augmentations", style=style, layout=wide)
        self.repetitions = widgets.IntSlider(value=settings.get("repetitions", defaults.repetitions), min=1, max=16,
                                             description="repetitions", style=style, layout=wide)
        self.seed = widgets.BoundedIntText(value=settings.get("seed", 0), min=0, max=2**31 - 1, description="seed",
                                           style=style, layout=widgets.Layout(width="320px"))
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress (steps)", style=style,
                                            layout=widgets.Layout(width="420px"))
        self.status = widgets.HTML("Set the controls and press <b>Run</b>.")
        self.results = widgets.Image(format="png")
        self.trajectory = widgets.VBox()

        self.method.observe(self._method_changed, names="value")
        self.steps.observe(self._steps_changed, names="value")
        self.run_button.on_click(lambda _: self.run())
        self._method_changed()
        controls = widgets.VBox([self.prompt, self.method, self.background_weight, self.steps, self.skip,
                                 self.augmentations, self.repetitions, widgets.HBox([self.seed, self.run_button])])
        super().__init__([controls, widgets.HBox([self.progress, self.status]), self.results, self.trajectory])

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
            "background_weight": float(self.background_weight.value) if local else 0.0,
            "respacing": str(self.steps.value),
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
        from bdlearn.edit import edit
        from bdlearn.plotting import edit_figure

        settings = self.settings()
        steps = int(self.steps.value) - settings["skip"]
        self.progress.max, self.progress.value = steps * settings["repetitions"], 0
        self.progress.bar_style = ""
        self.run_button.disabled = True
        self.status.value = f"editing: {settings['repetitions']} repetition(s) of {steps} steps..."
        started = time.perf_counter()
        try:
            with _CountSteps(self):
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
        verdict = ""
        if self.judge is not None:
            best = to_display(result.best)
            verdict = f"; the judge sees <b>{self.judge(best, result.mask[0].numpy() > 0.5)}</b> in the best edit"
        self.status.value = (f"done in {seconds:.1f} s: {result.images.shape[0]} edit(s), best CLIP distance "
                             f"{float(result.distances[0]):.3f}{verdict}")
        self.trajectory.children = ([widgets.HTML("<b>the best edit, step by step</b>"), trajectory_slider(result)]
                                    if result.x_t is not None else [])
        return result


class _CountSteps:
    """Feed the app's progress bar: count the editing loop's UNet evaluations while active.

    bdlearn's loop evaluates the UNet once per step and batch (:func:`bdlearn.guidance.guided_prediction`);
    a forward hook on the UNet counts those calls, without changing anything the edit computes.
    """

    def __init__(self, app: EditorApp) -> None:
        self.app, self.done, self.handle = app, 0, None

    def __enter__(self) -> _CountSteps:
        def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self.done += int(output.shape[0])  # one step of every edit in the batch
            self.app.progress.value = min(self.app.progress.max, self.done)

        self.handle = self.app.world.unet.register_forward_hook(hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.remove()
