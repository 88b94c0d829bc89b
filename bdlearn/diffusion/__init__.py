"""The diffusion core (DDPM, Ho et al. 2020; IDDPM, Nichol & Dhariwal 2021; ADM, Dhariwal & Nichol 2021).

In the order the course teaches it: the noise schedules and their respacing (:mod:`.schedule`),
the forward process q (:mod:`.forward`), the reverse step p_θ with DDPM and DDIM updates
(:mod:`.reverse`), sampling loops (:mod:`.sampling`), the training losses (:mod:`.losses`) and the
ADM UNet that predicts the noise (:mod:`.unet`); :mod:`.checks` holds the checks of their arguments
(counts, seeds, η, step indices, shapes, images), some shared with :func:`bdlearn.edit`'s settings.
It imports nothing else from bdlearn (but the names of the samplers and the seed limit,
:mod:`bdlearn.choices`, and the error a user can fix, :mod:`bdlearn.errors`), nor CLIP.
"""
from bdlearn.diffusion.forward import q_posterior_mean_variance, q_sample, q_sample_later
from bdlearn.diffusion.losses import diffusion_training_loss
from bdlearn.diffusion.reverse import ddim_step, ddpm_step, p_mean_variance, predict_xstart_from_eps
from bdlearn.diffusion.sampling import reverse_step, sample
from bdlearn.diffusion.schedule import (
    DiffusionSchedule,
    linear_beta_schedule,
    model_timesteps,
    respace,
    space_timesteps,
)
from bdlearn.diffusion.unet import UNet, UNetConfig, count_parameters

__all__ = [
    "DiffusionSchedule",
    "UNet",
    "UNetConfig",
    "count_parameters",
    "ddim_step",
    "ddpm_step",
    "diffusion_training_loss",
    "linear_beta_schedule",
    "model_timesteps",
    "p_mean_variance",
    "predict_xstart_from_eps",
    "q_posterior_mean_variance",
    "q_sample",
    "q_sample_later",
    "respace",
    "reverse_step",
    "sample",
    "space_timesteps",
]
