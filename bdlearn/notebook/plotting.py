"""Pictures for the notebooks and the CLI: image grids, trajectories, mask overlays, animations.

Images are tensors in the models' range [−1, 1] ([3, H, W] or [B, 3, H, W]) unless said otherwise;
every function returns a matplotlib Figure (or HTML for animations) and never calls ``show``.
:func:`whole_number` and :func:`check_index` check arguments here and in the widgets; every argument is checked
before a figure is made, so a refused call leaves none open.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure
from torchvision.utils import make_grid, save_image

from bdlearn.checks import checked_flag, checked_integer, checked_real, shown
from bdlearn.errors import InputError

if TYPE_CHECKING:
    from bdlearn.pipeline import EditResult


def whole_number(name: str, value: int, low: int) -> int:
    """``value`` as an int (NumPy integers too); a ValueError naming ``name`` unless it is a whole number >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


def _figure_size(size: float) -> float:
    """``size``, the inches each picture of a figure takes, as a float; a ValueError unless a finite number > 0."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Real) or not 0 < size < math.inf:
        raise InputError(f"size must be a finite number > 0 (inches per picture), got {shown(size)}")
    return float(size)


def _checked_titles(titles: Sequence[str] | None, count: int, name: str = "titles",
                    item: str = "image") -> list[str] | None:
    """``titles`` (the argument ``name``) as a list of ``count`` strings, one per ``item``, or None; a single string
    (whose characters would title the items one by one) is refused."""
    if titles is None:
        return None
    if isinstance(titles, str) or not isinstance(titles, Iterable):
        raise TypeError(f"{name} must be a list of strings, one per {item}, got {shown(titles)}")
    titles = list(titles)
    if not all(isinstance(title, str) for title in titles):
        raise TypeError(f"{name} must be a list of strings, one per {item}, got {shown(titles)}")
    if len(titles) != count:
        raise ValueError(f"{count} {item}s but {len(titles)} {name}: give one {name[:-1]} per {item}")
    return titles


def check_index(index: int, count: int, what: str) -> None:
    """A ValueError unless ``index`` picks one of ``count`` ``what`` (negative ones count from the end)."""
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not -count <= index < count:
        raise ValueError(f"index picks one of the {count} {what}, 0 to {count - 1}; got {index!r}")


def _check_trajectory(function: str, name: str, states: torch.Tensor | None) -> None:
    """A ValueError naming ``function``'s argument ``name`` unless ``states`` is None or a trajectory, a tensor
    [steps, B, 3, H, W]."""
    if states is not None and (not isinstance(states, torch.Tensor) or states.ndim != 5 or states.shape[2] != 3):
        got = f"shape {list(states.shape)}" if isinstance(states, torch.Tensor) else shown(states)
        raise ValueError(f"{function}'s {name} must be a trajectory, a tensor [steps, B, 3, H, W] such as "
                         f"EditResult.{name} (edit with return_trajectory=True); got {got}")


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Map images from the model's [−1, 1] to [0, 1] for display, clamping outliers."""
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


#: How far a float array may stray outside [0, 1] and still be shown, clipped (arithmetic overshoots such as
#: 1.0000001); values further out are on another scale (0..255, or the model's [−1, 1]) and refused.
DISPLAY_SLACK = 0.5


