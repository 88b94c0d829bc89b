"""Blended Diffusion's guarantees, on small random models (no trained weights needed).

* the background is the input, bit for bit, for random masks, images and seeds;
* a seed gives the same edits; the guidance gradient from one UNet evaluation equals the
  gradient computed the reference's way (a second evaluation);
* the guided step reproduces guided-diffusion's conditioned DDPM and DDIM steps (fixtures).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bdlearn.diffusion.reverse import ddim_step, ddpm_step, p_mean_variance
from bdlearn.diffusion.schedule import DiffusionSchedule, model_timesteps
from bdlearn.editing.guidance import GuidanceWeights, clip_distance, guided_prediction, range_loss
from bdlearn.editing.loop import start_step
from bdlearn.machinery.inputs import load_image
from bdlearn.pipeline import edit

FLOAT32_ATOL = 1e-5  # float32 fixtures: only summation order differs (see the reference README)


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    image = rng.random((32, 32, 3)).astype(np.float32)
    mask = rng.random((32, 32)) < rng.uniform(0.05, 0.6)
    return image, mask


@pytest.mark.parametrize("seed", range(4))
def test_background_is_bit_exact_outside_the_mask(world, seed):
    image, mask = _random_case(seed)
    result = edit(image, mask, "a red circle", world, respacing="10", skip=5, repetitions=2,
                  num_augmentations=2, seed=seed, progress=False, sampler="ddim" if seed % 2 else "ddpm")
    keep = result.mask[0] == 0
    expected = load_image(image, 32)[0]  # 32x32 input: no resizing, only quantised to 8 bits
    assert torch.equal(result.images[:, :, keep], expected[:, keep].expand(2, -1, -1))
    assert not torch.equal(result.images[:, :, ~keep], expected[:, ~keep].expand(2, -1, -1))


def test_same_seed_same_edits_different_seed_different(world):
    image, mask = _random_case(7)
    kwargs = dict(respacing="10", skip=4, repetitions=2, num_augmentations=3, progress=False)
    first = edit(image, mask, "a blue square", world, seed=3, **kwargs)
    again = edit(image, mask, "a blue square", world, seed=3, **kwargs)
    other = edit(image, mask, "a blue square", world, seed=4, **kwargs)
    assert torch.equal(first.images, again.images) and torch.equal(first.distances, again.distances)
    assert not torch.equal(first.images, other.images)


def test_inputs_are_not_modified(world):
    image, mask = _random_case(8)
    image_copy, mask_copy = image.copy(), mask.copy()
    edit(image, mask, "a green cross", world, respacing="10", skip=7, repetitions=1, progress=False)
    assert np.array_equal(image, image_copy) and np.array_equal(mask, mask_copy)


def test_ranking_orders_by_unaugmented_clip_distance(world):
    image, mask = _random_case(9)
    result = edit(image, mask, "a yellow circle", world, respacing="10", skip=7, repetitions=4, progress=False)
    assert torch.all(result.distances[:-1] <= result.distances[1:])
    embedding = world.clip.encode_text(["a yellow circle"])
    direct = clip_distance(world.clip, result.images, result.mask[None].expand(4, -1, -1, -1), embedding)
    torch.testing.assert_close(direct, result.distances)


def test_trajectory_shapes(world):
    image, mask = _random_case(10)
    result = edit(image, mask, "a red square", world, respacing="10", skip=3, repetitions=2,
                  return_trajectory=True, progress=False)
    steps = 10 - 3
    assert result.steps == list(range(steps - 1, -1, -1))
    assert result.x_t.shape == (steps + 1, 2, 3, 32, 32)
    assert result.pred_xstart.shape == (steps, 2, 3, 32, 32)


def test_one_evaluation_gradient_equals_the_reference_way(world):
    """−∇_{x_t} L from the step's own UNet evaluation equals a fresh second evaluation's gradient."""
    schedule = DiffusionSchedule.create(respacing="10")
    x_t = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    text = world.clip.encode_text(["a red circle"])
    weights = GuidanceWeights(clip=100.0, range=50.0, num_augmentations=3)
    ours = guided_prediction(world.unet, schedule, x_t, 6, clip=world.clip, text_embedding=text, masks=mask,
                             weights=weights, seed=11)
    # the reference's way: a no-grad evaluation for the mean, another with gradients for the guidance
    t = torch.full((2,), 6)
    with torch.no_grad():
        pmv = p_mean_variance(schedule, world.unet(x_t, model_timesteps(schedule, t)), x_t, t, clip_denoised=False)
    x_in = x_t.clone().requires_grad_(True)
    pred = p_mean_variance(schedule, world.unet(x_in, model_timesteps(schedule, t)), x_in, t,
                           clip_denoised=False).pred_xstart
    loss = 100.0 * clip_distance(world.clip, pred, mask, text, 3, seed=11) + 50.0 * range_loss(pred)
    reference_grad = -torch.autograd.grad(loss.sum(), x_in)[0]
    torch.testing.assert_close(ours.pmv.mean, pmv.mean)
    torch.testing.assert_close(ours.grad, reference_grad)
    assert ours.grad.abs().sum() > 0


class _FixedOutput(torch.nn.Module):
    """A stand-in UNet that returns the fixture's model output and records the timesteps it got."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: torch.Tensor | None = None

    def forward(self, x, timesteps):
        self.seen = timesteps
        return self.output + 0 * x.sum()


