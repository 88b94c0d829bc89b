"""The learned reverse process p_θ(x_{t-1} | x_t), and one sampling step of DDPM and of DDIM.

These functions take the network's OUTPUT, not the network: the caller evaluates the UNet once
(with gradients, when it guides) and hands the result to :func:`p_mean_variance`; the same
evaluation can then feed a guidance loss on ``pred_xstart`` and the step itself.

The network predicts the noise ε_θ(x_t, t) that was mixed into x_t, and, with a learned
variance, one more value v per channel (IDDPM eq. 15). Conventions as in
:mod:`bdlearn.diffusion.forward`: images (B, C, H, W), ``t`` step indices in [0, T), an integer
tensor of B values or one index for all (an int too). Every public function checks its arguments
first (:mod:`bdlearn.diffusion.checks`): the tensors it combines must have the same shape (nothing
is broadcast silently), ``t`` is read on the CPU copy that indexing the schedule needs.
"""
from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

from bdlearn.checks import check_eta_sampler, checked_flag
from bdlearn.diffusion.checks import check_model_output, check_same_shape, checked_steps
from bdlearn.diffusion.forward import gather, q_posterior_mean_variance
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.errors import InputError

__all__ = [
    "PMeanVariance",
    "StepOutput",
    "condition_mean",
    "condition_score",
    "ddim_step",
    "ddpm_step",
    "p_mean_variance",
    "predict_eps_from_xstart",
    "predict_xstart_from_eps",
]


class PMeanVariance(NamedTuple):
    """p_θ(x_{t-1} | x_t) = N(mean, variance I), and the predictions it was built from."""

    mean: Tensor  #: μ_θ(x_t, t)
    variance: Tensor  #: Σ_θ(x_t, t)
    log_variance: Tensor  #: log Σ_θ(x_t, t)
    pred_xstart: Tensor  #: x̂_0, the predicted clean image (clamped to [-1, 1] when asked)
    eps: Tensor  #: ε, the predicted noise (as the network gave it, or as guidance changed it)


class StepOutput(NamedTuple):
    """The result of one reverse step: the sample x_{t-1} and the x̂_0 it was built from."""

    sample: Tensor
    pred_xstart: Tensor


def predict_xstart_from_eps(schedule: DiffusionSchedule, x_t: Tensor, t: Tensor | int, eps: Tensor) -> Tensor:
    """x̂_0 = (x_t - √(1-ᾱ_t) ε) / √ᾱ_t = √(1/ᾱ_t) x_t - √(1/ᾱ_t - 1) ε  (DDPM eq. 4 solved for x_0);
    ``eps`` has ``x_t``'s shape."""
    t = checked_steps(schedule, t, x_t.shape[0])
    check_same_shape("eps", eps, "x_t", x_t)
    return (
        gather(schedule.sqrt_recip_alphas_cumprod, t, x_t) * x_t
        - gather(schedule.sqrt_recipm1_alphas_cumprod, t, x_t) * eps
    )


def predict_eps_from_xstart(schedule: DiffusionSchedule, x_t: Tensor, t: Tensor | int, pred_xstart: Tensor) -> Tensor:
    """ε = (√(1/ᾱ_t) x_t - x̂_0) / √(1/ᾱ_t - 1), the inverse of :func:`predict_xstart_from_eps`;
    ``pred_xstart`` has ``x_t``'s shape."""
    t = checked_steps(schedule, t, x_t.shape[0])
    check_same_shape("pred_xstart", pred_xstart, "x_t", x_t)
    return (
        gather(schedule.sqrt_recip_alphas_cumprod, t, x_t) * x_t - pred_xstart
    ) / gather(schedule.sqrt_recipm1_alphas_cumprod, t, x_t)


