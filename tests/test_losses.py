"""The training objective: its pieces against closed forms, and a short run that learns."""
from __future__ import annotations

import math

import pytest
import torch

from bdlearn.diffusion.forward import q_sample
from bdlearn.diffusion.losses import (
    diffusion_training_loss,
    discretized_gaussian_log_likelihood,
    hybrid_loss,
    min_snr_weight,
    normal_kl,
)
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.diffusion.unet import UNet
from tests.helpers import TINY_UNET


def test_normal_kl_closed_form():
    assert torch.allclose(normal_kl(torch.tensor(0.3), torch.tensor(0.1), torch.tensor(0.3), torch.tensor(0.1)),
                          torch.tensor(0.0))
    # KL(N(1, 1) || N(0, 1)) = 1/2
    assert torch.isclose(normal_kl(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0)),
                         torch.tensor(0.5))


def test_discretized_likelihood_sums_to_one_over_levels():
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in [(0.0, math.log(0.3)), (0.7, math.log(0.05)), (-1.0, math.log(1.5))]:
        logp = discretized_gaussian_log_likelihood(levels, torch.tensor(mean, dtype=torch.float64),
                                                   torch.tensor(log_scale, dtype=torch.float64))
        assert torch.isclose(logp.exp().sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-6)


def test_min_snr_weight_caps_the_signal_to_noise_ratio():
    """w_t = min(SNR_t, γ) / SNR_t: 1 on the noisy steps, γ / SNR_t on the nearly clean ones."""
    schedule = DiffusionSchedule.create(steps=1000)
    t = torch.arange(1000)
    snr = schedule.alphas_cumprod / (1 - schedule.alphas_cumprod)
    weight = min_snr_weight(schedule, t, 5.0)
    noisy = snr <= 5.0
    assert 0 < noisy.sum() < 1000  # the linear schedule crosses SNR = 5 inside the range
    assert torch.equal(weight[noisy], torch.ones_like(weight[noisy]))
    assert torch.allclose(weight[~noisy], 5.0 / snr[~noisy])
    assert weight[0] < 0.01 and bool((weight[1:] >= weight[:-1]).all())  # rises with t up to 1
    with pytest.raises(ValueError, match="positive"):
        min_snr_weight(schedule, t, 0.0)


def test_min_snr_weights_only_the_simple_term():
    """Same draws with and without the weighting: "mse" and "vb" agree, "loss" = w·mse + vb, smaller."""
    schedule = DiffusionSchedule.create(steps=1000)
    x_start = torch.rand(64, 3, 8, 8) * 2 - 1

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 * x_t, torch.zeros_like(x_t)], dim=1)

    plain = diffusion_training_loss(model, schedule, x_start, torch.Generator().manual_seed(3))
    weighted = diffusion_training_loss(model, schedule, x_start, torch.Generator().manual_seed(3), min_snr_gamma=5.0)
    assert torch.equal(plain["mse"], weighted["mse"]) and torch.equal(plain["vb"], weighted["vb"])
    assert weighted["loss"] < plain["loss"]
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, 1000, (64,), generator=g)
    noise = torch.randn(x_start.shape, generator=g)
    x_t = q_sample(schedule, x_start, t, noise)
    terms = hybrid_loss(schedule, model(x_t, t.float()), x_start, x_t, t, noise)
    expected = (min_snr_weight(schedule, t, 5.0).to(terms["mse"]) * terms["mse"] + terms["vb"]).mean()
    assert torch.allclose(weighted["loss"], expected)


def test_short_training_lowers_the_loss():
    """60 Adam steps on a fixed batch of smooth images: the hybrid loss must fall clearly."""
    torch.manual_seed(0)
    model = UNet(TINY_UNET)
    schedule = DiffusionSchedule.create(steps=1000)
    ramp = torch.linspace(-1, 1, 16)
    x_start = torch.stack([ramp[None, :].expand(16, 16), ramp[:, None].expand(16, 16),
                           -ramp[None, :].expand(16, 16)])[None].repeat(8, 1, 1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

    def evaluate() -> float:
        g = torch.Generator().manual_seed(123)
        with torch.no_grad():
            return sum(diffusion_training_loss(model, schedule, x_start, g)["loss"].item() for _ in range(4)) / 4

    before = evaluate()
    generator = torch.Generator().manual_seed(1)
    for _ in range(60):
        loss = diffusion_training_loss(model, schedule, x_start, generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = evaluate()
    assert after < 0.5 * before, (before, after)