def to_display(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """One image as an HxWx3 array in [0, 1]: tensors [3, H, W] in [−1, 1], arrays HxWx3 in [0, 1], and either
    as uint8 (read as value / 255) or uint16 (value / 65535, as :func:`~bdlearn.machinery.inputs.read_image` reads
    16 bits); a grey picture or a mask ([1, H, W], HxW or HxWx1) is shown grey.
    Outliers are clipped (a tensor's noise too); a float array with values more than :data:`DISPLAY_SLACK`
    outside [0, 1] is refused with the conversion it needs."""
    if isinstance(image, torch.Tensor):
        if image.ndim == 3 and image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        if image.ndim != 3 or image.shape[0] != 3:
            hint = ("pick one of a batch with images[i]" if image.ndim == 4 else
                    "a picture has 3 channels (RGB) first, a grey one or a mask 1")
            raise ValueError(f"to_display shows one image, a tensor [3, H, W]; got shape {list(image.shape)} "
                             f"({hint})")
        if image.dtype in (torch.uint8, torch.uint16):
            return (image.detach().cpu().float() / torch.iinfo(image.dtype).max).permute(1, 2, 0).numpy()
        return to_unit_range(image).permute(1, 2, 0).numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"to_display shows one image, an array HxWx3; got shape {list(array.shape)} "
                         "(a picture has 3 channels, RGB, last, a grey one or a mask 1 or none; RGBA: a[..., :3])")
    if array.dtype in (np.uint8, np.uint16):
        array = array / np.iinfo(array.dtype).max
    elif array.size:
        low, high = float(array.min()), float(array.max())
        if low < -DISPLAY_SLACK or high > 1 + DISPLAY_SLACK:
            fix = ("the model's [−1, 1]? convert with (x + 1) / 2, or pass the tensor [3, H, W]"
                   if high <= 1 + DISPLAY_SLACK else "values in 0..255? divide by 255 (or pass uint8)"
                   if high <= 255 + DISPLAY_SLACK else "values in 0..65535 (16 bits)? divide by 65535 (or pass uint16)")
            raise ValueError(f"to_display shows float arrays in [0, 1]; this one holds [{low:.4g}, {high:.4g}]: {fix}")
    return np.clip(np.asarray(array, dtype=np.float32), 0, 1)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, upscale: int = 4) -> None:
    """Save a batch [B, 3, H, W] in [−1, 1] as one PNG grid, each image enlarged ``upscale`` times."""
    grid = make_grid(to_unit_range(images), nrow=nrow, padding=1, pad_value=1.0)
    grid = torch.nn.functional.interpolate(grid[None], scale_factor=upscale, mode="nearest")[0]
    save_image(grid, str(path))


