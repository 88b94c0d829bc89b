"""``edit(image, mask, prompt)``: Blended Diffusion end to end, the function the notebooks and the CLI call.

It reads as the method does: the settings checked, the photo read at its own size and the square
window the model edits cut from it (:mod:`bdlearn.machinery`), the prompt embedded with CLIP, the
editing loop run for every repetition (:mod:`bdlearn.editing.loop`), a batch at a time, the outside
of the mask replaced by the input (the final replacement, blended method), the edits ranked by CLIP
(:mod:`bdlearn.editing.ranking`) and given back at the photo's size, equal to the photo outside the mask.
"""
from __future__ import annotations

import inspect
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from bdlearn.choices import ClipInput, Distance, Method, Sampler, Variant, WindowFit
from bdlearn.clip.perceptual import load_lpips
from bdlearn.editing.blending import blend
from bdlearn.editing.loop import LoopOutput, NonFiniteStep, guided_edit_loop
from bdlearn.editing.ranking import rank_edits
from bdlearn.editing.variants import VARIANTS
from bdlearn.machinery.batches import run_in_batches
from bdlearn.machinery.cost import plan_batches
from bdlearn.machinery.inputs import ImageLike, InputError, check_prompt, read_image, read_mask
from bdlearn.machinery.settings import EditSettings, resolve_settings, world_defaults
from bdlearn.machinery.window import EditWindow, Rounding, choose_window, paste_back, to_model, to_pixels
from bdlearn.worlds.load import WORLD_NAMES, shared_world
from bdlearn.worlds.world import ModelWorld


@dataclass(frozen=True)
class EditRun:
    """What an edit decided once its world was at hand, beside its settings (the CLI's report.json has both)."""

    world: str  #: the world's name
    denoising_steps: int  #: the steps the loop ran: the respaced steps less the skipped ones
    batch_size: int  #: edits run at once
    batch_size_chosen_by: str  #: who chose it (:attr:`~bdlearn.machinery.cost.BatchPlan.chosen_by`)
    batches: tuple[int, ...]  #: the batches that ran (smaller ones after running out of GPU memory)
    lpips: str | None  #: what the local method's background loss ran on (LPIPS or its fallback); else None


@dataclass
class EditResult:
    """The edits of one call, best first.

    At the model's side S (the window the model edited; what plots, trajectories and notebooks
    show): ``images`` [N, 3, S, S] in [−1, 1], ``input`` [3, S, S] and ``mask`` [1, S, S] (the
    model's mask). ``distances`` [N], the unaugmented CLIP distance of each masked edit to the
    prompt (lower is better); ``x_t``/``pred_xstart`` the trajectories ([K+1, N, ...] and
    [K, N, ...], ranked like the images) when asked for.
    ``settings``, the checked settings (unset options filled from the world's defaults); ``run``,
    what was decided with the world at hand (:class:`EditRun`: the batches, the LPIPS backend).

    At the photo's own size: ``source`` (HxWx3 uint8) and ``source_mask`` (HxW bool) as read, and
    ``window``, where the model's square lies in the photo. :meth:`full_size` and :meth:`to_pil`
    give edit ``i`` at that size, equal to ``source`` outside ``source_mask``.
    """

    images: Tensor
    distances: Tensor
    input: Tensor
    mask: Tensor
    prompt: str
    settings: EditSettings
    run: EditRun
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
        """Edit ``index`` (0 = best) at the photo's size, HxWx3 uint8.

        Blended Diffusion: the photo's own pixels outside the mask (its final replacement). The Local
        CLIP-guided baseline has no final replacement: the model's whole window goes into the photo,
        background drift included, which is what the paper compares against; so does SDEdit's.
        """
        count = self.images.shape[0]
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"an edit's index is an int, 0 (the best) to {count - 1}; got {index!r}")
        if not -count <= index < count:
            raise IndexError(f"edit {index} does not exist: this result holds {count} edits, "
                             f"0 (the best) to {count - 1}")
        region = self.source_mask if self.settings.method == "blended" else self.window.area()
        return paste_back(self.images[index], self.source, region, self.window, self._rounding)

    def to_pil(self, index: int = 0) -> Image.Image:
        """Edit ``index`` (0 = best) at the photo's size, as a PIL image."""
        return Image.fromarray(self.full_size(index), "RGB")

    def to_numpy(self) -> np.ndarray:
        """All edits at the model's side, as a uint8 array [N, S, S, 3]."""
        return to_pixels(self.images, self._rounding).permute(0, 2, 3, 1).cpu().numpy()

    @property
    def _rounding(self) -> Rounding:
        """How pixels become uint8: rounded, or truncated as the official code writes its PNGs."""
        return VARIANTS[self.settings.variant].png_rounding


