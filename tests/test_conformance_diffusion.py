"""The diffusion core against guided-diffusion's own numbers, plus a few properties of its own.

The fixtures (see ``../shared/reference/guided_diffusion/README.md``) were computed by the
reference implementation: schedule buffers in float64, one worked example on 8x8 images
(``ex.*``) and the outputs of each reverse-process function on it, and an end-to-end step of a
small UNet on 32x32 images (``e2e_adm_small``).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor

from bdlearn.diffusion.forward import q_mean_variance, q_posterior_mean_variance, q_sample
from bdlearn.diffusion.reverse import (
    PMeanVariance,
    condition_mean,
    condition_score,
    ddim_step,
    ddpm_step,
    p_mean_variance,
    predict_eps_from_xstart,
    predict_xstart_from_eps,
)
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

# Schedules are float64 on both sides; they differ only by the rounding of a few float64 operations
# done in another order (numpy vs torch), i.e. a few ulps.
FLOAT64_RTOL = 1e-12
FLOAT64_ATOL = 0.0
# The reference computed the tensors in float32; an independent float32 implementation differs by
# summation order and by coefficients rounded once from float64 instead of computed in float32:
# a few float32 ulps (~1e-7 relative), amplified at most ~100x where x̂_0 = √(1/ᾱ) x_t - ... cancels.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-5

SCHEDULE_BUFFERS = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "alphas_cumprod_next",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
)


def assert_float64_close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


def assert_float32_close(actual: Tensor, expected: Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


@pytest.fixture(scope="module")
def vectors(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "diffusion_vectors.json").read_text())


@pytest.fixture(scope="module")
def ref(reference_dir: Path) -> dict[str, Tensor]:
    return load_file(reference_dir / "diffusion_vectors.safetensors")


@pytest.fixture(scope="module")
def e2e(reference_dir: Path) -> dict[str, Tensor]:
    return load_file(reference_dir / "e2e_adm_small.safetensors")


@pytest.fixture(scope="module")
def r100() -> DiffusionSchedule:
    """The process of the fixtures' worked example: linear, 1000 steps respaced to 100."""
    return DiffusionSchedule.create(steps=1000, schedule="linear", respacing="100")


@pytest.fixture(scope="module")
def example(ref: dict[str, Tensor]) -> dict[str, Tensor]:
    return {key.removeprefix("ex."): value for key, value in ref.items() if key.startswith("ex.")}


def _pmv(r100: DiffusionSchedule, example: dict[str, Tensor], clip: bool) -> PMeanVariance:
    return p_mean_variance(r100, example["model_output"], example["x_t"], example["t"], clip_denoised=clip)


# --- schedules and respacing -------------------------------------------------------------------


def test_space_timesteps_matches_reference(vectors: dict) -> None:
    expected = vectors["space_timesteps(1000, s)"]
    assert len(expected) >= 11
    for section_counts, steps in expected.items():
        assert space_timesteps(1000, section_counts) == set(steps), section_counts


def test_space_timesteps_accepts_a_list_of_counts(vectors: dict) -> None:
    assert space_timesteps(1000, [10, 15, 20]) == set(vectors["space_timesteps(1000, s)"]["10,15,20"])


@pytest.mark.parametrize("bad", ["", "abc", "10,x", "0", "10,-1", "1001", "ddim", "ddimx", "ddim999", "2000,1"])
def test_space_timesteps_rejects_bad_respacing(bad: str) -> None:
    with pytest.raises(ValueError):
        space_timesteps(1000, bad)


def test_base_linear_schedule(ref: dict[str, Tensor]) -> None:
    base = DiffusionSchedule.create(steps=1000, schedule="linear")
    assert_float64_close(base.betas, ref["base.betas"])
    assert_float64_close(base.alphas_cumprod, ref["base.alphas_cumprod"])
    assert_float64_close(linear_beta_schedule(1000), ref["base.betas"])


def test_cosine_schedule(ref: dict[str, Tensor]) -> None:
    assert_float64_close(cosine_beta_schedule(1000), ref["cosine.betas"])
    assert_float64_close(named_beta_schedule("cosine", 1000), ref["cosine.betas"])


