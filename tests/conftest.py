"""Shared test fixtures. The offline, home-clean environment is set by the root conftest.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bdlearn.diffusion.unet import UNet, UNetConfig
from bdlearn.worlds.toy import TOY_DEFAULTS, TOY_DIFFUSION
from bdlearn.worlds.toy_clip import build_toy_clip
from bdlearn.worlds.world import ModelWorld

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "guided_diffusion"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The guided-diffusion conformance fixtures; skips with a reason where they are absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(
            f"reference fixtures not found at {REFERENCE_DIR} "
            "(they live in ../shared beside the project's clone; a user's own clone has none)"
        )
    return REFERENCE_DIR


@pytest.fixture(scope="module")
def world() -> ModelWorld:
    """A tiny world with random weights: a small ADM UNet and an untrained toy CLIP (no data/ needed)."""
    torch.manual_seed(0)
    unet = UNet(UNetConfig(image_size=32, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                           attention_resolutions=(2,), num_head_channels=32)).eval().requires_grad_(False)
    clip = build_toy_clip()
    clip.model.eval().requires_grad_(False)
    return ModelWorld("tiny", unet, clip, 32, dict(TOY_DIFFUSION), TOY_DEFAULTS)
