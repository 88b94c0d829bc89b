"""The CLIP side of Blended Diffusion, the same for the toy CLIP and a real open_clip model.

CLIP maps an image and a text to unit vectors (embeddings) in one space, close together when
the text describes the image. Blended Diffusion steers the diffusion model with the gradient of
D_CLIP(x̂_0, d), a distance between the embedding of the (masked, augmented) predicted image
x̂_0 and that of the prompt d (paper section 4.1). :class:`ClipBundle` keeps together what it
takes to get those embeddings: the model, its tokenizer, its input size and its normalisation.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import open_clip
import torch
import torch.nn.functional as F
from open_clip.tokenizer import SimpleTokenizer

from bdlearn.checks import shown
from bdlearn.clip.checks import check_embeddings, check_images
from bdlearn.diffusion.checks import available_device
from bdlearn.errors import InputError


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The official Blended Diffusion CLIP loss: 2·arcsin(‖a − b‖ / 2)², over the last dimension.

    ``a`` and ``b`` are normalised first. For unit vectors at an angle θ, ‖a − b‖ = 2·sin(θ/2),
    so this is θ²/2: half the squared great-circle distance on the unit sphere. It is 0 for
    equal directions and grows with θ up to π²/2 for opposite ones. ``a`` and ``b`` are embeddings of one
    width D whose other dimensions broadcast ([N, D] with [N, D] or [1, D]); integer ones are taken as floats.
    """
    check_embeddings(a, b)
    a, b = _at_least_float32(a), _at_least_float32(b)
    chord = (F.normalize(a, dim=-1) - F.normalize(b, dim=-1)).norm(dim=-1)
    return 2 * torch.arcsin((chord / 2).clamp(max=1)) ** 2


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 − cos θ between ``a`` and ``b`` over the last dimension: 0 for equal directions, 2 for opposite.
    ``a`` and ``b`` as in :func:`spherical_distance`."""
    check_embeddings(a, b)
    a, b = _at_least_float32(a), _at_least_float32(b)
    return 1 - (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(dim=-1)


def _at_least_float32(embeddings: torch.Tensor) -> torch.Tensor:
    """Embeddings of a half-precision CLIP, or integer ones, in float32 (distances need it); float64 ones stay so."""
    return embeddings.to(torch.promote_types(embeddings.dtype, torch.float32))


@dataclass
class ClipBundle:
    """An open_clip CLIP model with its tokenizer, input size and normalisation.

    Images go in as [N, 3, H, W] tensors in [−1, 1], the diffusion model's range, at any size;
    text goes in as a list of prompts. Both come out as unit-length embeddings.
    """

    model: open_clip.CLIP
    tokenizer: SimpleTokenizer
    image_size: tuple[int, int]
    """(height, width) of the images the vision tower takes."""
    mean: tuple[float, ...]
    """Per-channel mean of CLIP's input normalisation, for images in [0, 1]."""
    std: tuple[float, ...]
    """Per-channel standard deviation of CLIP's input normalisation."""

    @classmethod
    def from_model(cls, model: open_clip.CLIP, tokenizer: SimpleTokenizer) -> ClipBundle:
        """Bundle a model made by ``open_clip.create_model`` with its tokenizer, reading the
        input size and normalisation from the model's preprocessing configuration."""
        preprocess = open_clip.get_model_preprocess_cfg(model)
        size = preprocess["size"]
        image_size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        return cls(model, tokenizer, image_size, tuple(preprocess["mean"]), tuple(preprocess["std"]))

    @property
    def context_length(self) -> int:
        """Most tokens a prompt may have, counting the start and end tokens."""
        return self.tokenizer.context_length

    @property
    def logit_scale(self) -> torch.Tensor:
        """The learned temperature: logits are ``logit_scale`` times cosine similarities."""
        return self.model.logit_scale.exp()

    def to(self, device: str | torch.device) -> ClipBundle:
        """Move the model to ``device`` (in place), which must be one this machine has
        (:func:`~bdlearn.diffusion.checks.available_device`), and return the bundle."""
        self.model.to(available_device(device))
        return self

    def tokenize(self, prompts: Iterable[str]) -> torch.Tensor:
        """Token ids [N, context_length] of ``prompts``, any iterable of strings (a list, a generator, an array).

        Raises InputError for a single string, no prompts, an empty prompt, or a prompt too long for the
        context (open_clip would silently cut it short); TypeError for prompts that are not an iterable of str.
        """
        if isinstance(prompts, str):
            raise InputError(f"expected a list of prompts, got the string {prompts!r}")
        if not isinstance(prompts, Iterable):
            raise TypeError(f"prompts must be a list of strings, got {shown(prompts)}")
        prompts = list(prompts)  # read a generator once, for the checks and the tokenizer alike
        if not prompts:
            raise InputError("no prompts: expected at least one")
        for prompt in prompts:
            if not isinstance(prompt, str):
                raise TypeError(f"prompts must be strings, got {shown(prompt)}")
            if not prompt.strip():
                raise InputError("a prompt is empty")
            count = len(self.tokenizer.encode(prompt)) + 2  # + start and end of text
            if count > self.context_length:
                cut = prompt if len(prompt) <= 60 else f"{prompt[:57]}..."
                raise InputError(f"the prompt {cut!r} has {count} tokens with start and end; this CLIP takes at "
                                 f"most {self.context_length}: shorten it")
        return self.tokenizer(prompts)

    def encode_text(self, prompts: Iterable[str]) -> torch.Tensor:
        """Unit-length text embeddings [N, D] of ``prompts`` (see :meth:`tokenize` for the limits)."""
        device = self.model.logit_scale.device
        return _at_least_float32(self.model.encode_text(self.tokenize(prompts).to(device), normalize=True))

    def preprocess(self, images: torch.Tensor, normalise: bool = True) -> torch.Tensor:
        """Map images [N, 3, H, W] in [−1, 1] to CLIP's input: resized to :attr:`image_size`, normalised.

        Differentiable; downsampling uses antialiased bilinear interpolation. ``normalise=False``
        hands CLIP the [0, 1] pixels as they are, as the official code's ranking does. The images must
        be a floating-point tensor (uint8 pixels are refused: x.float() / 127.5 − 1 maps them); their
        values are not read, so pixels outside [−1, 1] pass unnoticed.
        """
        check_images("images", images, channels=3)
        images = (images + 1) / 2
        if tuple(images.shape[-2:]) != self.image_size:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", antialias=True, align_corners=False)
        if not normalise:
            return images.to(self.dtype)
        mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        return ((images - mean) / std).to(self.dtype)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the vision tower's weights, and so of its input: float16 for a model made
        with open_clip's ``precision="fp16"`` (layer norms stay float32, as in OpenAI's code)."""
        return self.model.visual.conv1.weight.dtype

    def encode_image(self, images: torch.Tensor, normalise: bool = True) -> torch.Tensor:
        """Unit-length image embeddings [N, D] of images [N, 3, H, W] in [−1, 1] (differentiable),
        in float32 from a float16 model; ``normalise`` as in :meth:`preprocess`."""
        return _at_least_float32(self.model.encode_image(self.preprocess(images, normalise), normalize=True))

    @torch.no_grad()
    def zero_shot(self, images: torch.Tensor, labels: Iterable[str]) -> torch.Tensor:
        """Zero-shot classification: probabilities [N, L] that each image shows each of the L ``labels``
        (an iterable of strings, as :meth:`tokenize` takes).

        The softmax over labels of ``logit_scale`` times the cosine similarity of image and label.
        """
        logits = self.logit_scale * self.encode_image(images) @ self.encode_text(labels).T
        return logits.softmax(dim=-1)