def test_unknown_schedule_name_raises() -> None:
    with pytest.raises(ValueError):
        named_beta_schedule("quadratic", 1000)


@pytest.mark.parametrize(("prefix", "respacing"), [("r100", "100"), ("ddim50", "ddim50")])
def test_respaced_schedule_buffers(ref: dict[str, Tensor], prefix: str, respacing: str) -> None:
    schedule = DiffusionSchedule.create(steps=1000, schedule="linear", respacing=respacing)
    for name in SCHEDULE_BUFFERS:
        actual = getattr(schedule, name)
        assert actual.dtype == torch.float64, name
        assert_float64_close(actual, ref[f"{prefix}.{name}"])
    assert torch.equal(schedule.timestep_map, ref[f"{prefix}.timestep_map"])
    assert schedule.original_num_steps == 1000


def test_respaced_timestep_map_value(vectors: dict, r100: DiffusionSchedule) -> None:
    assert r100.timestep_map.tolist() == vectors["values"]["r100.timestep_map"]


def test_respacing_every_step_is_the_base_schedule() -> None:
    base = DiffusionSchedule.create(steps=1000, schedule="cosine")
    full = respace(base, range(1000))
    for name in SCHEDULE_BUFFERS:
        assert_float64_close(getattr(full, name), getattr(base, name))
    assert torch.equal(full.timestep_map, torch.arange(1000))


def test_respacing_keeps_alphas_cumprod_at_kept_steps() -> None:
    base = DiffusionSchedule.create(steps=1000)
    kept = sorted(space_timesteps(1000, "10,15,20"))
    spaced = respace(base, kept)
    assert_float64_close(spaced.alphas_cumprod, base.alphas_cumprod[kept])


# --- the timesteps the network and the guidance function see ---------------------------------


def test_model_timesteps(ref: dict[str, Tensor], vectors: dict, r100: DiffusionSchedule) -> None:
    timesteps = model_timesteps(r100, ref["ex.t"])
    assert timesteps.dtype == torch.float32
    assert torch.equal(timesteps, ref["ex.unet_timesteps"])
    # guided-diffusion hands its guidance function the same timesteps as the UNet
    assert torch.equal(timesteps, ref["ex.cond_fn_timesteps"])
    assert timesteps.tolist() == vectors["values"]["ex.unet_timesteps"]


def test_model_timesteps_rescale_other_base_lengths() -> None:
    schedule = DiffusionSchedule.create(steps=4000, respacing="100")
    timesteps = model_timesteps(schedule, torch.tensor([0, 99]))
    assert timesteps.tolist() == [0.0, 999.75]


def test_step_indices_from_model_timesteps(ref: dict[str, Tensor], vectors: dict, r100: DiffusionSchedule) -> None:
    assert torch.equal(step_indices_from_model_timesteps(r100, ref["ex.cond_fn_timesteps"]), ref["bd.unscaled_t"])
    assert vectors["bd_unscale_roundtrip_all_100_ok"]
    every_step = torch.arange(100)
    assert torch.equal(step_indices_from_model_timesteps(r100, model_timesteps(r100, every_step)), every_step)


# --- the forward process ------------------------------------------------------------------------


def test_q_sample(example: dict[str, Tensor], r100: DiffusionSchedule) -> None:
    x_t = q_sample(r100, example["x_start"], example["t"], example["noise"])
    assert x_t.dtype == torch.float32
    assert_float32_close(x_t, example["x_t"])


def test_q_sample_without_noise_scales_x_start() -> None:
    schedule = DiffusionSchedule.create(steps=1000)
    x_start = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([5, 900])
    x_t = q_sample(schedule, x_start, t, torch.zeros_like(x_start))
    expected = schedule.sqrt_alphas_cumprod[t].reshape(2, 1, 1, 1) * x_start
    torch.testing.assert_close(x_t, expected, rtol=0, atol=0)