def show_images(images: Sequence[torch.Tensor | np.ndarray] | torch.Tensor, titles: Sequence[str] | None = None,
                ncols: int | None = None, size: float = 1.8) -> Figure:
    """A grid of images (at least one, each as :func:`to_display` takes it) with optional titles, a list of strings
    one per image (pixelated: toy images are small); ``ncols`` a whole number >= 1 (None: up to 8), ``size`` the
    inches per picture, a number > 0."""
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image, got none")
    titles = _checked_titles(titles, len(images))
    ncols = min(len(images), 8) if ncols is None else whole_number("ncols", ncols, 1)
    size = _figure_size(size)
    pictures = [to_display(image) for image in images]  # a refused image before any figure is drawn
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if titles else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, picture in enumerate(pictures):
        ax = axes.flat[i]
        ax.imshow(picture, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def equation_figure(terms: Sequence[torch.Tensor | np.ndarray | str], captions: Sequence[str] | None = None,
                    size: float = 1.6) -> Figure:
    """A diagram drawn from real tensors: pictures and symbols in one row, read left to right.

    Each term is an image (as for :func:`show_images`) or a string, drawn as large text between the
    pictures: an operator ("⊙", "+", "="), an arrow with a label ("→ UNet →"), a symbol. ``captions``
    (one per term, "" for none) go under the pictures, e.g. ``["$x_{fg}$", "⊙", "$m$", ...]``.
    For example the blended step ``[x_fg, "⊙", mask, "+", x_bg, "⊙", 1 − mask, "=", x_next]``.
    ``size`` (inches per picture) is a number > 0.
    """
    size = _figure_size(size)
    terms = list(terms)
    if not terms:
        raise ValueError("equation_figure needs at least one term (a picture or a symbol), got none")
    captions = _checked_titles(captions, len(terms), "captions", "term") or [""] * len(terms)
    terms = [term if isinstance(term, str) else to_display(term) for term in terms]  # refused before drawing
    widths = [max(0.35, 0.07 * max(len(line) for line in term.split("\n"))) if isinstance(term, str) else 1.0
              for term in terms]  # a picture is one unit wide, a symbol as wide as its longest line
    fig, axes = plt.subplots(1, len(terms), figsize=(size * sum(widths), size * 1.25), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, term, caption in zip(axes[0], terms, captions):
        ax.set_xticks([])
        ax.set_yticks([])
        if isinstance(term, str):
            ax.axis("off")
            ax.text(0.5, 0.5, term, ha="center", va="center", fontsize=15 if len(term) <= 2 else 10,
                    transform=ax.transAxes)
        else:  # a thin frame, so that a white picture (a mask of ones) stays visible
            ax.imshow(term, interpolation="nearest")
            for spine in ax.spines.values():
                spine.set_edgecolor("#999")
        if caption:
            ax.text(0.5, -0.06, caption, ha="center", va="top", fontsize=10, transform=ax.transAxes)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.98, bottom=0.2, wspace=0.08)
    return fig


def mask_overlay(image: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray,
                 colour: Sequence[float] = (1.0, 0.2, 0.8),
                 alpha: float = 0.45) -> np.ndarray:
    """The image (as :func:`to_display` takes it) as HxWx3 in [0, 1], the mask's region tinted: what will be edited.

    ``mask`` has the image's height and width (HxW, or with axes of 1 such as [1, H, W]); ``colour`` is three
    numbers (red, green, blue) in [0, 1]; ``alpha``, in [0, 1], is the colour's share in the tinted pixels.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1] (0: no tint, 1: the colour alone), got {alpha!r}")
    colour = _checked_colour(colour)
    picture = to_display(image).copy()
    region = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask).astype(bool)
    if _without_ones(region.shape) != _without_ones(picture.shape[:2]):
        raise ValueError(f"a mask of shape {region.shape} for a {picture.shape[0]}x{picture.shape[1]} image: "
                         "give a mask of the image's size")
    region = region.reshape(picture.shape[:2])
    picture[region] = (1 - alpha) * picture[region] + alpha * colour
    return picture


def _checked_colour(colour: Sequence[float]) -> np.ndarray:
    """``colour`` as an array of three numbers (red, green, blue), each refused unless in [0, 1]."""
    parts = list(colour) if isinstance(colour, Iterable) and not isinstance(colour, str) else []
    if len(parts) != 3:
        raise InputError(f"colour must be three numbers (red, green, blue) in [0, 1], got {shown(colour)}")
    return np.array([checked_real("colour", part, 0, 1, hint=" (red, green, blue in [0, 1]: divide 0..255 values by "
                                  "255)") for part in parts])


def _without_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape without its axes of 1, so that a mask [1, H, W] matches an image's (H, W)."""
    return tuple(side for side in shape if side != 1)


def trajectory_grid(x_t: torch.Tensor, pred_xstart: torch.Tensor | None = None, steps: Sequence[int] | None = None,
                    num_columns: int = 8, index: int = 0, size: float = 1.4) -> Figure:
    """x_t at evenly spaced steps (top row) and the predicted clean image x̂_0 beneath.

    ``x_t`` [K+1, B, 3, H, W] (the start, then after each step), ``pred_xstart`` [K, B, 3, H, W], from the same
    run (refused otherwise); ``index`` picks the batch element; ``steps`` (optional), the step index reached by
    each frame after the start, titles the frames; ``size`` (inches per picture) is a number > 0.
    """
    _check_trajectory("trajectory_grid", "x_t", x_t)
    _check_trajectory("trajectory_grid", "pred_xstart", pred_xstart)
    if pred_xstart is not None and pred_xstart.shape != (x_t.shape[0] - 1, *x_t.shape[1:]):
        raise ValueError(f"trajectory_grid's pred_xstart must hold the x̂_0 of each of x_t's {x_t.shape[0] - 1} steps, "
                         f"shape {[x_t.shape[0] - 1, *x_t.shape[1:]]} for an x_t of shape {list(x_t.shape)}; got "
                         f"{list(pred_xstart.shape)}: pass the x_t and pred_xstart of one run")
    check_index(index, x_t.shape[1], "images of the batch")
    num_columns = whole_number("num_columns", num_columns, 1)
    size = _figure_size(size)
    if steps and len(steps) < x_t.shape[0] - 1:
        raise ValueError(f"steps must give the step of each of the {x_t.shape[0] - 1} frames after the start "
                         f"(x_t has {x_t.shape[0]} frames); got {len(steps)}")
    picks = np.linspace(0, x_t.shape[0] - 1, num_columns).round().astype(int)
    rows = 2 if pred_xstart is not None else 1
    fig, axes = plt.subplots(rows, num_columns, figsize=(size * num_columns, size * rows + 0.4), squeeze=False)
    for col, k in enumerate(picks):
        axes[0, col].imshow(to_display(x_t[k, index]), interpolation="nearest")
        label = "start" if k == 0 else f"after step {steps[k - 1]}" if steps else f"k={k}"
        axes[0, col].set_title(label, fontsize=7)
        if pred_xstart is not None:
            axes[1, col].imshow(to_display(pred_xstart[max(k - 1, 0), index]), interpolation="nearest")
    axes[0, 0].set_ylabel("$x_t$")
    if pred_xstart is not None:
        axes[1, 0].set_ylabel(r"$\hat{x}_0$")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def animate_trajectory(x_t: torch.Tensor, pred_xstart: torch.Tensor | None = None, index: int = 0,
                       interval: int = 80, size: float = 2.5) -> str:
    """An HTML/JavaScript animation of x_t (and x̂_0 beside it) through the steps (no ffmpeg needed).

    ``x_t`` [K+1, B, 3, H, W], ``pred_xstart`` [K, B, 3, H, W]; ``index`` picks the batch element; ``interval``,
    the milliseconds between frames, is a whole number >= 1; ``size`` (inches per picture) a number > 0.
    """
    _check_trajectory("animate_trajectory", "x_t", x_t)
    _check_trajectory("animate_trajectory", "pred_xstart", pred_xstart)
    check_index(index, x_t.shape[1], "images of the batch")
    interval = checked_integer("interval", interval, 1, hint=" (milliseconds between frames)")
    size = _figure_size(size)
    panels = 2 if pred_xstart is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(size * panels, size), squeeze=False)
    frames = x_t.shape[0]
    images = [axes[0, 0].imshow(to_display(x_t[0, index]), interpolation="nearest")]
    axes[0, 0].set_title("$x_t$")
    if pred_xstart is not None:
        images.append(axes[0, 1].imshow(to_display(pred_xstart[0, index]), interpolation="nearest"))
        axes[0, 1].set_title(r"$\hat{x}_0$")
    for ax in axes.flat:
        ax.axis("off")

    def update(k: int):
        images[0].set_data(to_display(x_t[k, index]))
        if pred_xstart is not None:
            images[1].set_data(to_display(pred_xstart[max(k - 1, 0), index]))
        return images

    animation = FuncAnimation(fig, update, frames=frames, interval=interval, blit=False)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)
    return html


