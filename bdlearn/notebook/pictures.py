"""Pictures as PNG bytes, what an ``ipywidgets.Image`` shows: tensors side by side, or a figure."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from bdlearn.notebook.plotting import to_display

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GAP = 4  #: white pixels between panels of one frame


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
        picture = Image.fromarray(panel).resize((panel.shape[1] * scale, panel.shape[0] * scale),
                                                Image.Resampling.NEAREST)
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



def whole_picture_png(image: np.ndarray, longest: int = 512) -> bytes:
    """PNG bytes of an HxWx3 uint8 picture, shrunk (never enlarged) to at most ``longest`` pixels a side."""
    picture = Image.fromarray(image, "RGB")
    picture.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