def test_q_mean_variance_and_posterior_shapes() -> None:
    schedule = DiffusionSchedule.create(steps=1000, respacing="ddim50")
    x_start = torch.randn(2, 3, 4, 4)
    t = torch.tensor([0, 49])
    for moments in (q_mean_variance(schedule, x_start, t), q_posterior_mean_variance(schedule, x_start, x_start, t)):
        for tensor in moments:
            assert tensor.shape == x_start.shape
            assert tensor.dtype == torch.float32
    variance = q_mean_variance(schedule, x_start, t).variance
    assert variance[1].unique().item() == pytest.approx(1 - schedule.alphas_cumprod[49].item())


def test_posterior_mean_of_true_x_start_at_first_step_is_x_start() -> None:
    """At the first step β̃ = 0 and μ̃(x_1, x_0) = x_0: denoising the last bit is exact."""
    schedule = DiffusionSchedule.create(steps=1000)
    x_start = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.zeros(2, dtype=torch.int64)
    x_t = q_sample(schedule, x_start, t, torch.randn_like(x_start))
    torch.testing.assert_close(q_posterior_mean_variance(schedule, x_start, x_t, t).mean, x_start)


# --- the reverse process on the worked example --------------------------------------------------


@pytest.mark.parametrize("clip", ["clip", "noclip"])
def test_p_mean_variance(ref: dict[str, Tensor], example: dict[str, Tensor], r100: DiffusionSchedule,
                         clip: str) -> None:
    pmv = _pmv(r100, example, clip == "clip")
    for name in ("mean", "variance", "log_variance", "pred_xstart"):
        assert_float32_close(getattr(pmv, name), ref[f"pmv.{clip}.{name}"])


def test_predict_eps_and_xstart_are_inverse(example: dict[str, Tensor], r100: DiffusionSchedule) -> None:
    x_t, t = example["x_t"].double(), example["t"]
    eps = example["model_output"][:, :3].double()
    pred_xstart = predict_xstart_from_eps(r100, x_t, t, eps)
    torch.testing.assert_close(predict_eps_from_xstart(r100, x_t, t, pred_xstart), eps)


@pytest.mark.parametrize("clip", ["clip", "noclip"])
def test_condition_mean(ref: dict[str, Tensor], example: dict[str, Tensor], r100: DiffusionSchedule, clip: str) -> None:
    pmv = _pmv(r100, example, clip == "clip")
    assert_float32_close(condition_mean(pmv, example["grad"]), ref[f"cond_mean.{clip}"])


def test_condition_score(ref: dict[str, Tensor], example: dict[str, Tensor], r100: DiffusionSchedule) -> None:
    pmv = _pmv(r100, example, clip=False)
    guided = condition_score(r100, pmv, example["x_t"], example["t"], example["grad"])
    assert_float32_close(guided.mean, ref["cond_score.noclip.mean"])
    assert_float32_close(guided.pred_xstart, ref["cond_score.noclip.pred_xstart"])
    assert torch.equal(guided.variance, pmv.variance)


@pytest.mark.parametrize("case", ["clip", "noclip", "clip_cond", "noclip_cond"])
def test_ddpm_step(ref: dict[str, Tensor], example: dict[str, Tensor], r100: DiffusionSchedule, case: str) -> None:
    clip, _, cond = case.partition("_")
    pmv = _pmv(r100, example, clip == "clip")
    grad = example["grad"] if cond else None
    step = ddpm_step(pmv, example["t"], example["step_noise"], grad=grad)
    assert_float32_close(step.sample, ref[f"p_sample.{case}.sample"])
    if not cond:
        assert_float32_close(step.pred_xstart, ref[f"p_sample.{case}.pred_xstart"])


def test_ddpm_step_adds_no_noise_at_step_zero(example: dict[str, Tensor], r100: DiffusionSchedule) -> None:
    pmv = _pmv(r100, example, clip=True)
    step = ddpm_step(pmv, example["t"], example["step_noise"])
    assert example["t"][0] == 0
    assert torch.equal(step.sample[0], pmv.mean[0])
    assert not torch.equal(step.sample[1], pmv.mean[1])


