"""One interface for both model worlds: a diffusion UNet, a CLIP, and the defaults that suit them.

``load_world("toy")`` gives the small models bdlearn trains itself (offline, CPU; :mod:`.toy`);
``load_world("real")`` gives guided-diffusion's 256x256 unconditional DDPM and OpenCLIP ViT-B/16
(:mod:`.real`). Everything downstream (:func:`bdlearn.edit`, the notebooks, the CLI) takes a
:class:`ModelWorld` and does not care which it is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bdlearn.checks import shown
from bdlearn.diffusion import DiffusionSchedule, UNet
from bdlearn.diffusion.checks import available_device

if TYPE_CHECKING:
    from bdlearn.clip.bundle import ClipBundle


@dataclass(frozen=True)
class EditDefaults:
    """Default settings of an edit for one model world (see :func:`bdlearn.edit`)."""

    respacing: str
    skip: int
    num_augmentations: int
    repetitions: int
    batch_size: int
    """Edits run at once where the batch is not chosen from free GPU memory (on the CPU)."""
    clip_weight: float
    range_weight: float
    sampler: str = "ddpm"


@dataclass
class ModelWorld:
    """A diffusion model and a CLIP that edit images of side ``image_size`` together.

    ``diffusion`` holds the arguments of :meth:`DiffusionSchedule.create` the UNet was trained
    under (e.g. ``{"steps": 1000, "schedule": "linear"}``).
    """

    name: str
    unet: UNet
    clip: ClipBundle
    image_size: int
    diffusion: dict
    defaults: EditDefaults
    autocast: bool = False
    """Run the UNet in bfloat16 autocast on the CPU (faster where the CPU supports it)."""
    vocabulary: frozenset[str] | None = None
    """The words its CLIP learned, where it learned only a few (the toy CLIP: its captions' words); None: any text."""

    def unknown_words(self, prompt: str) -> list[str]:
        """The words of ``prompt`` its CLIP never learned (in order, once each; none where it knows any text).

        Words are what lies between spaces, punctuation and slashes, compared in lower case; a hyphenated word
        whose parts are all known (red-square) is known, as CLIP's tokenizer splits it. ``prompt`` is a string
        (a TypeError otherwise).
        """
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {shown(prompt)}")
        if self.vocabulary is None:
            return []
        words = re.findall(r"[^\s.,;:!?\"'()\[\]/]+", prompt.lower())
        return list(dict.fromkeys(word for word in words if word not in self.vocabulary
                                  and not all(part in self.vocabulary for part in word.split("-"))))

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def schedule(self, respacing: str | int | None = None) -> DiffusionSchedule:
        """The diffusion schedule of this world, respaced as asked (e.g. "100", or 100)."""
        return DiffusionSchedule.create(**self.diffusion, respacing=respacing)

    def to(self, device: str | torch.device) -> ModelWorld:
        """Move both models to ``device``, which must be one this machine has
        (:func:`~bdlearn.diffusion.checks.available_device`)."""
        device = available_device(device)
        self.unet.to(device)
        self.clip.to(device)
        return self

