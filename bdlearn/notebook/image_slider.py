"""Sliders over precomputed pictures: moving one only swaps PNG bytes, so it costs nothing.

:class:`ImageSlider` shows one of a list of frames; :func:`trajectory_slider` makes one over an
edit's trajectory (x_t beside x̂_0 at every step) and :func:`gallery_slider` over any labelled set
of pictures. Built from ipywidgets, so it works in JupyterLab, Jupyter Notebook and Colab (after
``output.enable_custom_widget_manager()``).
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from bdlearn.checks import shown
from bdlearn.notebook.pictures import figure_to_png, to_png
from bdlearn.notebook.plotting import check_index, whole_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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

    ``result`` is an :class:`~bdlearn.pipeline.EditResult` made with ``return_trajectory=True`` or a
    :class:`~bdlearn.editing.loop.LoopOutput` with ``keep_trajectory=True`` (anything with ``x_t``,
    ``pred_xstart`` and ``steps``); ``index`` picks the edit (0 = the best ranked). All frames are
    drawn once, here, so scrubbing costs nothing.
    """
    if not hasattr(result, "steps"):
        raise TypeError(f"trajectory_slider takes an EditResult or a LoopOutput, got {type(result).__name__}")
    scale = whole_number("scale", scale, 1)
    x_t, pred_xstart, steps = getattr(result, "x_t", None), getattr(result, "pred_xstart", None), list(result.steps)
    if x_t is None:
        raise ValueError("this result has no trajectory: make it with return_trajectory=True "
                         "(edit) or keep_trajectory=True (guided_edit_loop)")
    check_index(index, x_t.shape[1], "edits (0 = the best ranked)")
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
    if value is not None and not 0 <= value < len(frames):
        raise ValueError(f"value must be a frame, 0 to {len(frames) - 1}; got {value}")
    return ImageSlider(frames, captions, description="step k", value=len(frames) - 1 if value is None else value)


def gallery_slider(pictures: Mapping[Any, bytes | Figure], description: str = "",
                   captions: Sequence[str] | None = None) -> ImageSlider:
    """A slider over labelled pictures (PNG bytes or matplotlib figures), e.g. ``{0: png, 4: png, 8: png}``.

    The slider's positions are the labels, in the mapping's order; figures are rendered (and
    closed) once, here. Bytes that PIL cannot read as a picture are refused, naming their label.
    """
    if not isinstance(pictures, Mapping) or not pictures:
        raise TypeError(f"gallery_slider takes a mapping of labels to pictures, e.g. {{0: figure, 4: png}}; got "
                        f"{type(pictures).__name__}{' (empty)' if isinstance(pictures, Mapping) else ''}")
    odd = [label for label, value in pictures.items() if not (isinstance(value, bytes) or hasattr(value, "savefig"))]
    if odd:
        raise TypeError(f"gallery_slider shows PNG bytes or matplotlib figures; the picture of {odd[0]!r} is a "
                        f"{type(pictures[odd[0]]).__name__}")
    for label, value in pictures.items():
        if isinstance(value, bytes) and not _is_picture(value):
            raise ValueError(f"gallery_slider shows PNG bytes or matplotlib figures; the bytes of {label!r} are not a "
                             f"picture ({shown(value, 30)}): make them with bdlearn.notebook.pictures.figure_to_png "
                             "or to_png")
    labels = list(pictures)
    frames = [value if isinstance(value, bytes) else figure_to_png(value) for value in pictures.values()]
    captions = list(captions) if captions is not None else [f"{description} = {label}" for label in labels]
    return ImageSlider(frames, captions, description=description, positions=labels)


def _is_picture(data: bytes) -> bool:
    """Whether PIL reads ``data`` as a picture (PNG bytes, or any format it knows)."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.verify()
    except (OSError, SyntaxError):  # not a picture (UnidentifiedImageError is an OSError), or a broken one
        return False
    return True
