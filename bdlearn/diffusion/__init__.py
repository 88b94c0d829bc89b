"""The diffusion core (DDPM, Ho et al. 2020; IDDPM, Nichol & Dhariwal 2021; ADM, Dhariwal & Nichol 2021).

In the order the course teaches it: the noise schedules and their respacing (:mod:`.schedule`),
the forward process q (:mod:`.forward`), the reverse step p_θ with DDPM and DDIM updates
(:mod:`.reverse`), sampling loops (:mod:`.sampling`), the training losses (:mod:`.losses`) and the
ADM UNet that predicts the noise (:mod:`.unet`). It imports nothing else from bdlearn, nor CLIP.
"""
from bdlearn.diffusion.forward import Gaussian, gather, q_mean_variance, q_posterior_mean_variance, q_sample
from bdlearn.diffusion.losses import (
    diffusion_training_loss,
    discretized_gaussian_log_likelihood,
    hybrid_loss,
    min_snr_weight,
    normal_kl,
)
from bdlearn.diffusion.reverse import (
    PMeanVariance,
    StepOutput,
    condition_mean,
    condition_score,
    ddim_step,
    ddpm_step,
    p_mean_variance,
    predict_eps_from_xstart,
    predict_xstart_from_eps,
)
from bdlearn.diffusion.sampling import Trajectory, reverse_step, sample
from bdlearn.diffusion.schedule import (
    DiffusionSchedule,
    cosine_beta_schedule,
    linear_beta_schedule,
    model_timesteps,
    named_beta_schedule,
    respace,
    space_timesteps,
    step_indices_from_model_timesteps,
)
from bdlearn.diffusion.unet import UNet, UNetConfig, adm256_uncond_config, count_parameters, timestep_embedding

__all__ = [
    "DiffusionSchedule",
    "Gaussian",
    "PMeanVariance",
    "StepOutput",
    "Trajectory",
    "UNet",
    "UNetConfig",
    "adm256_uncond_config",
    "condition_mean",
    "condition_score",
    "cosine_beta_schedule",
    "count_parameters",
    "ddim_step",
    "ddpm_step",
    "diffusion_training_loss",
    "discretized_gaussian_log_likelihood",
    "gather",
    "hybrid_loss",
    "linear_beta_schedule",
    "min_snr_weight",
    "model_timesteps",
    "named_beta_schedule",
    "normal_kl",
    "p_mean_variance",
    "predict_eps_from_xstart",
    "predict_xstart_from_eps",
    "q_mean_variance",
    "q_posterior_mean_variance",
    "q_sample",
    "respace",
    "reverse_step",
    "sample",
    "space_timesteps",
    "step_indices_from_model_timesteps",
    "timestep_embedding",
]