def p_mean_variance(
    schedule: DiffusionSchedule,
    model_output: Tensor,
    x_t: Tensor,
    t: Tensor | int,
    *,
    clip_denoised: bool = True,
    learned_sigma: bool = True,
    fixed_variance: Literal["small", "large"] = "small",
) -> PMeanVariance:
    """The Gaussian p_θ(x_{t-1} | x_t) from the network's output ``model_output``.

    Mean: the network's ε gives x̂_0 (:func:`predict_xstart_from_eps`), optionally clamped to
    [-1, 1] (``clip_denoised``), and μ_θ = μ̃_t(x_t, x̂_0), the posterior mean (DDPM eq. 7).

    Variance: with ``learned_sigma`` the output has 2C channels, ε then v ∈ [-1, 1], and
    log Σ_θ = frac · log β_t + (1 - frac) · log β̃_t with frac = (v + 1) / 2 (IDDPM eq. 15).
    Otherwise the output is ε alone and Σ is fixed (DDPM section 3.2): ``"small"`` is β̃_t,
    ``"large"`` is β_t (with β̃ of the second step at the first step, where β̃ would be 0).
    ``model_output`` has ``x_t``'s batch and size; ``clip_denoised`` and ``learned_sigma`` are bools.
    """
    t = checked_steps(schedule, t, x_t.shape[0])
    learned_sigma = checked_flag("learned_sigma", learned_sigma)
    clip_denoised = checked_flag("clip_denoised", clip_denoised)
    check_model_output(model_output, x_t, learned_sigma)
    channels = x_t.shape[1]
    if learned_sigma:
        eps, v = model_output.split(channels, dim=1)
        min_log = gather(schedule.posterior_log_variance_clipped, t, x_t)
        max_log = gather(torch.log(schedule.betas), t, x_t)
        frac = (v + 1) / 2
        log_variance = frac * max_log + (1 - frac) * min_log
        variance = torch.exp(log_variance)
    else:
        eps = model_output
        if fixed_variance == "small":
            variances = schedule.posterior_variance
            log_variances = schedule.posterior_log_variance_clipped
        elif fixed_variance == "large":
            variances = torch.cat([schedule.posterior_variance[1:2], schedule.betas[1:]])
            log_variances = torch.log(variances)
        else:
            raise ValueError(f"fixed_variance must be 'small' or 'large', got {fixed_variance!r}")
        variance = gather(variances, t, x_t).expand_as(x_t)
        log_variance = gather(log_variances, t, x_t).expand_as(x_t)

    pred_xstart = predict_xstart_from_eps(schedule, x_t, t, eps)
    if clip_denoised:
        pred_xstart = pred_xstart.clamp(-1, 1)
    mean = q_posterior_mean_variance(schedule, pred_xstart, x_t, t).mean
    return PMeanVariance(mean, variance, log_variance, pred_xstart, eps)


def condition_mean(pmv: PMeanVariance, grad: Tensor) -> Tensor:
    """Classifier guidance on the mean: μ_θ + Σ_θ ∇_{x_t} log p(y | x_t).

    ``grad`` is the gradient of the guidance objective (already scaled) with respect to x_t
    (Dhariwal & Nichol 2021, algorithm 1), of the mean's shape; the variance is unchanged.
    """
    check_same_shape("grad", grad, "pmv.mean", pmv.mean)
    return pmv.mean + pmv.variance * grad.to(pmv.mean.dtype)


def condition_score(
    schedule: DiffusionSchedule, pmv: PMeanVariance, x_t: Tensor, t: Tensor | int, grad: Tensor
) -> PMeanVariance:
    """Classifier guidance on the score, for DDIM: ε' = ε - √(1-ᾱ_t) ∇_{x_t} log p(y | x_t).

    ε is recovered from ``pmv.pred_xstart`` (so it reflects any clamping), shifted by the
    gradient, and turned back into x̂_0 and the posterior mean (Dhariwal & Nichol 2021,
    algorithm 2). The new x̂_0 is not clamped again; the variance is unchanged. ``grad`` has
    ``x_t``'s shape.
    """
    t = checked_steps(schedule, t, x_t.shape[0])
    check_same_shape("grad", grad, "x_t", x_t)
    eps = predict_eps_from_xstart(schedule, x_t, t, pmv.pred_xstart)
    eps = eps - gather(schedule.sqrt_one_minus_alphas_cumprod, t, x_t) * grad.to(eps.dtype)
    pred_xstart = predict_xstart_from_eps(schedule, x_t, t, eps)
    mean = q_posterior_mean_variance(schedule, pred_xstart, x_t, t).mean
    return pmv._replace(mean=mean, pred_xstart=pred_xstart, eps=eps)