def edit(image: ImageLike, mask: ImageLike, prompt: str, world: ModelWorld | str = "toy", *,
         method: Method = "blended", variant: Variant = "paper", respacing: str | None = None, skip: int | None = None,
         sampler: Sampler | None = None, eta: float = 0.0, num_augmentations: int | None = None,
         repetitions: int | None = None, batch_size: int | None = None, clip_weight: float | None = None,
         range_weight: float | None = None, background_weight: float = 0.0, distance: Distance = "spherical",
         clip_input: ClipInput | None = None, clip_denoised: bool = False, invert_mask: bool = False,
         window: WindowFit = "mask", seed: int = 0, resample: int = 1, jump: int | None = None,
         return_trajectory: bool = False, progress: bool = True) -> EditResult:
    """Edit the region of ``image`` marked by ``mask`` to match ``prompt``; returns the edits ranked.

    Args:
        image: PIL image, path, or array/tensor (HxW, HxWx3/4, CxHxW; uint8 or floats in [0, 1]), of
            any size and aspect; the edits come back at that size (:meth:`EditResult.to_pil`).
            Read by :func:`~bdlearn.machinery.inputs.read_image`: EXIF orientation applied, every PIL
            mode at its own scale (16-bit over 0..65535), at most 50 megapixels; an array in
            [−1, 1] is refused (convert it with (x + 1) / 2).
        mask: the region to edit (white / True / 1), in the same forms, of the image's aspect;
            binarised at half scale; a 0/1 integer mask is binary, and the alpha of a mask whose
            colour is uniform is the mask (:func:`~bdlearn.machinery.inputs.read_mask`). A mask
            selecting everything gives plain CLIP-guided generation.
        prompt: what the region should show. Words the world's CLIP never learned (the toy CLIP knows
            only its captions' words: :attr:`ModelWorld.vocabulary`) give a ``UserWarning``.
        world: a :class:`ModelWorld`, or ``"toy"`` / ``"real"`` to load one (once per process: later
            calls with the same name reuse it).
        method: ``"blended"`` (Blended Diffusion), ``"local"`` (Local CLIP-guided diffusion) or, beyond the
            paper, ``"sdedit"`` (SDEdit: the whole window noised and denoised, CLIP guiding all of it, the
            mask only placing the window; ``skip`` sets how much of the picture is kept).
        variant: ``"paper"``, the method as the paper describes it, or ``"official"``, as the official
            code computes it, choice for choice (:mod:`bdlearn.editing.variants`; DDPM sampler only):
            its CLIP input, augmentations, blend level, output (the last x̂_0), ranking and PNG rounding.
        resample, jump: beyond the paper, RePaint's resampling: each block of ``jump`` steps is run
            ``resample`` times, re-noised in between, to heal the seam at the mask's edge
            (:mod:`bdlearn.editing.resampling`; about ``resample`` times the UNet evaluations).
            ``resample=1``, the default, is the paper's loop; ``jump`` (default 5) only with ``resample`` ≥ 2.
        respacing, skip: the respaced schedule ("100") and how many of its noisiest steps to skip;
            the edit starts from the input noised to the remaining level.
        sampler, eta: ``"ddpm"`` or ``"ddim"`` (with η).
        num_augmentations: CLIP views per image (the first unwarped; 0 = none).
        repetitions, batch_size: how many edits to make, and how many run at once. None: on a GPU
            as many as fit in its free memory (:func:`~bdlearn.machinery.cost.plan_batches`; if it
            runs out of memory all the same, the batch is halved with a warning and the edit goes
            on), elsewhere the world's default. Which noise each edit draws depends on the batch.
        clip_weight, range_weight, background_weight: λ_CLIP, λ_range and λ (local method only).
        distance, clip_input: see :class:`~bdlearn.editing.guidance.GuidanceWeights` (``clip_input``
            None: the variant's).
        clip_denoised: clamp x̂_0 to [−1, 1] inside the step (the official code does not).
        window: which square of the image the model edits (:mod:`bdlearn.machinery.window`):
            ``"mask"``, around the mask with some context (the default), or ``"image"``, all of it.
        seed: an int in [0, 2**32); the same seed gives the same edits on the CPU, bit for bit.
        return_trajectory: keep every x_t and x̂_0 (for sliders).
        progress: first say what will run (:meth:`~bdlearn.machinery.cost.BatchPlan.describe`:
            repetitions × steps UNet evaluations, how many at once), then show a bar over them
            whose remaining time is an estimate from the steps so far (on stderr).

    Unset options take the world's defaults (``world.defaults``). Everything is checked before any
    work, and before a world given by name is loaded (:mod:`bdlearn.machinery.settings` has the
    rules): integers must be ints (``respacing`` may be one: 10 means "10"), weights and η finite
    and at least 0, η at most 1 and only with ``sampler="ddim"``, ``seed`` in [0, 2**32) (the CPU
    generator behind all the noise keeps 32 bits of a seed), ``batch_size`` at least 1. Raises
    :class:`~bdlearn.machinery.inputs.InputError` (a ``ValueError``) naming what is wrong, also
    when an edit comes out NaN or infinite (an unstable setting, or broken weights): such an edit
    is never returned.
    """
    settings = _checked_settings(
        world, method=method, variant=variant, respacing=respacing, skip=skip, sampler=sampler, eta=eta,
        num_augmentations=num_augmentations, repetitions=repetitions, batch_size=batch_size, clip_weight=clip_weight,
        range_weight=range_weight, background_weight=background_weight, distance=distance, clip_input=clip_input,
        clip_denoised=clip_denoised, invert_mask=invert_mask, window=window, seed=seed, resample=resample,
        jump=jump, return_trajectory=return_trajectory, progress=progress)
    prompt = check_prompt(prompt)
    source = read_image(image)
    source_mask = read_mask(mask, source.shape[:2], invert=settings.invert_mask)
    world = shared_world(world) if isinstance(world, str) else world
    schedule = world.schedule(settings.respacing)
    edit_window = choose_window(source_mask, world.image_size, settings.window)
    x_start, mask_tensor = (tensor.to(world.device) for tensor in to_model(source, source_mask, edit_window))
    text_embedding = _embed_prompt(world, prompt)
    _warn_of_unknown_words(world, prompt)
    weights = settings.guidance_weights()
    lpips, lpips_backend = _lpips_for(settings, world.device)

    plan = plan_batches(world, settings.repetitions, settings.denoising_steps, settings.num_augmentations,
                        settings.batch_size)
    generator = torch.Generator().manual_seed(settings.seed)

    def run_batch(batch: int, on_step: Callable[[int], object]) -> tuple[Tensor, LoopOutput]:
        try:
            out = guided_edit_loop(world.unet, world.clip, schedule, x_start, mask_tensor, text_embedding,
                                   batch=batch, skip=settings.skip, weights=weights, method=settings.method,
                                   sampler=settings.sampler, eta=settings.eta, generator=generator, lpips=lpips,
                                   clip_denoised=settings.clip_denoised, autocast=world.autocast,
                                   resample=settings.resample, jump=settings.jump,
                                   keep_trajectory=settings.return_trajectory, progress=False, on_step=on_step,
                                   variant=settings.variant)
        except NonFiniteStep as err:  # the loop stops at the first step that comes out NaN
            raise _non_finite(settings, f"at guided step {err.count} of {settings.denoising_steps} (step index "
                                        f"{err.step})") from None
        if not torch.isfinite(out.edits).all():
            raise _non_finite(settings, "at the end")
        final = out.edits.clamp(-1, 1)
        if settings.method == "blended":  # the final replacement: the outside of the mask is the input, exactly
            final = blend(final, x_start.expand_as(final), mask_tensor.expand(batch, -1, -1, -1))
        return final, out

    batches = run_in_batches(plan, generator, run_batch, progress=settings.progress,
                             description=f"{settings.method} diffusion")
    images = torch.cat([final for final, _ in batches])
    outputs = [out for _, out in batches]
    ranked_region = torch.ones_like(mask_tensor) if settings.method == "sdedit" else mask_tensor  # SDEdit: all of it
    order, distances = rank_edits(world.clip, images, ranked_region, text_embedding, settings.distance,
                                  settings.variant)
    trajectory = settings.return_trajectory
    return EditResult(
        images=images[order].cpu(), distances=distances[order].cpu(), input=x_start[0].cpu(),
        mask=mask_tensor[0].cpu(), prompt=prompt, source=source, source_mask=source_mask, window=edit_window,
        settings=settings,
        run=EditRun(world=world.name, denoising_steps=len(outputs[0].steps), batch_size=plan.batch_size,
                    batch_size_chosen_by=plan.chosen_by, batches=tuple(final.shape[0] for final, _ in batches),
                    lpips=lpips_backend),
        x_t=torch.cat([out.x_t for out in outputs], dim=1)[:, order.cpu()] if trajectory else None,
        pred_xstart=torch.cat([out.pred_xstart for out in outputs], dim=1)[:, order.cpu()] if trajectory else None,
        steps=outputs[0].steps)


