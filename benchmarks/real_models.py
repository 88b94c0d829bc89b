"""The real world's models with random weights, for the benchmarks that time or count them (no downloads).

``bench_real_step.py``, ``bench_real_device.py`` and ``bench_real_cost.py`` import it from beside them
(Python puts a script's own folder first on its path). The weights' values do not change what a step
costs, so random ones stand in for the released ones.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from bdlearn.diffusion.unet import UNet, adm256_uncond_config
from bdlearn.worlds.real import REAL_DEFAULTS, REAL_DIFFUSION, build_real_clip, build_real_unet
from bdlearn.worlds.toy_clip import build_toy_clip
from bdlearn.worlds.world import ModelWorld

#: The 256x256 model's family at 64x64 with 32 channels and one residual block per level: the
#: stand-in a smoke run times on any machine.
QUICK_UNET = adm256_uncond_config(image_size=64, model_channels=32, num_res_blocks=1, num_head_channels=32)


def random_real_world(device: str | torch.device, half_unet: bool = False, half_clip: bool = False,
                      channels_last: bool = False, stand_in: bool = False) -> ModelWorld:
    """The real world's UNet and CLIP with random weights on ``device``, frozen, in eval mode.

    ``half_unet``: the UNet's torso in float16 (guided-diffusion's ``use_fp16``); ``half_clip``: CLIP
    in float16 (layer norms in float32); ``channels_last``: the UNet in channels-last memory format.
    ``stand_in``: a :data:`QUICK_UNET` and the toy CLIP instead (which stays in float32), for a smoke run.
    On ``"meta"`` the real models cost no memory: enough to count what a step keeps and computes.
    """
    if stand_in:
        with torch.device(device):
            unet = UNet(replace(QUICK_UNET, use_fp16=half_unet))
        clip = build_toy_clip().to(device)
    else:
        unet = build_real_unet(device, use_fp16=half_unet)
        clip = build_real_clip(device, half=half_clip)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    unet.eval().requires_grad_(False)
    clip.model.eval().requires_grad_(False)
    return ModelWorld("real", unet, clip, unet.config.image_size, dict(REAL_DIFFUSION), REAL_DEFAULTS)