def edit_figure(result: "EditResult", top: int = 4, size: float = 2.2) -> Figure:
    """Input | mask | the best ``top`` edits, each titled with its CLIP distance, at the model's side: the
    window of the input the model edited (the subtitle says where it lies in the input). ``top`` is at least 1;
    fewer edits than ``top`` are all shown; ``size`` (inches per picture) is a number > 0."""
    from bdlearn.pipeline import EditResult  # here: importing the notebook helpers does not load the pipeline

    if not isinstance(result, EditResult):
        raise TypeError(f"edit_figure takes an EditResult (what bdlearn.edit returns), got {type(result).__name__}")
    top = min(whole_number("top", top, 1), result.images.shape[0])
    panels = [to_display(result.input), mask_overlay(result.input, result.mask)]
    panels += [to_display(result.images[i]) for i in range(top)]
    titles = ["input", "mask"] + [f"#{i + 1}  d={float(result.distances[i]):.3f}" for i in range(top)]
    fig = show_images(panels, titles, ncols=len(panels), size=size)
    window = result.window
    where = ("the whole input" if window.is_whole_image else
             f"the {window.side}x{window.side} window at ({window.left}, {window.top}) of the "
             f"{window.image_width}x{window.image_height} input")
    prompt = " ".join("".join(c if c.isprintable() else " " for c in result.prompt).split())  # no tabs or newlines
    fig.suptitle(f"“{prompt}”: {where}, edited at {window.model_side}x{window.model_side}", fontsize=10)
    fig.tight_layout()
    return fig


