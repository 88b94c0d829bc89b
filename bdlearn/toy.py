"""The toy world's model definitions: the small DDPM's UNet and diffusion, the small CLIP's config."""
from __future__ import annotations

from bdlearn.unet import UNetConfig
from bdlearn.world.scenes import IMAGE_SIZE

#: Side of every toy-world image, in pixels (chosen by measurement: see the README).
TOY_IMAGE_SIZE = IMAGE_SIZE

#: The diffusion the real 256x256 model was trained under: 1000 steps, linear β's.
TOY_DIFFUSION = {"steps": 1000, "schedule": "linear"}

#: The small DDPM: the same ADM family as the 256x256 model (scale-shift norm, residual
#: up/down sampling, learned σ), 1.42 M parameters, attention at 16x16 and 8x8.
TOY_UNET_CONFIG = UNetConfig(
    image_size=TOY_IMAGE_SIZE, model_channels=32, out_channels=6, num_res_blocks=1,
    attention_resolutions=(2, 4), channel_mult=(1, 2, 2), num_heads=1, num_head_channels=32,
    use_scale_shift_norm=True, resblock_updown=True, norm_groups=8,
)
