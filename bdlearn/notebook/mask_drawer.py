"""Choose the region to edit: a preset, a rectangle set by sliders, or a brush on a canvas.

:class:`MaskDrawer` (:func:`mask_drawer`) is built from ipywidgets, with ipycanvas for drawing
where it renders. Presets need no interaction, so a notebook that uses one runs top to bottom
headless (the test suite, CI) and wherever ipycanvas cannot render.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np

from bdlearn.machinery.inputs import ImageLike, read_image
from bdlearn.notebook.pictures import to_png
from bdlearn.notebook.plotting import mask_overlay, whole_number


def preset_masks(size: int) -> dict[str, np.ndarray]:
    """A few ready-made masks (bool, ``size`` x ``size``, ``size`` a whole number >= 1): useful wherever drawing
    is impossible."""
    size = whole_number("size", size, 1)

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


def _small(text: str) -> str:
    """A note in small print, its lines close together (ipywidgets 7 spaces an HTML widget's lines 28 px apart)."""
    return f"<div style='font-size: smaller; line-height: 1.3'>{text}</div>"


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

    The canvas column and the chooser column sit side by side where the notebook is wide enough
    (about 580 px with the default canvas) and the chooser wraps below the canvas where it is not;
    the canvas shrinks, keeping its shape, in a column narrower than itself.
    """

    DRAWN = "drawn on the canvas"
    RECTANGLE = "rectangle (sliders)"

    def __init__(self, image: ImageLike, presets: Mapping[str, np.ndarray] | None = None,
                 scale: int = 8, brush: int = 2) -> None:
        scale, brush = whole_number("scale", scale, 1), whole_number("brush", brush, 0)
        # read as edit() reads it, so the canvas shows the picture an edit with this mask gets
        self.picture = read_image(image).astype(np.float32) / 255
        height, width = self.picture.shape[:2]
        if height != width:
            raise ValueError(f"the mask drawer draws on a square picture (the model's view); this one is "
                             f"{height}x{width}: crop it square, or draw the mask in another program")
        self.size = height
        self.presets = {name: np.asarray(mask, dtype=bool)
                        for name, mask in (presets or preset_masks(self.size)).items()}
        for name, mask in self.presets.items():
            if mask.shape != (self.size, self.size):
                raise ValueError(f"preset {name!r} has shape {mask.shape}, expected {(self.size, self.size)}")
        self.scale = scale
        self.drawn = np.zeros((self.size, self.size), dtype=bool)
        self._pressed = False

        style = {"description_width": "initial"}
        fill = widgets.Layout(width="auto")  # stretched to the column it sits in
        self.source = widgets.Dropdown(options=[*self.presets, self.RECTANGLE, self.DRAWN], description="mask from",
                                       style=style, layout=fill)
        half = self.size // 2
        quarter = self.size // 4
        self.rows = widgets.IntRangeSlider(value=(quarter, quarter + half), min=0, max=self.size, description="rows",
                                           style=style, layout=fill)
        self.cols = widgets.IntRangeSlider(value=(quarter, quarter + half), min=0, max=self.size,
                                           description="columns", style=style, layout=fill)
        self.preview_scale = max(1, 192 // self.size)  # about 200 pixels wide, whatever the image size
        self.preview = widgets.Image(format="png", width=self.size * self.preview_scale,
                                     layout=widgets.Layout(max_width="100%", height="auto"))
        self.canvas = None
        canvas_box: list[widgets.Widget] = []
        canvas_width = self.size * scale
        ipycanvas = _ipycanvas()
        if ipycanvas is not None:
            snug = widgets.Layout(width="auto")  # as wide as the button's text
            self.brush = widgets.IntSlider(value=brush, min=0, max=max(1, self.size // 4), description="brush radius",
                                           style=style, layout=widgets.Layout(width="100%", max_width="300px"))
            self.erase = widgets.ToggleButton(value=False, description="erase", icon="eraser", layout=snug)
            self.clear = widgets.Button(description="clear drawing", layout=snug)
            # drawn at its full size, shown narrower where the column is narrower (ipycanvas scales the
            # mouse's coordinates back to the drawing's)
            self.canvas = ipycanvas.Canvas(width=canvas_width, height=canvas_width,
                                           layout=widgets.Layout(width=f"{canvas_width}px", height="auto",
                                                                 max_width="100%"))
            self.canvas.on_mouse_down(self._down)
            self.canvas.on_mouse_move(self._move)
            self.canvas.on_mouse_up(self._up)
            self.canvas.on_mouse_out(self._up)
            self.canvas.on_client_ready(lambda *_: self._redraw_canvas())
            self.clear.on_click(self._clear)
            note = widgets.HTML(_small("Paint on the picture to draw a mask. No canvas above? This Jupyter "
                                       "cannot show ipycanvas: pick a preset or the rectangle instead."))
            tools = widgets.HBox([self.brush, self.erase, self.clear], layout=widgets.Layout(flex_flow="row wrap"))
            canvas_box = [widgets.HTML("<b>draw</b>"), self.canvas, tools, note]
            self._redraw_canvas()
        else:
            canvas_box = [widgets.HTML(_small("ipycanvas is not installed, so there is no canvas to draw on: "
                                              "pick a preset or the rectangle."))]
        for control in (self.source, self.rows, self.cols):
            control.observe(self._update_preview, names="value")
        self._update_preview()
        # Two columns, side by side where the notebook is wide enough, else the chooser below the canvas;
        # neither column grows wider than the notebook (max_width), so nothing is cut off on the right.
        column = widgets.Layout(width=f"{max(canvas_width, 256)}px", max_width="100%", margin="0 16px 8px 0")
        chooser = widgets.VBox([self.source, self.rows, self.cols, widgets.HTML("<b>the mask</b> (tinted)"),
                                self.preview], layout=widgets.Layout(width="300px", max_width="100%"))
        super().__init__([widgets.HBox([widgets.VBox(canvas_box, layout=column), chooser],
                                       layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))])

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


def mask_drawer(image: ImageLike, presets: Mapping[str, np.ndarray] | None = None,
                scale: int = 8, brush: int = 2) -> MaskDrawer:
    """A :class:`MaskDrawer` over a square ``image``, read as :func:`bdlearn.edit` reads it
    (:func:`~bdlearn.machinery.inputs.read_image`): a path, a PIL image, or an array or tensor (integers
    over 0..255, uint16 over 0..65535, floats in [0, 1]). A tensor in the model's [−1, 1] (``load_image``'s)
    is refused, as edit() refuses it: pass ``(x + 1) / 2``. ``scale`` (>= 1) enlarges the canvas; ``brush``
    (>= 0) is the brush's starting radius in pixels."""
    return MaskDrawer(image, presets, scale=scale, brush=brush)

