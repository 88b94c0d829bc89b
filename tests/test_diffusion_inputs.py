"""Every bad argument to the diffusion core a clear error (the fourth and fifth bad-input batteries).

One test per case: the schedules (a step count that is not a positive int, a respacing that asks for more steps than
there are), the forward process q_sample (its step indices t and its noise) and the sampling loop (the number and
size of the images, η with DDPM, the seed); then the reverse process and its helpers (t outside [0, T) or not an
integer, tensors of other shapes, a flag given as a string, η outside [0, 1], uint8 images, respacing with steps that
are not ints) and the UNet's configuration.
"""
from __future__ import annotations

import pytest
import torch

from bdlearn.diffusion import (
    DiffusionSchedule,
    UNet,
    UNetConfig,
    count_parameters,
    ddim_step,
    ddpm_step,
    diffusion_training_loss,
    linear_beta_schedule,
    model_timesteps,
    p_mean_variance,
    predict_xstart_from_eps,
    q_posterior_mean_variance,
    q_sample,
    q_sample_later,
    respace,
    reverse_step,
    sample,
    space_timesteps,
)
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


# ------------------------------------------------------------------------------------------------
# The fifth battery: the reverse process and its helpers check t, shapes, flags and η as q_sample and sample do
# ------------------------------------------------------------------------------------------------

OUTPUT = torch.randn(1, 6, 8, 8, generator=torch.Generator().manual_seed(1))
T5 = torch.tensor([5])
IN_RANGE = r"t must be step indices in \[0, 99\] \(the schedule has 100 steps\), got "


def _pmv(**kwargs):
    return p_mean_variance(SCHEDULE, OUTPUT, X0, T5, **kwargs)


def _tiny_config(**overrides) -> UNetConfig:
    return UNetConfig(**{"image_size": 16, "model_channels": 16, "out_channels": 3, "num_res_blocks": 1,
                         "attention_resolutions": (), "channel_mult": (1, 2), "num_heads": 1,
                         "num_head_channels": -1, "norm_groups": 8, **overrides})


def test_p_mean_variance_negative_step_does_not_count_from_the_end():
    with pytest.raises(InputError, match=IN_RANGE + "-1"):
        p_mean_variance(SCHEDULE, OUTPUT, X0, torch.tensor([-1]))


def test_reverse_step_negative_step(unet):
    with pytest.raises(InputError, match=r"step must be in \[0, 99\], got -1 \(the schedule has 100 steps\)"):
        reverse_step(unet, SCHEDULE, torch.zeros(1, 3, 16, 16), -1)


def test_model_timesteps_negative_step():
    with pytest.raises(InputError, match=IN_RANGE + "-1"):
        model_timesteps(SCHEDULE, torch.tensor([-1]))


def test_predict_xstart_from_eps_negative_step():
    with pytest.raises(InputError, match=IN_RANGE + "-1"):
        predict_xstart_from_eps(SCHEDULE, X0, torch.tensor([-1]), NOISE)


def test_q_posterior_negative_step():
    with pytest.raises(InputError, match=IN_RANGE + "-1"):
        q_posterior_mean_variance(SCHEDULE, X0, X0, torch.tensor([-1]))


def test_reverse_step_float_step(unet):
    with pytest.raises(InputError, match=r"step must be an integer, got 5\.5 \(float\)"):
        reverse_step(unet, SCHEDULE, torch.zeros(1, 3, 16, 16), 5.5)


def test_reverse_step_eta_with_ddpm(unet):
    with pytest.raises(InputError, match="belongs to the DDIM sampler"):
        reverse_step(unet, SCHEDULE, torch.zeros(1, 3, 16, 16), 5, eta=0.5)


def test_ddpm_step_more_steps_than_images():
    with pytest.raises(InputError, match="t holds 2 step indices for a batch of 1"):
        ddpm_step(_pmv(), torch.tensor([5, 6]), NOISE)


