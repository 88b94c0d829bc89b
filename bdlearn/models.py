"""One interface for both model worlds: a diffusion UNet, a CLIP, and the defaults that suit them.

``load_world("toy")`` gives the small models bdlearn trains itself (offline, CPU);
``load_world("real")`` gives guided-diffusion's 256x256 unconditional DDPM and OpenCLIP ViT-B/16
(see :mod:`bdlearn.real`). Everything downstream (:func:`bdlearn.edit`, the notebooks, the CLI)
takes a :class:`ModelWorld` and does not care which it is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bdlearn.checkpoint import CheckpointError, load_unet
from bdlearn.clip import ClipBundle
from bdlearn.schedule import DiffusionSchedule
from bdlearn.toy import TOY_DIFFUSION, TOY_IMAGE_SIZE, TOY_UNET_CONFIG
from bdlearn.unet import UNet, UNetConfig

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
TOY_DDPM_WEIGHTS = DATA_DIR / "toy_ddpm.safetensors"


@dataclass(frozen=True)
class EditDefaults:
    """Default settings of an edit for one model world (see :func:`bdlearn.edit`)."""

    respacing: str
    skip: int
    num_augmentations: int
    repetitions: int
    batch_size: int
    clip_weight: float
    range_weight: float
    sampler: str = "ddpm"


#: The paper's settings (section 5): 100 respaced steps starting at step 75, 16 augmentations,
#: 64 repetitions, λ_CLIP = 1000, λ_range = 50.
REAL_DEFAULTS = EditDefaults(respacing="100", skip=25, num_augmentations=16, repetitions=64, batch_size=8,
                             clip_weight=1000.0, range_weight=50.0)

#: The toy world's settings, chosen by measurement: λ_CLIP and the step count by
#: benchmarks/bench_toy_defaults.py; 8 augmentations, between the 4 and 16 that
#: benchmarks/bench_edit_quality.py measures (their success rates are close; README), for the
#: speed goals of benchmarks/bench_speed.py.
TOY_DEFAULTS = EditDefaults(respacing="50", skip=15, num_augmentations=8, repetitions=8, batch_size=8,
                            clip_weight=1000.0, range_weight=50.0)


@dataclass
class ModelWorld:
    """A diffusion model and a CLIP that edit images of side ``image_size`` together."""

    name: str
    unet: UNet
    clip: ClipBundle
    image_size: int
    diffusion: dict = field(default_factory=lambda: dict(TOY_DIFFUSION))
    defaults: EditDefaults = TOY_DEFAULTS
    autocast: bool = False
    """Run the UNet in bfloat16 autocast on the CPU (faster where the CPU supports it)."""

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def schedule(self, respacing: str | None = None) -> DiffusionSchedule:
        """The diffusion schedule of this world, respaced as asked (e.g. "100")."""
        return DiffusionSchedule.create(**self.diffusion, respacing=respacing)

    def to(self, device: str | torch.device) -> "ModelWorld":
        self.unet.to(device)
        self.clip.to(device)
        return self


def load_toy_world(ddpm_path: str | Path = TOY_DDPM_WEIGHTS, clip_path: str | Path | None = None,
                   device: str | torch.device = "cpu") -> ModelWorld:
    """The toy world's trained DDPM and CLIP from ``data/``, in one call (well under 2 s on a CPU).

    ``ddpm_path`` may be any toy DDPM bdlearn trained (``bdlearn train ddpm``), of any UNet size:
    its architecture is read from the weight card beside it (:func:`toy_unet_config`).
    Raises :class:`~bdlearn.checkpoint.CheckpointError` naming the file when one is missing or
    corrupt.
    """
    from bdlearn.toy_clip import TOY_CLIP_WEIGHTS, load_toy_clip

    unet = load_unet(ddpm_path, toy_unet_config(ddpm_path), device=device).requires_grad_(False)
    clip = load_toy_clip(clip_path or TOY_CLIP_WEIGHTS).to(device)
    return ModelWorld("toy", unet, clip, TOY_IMAGE_SIZE, dict(TOY_DIFFUSION), TOY_DEFAULTS, autocast=False)


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


def load_world(name: str = "toy", device: str | torch.device | None = None) -> ModelWorld:
    """``"toy"`` (offline, CPU) or ``"real"`` (guided-diffusion 256x256 + OpenCLIP ViT-B/16)."""
    if name == "toy":
        return load_toy_world(device=device or "cpu")
    if name == "real":
        from bdlearn.real import load_real_world

        return load_real_world(device=device)
    raise ValueError(f"unknown world {name!r}; choose 'toy' or 'real'")


def weight_card(path: str | Path) -> dict:
    """The JSON card beside a weights file (configuration, training cost, metrics).

    Raises :class:`CheckpointError` where there is none: the card records the architecture and the
    training behind the weights, which growing and further training need.
    """
    card_path = Path(path).with_suffix(".json")
    if not card_path.is_file():
        raise CheckpointError(f"{path} has no card beside it ({card_path.name}): it records the UNet architecture "
                              "and the training behind the weights")
    return json.loads(card_path.read_text())

