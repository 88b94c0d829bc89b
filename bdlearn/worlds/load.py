"""``load_world(name)``: the one entry point to both model worlds."""
from __future__ import annotations

import torch

from bdlearn.worlds.real import load_real_world
from bdlearn.worlds.toy import load_toy_world
from bdlearn.worlds.world import ModelWorld

WORLD_NAMES = ("toy", "real")


def load_world(name: str = "toy", device: str | torch.device | None = None) -> ModelWorld:
    """``"toy"`` (offline, CPU) or ``"real"`` (guided-diffusion 256x256 + OpenCLIP ViT-B/16)."""
    if name == "toy":
        return load_toy_world(device=device or "cpu")
    if name == "real":
        return load_real_world(device=device)
    raise ValueError(f"unknown world {name!r}; choose from {', '.join(map(repr, WORLD_NAMES))}")