@pytest.mark.parametrize("eta", [2.0, float("nan"), -1.0])
def test_ddim_step_eta_outside_0_1(eta):
    with pytest.raises(InputError, match=r"eta \(η\) must be a number in \[0, 1\]"):
        ddim_step(SCHEDULE, _pmv(), X0, T5, NOISE, eta=eta)


def test_p_mean_variance_clip_denoised_as_a_string():
    with pytest.raises(InputError, match=r"clip_denoised must be True or False, got 'no' \(str\)"):
        _pmv(clip_denoised="no")


def test_respace_a_respacing_string():
    with pytest.raises(TypeError, match=r"got the string '10'; for a respacing use respace\(schedule, "
                                        r"space_timesteps\(100, '10'\)\)"):
        respace(SCHEDULE, "10")


def test_respace_a_float_step():
    with pytest.raises(InputError, match=r"a kept step \(use_timesteps\) must be an integer, got 0\.5 \(float\)"):
        respace(SCHEDULE, [0.5, 10])


def test_space_timesteps_a_float_count():
    with pytest.raises(InputError, match=r"a section count must be an integer, got 2\.5 \(float\)"):
        space_timesteps(100, [2.5])


def test_unet_attention_at_a_factor_no_level_has():
    with pytest.raises(ValueError, match=r"this UNet's levels have \(1, 2\) .*no level has \[3\]"):
        _tiny_config(attention_resolutions=(3,))


def test_p_mean_variance_step_past_the_last():
    with pytest.raises(InputError, match=IN_RANGE + "100"):
        p_mean_variance(SCHEDULE, OUTPUT, X0, torch.tensor([100]))


def test_p_mean_variance_float_step():
    with pytest.raises(InputError, match="t must be an int or an integer tensor of step indices, got a tensor of "
                                         "torch.float32"):
        p_mean_variance(SCHEDULE, OUTPUT, X0, torch.tensor([5.0]))


def test_p_mean_variance_takes_a_python_int_as_the_step():
    assert torch.equal(p_mean_variance(SCHEDULE, OUTPUT, X0, 5).mean, _pmv().mean)


def test_p_mean_variance_more_steps_than_images():
    with pytest.raises(InputError, match="t holds 3 step indices for a batch of 1"):
        p_mean_variance(SCHEDULE, OUTPUT, X0, torch.tensor([1, 2, 3]))


def test_model_timesteps_step_past_the_last():
    with pytest.raises(InputError, match=IN_RANGE + "100"):
        model_timesteps(SCHEDULE, torch.tensor([100]))


def test_model_timesteps_float_step():
    with pytest.raises(InputError, match="got a tensor of torch.float32"):
        model_timesteps(SCHEDULE, torch.tensor([2.5]))


def test_model_timesteps_takes_a_python_int():
    assert torch.equal(model_timesteps(SCHEDULE, 3), model_timesteps(SCHEDULE, torch.tensor([3])))


def test_predict_xstart_from_eps_step_past_the_last():
    with pytest.raises(InputError, match=IN_RANGE + "100"):
        predict_xstart_from_eps(SCHEDULE, X0, torch.tensor([100]), NOISE)


def test_q_posterior_step_past_the_last():
    with pytest.raises(InputError, match=IN_RANGE + "100"):
        q_posterior_mean_variance(SCHEDULE, X0, X0, torch.tensor([100]))


def test_q_sample_later_float_step():
    with pytest.raises(InputError, match=r"s must be an integer, got 2\.5 \(float\)"):
        q_sample_later(SCHEDULE, X0, 2.5, 5, NOISE)


def test_reverse_step_past_the_last(unet):
    with pytest.raises(InputError, match=r"step must be in \[0, 99\], got 100"):
        reverse_step(unet, SCHEDULE, torch.zeros(1, 3, 16, 16), 100)