def evaluation_figure(table: dict) -> Figure:
    """The trade-off of an evaluation's table (``bdlearn eval merge``'s ``table.json``), one point per method:
    the judge's success rate (or, without a judge, the mean CLIP distance) against the mean background error
    outside the mask, the kind of figure the README shows for the reproduction."""
    judged = all(row["success"] is not None for row in table["methods"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in table["methods"]:
        y = row["success"] if judged else row["clip_distance"]
        ax.plot(row["background_error"], y, "s" if row["method"].startswith("blended") else "o", label=row["method"])
        ax.annotate(f"{row['edits']} edits", (row["background_error"], y), fontsize=7, textcoords="offset points",
                    xytext=(4, 4))
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlabel("mean background error outside the mask (RMS; 0 = exact)")
    if judged:
        ax.set(ylabel="success rate (judge)", ylim=(-0.02, 1.02))
    else:
        ax.set_ylabel("mean CLIP distance to the prompt (lower is closer)")
    ax.legend(fontsize=7)
    ax.set_title(f"{table['world']} world: {table['tasks']} tasks, {table['repetitions']} repetition(s) per method",
                 fontsize=10)
    fig.tight_layout()
    return fig


def similarity_heatmap(similarity: torch.Tensor | np.ndarray, images: Sequence[torch.Tensor | np.ndarray],
                       labels: Sequence[str], size: float = 0.75, annotate: bool = True) -> Figure:
    """Image–text similarities [N, M] as a heatmap, each row marked by its image, each column by its text.

    ``similarity[i, j]`` belongs to ``images[i]`` and ``labels[j]`` (e.g. cosine similarities of CLIP
    embeddings), so there is one image per row and one label per column. Taught in notebook 03. ``size``
    (inches per cell) is a number > 0; ``annotate`` (True or False) writes each value in its cell.
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    size, annotate = _figure_size(size), checked_flag("annotate", annotate)
    values = np.asarray(similarity.detach().float().cpu() if isinstance(similarity, torch.Tensor) else similarity)
    if values.ndim != 2:
        raise ValueError(f"similarity must be a matrix [number of images, number of labels], similarity[i, j] for "
                         f"images[i] and labels[j]; got shape {list(values.shape)}")
    rows, cols = values.shape
    if len(images) != rows or len(labels) != cols:
        raise ValueError(f"{len(images)} images and {len(labels)} labels for a similarity of {rows} rows and {cols} "
                         "columns: similarity[i, j] belongs to images[i] and labels[j]")
    thumbnails = [to_display(image) for image in images]  # a refused image before any figure is drawn
    fig, ax = plt.subplots(figsize=(size * cols + 2.2, size * rows + 1.6))
    heat = ax.imshow(values, cmap="viridis", aspect="equal")
    ax.set_xticks(range(cols), labels, rotation=40, ha="right", fontsize=8)
    ax.set_yticks([])
    if annotate:
        middle = (values.max() + values.min()) / 2
        for i in range(rows):
            for j in range(cols):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if values[i, j] > middle else "white")
    zoom = size * fig.dpi / max(thumbnails[0].shape[:2]) * 0.9
    for i, picture in enumerate(thumbnails):
        thumbnail = OffsetImage(picture, zoom=zoom, interpolation="nearest")
        ax.add_artist(AnnotationBbox(thumbnail, (0, i), xycoords=("axes fraction", "data"), xybox=(-size * 40, 0),
                                     boxcoords="offset points", frameon=False))
    fig.colorbar(heat, ax=ax, fraction=0.04, pad=0.02)
    fig.tight_layout()
    return fig


def zero_shot_bars(images: Sequence[torch.Tensor | np.ndarray] | torch.Tensor, labels: Sequence[str],
                   probabilities: torch.Tensor | np.ndarray, top: int = 3, truth: Sequence[str | None] | None = None,
                   titles: Sequence[str] | None = None, size: float = 2.0) -> Figure:
    """Each image above a bar chart of its ``top`` most probable labels (zero-shot CLIP).

    ``probabilities`` [N, len(labels)], N the number of images; ``top`` is at least 1 (more than the labels shows
    them all); a label equal to ``truth[i]`` is drawn green, the others grey; ``titles``, if given, a list of
    strings, one per image; ``size`` (inches per picture) a number > 0. Taught in notebook 03.
    """
    top = min(whole_number("top", top, 1), len(labels))
    size = _figure_size(size)
    images = list(images)
    titles = _checked_titles(titles, len(images))
    probs = np.asarray(probabilities.detach().float().cpu() if isinstance(probabilities, torch.Tensor)
                       else probabilities)
    count = len(images)
    if probs.shape != (count, len(labels)):
        raise ValueError(f"probabilities of shape {list(probs.shape)} for {count} images and {len(labels)} labels: "
                         "give [number of images, number of labels], probabilities[i, j] for images[i] and labels[j]")
    if truth is not None and len(truth) != count:
        raise ValueError(f"{count} images but {len(truth)} truths: give one true label (or None) per image")
    pictures = [to_display(image) for image in images]  # a refused image before any figure is drawn
    fig, axes = plt.subplots(2, count, figsize=(size * count, size * (1 + 0.22 * top) + 0.3), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 0.22 * top + 0.1]})
    for i, picture in enumerate(pictures):
        axes[0, i].imshow(picture, interpolation="nearest")
        axes[0, i].axis("off")
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=8)
        order = np.argsort(-probs[i], kind="stable")[:top]
        names = [labels[j] for j in order]
        colours = ["tab:green" if truth is not None and name == truth[i] else "tab:grey" for name in names]
        bars = axes[1, i]
        bars.barh(range(top), probs[i, order], color=colours)
        bars.set_yticks(range(top), names, fontsize=7)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        bars.tick_params(axis="x", labelsize=6)
    fig.tight_layout()
    return fig
