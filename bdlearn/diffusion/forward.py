"""The forward (noising) process q and its posterior, for batches of images.

All functions take a :class:`~bdlearn.diffusion.schedule.DiffusionSchedule`, images shaped
(B, C, H, W) (any trailing shape works) and step indices ``t`` in [0, T): an integer tensor of B
values, or one index for all the images (an int, or a tensor of one value). The results have the
images' shape, dtype and device. Every public function checks its arguments first
(:mod:`bdlearn.diffusion.checks`): ``t`` on the CPU copy that indexing the schedule needs, the
images' shapes without reading them.
"""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from bdlearn.checks import checked_integer
from bdlearn.diffusion.checks import check_same_shape, checked_steps
from bdlearn.diffusion.schedule import DiffusionSchedule

__all__ = ["Gaussian", "gather", "q_mean_variance", "q_posterior_mean_variance", "q_sample", "q_sample_later"]


class Gaussian(NamedTuple):
    """A diagonal Gaussian N(mean, variance I), with log(variance) kept alongside."""

    mean: Tensor
    variance: Tensor
    log_variance: Tensor


def gather(buffer: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """``buffer[t]``, one value per batch element, shaped to broadcast against ``like``.

    The float64 schedule buffer is indexed first and only then cast to ``like``'s dtype and
    moved to its device (so devices without float64 work, and the result is the float64
    value rounded once). The shape is (B, 1, 1, ...), with as many dimensions as ``like``.
    """
    values = buffer[t.cpu()].to(like.dtype).to(like.device)  # a no-op .cpu() for indices already checked
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(schedule: DiffusionSchedule, x_start: Tensor, t: Tensor | int, noise: Tensor) -> Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I) as x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε (DDPM eq. 4).

    ``t`` holds the step index of each image, or one for them all: an int, or an integer tensor of
    B values or of one, each in [0, T). ``noise`` is ε ~ N(0, I), of ``x_start``'s shape, passed in
    so that the draw is reproducible.
    """
    t = checked_steps(schedule, t, x_start.shape[0])
    check_same_shape("noise", noise, "x_start", x_start)
    return (
        gather(schedule.sqrt_alphas_cumprod, t, x_start) * x_start
        + gather(schedule.sqrt_one_minus_alphas_cumprod, t, x_start) * noise
    )


def q_sample_later(schedule: DiffusionSchedule, x_s: Tensor, s: int, t: int, noise: Tensor) -> Tensor:
    """Draw x_t ~ q(x_t | x_s) for step indices −1 ≤ s < t: the forward process run on from x_s.

    q(x_t | x_s) = N(√(ᾱ_t/ᾱ_s) x_s, (1 − ᾱ_t/ᾱ_s) I): the steps s+1 … t of the Markov chain in one
    draw (DDPM eq. 2, composed), with ᾱ_{−1} = 1 for the data x_0 (what the last reverse step gives).
    In a respaced schedule ᾱ are the original chain's at the kept timesteps, so the ratio is exact.
    RePaint's resampling re-noises with it (:mod:`bdlearn.editing.resampling`). ``s`` and ``t`` are
    ints; ``noise`` is ε ~ N(0, I) of ``x_s``'s shape.
    """
    order = f" (need -1 <= s < t < {schedule.num_timesteps})"
    s = checked_integer("s", s, -1, schedule.num_timesteps - 1, hint=order)
    t = checked_integer("t", t, s + 1, schedule.num_timesteps, hint=order)
    check_same_shape("noise", noise, "x_s", x_s)
    alpha_bar_s = 1.0 if s < 0 else float(schedule.alphas_cumprod[s])
    ratio = float(schedule.alphas_cumprod[t]) / alpha_bar_s
    return ratio ** 0.5 * x_s + (1.0 - ratio) ** 0.5 * noise


def q_mean_variance(schedule: DiffusionSchedule, x_start: Tensor, t: Tensor | int) -> Gaussian:
    """The distribution q(x_t | x_0) = N(√ᾱ_t x_0, (1-ᾱ_t) I) (DDPM eq. 4)."""
    t = checked_steps(schedule, t, x_start.shape[0])
    return Gaussian(
        mean=gather(schedule.sqrt_alphas_cumprod, t, x_start) * x_start,
        variance=gather(1.0 - schedule.alphas_cumprod, t, x_start).expand_as(x_start),
        log_variance=gather(schedule.log_one_minus_alphas_cumprod, t, x_start).expand_as(x_start),
    )


def q_posterior_mean_variance(
    schedule: DiffusionSchedule, x_start: Tensor, x_t: Tensor, t: Tensor | int
) -> Gaussian:
    """The posterior q(x_{t-1} | x_t, x_0) = N(μ̃_t(x_t, x_0), β̃_t I) (DDPM eqs. 6-7).

    μ̃_t = √ᾱ_{t-1} β_t / (1-ᾱ_t) · x_0 + √α_t (1-ᾱ_{t-1}) / (1-ᾱ_t) · x_t and
    β̃_t = (1-ᾱ_{t-1}) / (1-ᾱ_t) · β_t; the log-variance is the clipped one (see
    ``DiffusionSchedule.posterior_log_variance_clipped``), finite at the first step. ``x_start``
    has ``x_t``'s shape.
    """
    t = checked_steps(schedule, t, x_t.shape[0])
    check_same_shape("x_start", x_start, "x_t", x_t)
    mean = (
        gather(schedule.posterior_mean_coef1, t, x_t) * x_start
        + gather(schedule.posterior_mean_coef2, t, x_t) * x_t
    )
    return Gaussian(
        mean=mean,
        variance=gather(schedule.posterior_variance, t, x_t).expand_as(x_t),
        log_variance=gather(schedule.posterior_log_variance_clipped, t, x_t).expand_as(x_t),
    )
