"""Every bad argument to the diffusion core a clear error (the fourth bad-input battery).

One test per case: the schedules (a step count that is not a positive int, a respacing that asks for more steps than
there are), the forward process q_sample (its step indices t and its noise) and the sampling loop (the number and
size of the images, η with DDPM, the seed).
"""
from __future__ import annotations

import pytest
import torch

from bdlearn.diffusion import DiffusionSchedule, UNet, linear_beta_schedule, q_sample, sample
from bdlearn.errors import InputError
from tests.helpers import TINY_UNET

SCHEDULE = DiffusionSchedule.create(steps=100)
X0 = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)
NOISE = torch.randn(X0.shape, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def unet() -> UNet:
    """The tiny UNet with random weights: every refusal comes before its first step."""
    torch.manual_seed(0)
    return UNet(TINY_UNET).eval()


# ------------------------------------------------------------------------------------------------
# Schedules: T is an int of at least 1; a respacing keeps at most T steps
# ------------------------------------------------------------------------------------------------

def test_linear_beta_schedule_of_zero_steps():
    with pytest.raises(InputError, match="num_timesteps must be at least 1, got 0"):
        linear_beta_schedule(0)


def test_schedule_of_zero_steps():
    with pytest.raises(InputError, match="steps must be at least 1, got 0"):
        DiffusionSchedule.create(steps=0)


def test_linear_beta_schedule_of_negative_steps():
    with pytest.raises(InputError, match="num_timesteps must be at least 1, got -5"):
        linear_beta_schedule(-5)


def test_linear_beta_schedule_of_a_float_count():
    with pytest.raises(InputError, match=r"num_timesteps must be an integer, got 1\.5 \(float\)"):
        linear_beta_schedule(1.5)


def test_linear_beta_schedule_of_a_string_count():
    with pytest.raises(InputError, match=r"num_timesteps must be an integer, got '10' \(str\)"):
        linear_beta_schedule("10")


def test_respacing_that_asks_for_more_steps_than_the_schedule_has():
    with pytest.raises(ValueError, match="the respacing asks for 20 steps, more than the schedule's 10"):
        DiffusionSchedule.create(steps=10, respacing="20")


# ------------------------------------------------------------------------------------------------
# q_sample: t holds an index in [0, T) per image, or one for all (an int too); noise has x_0's shape
# ------------------------------------------------------------------------------------------------

def test_q_sample_takes_a_python_int_as_the_step_of_every_image():
    batch, noise = X0.expand(2, -1, -1, -1), NOISE.expand(2, -1, -1, -1)
    assert torch.equal(q_sample(SCHEDULE, batch, 5, noise), q_sample(SCHEDULE, batch, torch.tensor([5, 5]), noise))


def test_q_sample_step_past_the_last():
    with pytest.raises(InputError, match=r"t must be step indices in \[0, 99\] \(the schedule has 100 steps\), "
                                         "got 100"):
        q_sample(SCHEDULE, X0, torch.tensor([100]), NOISE)


def test_q_sample_step_as_a_float():
    with pytest.raises(InputError, match="t must be an int or an integer tensor of step indices, got a tensor of "
                                         "torch.float32"):
        q_sample(SCHEDULE, X0, torch.tensor([5.5]), NOISE)


def test_q_sample_noise_of_another_shape():
    with pytest.raises(InputError, match=r"noise must have x_start's shape \(1, 3, 8, 8\), got \(1, 3, 4, 4\)"):
        q_sample(SCHEDULE, X0, torch.tensor([5]), torch.randn(1, 3, 4, 4))


def test_q_sample_negative_step_does_not_count_from_the_end():
    with pytest.raises(InputError, match=r"in \[0, 99\] .*got -1"):
        q_sample(SCHEDULE, X0, torch.tensor([-1]), NOISE)


def test_q_sample_more_steps_than_images():
    with pytest.raises(InputError, match="t holds 3 step indices for a batch of 1; give one per image, or one for "
                                         "them all"):
        q_sample(SCHEDULE, X0, torch.tensor([1, 2, 3]), NOISE)


# ------------------------------------------------------------------------------------------------
# sample: at least one image of at least one pixel; η only with DDIM; seeds in [0, 2**32), as edit() has them
# ------------------------------------------------------------------------------------------------

def test_sample_no_images(unet):
    with pytest.raises(InputError, match="num_images must be at least 1, got 0"):
        sample(unet, SCHEDULE, 0, 16, progress=False)


def test_sample_images_of_size_zero(unet):
    with pytest.raises(InputError, match="image_size must be at least 1, got 0"):
        sample(unet, SCHEDULE, 1, 0, progress=False)


def test_sample_eta_with_ddpm(unet):
    with pytest.raises(InputError, match="belongs to the DDIM sampler; pass sampler='ddim' or leave eta at 0"):
        sample(unet, SCHEDULE, 1, 16, sampler="ddpm", eta=0.5, progress=False)


def test_sample_negative_seed(unet):
    with pytest.raises(InputError, match=r"seed must be in \[0, 4294967295\], got -1"):
        sample(unet, SCHEDULE, 1, 16, seed=-1, progress=False)


def test_sample_eta_outside_0_1(unet):
    for eta in (1.5, -0.1, float("nan")):
        with pytest.raises(InputError, match=r"eta \(η\) must be a number in \[0, 1\]"):
            sample(unet, SCHEDULE, 1, 16, sampler="ddim", eta=eta, progress=False)
