"""The toy world: the small DDPM bdlearn trained on 32x32 procedural scenes, with the toy CLIP.

Both ship inside the package (``data/``, installed as ``bdlearn/data/``: :mod:`.package_data`); the
DDPM's weight card beside its weights records its architecture and every training stage.
"""
from __future__ import annotations

from pathlib import Path

import torch

from bdlearn.diffusion import UNetConfig
from bdlearn.diffusion.checks import available_device
from bdlearn.scenes.render import CAPTION_WORDS, IMAGE_SIZE
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, weight_card
from bdlearn.worlds.package_data import DATA_DIR, shipped_file
from bdlearn.worlds.toy_clip import load_toy_clip
from bdlearn.worlds.world import EditDefaults, ModelWorld

#: Side of every toy-world image, in pixels.
TOY_IMAGE_SIZE = IMAGE_SIZE

#: The diffusion the toy DDPM was trained under, the same as the real 256x256 model's:
#: 1000 steps, linear β's.
TOY_DIFFUSION = {"steps": 1000, "schedule": "linear"}

#: The small DDPM: the same ADM family as the 256x256 model (scale-shift norm, residual
#: up/down sampling, learned σ), 1.42 M parameters, attention at 16x16 and 8x8.
TOY_UNET_CONFIG = UNetConfig(
    image_size=TOY_IMAGE_SIZE, model_channels=32, out_channels=6, num_res_blocks=1,
    attention_resolutions=(2, 4), channel_mult=(1, 2, 2), num_heads=1, num_head_channels=32,
    use_scale_shift_norm=True, resblock_updown=True, norm_groups=8,
)

#: The shipped toy DDPM's weights (its card is ``toy_ddpm.json`` beside them).
TOY_DDPM_WEIGHTS = DATA_DIR / "toy_ddpm.safetensors"

#: The toy world's edit settings, chosen by measurement (benchmarks/README.md): λ_CLIP and the
#: step count by benchmarks/bench_toy_defaults.py; 8 augmentations, between the 4 and 16 that
#: benchmarks/bench_edit_quality.py measures, for the speed goals of benchmarks/bench_speed.py.
TOY_DEFAULTS = EditDefaults(respacing="50", skip=15, num_augmentations=8, repetitions=8, batch_size=8,
                            clip_weight=1000.0, range_weight=50.0)


def load_toy_world(ddpm_path: str | Path | None = None, clip_path: str | Path | None = None,
                   device: str | torch.device = "cpu") -> ModelWorld:
    """The toy world's trained DDPM and CLIP, in one call (well under 2 s on a CPU).

    By default both come from the package's data. ``ddpm_path`` may be any toy DDPM bdlearn
    trained (``bdlearn train ddpm``), of any UNet size: its architecture is read from the weight
    card beside it (:func:`toy_unet_config`). Raises
    :class:`~bdlearn.worlds.checkpoint.CheckpointError` naming the file when one is corrupt,
    :class:`~bdlearn.worlds.package_data.PackageDataError` when the install lacks the shipped ones,
    and an :class:`~bdlearn.errors.InputError` for a ``device`` this machine lacks
    (:func:`~bdlearn.diffusion.checks.available_device`).
    """
    device = available_device(device)
    ddpm_path = ddpm_path or shipped_file(TOY_DDPM_WEIGHTS)
    unet = load_unet(ddpm_path, toy_unet_config(ddpm_path), device=device).requires_grad_(False)
    clip = load_toy_clip(clip_path).to(device)
    return ModelWorld("toy", unet, clip, TOY_IMAGE_SIZE, dict(TOY_DIFFUSION), TOY_DEFAULTS, autocast=False,
                      vocabulary=CAPTION_WORDS)


def toy_unet_config(ddpm_path: str | Path) -> UNetConfig:
    """The UNet architecture of the toy DDPM weights at ``ddpm_path``: the ``unet`` entry of the
    weight card beside them (bdlearn's trainer writes it), or :data:`TOY_UNET_CONFIG` for weights
    that have no card."""
    card_path = Path(ddpm_path).with_suffix(".json")
    if not card_path.exists():
        return TOY_UNET_CONFIG
    try:
        config = UNetConfig.from_dict(weight_card(ddpm_path)["unet"])
    except (ValueError, KeyError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"{card_path} is not a toy DDPM weight card: {error!r}") from error
    if config.image_size != TOY_IMAGE_SIZE:
        raise CheckpointError(f"{ddpm_path} was trained at {config.image_size}x{config.image_size}; "
                              f"the toy world is {TOY_IMAGE_SIZE}x{TOY_IMAGE_SIZE}")
    return config