def test_guided_step_matches_reference_fixtures(reference_dir):
    vectors = load_file(reference_dir / "diffusion_vectors.safetensors")
    schedule = DiffusionSchedule.create(respacing="100")
    x_t, t, grad = vectors["ex.x_t"], vectors["ex.t"], vectors["ex.grad"]
    unet = _FixedOutput(vectors["ex.model_output"])
    for b, step in enumerate(t.tolist()):
        sl = slice(b, b + 1)
        unet.output = vectors["ex.model_output"][sl]
        prediction = guided_prediction(unet, schedule, x_t[sl], step)
        assert float(unet.seen[0]) == float(schedule.timestep_map[step])
        torch.testing.assert_close(prediction.pmv.mean, vectors["pmv.noclip.mean"][sl], atol=FLOAT32_ATOL, rtol=1e-5)
        mean_step = ddpm_step(prediction.pmv, t[sl], vectors["ex.step_noise"][sl], grad=grad[sl])
        torch.testing.assert_close(mean_step.sample, vectors["p_sample.noclip_cond.sample"][sl],
                                   atol=FLOAT32_ATOL, rtol=1e-5)
        score_step = ddim_step(schedule, prediction.pmv, x_t[sl], t[sl], None, eta=0.0, grad=grad[sl])
        torch.testing.assert_close(score_step.sample, vectors["ddim.eta0.noclip_cond.sample"][sl],
                                   atol=FLOAT32_ATOL, rtol=1e-5)


def test_start_step_and_bad_options(world):
    schedule = DiffusionSchedule.create(respacing="100")
    assert start_step(schedule, 25) == 74  # the paper: 100 steps, start at 75, so 75 denoising steps
    with pytest.raises(ValueError):
        start_step(schedule, 100)
    image, mask = _random_case(1)
    with pytest.raises(ValueError, match="method"):
        edit(image, mask, "a red circle", world, method="magic", respacing="10", skip=8, repetitions=1, progress=False)
    with pytest.raises(ValueError, match="sampler"):
        edit(image, mask, "a red circle", world, sampler="euler", respacing="10", skip=8, repetitions=1, progress=False)
    with pytest.raises(ValueError, match="distance"):
        edit(image, mask, "a red circle", world, distance="l2", respacing="10", skip=8, repetitions=1, progress=False)


def test_a_world_named_by_string_is_loaded_once(world, monkeypatch):
    from bdlearn import pipeline
    from bdlearn.worlds import load

    loads = []
    monkeypatch.setattr(load, "_LOADED", {})
    monkeypatch.setattr(load, "load_world", lambda name: loads.append(name) or world)
    image, mask = np.random.default_rng(0).random((32, 32, 3)), np.zeros((32, 32), dtype=bool)
    mask[4:12, 4:12] = True
    for _ in range(2):
        pipeline.edit(image, mask, "a red circle", "toy", respacing="10", skip=8, repetitions=1,
                      num_augmentations=0, progress=False)
    assert loads == ["toy"]