def test_p_mean_variance_output_of_another_batch():
    with pytest.raises(InputError, match=r"model_output must have x_t's shape with 2 × 3 channels, ε then v "
                                         r"\(learned_sigma=True\): \(1, 6, 8, 8\), got \(2, 6, 8, 8\)"):
        p_mean_variance(SCHEDULE, OUTPUT.expand(2, -1, -1, -1), X0, T5)


def test_p_mean_variance_output_of_another_size():
    with pytest.raises(InputError, match=r"model_output must have .* \(1, 6, 8, 8\), got \(1, 6, 4, 4\)"):
        p_mean_variance(SCHEDULE, torch.zeros(1, 6, 4, 4), X0, T5)


def test_ddpm_step_noise_of_another_shape():
    with pytest.raises(InputError, match=r"noise must have pmv.mean's shape \(1, 3, 8, 8\), got \(1, 3, 4, 4\)"):
        ddpm_step(_pmv(), T5, torch.zeros(1, 3, 4, 4))


def test_ddpm_step_grad_of_another_shape():
    with pytest.raises(InputError, match=r"grad must have pmv.mean's shape \(1, 3, 8, 8\), got \(1, 3, 4, 4\)"):
        ddpm_step(_pmv(), T5, NOISE, grad=torch.zeros(1, 3, 4, 4))


def test_ddim_step_x_t_of_another_shape():
    with pytest.raises(InputError, match=r"x_t must have pmv.pred_xstart's shape \(1, 3, 8, 8\), got "
                                         r"\(1, 3, 4, 4\)"):
        ddim_step(SCHEDULE, _pmv(), torch.zeros(1, 3, 4, 4), T5)


def test_predict_xstart_from_eps_eps_of_another_shape():
    with pytest.raises(InputError, match=r"eps must have x_t's shape \(1, 3, 8, 8\), got \(1, 3, 4, 4\)"):
        predict_xstart_from_eps(SCHEDULE, X0, T5, torch.zeros(1, 3, 4, 4))


def test_q_posterior_x_start_of_another_shape():
    with pytest.raises(InputError, match=r"x_start must have x_t's shape \(1, 3, 4, 4\), got \(1, 3, 8, 8\)"):
        q_posterior_mean_variance(SCHEDULE, X0, torch.zeros(1, 3, 4, 4), T5)


def test_q_sample_later_noise_of_another_shape():
    with pytest.raises(InputError, match=r"noise must have x_s's shape \(1, 3, 8, 8\), got \(1, 3, 4, 4\)"):
        q_sample_later(SCHEDULE, X0, 5, 10, torch.zeros(1, 3, 4, 4))


def test_training_loss_model_output_of_another_size():
    def model(x, t):
        return torch.zeros(x.shape[0], 6, 4, 4)

    with pytest.raises(InputError, match=r"model_output must have x_t's shape with 2 × 3 channels, ε then v "
                                         r"\(learned_sigma=True\): \(1, 6, 8, 8\), got \(1, 6, 4, 4\)"):
        diffusion_training_loss(model, SCHEDULE, X0)


def test_ddpm_step_without_noise():
    with pytest.raises(TypeError, match=r"noise must be a tensor of pmv.mean's shape \(1, 3, 8, 8\), got None"):
        ddpm_step(_pmv(), T5, None)


def test_count_parameters_of_a_string():
    with pytest.raises(TypeError, match=r"count_parameters needs a torch.nn.Module, got 'unet' \(str\)"):
        count_parameters("unet")


def test_reverse_step_uint8_images(unet):
    with pytest.raises(InputError, match=r"x_t must be a floating-point tensor of images in \[-1, 1\], got a tensor "
                                         r"of torch.uint8 \(for 8-bit pixels use x.float\(\) / 127.5 - 1\)"):
        reverse_step(unet, SCHEDULE, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), 5)


