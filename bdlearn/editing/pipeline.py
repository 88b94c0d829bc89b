"""``edit(image, mask, prompt)``: Blended Diffusion end to end, the function the notebooks and the CLI call.

It reads the inputs at the photo's own size (:mod:`bdlearn.editing.inputs`), cuts the square window
the model edits (:mod:`bdlearn.editing.window`), embeds the prompt with CLIP, runs the editing loop
(:mod:`bdlearn.editing.loop`) for every repetition, restores the background exactly (blended method),
ranks the results by CLIP (:mod:`bdlearn.editing.ranking`) and gives each edit back at the photo's
size, equal to the photo outside the mask.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from bdlearn.clip.perceptual import load_lpips
from bdlearn.editing.blending import blend
from bdlearn.editing.cost import BatchPlan, plan_batches
from bdlearn.editing.guidance import ClipInput, Distance, GuidanceWeights
from bdlearn.editing.inputs import (
    ImageLike,
    InputError,
    check_prompt,
    read_image,
    read_mask,
)
from bdlearn.editing.loop import Method, Sampler, guided_edit_loop, start_step
from bdlearn.editing.ranking import rank_edits
from bdlearn.editing.settings import named_world, resolve_settings
from bdlearn.editing.window import (
    EditWindow,
    WindowFit,
    choose_window,
    paste_back,
    to_model,
)
from bdlearn.worlds.load import load_world
from bdlearn.worlds.world import ModelWorld


@dataclass
class EditResult:
    """The edits of one call, best first.

    At the model's side S (the window the model edited; what plots, trajectories and notebooks
    show): ``images`` [N, 3, S, S] in [−1, 1], ``input`` [3, S, S] and ``mask`` [1, S, S] (the
    model's mask). ``distances`` [N], the unaugmented CLIP distance of each masked edit to the
    prompt (lower is better); ``x_t``/``pred_xstart`` the trajectories ([K+1, N, ...] and
    [K, N, ...], ranked like the images) when asked for.

    At the photo's own size: ``source`` (HxWx3 uint8) and ``source_mask`` (HxW bool) as read, and
    ``window``, where the model's square lies in the photo. :meth:`full_size` and :meth:`to_pil`
    give edit ``i`` at that size, equal to ``source`` outside ``source_mask``.
    """

    images: Tensor
    distances: Tensor
    input: Tensor
    mask: Tensor
    prompt: str
    settings: dict[str, Any]
    source: np.ndarray
    source_mask: np.ndarray
    window: EditWindow
    x_t: Tensor | None = None
    pred_xstart: Tensor | None = None
    steps: list[int] = field(default_factory=list)

    @property
    def best(self) -> Tensor:
        """The best-ranked edit at the model's side, [3, S, S] in [−1, 1]."""
        return self.images[0]

    def full_size(self, index: int = 0) -> np.ndarray:
        """Edit ``index`` (0 = best) at the photo's size: HxWx3 uint8, the photo's own pixels outside the mask."""
        return paste_back(self.images[index], self.source, self.source_mask, self.window)

    def to_pil(self, index: int = 0) -> Image.Image:
        """Edit ``index`` (0 = best) at the photo's size, as a PIL image."""
        return Image.fromarray(self.full_size(index), "RGB")

    def to_numpy(self) -> np.ndarray:
        """All edits at the model's side, as a uint8 array [N, S, S, 3]."""
        return ((self.images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _smaller_batch(plan: BatchPlan, batch: int, device: torch.device) -> int:
    """The batch to retry with after running out of GPU memory with ``batch`` edits at once: half
    of it, with a warning. A batch the user chose is not changed behind their back: an error says
    what to do instead, as it does when a single edit does not fit."""
    torch.cuda.empty_cache()
    if plan.chosen_by == "you":
        raise InputError(f"out of memory on {device} with batch_size={batch} (edits at once); pass a smaller "
                         "batch_size (--batch-size), or leave it unset for bdlearn to choose one that fits")
    if batch == 1:
        raise InputError(f"out of memory on {device} even with one edit at a time; free GPU memory (other "
                         "notebooks or processes using it) or use fewer augmentations")
    smaller = batch // 2
    warnings.warn(f"out of memory on {device} with {batch} edits at once; going on with {smaller} at a time",
                  RuntimeWarning, stacklevel=3)
    return smaller


#: Worlds that edit() loaded by name, kept for the rest of the process, so that a notebook calling
#: ``edit(..., world="real")`` again and again reads the 2.2 GB of weights once.
_WORLDS_BY_NAME: dict[str, ModelWorld] = {}


def _world_named(name: str) -> ModelWorld:
    if name not in _WORLDS_BY_NAME:
        _WORLDS_BY_NAME[name] = load_world(name)
    return _WORLDS_BY_NAME[name]


def edit(image: ImageLike, mask: ImageLike, prompt: str, world: ModelWorld | str = "toy", *,
         method: Method = "blended", respacing: str | None = None, skip: int | None = None,
         sampler: Sampler | None = None, eta: float = 0.0, num_augmentations: int | None = None,
         repetitions: int | None = None, batch_size: int | None = None, clip_weight: float | None = None,
         range_weight: float | None = None, background_weight: float = 0.0, distance: Distance = "spherical",
         clip_input: ClipInput = "pred_xstart", clip_denoised: bool = False, invert_mask: bool = False,
         window: WindowFit = "mask", seed: int = 0, return_trajectory: bool = False,
         progress: bool = True) -> EditResult:
    """Edit the region of ``image`` marked by ``mask`` to match ``prompt``; returns the edits ranked.

    Args:
        image: PIL image, path, or array/tensor (HxW, HxWx3/4, CxHxW; uint8 or floats in [0, 1]), of
            any size and aspect; the edits come back at that size (:meth:`EditResult.to_pil`).
            Read by :func:`~bdlearn.editing.inputs.read_image`: EXIF orientation applied, every PIL
            mode at its own scale (16-bit over 0..65535), at most 50 megapixels; an array in
            [−1, 1] is refused (convert it with (x + 1) / 2).
        mask: the region to edit (white / True / 1), in the same forms, of the image's aspect;
            binarised at half scale; a 0/1 integer mask is binary, and the alpha of a mask whose
            colour is uniform is the mask (:func:`~bdlearn.editing.inputs.read_mask`). A mask
            selecting everything gives plain CLIP-guided generation.
        prompt: what the region should show.
        world: a :class:`ModelWorld`, or ``"toy"`` / ``"real"`` to load one (once per process: later
            calls with the same name reuse it).
        method: ``"blended"`` (Blended Diffusion) or ``"local"`` (Local CLIP-guided diffusion).
        respacing, skip: the respaced schedule ("100") and how many of its noisiest steps to skip;
            the edit starts from the input noised to the remaining level.
        sampler, eta: ``"ddpm"`` or ``"ddim"`` (with η).
        num_augmentations: CLIP views per image (the first unwarped; 0 = none).
        repetitions, batch_size: how many edits to make, and how many run at once. None: on a GPU
            as many as fit in its free memory (:func:`~bdlearn.editing.cost.plan_batches`; if it
            runs out of memory all the same, the batch is halved with a warning and the edit goes
            on), elsewhere the world's default. Which noise each edit draws depends on the batch.
        clip_weight, range_weight, background_weight: λ_CLIP, λ_range and λ (local method only).
        distance, clip_input: see :class:`~bdlearn.editing.guidance.GuidanceWeights`.
        clip_denoised: clamp x̂_0 to [−1, 1] inside the step (the official code does not).
        window: which square of the image the model edits (:mod:`bdlearn.editing.window`):
            ``"mask"``, around the mask with some context (the default), or ``"image"``, all of it.
        seed: an int in [0, 2**32); the same seed gives the same edits on the CPU, bit for bit.
        return_trajectory: keep every x_t and x̂_0 (for sliders).
        progress: first say what will run (:meth:`~bdlearn.editing.cost.BatchPlan.describe`:
            repetitions × steps UNet evaluations, how many at once), then show a bar over them
            whose remaining time is an estimate from the steps so far (on stderr).

    Unset options take the world's defaults (``world.defaults``). Everything is checked before any
    work, and before a world given by name is loaded (:mod:`bdlearn.editing.settings` has the
    rules): integers must be ints (``respacing`` may be one: 10 means "10"), weights and η finite
    and at least 0, η at most 1 and only with ``sampler="ddim"``, ``seed`` in [0, 2**32) (the CPU
    generator behind all the noise keeps 32 bits of a seed), ``batch_size`` at least 1. Raises :class:`~bdlearn.editing.inputs.InputError` (a ``ValueError``) naming what is
    wrong, also when an edit comes out NaN or infinite (an unstable setting, or broken weights):
    such an edit is never returned.
    """
    if isinstance(world, str):
        defaults, diffusion = named_world(world)
    elif isinstance(world, ModelWorld):
        defaults, diffusion = world.defaults, world.diffusion
    else:
        raise InputError(f"world must be 'toy', 'real' or a ModelWorld, got {type(world).__name__}")
    checked = resolve_settings(
        defaults, diffusion, method=method, respacing=respacing, skip=skip, sampler=sampler, eta=eta,
        num_augmentations=num_augmentations, repetitions=repetitions, batch_size=batch_size,
        clip_weight=clip_weight, range_weight=range_weight, background_weight=background_weight,
        distance=distance, clip_input=clip_input, clip_denoised=clip_denoised, invert_mask=invert_mask,
        window=window, seed=seed, return_trajectory=return_trajectory, progress=progress)
    method, respacing, skip, sampler, eta = checked.method, checked.respacing, checked.skip, checked.sampler, checked.eta
    repetitions, batch_size, seed = checked.repetitions, checked.batch_size, checked.seed
    clip_denoised, window, return_trajectory = checked.clip_denoised, checked.window, checked.return_trajectory
    weights = GuidanceWeights(clip=checked.clip_weight, range=checked.range_weight,
                              background=checked.background_weight, num_augmentations=checked.num_augmentations,
                              distance=checked.distance, clip_input=checked.clip_input)
    prompt = check_prompt(prompt)
    source = read_image(image)
    source_mask = read_mask(mask, source.shape[:2], invert=checked.invert_mask)

    if isinstance(world, str):
        world = _world_named(world)
    schedule = world.schedule(respacing)
    device = world.device
    edit_window = choose_window(source_mask, world.image_size, window)
    x_start, mask_tensor = (tensor.to(device) for tensor in to_model(source, source_mask, edit_window))
    try:
        text_embedding = world.clip.encode_text([prompt]).detach()
    except ValueError as err:
        raise InputError(str(err)) from err

    lpips_module, lpips_backend = (None, None)
    if method == "local" and weights.background > 0:
        lpips_module, lpips_backend = load_lpips()
        if lpips_module is not None:
            lpips_module = lpips_module.to(device)

    plan = plan_batches(world, repetitions, start_step(schedule, skip) + 1, weights.num_augmentations, batch_size)
    generator = torch.Generator().manual_seed(seed)
    samples, trajectories, predictions, steps, batches = [], [], [], [], []
    batch_size = plan.batch_size
    with tqdm(total=plan.unet_evaluations, desc=f"{method} diffusion", unit="edit-step", leave=False,
              disable=not checked.progress, file=sys.stderr) as bar:
        if checked.progress:
            bar.write(plan.describe(), file=sys.stderr)
        begin = 0
        while begin < repetitions:
            batch = min(batch_size, repetitions - begin)
            state = generator.get_state()
            try:
                out = guided_edit_loop(world.unet, world.clip, schedule, x_start, mask_tensor, text_embedding,
                                       batch=batch, skip=skip, weights=weights, method=method, sampler=sampler,
                                       eta=eta, generator=generator, lpips=lpips_module, clip_denoised=clip_denoised,
                                       autocast=world.autocast, keep_trajectory=return_trajectory, progress=False,
                                       on_step=bar.update)
            except RuntimeError as err:  # torch.cuda.OutOfMemoryError, or cuDNN's and cuBLAS's own words
                if not isinstance(err, torch.cuda.OutOfMemoryError) and "out of memory" not in str(err):
                    raise
                out = None  # handled below, once the failed attempt's tensors are released
            if out is None:
                batch_size = _smaller_batch(plan, batch, device)
                generator.set_state(state)  # the retry draws the same noise
                bar.update(begin * plan.steps - bar.n)  # back to where this batch began
                continue
            if not torch.isfinite(out.samples).all():
                raise InputError(
                    f"the edit came out NaN or infinite (sampler {sampler!r}, eta {eta:g}, clip_weight "
                    f"{weights.clip:g}, range_weight {weights.range:g}, respacing {respacing!r}); nothing is "
                    "returned. Try smaller weights or another sampler; if every setting fails, check the "
                    "world's weights")
            final = out.samples.clamp(-1, 1)
            if method == "blended":  # the final replacement: the outside of the mask is the input, exactly
                final = blend(final, x_start.expand_as(final), mask_tensor.expand(batch, -1, -1, -1))
            samples.append(final)
            batches.append(batch)
            steps = out.steps
            if return_trajectory:
                trajectories.append(out.x_t)
                predictions.append(out.pred_xstart)
            begin += batch
    images = torch.cat(samples)
    order, distances = rank_edits(world.clip, images, mask_tensor, text_embedding, distance)
    settings = {
        "world": world.name, "method": method, "respacing": respacing, "skip": skip,
        "denoising_steps": len(steps), "sampler": sampler, "eta": eta, "repetitions": repetitions,
        "batch_size": plan.batch_size, "batch_size_chosen_by": plan.chosen_by, "batches": batches, "seed": seed, "clip_denoised": clip_denoised, **asdict(weights),
        "lpips": lpips_backend, "window_fit": window, "window": edit_window.as_dict(),
    }
    return EditResult(
        images=images[order].cpu(), distances=distances[order].cpu(), input=x_start[0].cpu(),
        mask=mask_tensor[0].cpu(), prompt=prompt, settings=settings, source=source, source_mask=source_mask,
        window=edit_window,
        x_t=torch.cat(trajectories, dim=1)[:, order.cpu()] if return_trajectory else None,
        pred_xstart=torch.cat(predictions, dim=1)[:, order.cpu()] if return_trajectory else None,
        steps=steps)
