"""``edit(image, mask, prompt)``: Blended Diffusion end to end, the function the notebooks and the CLI call.

It converts the inputs (:mod:`bdlearn.editing.inputs`), embeds the prompt with CLIP, runs the editing loop
(:mod:`bdlearn.editing.loop`) for every repetition, restores the background exactly (blended method)
and ranks the results by CLIP (:mod:`bdlearn.editing.ranking`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from bdlearn.clip.perceptual import load_lpips
from bdlearn.editing.blending import blend
from bdlearn.editing.guidance import ClipInput, Distance, GuidanceWeights
from bdlearn.editing.inputs import ImageLike, InputError, check_prompt, image_shape_of, load_image, load_mask
from bdlearn.editing.loop import Method, Sampler, guided_edit_loop
from bdlearn.editing.ranking import rank_edits
from bdlearn.worlds.load import load_world
from bdlearn.worlds.world import ModelWorld


@dataclass
class EditResult:
    """The edits of one call, best first.

    ``images`` [N, 3, S, S] in [−1, 1]; ``distances`` [N], the unaugmented CLIP distance of each
    masked edit to the prompt (lower is better); ``x_t``/``pred_xstart`` the trajectories
    ([K+1, N, ...] and [K, N, ...], ranked like the images) when asked for.
    """

    images: Tensor
    distances: Tensor
    input: Tensor
    mask: Tensor
    prompt: str
    settings: dict[str, Any]
    x_t: Tensor | None = None
    pred_xstart: Tensor | None = None
    steps: list[int] = field(default_factory=list)

    @property
    def best(self) -> Tensor:
        """The best-ranked edit [3, S, S] in [−1, 1]."""
        return self.images[0]

    def to_pil(self, index: int = 0) -> Image.Image:
        """Edit ``index`` (0 = best) as a PIL image."""
        array = ((self.images[index].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return Image.fromarray(array.permute(1, 2, 0).cpu().numpy())

    def to_numpy(self) -> np.ndarray:
        """All edits as a uint8 array [N, S, S, 3]."""
        return ((self.images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def edit(image: ImageLike, mask: ImageLike, prompt: str, world: ModelWorld | str = "toy", *,
         method: Method = "blended", respacing: str | None = None, skip: int | None = None,
         sampler: Sampler | None = None, eta: float = 0.0, num_augmentations: int | None = None,
         repetitions: int | None = None, batch_size: int | None = None, clip_weight: float | None = None,
         range_weight: float | None = None, background_weight: float = 0.0, distance: Distance = "spherical",
         clip_input: ClipInput = "pred_xstart", clip_denoised: bool = False, invert_mask: bool = False,
         seed: int = 0, return_trajectory: bool = False, progress: bool = True) -> EditResult:
    """Edit the region of ``image`` marked by ``mask`` to match ``prompt``; returns the edits ranked.

    Args:
        image: PIL image, path, or array/tensor (HxW, HxWx3/4, CxHxW; uint8 or floats in [0, 1]).
            Centre-cropped to a square and resized to the world's side (:mod:`bdlearn.editing.inputs`).
        mask: the region to edit (white / True / 1), in the same forms; binarised at half scale.
            A mask selecting everything gives plain CLIP-guided generation.
        prompt: what the region should show.
        world: a :class:`ModelWorld`, or ``"toy"`` / ``"real"`` to load one.
        method: ``"blended"`` (Blended Diffusion) or ``"local"`` (Local CLIP-guided diffusion).
        respacing, skip: the respaced schedule ("100") and how many of its noisiest steps to skip;
            the edit starts from the input noised to the remaining level.
        sampler, eta: ``"ddpm"`` or ``"ddim"`` (with η).
        num_augmentations: CLIP views per image (the first unwarped; 0 = none).
        repetitions, batch_size: how many edits to make, and how many run at once.
        clip_weight, range_weight, background_weight: λ_CLIP, λ_range and λ (local method only).
        distance, clip_input: see :class:`~bdlearn.editing.guidance.GuidanceWeights`.
        clip_denoised: clamp x̂_0 to [−1, 1] inside the step (the official code does not).
        seed: the same seed gives the same edits on the CPU, bit for bit.
        return_trajectory: keep every x_t and x̂_0 (for sliders).

    Unset options take the world's defaults (``world.defaults``).
    """
    if isinstance(world, str):
        world = load_world(world)
    defaults = world.defaults
    prompt = check_prompt(prompt)
    respacing = respacing or defaults.respacing
    skip = defaults.skip if skip is None else skip
    sampler = sampler or defaults.sampler  # type: ignore[assignment]
    repetitions = defaults.repetitions if repetitions is None else repetitions
    batch_size = min(batch_size or defaults.batch_size, repetitions)
    if repetitions < 1 or batch_size < 1:
        raise InputError("repetitions and batch_size must be at least 1")
    if background_weight and method != "local":
        raise InputError("background_weight (λ) belongs to the local method; blending keeps the background exactly")
    weights = GuidanceWeights(
        clip=defaults.clip_weight if clip_weight is None else clip_weight,
        range=defaults.range_weight if range_weight is None else range_weight,
        background=background_weight,
        num_augmentations=defaults.num_augmentations if num_augmentations is None else num_augmentations,
        distance=distance, clip_input=clip_input)
    schedule = world.schedule(respacing)

    device = world.device
    x_start = load_image(image, world.image_size).to(device)
    mask_tensor = load_mask(mask, world.image_size, invert=invert_mask, image_shape=image_shape_of(image)).to(device)
    try:
        text_embedding = world.clip.encode_text([prompt]).detach()
    except ValueError as err:
        raise InputError(str(err)) from err

    lpips_module, lpips_backend = (None, None)
    if method == "local" and weights.background > 0:
        lpips_module, lpips_backend = load_lpips()
        if lpips_module is not None:
            lpips_module = lpips_module.to(device)

    generator = torch.Generator().manual_seed(seed)
    samples, trajectories, predictions, steps = [], [], [], []
    for begin in range(0, repetitions, batch_size):
        batch = min(batch_size, repetitions - begin)
        out = guided_edit_loop(world.unet, world.clip, schedule, x_start, mask_tensor, text_embedding,
                               batch=batch, skip=skip, weights=weights, method=method, sampler=sampler, eta=eta,
                               generator=generator, lpips=lpips_module, clip_denoised=clip_denoised,
                               autocast=world.autocast, keep_trajectory=return_trajectory, progress=progress)
        final = out.samples.clamp(-1, 1)
        if method == "blended":  # the final replacement: the outside of the mask is the input, exactly
            final = blend(final, x_start.expand_as(final), mask_tensor.expand(batch, -1, -1, -1))
        samples.append(final)
        steps = out.steps
        if return_trajectory:
            trajectories.append(out.x_t)
            predictions.append(out.pred_xstart)
    images = torch.cat(samples)
    order, distances = rank_edits(world.clip, images, mask_tensor, text_embedding, distance)
    settings = {
        "world": world.name, "method": method, "respacing": respacing, "skip": skip,
        "denoising_steps": len(steps), "sampler": sampler, "eta": eta, "repetitions": repetitions,
        "batch_size": batch_size, "seed": seed, "clip_denoised": clip_denoised, **asdict(weights),
        "lpips": lpips_backend,
    }
    return EditResult(
        images=images[order].cpu(), distances=distances[order].cpu(), input=x_start[0].cpu(),
        mask=mask_tensor[0].cpu(), prompt=prompt, settings=settings,
        x_t=torch.cat(trajectories, dim=1)[:, order.cpu()] if return_trajectory else None,
        pred_xstart=torch.cat(predictions, dim=1)[:, order.cpu()] if return_trajectory else None,
        steps=steps)
