"""The notebooks' widgets, without a browser: sliders swap cached frames, masks come out right,
the editor runs, counts its steps and reports errors in place, and neither the mask drawer nor the
editor insists on a width. (tests/test_browser.py drives them in a real JupyterLab.)"""
from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from PIL import Image

from bdlearn.notebook.editor import EditorApp
from bdlearn.notebook.image_slider import ImageSlider, gallery_slider, trajectory_slider
from bdlearn.notebook.mask_drawer import MaskDrawer, preset_masks
from bdlearn.notebook.pictures import to_png
from bdlearn.pipeline import edit


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)


def _png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_to_png_places_panels_side_by_side(picture):
    assert _png_size(to_png(picture, scale=3)) == (96, 96)
    assert _png_size(to_png([picture, torch.zeros(3, 32, 32)], scale=2)) == (2 * 64 + 4, 64)


def test_image_slider_swaps_frames_and_captions():
    frames = [to_png(np.full((4, 4, 3), value, dtype=np.float32)) for value in (0.0, 0.5, 1.0)]
    slider = ImageSlider(frames, ["a", "b", "c"], description="k")
    assert slider.image.value == frames[0] and slider.caption.value == "a"
    slider.slider.value = 2
    assert slider.image.value == frames[2] and slider.caption.value == "c"
    with pytest.raises(ValueError):
        ImageSlider(frames, ["only one caption"])


def test_gallery_slider_steps_through_labels():
    pictures = {n: to_png(np.full((4, 4, 3), n / 8, dtype=np.float32)) for n in (0, 4, 8)}
    gallery = gallery_slider(pictures, description="augmentations")
    assert [label for label, _ in gallery.slider.options] == ["0", "4", "8"]
    gallery.slider.value = 2
    assert gallery.image.value == pictures[8]


def test_trajectory_slider_has_a_frame_per_state(world, picture):
    mask = np.zeros((32, 32), dtype=bool)
    mask[8:24, 8:24] = True
    result = edit(picture, mask, "a red circle", world, respacing="6", skip=2, repetitions=2, num_augmentations=0,
                  seed=0, return_trajectory=True, progress=False)
    viewer = trajectory_slider(result, value=0)
    assert len(viewer.frames) == len(result.steps) + 1 == result.x_t.shape[0]
    assert len(set(viewer.frames)) > 1
    viewer.slider.value = len(viewer.frames) - 1
    assert "finished" in viewer.caption.value
    without = edit(picture, mask, "a red circle", world, respacing="6", skip=2, repetitions=1, num_augmentations=0,
                   seed=0, progress=False)
    with pytest.raises(ValueError, match="return_trajectory"):
        trajectory_slider(without)


def test_mask_drawer_presets_rectangle_and_brush(picture):
    box = np.zeros((32, 32), dtype=bool)
    box[2:10, 3:12] = True
    drawer = MaskDrawer(picture, {"box": box, **preset_masks(32)}, scale=4, brush=1)
    assert drawer.source.value == "box" and np.array_equal(drawer.mask, box)  # a known mask with no interaction
    drawer.source.value = MaskDrawer.RECTANGLE
    drawer.rows.value, drawer.cols.value = (4, 20), (10, 30)
    expected = np.zeros((32, 32), dtype=bool)
    expected[4:20, 10:30] = True
    assert np.array_equal(drawer.mask, expected)
    drawer.source.value = "box"
    drawer._down(4 * 16 + 1, 4 * 16 + 1)  # paint at row 16, column 16: switches the source to the drawing
    drawer._up()
    assert drawer.source.value == MaskDrawer.DRAWN
    assert drawer.mask[16, 16] and drawer.mask.sum() == 5  # a brush of radius 1: a plus sign
    drawer._clear()
    assert not drawer.mask.any()
    with pytest.raises(ValueError, match="shape"):
        MaskDrawer(picture, {"wrong": np.zeros((8, 8), dtype=bool)})


def test_editor_app_runs_counts_steps_and_reports_errors(world, picture):
    box = np.zeros((32, 32), dtype=bool)
    box[8:24, 8:24] = True
    drawer = MaskDrawer(picture, {"box": box})
    app = EditorApp(world, picture, drawer, prompt="a red circle", judge=lambda image, mask: "something",
                    respacing="10", skip=6, num_augmentations=0, repetitions=3, seed=1)
    assert app.background_weight.disabled  # λ belongs to the local method
    result = app.run()
    assert result is not None and result.images.shape[0] == 3
    assert app.progress.value == app.progress.max == (10 - 6) * 3
    assert app.results.value and "something" in app.status.value
    assert app.results.layout.display is None  # hidden until there is something to show
    assert app.trajectory.children  # a slider over the best edit's trajectory
    same = edit(picture, box, "a red circle", world, respacing="10", skip=6, num_augmentations=0, repetitions=3,
                seed=1, progress=False)
    assert torch.equal(result.images, same.images)  # the app's run is edit() with its settings

    assert app.settings()["variant"] == "paper"
    app.variant.value = "official"
    assert app.run().settings.variant == "official"  # the dropdown reaches edit()

    app.method.value = "local"
    assert not app.background_weight.disabled
    assert app.settings()["background_weight"] == 1000.0
    app.steps.value = 20  # the skipped steps keep their share of the schedule
    assert app.skip.max == 19 and app.skip.value == 12

    app.prompt.value = "word " * 40  # too long for the toy CLIP's 20 tokens
    assert app.run() is None
    assert "InputError" in app.status.value and not app.run_button.disabled
    assert app.progress.bar_style == "danger"


def test_editor_app_shows_the_whole_picture_when_it_edits_a_window(world):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(48, 80, 3), dtype=np.uint8)
    mask = np.zeros((48, 80), dtype=bool)
    mask[30:40, 60:70] = True
    app = EditorApp(world, photo, mask, prompt="a red circle", respacing="10", skip=8, num_augmentations=0,
                    repetitions=1)
    result = app.run()
    assert result is not None and not result.window.is_whole_image
    picture = app.whole_picture.children[1].value
    assert Image.open(io.BytesIO(picture)).size == (80, 48)  # the photo's own size (under the 512 px cap)


def _all_widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all_widgets(child)


def test_drawer_and_editor_have_no_rigid_width(world, picture):
    """Where the notebook is narrow (a side panel open, Colab) nothing is cut off: every row wraps and no
    widget insists on a width in pixels (tests/test_browser.py measures the real thing at 1280 px)."""
    drawer = MaskDrawer(picture, scale=16)  # a canvas of 512 px
    app = EditorApp(world, picture, drawer, prompt="a red circle")
    for widget in [*_all_widgets(drawer), *_all_widgets(app)]:
        layout, name = widget.layout, getattr(widget, "description", "") or type(widget).__name__
        if isinstance(widget, widgets.HBox):
            row = [type(child).__name__ for child in widget.children]
            assert layout.flex_flow == "row wrap", f"a row of {row} does not wrap"
        if layout.width and layout.width.endswith("px"):
            assert layout.max_width == "100%", f"{name} is {layout.width} wide whatever the notebook's width"
        assert not (layout.max_width or "").endswith("px") or int(layout.max_width[:-2]) <= 480, name
