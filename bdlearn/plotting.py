"""Pictures: image grids, trajectory grids, mask overlays and animations for the notebooks."""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Map images from the model's [−1, 1] to [0, 1] for display, clamping outliers."""
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, upscale: int = 4) -> None:
    """Save a batch [B, 3, H, W] in [−1, 1] as one PNG grid, each image enlarged ``upscale`` times."""
    grid = make_grid(to_unit_range(images), nrow=nrow, padding=1, pad_value=1.0)
    grid = torch.nn.functional.interpolate(grid[None], scale_factor=upscale, mode="nearest")[0]
    save_image(grid, str(path))
