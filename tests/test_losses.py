"""The training objective: its pieces against closed forms, and a short run that learns."""
from __future__ import annotations

import math

import torch

from bdlearn.losses import diffusion_training_loss, discretized_gaussian_log_likelihood, normal_kl
from bdlearn.schedule import DiffusionSchedule
from bdlearn.unet import UNet, UNetConfig


def test_normal_kl_closed_form():
    assert torch.allclose(normal_kl(torch.tensor(0.3), torch.tensor(0.1), torch.tensor(0.3), torch.tensor(0.1)), torch.tensor(0.0))
    # KL(N(1, 1) || N(0, 1)) = 1/2
    assert torch.isclose(normal_kl(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0)), torch.tensor(0.5))


def test_discretized_likelihood_sums_to_one_over_levels():
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in [(0.0, math.log(0.3)), (0.7, math.log(0.05)), (-1.0, math.log(1.5))]:
        logp = discretized_gaussian_log_likelihood(levels, torch.tensor(mean, dtype=torch.float64),
                                                   torch.tensor(log_scale, dtype=torch.float64))
        assert torch.isclose(logp.exp().sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-6)


def test_short_training_lowers_the_loss():
    """60 Adam steps on a fixed batch of smooth images: the hybrid loss must fall clearly."""
    torch.manual_seed(0)
    config = UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                        attention_resolutions=(2,), num_head_channels=32)
    model = UNet(config)
    schedule = DiffusionSchedule.create(steps=1000)
    ramp = torch.linspace(-1, 1, 16)
    x_start = torch.stack([ramp[None, :].expand(16, 16), ramp[:, None].expand(16, 16), -ramp[None, :].expand(16, 16)])[None].repeat(8, 1, 1, 1)
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
