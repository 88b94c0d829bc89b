"""Training objectives of a DDPM with a learned variance (IDDPM's hybrid loss).

L_hybrid = L_simple + λ L_vlb (Nichol & Dhariwal 2021, section 3.1), with

* L_simple = E ‖ε − ε_θ(x_t, t)‖², the noise-prediction loss (DDPM eq. 14), which trains the mean;
* L_vlb, the variational bound, whose per-step term L_t is KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t))
  (DDPM eq. 5), and −log p_θ(x_0|x_1) at the first step (a discretised Gaussian decoder over the
  256 pixel levels). The mean is detached in L_vlb so it only trains the variance v.

For one uniformly drawn t, T·L_t is an unbiased estimate of L_vlb, so λ = 0.001 with T = 1000
weights L_t by exactly 1, the form used here. Taught in notebook 02.

Optionally L_simple is weighted per timestep by Min-SNR-γ (Hang et al. 2023, "Efficient Diffusion
Training via Min-SNR Weighting Strategy"): w_t = min(SNR_t, γ) / SNR_t for ε-prediction, with
SNR_t = ᾱ_t / (1 − ᾱ_t). It leaves the noisy steps (SNR_t ≤ γ), where an image's layout is decided,
at weight 1 and turns down the nearly clean ones, whose gradients the paper finds to conflict with them.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from bdlearn.checks import checked_real
from bdlearn.diffusion.checks import check_float_images, check_model_output
from bdlearn.diffusion.forward import q_posterior_mean_variance, q_sample
from bdlearn.diffusion.reverse import p_mean_variance
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.errors import InputError


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) per element, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(x) of pixels x ∈ [−1, 1] (256 levels) under N(mean, e^(2·log_scale)) cut into bins.

    Each level owns the interval x ± 1/255; the end levels own everything beyond them
    (DDPM section 3.3). Uses the exact normal CDF in log space for stability.
    """
    inv_std = torch.exp(-log_scale)
    upper = inv_std * (x - mean + 1.0 / 255.0)
    lower = inv_std * (x - mean - 1.0 / 255.0)
    log_cdf_upper = torch.special.log_ndtr(upper)
    log_one_minus_cdf_lower = torch.special.log_ndtr(-lower)
    cdf_delta = torch.special.ndtr(upper) - torch.special.ndtr(lower)
    log_mid = torch.log(cdf_delta.clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_one_minus_cdf_lower, log_mid))


def hybrid_loss(schedule: DiffusionSchedule, model_output: Tensor, x_start: Tensor, x_t: Tensor,
                t: Tensor, noise: Tensor) -> dict[str, Tensor]:
    """Per-example L_simple ("mse"), L_t in bits per dimension ("vb") and their sum ("loss").

    ``model_output`` has ``x_t``'s shape with twice its channels: ε, then the variance's v.
    """
    check_model_output(model_output, x_t, learned_sigma=True)
    channels = x_start.shape[1]
    eps, v = model_output.split(channels, dim=1)
    mse = ((noise - eps) ** 2).mean(dim=(1, 2, 3))
    frozen = torch.cat([eps.detach(), v], dim=1)
    p = p_mean_variance(schedule, frozen, x_t, t, clip_denoised=False)
    q = q_posterior_mean_variance(schedule, x_start, x_t, t)
    kl = normal_kl(q.mean, q.log_variance, p.mean, p.log_variance).mean(dim=(1, 2, 3))
    decoder_nll = -discretized_gaussian_log_likelihood(x_start, p.mean, 0.5 * p.log_variance).mean(dim=(1, 2, 3))
    vb = torch.where(t == 0, decoder_nll, kl) / math.log(2.0)
    return {"loss": mse + vb, "mse": mse, "vb": vb}


def min_snr_weight(schedule: DiffusionSchedule, t: Tensor, gamma: float) -> Tensor:
    """Min-SNR-γ weight of L_simple at timesteps ``t``: min(SNR_t, γ) / SNR_t, in (0, 1].

    γ is a finite positive number: a NaN γ would make every weight, and so the loss, NaN.
    """
    gamma = checked_real("the Min-SNR γ (min_snr_gamma)", gamma, -math.inf)
    if gamma <= 0:
        raise InputError(f"the Min-SNR γ must be positive, got {gamma}")
    alpha_bar = schedule.alphas_cumprod.to(t.device)[t]
    snr = alpha_bar / (1 - alpha_bar)
    return snr.clamp(max=gamma) / snr


def diffusion_training_loss(model: Callable[[Tensor, Tensor], Tensor], schedule: DiffusionSchedule, x_start: Tensor,
                            generator: torch.Generator | None = None,
                            min_snr_gamma: float | None = None) -> dict[str, Tensor]:
    """One Monte-Carlo estimate of L_hybrid for a batch x_0 (DDPM Algorithm 1 with IDDPM's loss).

    Draws t ~ U{0..T−1} and ε ~ N(0, I), forms x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, and scores the
    model's output. With ``min_snr_gamma`` the L_simple term of "loss" is weighted by
    :func:`min_snr_weight`. Returns batch means of "loss", "mse" (unweighted) and "vb".
    ``x_start`` is a floating-point batch of images in [−1, 1]; ``model(x_t, t)`` returns ε and v
    (x_start's shape with twice its channels).
    """
    check_float_images("x_start", x_start)
    batch = x_start.shape[0]
    t = torch.randint(0, schedule.num_timesteps, (batch,), generator=generator, device="cpu").to(x_start.device)
    noise = torch.randn(x_start.shape, generator=generator, device="cpu").to(x_start)
    x_t = q_sample(schedule, x_start, t, noise)
    terms = hybrid_loss(schedule, model(x_t, t.to(x_t.dtype)), x_start, x_t, t, noise)
    if min_snr_gamma is not None:
        weight = min_snr_weight(schedule, t, min_snr_gamma).to(terms["mse"])
        terms["loss"] = weight * terms["mse"] + terms["vb"]
    return {name: value.mean() for name, value in terms.items()}
