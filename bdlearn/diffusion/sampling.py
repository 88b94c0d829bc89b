"""Unconditional sampling: run the reverse process from pure noise (DDPM algorithm 2, or DDIM).

Blended Diffusion's own loop (guidance, blending) lives in :mod:`bdlearn.editing.loop`; this is the
plain loop it extends. Taught in notebook 02.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from bdlearn.checks import check_eta_sampler, checked_integer, checked_seed
from bdlearn.choices import Sampler
from bdlearn.diffusion.checks import check_float_images, check_model_dtype
from bdlearn.diffusion.reverse import ddim_step, ddpm_step, p_mean_variance
from bdlearn.diffusion.schedule import DiffusionSchedule, model_timesteps


@dataclass
class Trajectory:
    """Every intermediate of a reverse run, for plots and sliders.

    ``x_t[k]`` is the sample after k steps (``x_t[0]`` the starting noise) and
    ``pred_xstart[k]`` the clean image predicted at step k; ``steps[k]`` is the step index.
    Shapes: x_t [K+1, B, C, H, W], pred_xstart [K, B, C, H, W].
    """

    x_t: Tensor
    pred_xstart: Tensor
    steps: list[int]


def reverse_step(model: nn.Module, schedule: DiffusionSchedule, x_t: Tensor, step: int, *,
                 sampler: Sampler = "ddpm", eta: float = 0.0, generator: torch.Generator | None = None,
                 clip_denoised: bool = True) -> tuple[Tensor, Tensor]:
    """One reverse step at step index ``step``: returns (x_{t−1}, x̂_0).

    ``x_t`` is a floating-point batch of images; ``step`` an int in [0, T); ``eta`` (η, DDIM's σ_t,
    in [0, 1]) is for ``sampler="ddim"`` only, as in :func:`sample`.
    """
    check_float_images("x_t", x_t)
    check_model_dtype("x_t", x_t, model)
    step = checked_integer("step", step, 0, schedule.num_timesteps,
                           hint=f" (the schedule has {schedule.num_timesteps} steps)")
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
    check_eta_sampler(eta, sampler)
    t = torch.full((x_t.shape[0],), step, dtype=torch.long, device=x_t.device)
    output = model(x_t, model_timesteps(schedule, t).to(x_t.device))
    pmv = p_mean_variance(schedule, output, x_t, t, clip_denoised=clip_denoised)
    noise = torch.randn(x_t.shape, generator=generator, device="cpu").to(x_t)
    if sampler == "ddpm":
        result = ddpm_step(pmv, t, noise)
    else:
        result = ddim_step(schedule, pmv, x_t, t, noise, eta=eta)
    return result.sample, result.pred_xstart


@torch.no_grad()
def sample(model: nn.Module, schedule: DiffusionSchedule, num_images: int, image_size: int, *,
           sampler: Sampler = "ddpm", eta: float = 0.0, seed: int = 0, channels: int = 3,
           return_trajectory: bool = False, progress: bool = True) -> Tensor | tuple[Tensor, Trajectory]:
    """Draw ``num_images`` images in [−1, 1] by running all of ``schedule``'s steps from x_T ~ N(0, I).

    ``num_images`` and ``image_size`` (the side of the square images, a multiple of the UNet's
    downsampling) are ints of at least 1; ``eta`` (η, DDIM's σ_t) is for ``sampler="ddim"`` only, as
    in :func:`bdlearn.edit`. The same ``seed``, in [0, 2**32), gives the same images on the CPU. With
    ``return_trajectory`` also returns a :class:`Trajectory` (kept on the CPU).
    """
    num_images = checked_integer("num_images", num_images, 1)
    image_size = checked_integer("image_size", image_size, 1)
    check_eta_sampler(eta, sampler)
    generator = torch.Generator().manual_seed(checked_seed(seed))
    device = next(model.parameters()).device
    x = torch.randn((num_images, channels, image_size, image_size), generator=generator).to(device)
    xs, preds = [x.cpu()], []
    steps = list(range(schedule.num_timesteps))[::-1]
    for step in tqdm(steps, desc=f"{sampler} sampling", disable=not progress, leave=False):
        x, pred = reverse_step(model, schedule, x, step, sampler=sampler, eta=eta, generator=generator)
        if return_trajectory:
            xs.append(x.cpu())
            preds.append(pred.cpu())
    if return_trajectory:
        return x, Trajectory(torch.stack(xs), torch.stack(preds), steps)
    return x