def _nonzero_step_mask(t: Tensor, like: Tensor) -> Tensor:
    """1 where a batch element is not at step index 0, else 0: the last step adds no noise."""
    return (t != 0).to(like.dtype).to(like.device).reshape(-1, *([1] * (like.ndim - 1)))


def ddpm_step(pmv: PMeanVariance, t: Tensor | int, noise: Tensor, *, grad: Tensor | None = None) -> StepOutput:
    """Ancestral sampling (DDPM algorithm 2): x_{t-1} = μ_θ + exp(½ log Σ_θ) z, z = ``noise``.

    ``noise`` (z ~ N(0, I)) has the mean's shape, and ``t`` one index per image or one for all;
    no noise is added for batch elements at step index 0. With ``grad``, the mean is first
    shifted by :func:`condition_mean`.
    """
    t = checked_steps(None, t, pmv.mean.shape[0])
    check_same_shape("noise", noise, "pmv.mean", pmv.mean)
    mean = pmv.mean if grad is None else condition_mean(pmv, grad)
    sample = mean + _nonzero_step_mask(t, noise) * torch.exp(0.5 * pmv.log_variance) * noise
    return StepOutput(sample, pmv.pred_xstart)


def ddim_step(
    schedule: DiffusionSchedule,
    pmv: PMeanVariance,
    x_t: Tensor,
    t: Tensor | int,
    noise: Tensor | None = None,
    *,
    eta: float = 0.0,
    grad: Tensor | None = None,
) -> StepOutput:
    """One DDIM step (Song et al. 2021, eq. 12):

    x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1 - ᾱ_{t-1} - σ_t²) ε + σ_t z,
    σ_t(η) = η √((1-ᾱ_{t-1}) / (1-ᾱ_t)) √(1 - ᾱ_t / ᾱ_{t-1})  (eq. 16).

    η ∈ [0, 1]: η = 0 is deterministic (``noise`` may be left out); η = 1 has DDPM's posterior
    variance; beyond 1 the square root would be of a negative number. ``x_t`` and ``noise`` have
    the shape of ``pmv``'s x̂_0. ε is recomputed from x̂_0, so it agrees with a clamped x̂_0. With
    ``grad``, :func:`condition_score` is applied first. No noise is added at step index 0.
    """
    t = checked_steps(schedule, t, x_t.shape[0])
    check_eta_sampler(eta, "ddim")
    check_same_shape("x_t", x_t, "pmv.pred_xstart", pmv.pred_xstart)
    if noise is not None:
        check_same_shape("noise", noise, "x_t", x_t)
    elif eta != 0:
        raise InputError(f"a DDIM step with eta > 0 (η = {eta:g}) needs noise")
    if grad is not None:
        pmv = condition_score(schedule, pmv, x_t, t, grad)
    eps = predict_eps_from_xstart(schedule, x_t, t, pmv.pred_xstart)
    alphas_cumprod, alphas_cumprod_prev = schedule.alphas_cumprod, schedule.alphas_cumprod_prev
    sigmas = (
        eta
        * torch.sqrt((1 - alphas_cumprod_prev) / (1 - alphas_cumprod))
        * torch.sqrt(1 - alphas_cumprod / alphas_cumprod_prev)
    )
    sample = (
        gather(torch.sqrt(alphas_cumprod_prev), t, x_t) * pmv.pred_xstart
        + gather(torch.sqrt(1 - alphas_cumprod_prev - sigmas**2), t, x_t) * eps
    )
    if noise is not None:
        sample = sample + _nonzero_step_mask(t, noise) * gather(sigmas, t, x_t) * noise
    return StepOutput(sample, pmv.pred_xstart)