def test_training_loss_uint8_images(unet):
    with pytest.raises(InputError, match="x_start must be a floating-point tensor of images"):
        diffusion_training_loss(unet, SCHEDULE, torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


def test_unet_empty_channel_mult():
    with pytest.raises(ValueError, match=r"channel_mult must give at least one level's channel multiplier"):
        _tiny_config(channel_mult=())


def test_unet_zero_heads():
    with pytest.raises(InputError, match=r"num_heads must be at least 1, got 0 \(with num_head_channels=-1"):
        _tiny_config(attention_resolutions=(2,), num_heads=0)


def test_unet_zero_output_channels():
    with pytest.raises(InputError, match="out_channels must be at least 1, got 0"):
        _tiny_config(out_channels=0)


def test_reverse_step_names_images_of_another_dtype_than_the_unets(unet):
    with pytest.raises(InputError, match=r"x_t must be torch.float32, the UNet's dtype, got torch.float64"):
        reverse_step(unet, SCHEDULE, torch.zeros(1, 3, 16, 16, dtype=torch.float64), 5)


# ------------------------------------------------------------------------------------------------
# The eighth battery: few linear steps, a NaN Min-SNR γ, the UNet's own inputs, an int respacing, dropout
# ------------------------------------------------------------------------------------------------

def test_linear_schedule_of_fewer_than_21_steps(unet):
    rule = r"the linear schedule needs at least 21 steps, got {}: its last β is 20/T = {}, which must stay below 1"
    with pytest.raises(InputError, match=rule.format(20, 1) + "; use at least 21 steps, or the cosine schedule"):
        linear_beta_schedule(20)
    with pytest.raises(InputError, match=rule.format(5, 4)):
        DiffusionSchedule.create(5)
    assert torch.isfinite(sample(unet, DiffusionSchedule.create(21), 1, 16, progress=False)).all()


def test_schedule_of_a_beta_of_one():
    with pytest.raises(InputError, match=r"every beta must lie in \(0, 1\), got 1: β = 1 leaves ᾱ = 0"):
        DiffusionSchedule.from_betas(torch.tensor([0.5, 1.0]))


def test_training_loss_nan_min_snr_gamma(unet):
    with pytest.raises(InputError, match=r"the Min-SNR γ \(min_snr_gamma\) must be a finite number, got nan "
                                         r"\(float\)"):
        diffusion_training_loss(unet, SCHEDULE, torch.zeros(1, 3, 16, 16), min_snr_gamma=float("nan"))
    assert torch.isfinite(diffusion_training_loss(unet, SCHEDULE, torch.zeros(1, 3, 16, 16), min_snr_gamma=5.0)["loss"])


def test_unet_images_of_another_dtype_than_its_weights(unet):
    with pytest.raises(InputError, match=r"x must be torch.float32, the UNet's dtype, got torch.float64 "
                                         r"\(x.to\(torch.float32\)\)"):
        unet(torch.zeros(1, 3, 16, 16, dtype=torch.float64), torch.tensor([5]))


def test_unet_takes_a_python_int_as_the_timestep_of_every_image(unet):
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(unet(x, 3), unet(x, torch.tensor([3, 3])))
    with pytest.raises(TypeError, match=r"timesteps must be a tensor \[B\] or an int, got 3\.5 \(float\)"):
        unet(x, 3.5)


def test_space_timesteps_takes_an_int_as_its_string():
    assert space_timesteps(1000, 10) == space_timesteps(1000, "10")
    assert torch.equal(DiffusionSchedule.create(respacing=10).timestep_map,
                       DiffusionSchedule.create(respacing="10").timestep_map)
    with pytest.raises(InputError, match=r"the respacing must be a string such as '100', 'ddim50' or '10,20,30', an "
                                         r"int or a list of counts, got 10\.0 \(float\)"):
        space_timesteps(1000, 10.0)


@pytest.mark.parametrize("dropout", [1.5, -0.1, float("nan")])
def test_unet_dropout_outside_0_1(dropout):
    with pytest.raises(InputError, match=r"dropout must be (in \[0, 1\]|a finite number), got .*the probability of "
                                         "zeroing an activation"):
        _tiny_config(dropout=dropout)