@pytest.mark.parametrize(("eta_key", "eta"), [("eta0", 0.0), ("eta05", 0.5)])
@pytest.mark.parametrize("case", ["clip", "noclip", "noclip_cond"])
def test_ddim_step(
    ref: dict[str, Tensor], example: dict[str, Tensor], r100: DiffusionSchedule, eta_key: str, eta: float, case: str
) -> None:
    clip, _, cond = case.partition("_")
    pmv = _pmv(r100, example, clip == "clip")
    grad = example["grad"] if cond else None
    step = ddim_step(r100, pmv, example["x_t"], example["t"], example["step_noise"], eta=eta, grad=grad)
    assert_float32_close(step.sample, ref[f"ddim.{eta_key}.{case}.sample"])
    assert_float32_close(step.pred_xstart, ref[f"ddim.{eta_key}.{case}.pred_xstart"])


def test_ddim_eta0_needs_no_noise(example: dict[str, Tensor], r100: DiffusionSchedule) -> None:
    pmv = _pmv(r100, example, clip=False)
    with_noise = ddim_step(r100, pmv, example["x_t"], example["t"], example["step_noise"])
    without = ddim_step(r100, pmv, example["x_t"], example["t"])
    assert torch.equal(with_noise.sample, without.sample)
    with pytest.raises(ValueError):
        ddim_step(r100, pmv, example["x_t"], example["t"], eta=0.5)


def test_fixed_variances(r100: DiffusionSchedule) -> None:
    x_t = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([0, 50])
    eps = torch.randn_like(x_t)
    small = p_mean_variance(r100, eps, x_t, t, learned_sigma=False, fixed_variance="small")
    large = p_mean_variance(r100, eps, x_t, t, learned_sigma=False, fixed_variance="large")
    assert small.variance[1, 0, 0, 0] == r100.posterior_variance[50]
    assert large.variance[1, 0, 0, 0] == r100.betas[50]
    assert large.variance[0, 0, 0, 0] == r100.posterior_variance[1]
    torch.testing.assert_close(large.log_variance, large.variance.log())
    torch.testing.assert_close(small.mean, large.mean)


def test_learned_sigma_interpolates_between_fixed_variances(r100: DiffusionSchedule) -> None:
    """v = 1 gives Σ = β_t and v = -1 gives Σ = β̃_t (IDDPM eq. 15)."""
    x_t = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([10, 50])
    eps = torch.randn_like(x_t)
    for v, fixed in ((1.0, "large"), (-1.0, "small")):
        output = torch.cat([eps, torch.full_like(eps, v)], dim=1)
        learned = p_mean_variance(r100, output, x_t, t)
        expected = p_mean_variance(r100, eps, x_t, t, learned_sigma=False, fixed_variance=fixed)
        torch.testing.assert_close(learned.log_variance, expected.log_variance)


def test_wrong_channel_count_raises(r100: DiffusionSchedule) -> None:
    x_t = torch.randn(1, 3, 4, 4)
    with pytest.raises(ValueError):
        p_mean_variance(r100, torch.randn(1, 3, 4, 4), x_t, torch.tensor([1]))


# --- the small UNet's output, end to end --------------------------------------------------------


def test_e2e_small_unet_step(e2e: dict[str, Tensor], vectors: dict, r100: DiffusionSchedule) -> None:
    t, x_t = e2e["t"], e2e["x_t"]
    assert t.tolist() == vectors["values"]["e2e.t"]
    assert torch.equal(model_timesteps(r100, t), e2e["unet_timesteps"])
    pmv = p_mean_variance(r100, e2e["model_output"], x_t, t, clip_denoised=False)
    assert_float32_close(pmv.mean, e2e["pmv.noclip.mean"])
    assert_float32_close(pmv.log_variance, e2e["pmv.noclip.log_variance"])
    assert_float32_close(pmv.pred_xstart, e2e["pmv.noclip.pred_xstart"])
    assert_float32_close(ddpm_step(pmv, t, e2e["step_noise"]).sample, e2e["p_sample.noclip.sample"])
    assert_float32_close(ddim_step(r100, pmv, x_t, t, e2e["step_noise"]).sample, e2e["ddim.eta0.noclip.sample"])