def _checked_settings(world: ModelWorld | str, **options: Any) -> EditSettings:
    """:func:`edit`'s options checked against the world's defaults, before a world named by a string is loaded."""
    if isinstance(world, str):
        defaults, diffusion = world_defaults(world)
    elif isinstance(world, ModelWorld):
        defaults, diffusion = world.defaults, world.diffusion
    else:
        names = ", ".join(map(repr, WORLD_NAMES))
        raise InputError(f"world must be a ModelWorld or one of {names}, got {type(world).__name__}")
    return resolve_settings(defaults, diffusion, **options)


def checked_edit_settings(world: ModelWorld | str, **options: Any) -> EditSettings:
    """The settings :func:`edit` would run with these ``options`` (the rest at its defaults), checked as it checks
    them, without editing: for callers that must find a bad option before they start (``bdlearn eval``)."""
    defaults = {name: parameter.default for name, parameter in inspect.signature(edit).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    return _checked_settings(world, **{**defaults, **options})


def _embed_prompt(world: ModelWorld, prompt: str) -> Tensor:
    """CLIP's embedding d of the prompt, [1, D]; a prompt CLIP cannot take (too long) is an InputError."""
    try:
        return world.clip.encode_text([prompt]).detach()
    except ValueError as err:
        raise InputError(str(err)) from err


def _warn_of_unknown_words(world: ModelWorld, prompt: str) -> None:
    """A warning when the prompt has words the world's CLIP never learned (the toy CLIP knows only its captions')."""
    unknown = world.unknown_words(prompt)
    if unknown:
        named = [repr(word) for word in unknown[:5]] + ([f"{len(unknown) - 5} more"] if len(unknown) > 5 else [])
        listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        known = " ".join(sorted(world.vocabulary or ()))
        warnings.warn(f"the {world.name} world's CLIP never learned {listed}, so the edit cannot follow "
                      f"{'them' if len(unknown) > 1 else 'it'}; it knows only the words of its captions: {known}",
                      UserWarning, stacklevel=3)


def _lpips_for(settings: EditSettings, device: torch.device) -> tuple[torch.nn.Module | None, str | None]:
    """LPIPS and what it runs on, where the background loss needs it (local method, λ > 0); else (None, None)."""
    if settings.method != "local" or settings.background_weight == 0:
        return None, None
    module, backend = load_lpips()
    return (module.to(device) if module is not None else None), backend


def _non_finite(settings: EditSettings, where: str) -> InputError:
    """The error for an edit that came out NaN or infinite ``where`` ("at step index 99")."""
    return InputError(
        f"the edit came out NaN or infinite {where} (sampler {settings.sampler!r}, eta {settings.eta:g}, clip_weight "
        f"{settings.clip_weight:g}, range_weight {settings.range_weight:g}, respacing {settings.respacing!r}, skip "
        f"{settings.skip}); nothing is returned. Try smaller weights, more skipped steps or another sampler; if "
        "every setting fails, check the world's weights")
