"""Resampling (RePaint), beyond the paper: the schedule of moves, the re-noising q(x_t | x_s), and the
loop and edit() with it (on the small random models of conftest's ``world``).

* the moves walk down one level per step and back up ``jump`` levels per re-noising, never above the
  start, end at the data, and run each whole block ``resample`` times (a property test);
* q(x_t | x_s) after q(x_s | x_0) is q(x_t | x_0): the same draw from x_0, and the right moments;
* with resampling, Blended Diffusion still keeps the outside of the mask exactly, draws the
  re-noising noise by name, and a bad ``resample`` or ``jump`` is refused before any work.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bdlearn.diffusion.forward import q_sample, q_sample_later
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.editing.resampling import resampling_moves
from bdlearn.machinery.inputs import InputError
from bdlearn.pipeline import edit

FAST = dict(respacing="10", skip=4, num_augmentations=0, repetitions=2, progress=False)  # 6 steps


@st.composite
def _schedules(draw):
    first = draw(st.integers(0, 60))
    return first, draw(st.integers(1, 6)), draw(st.integers(1, first + 1))


@settings(max_examples=200, deadline=None)
@given(_schedules())
def test_the_moves_walk_each_block_resample_times(case):
    first, resample, jump = case
    moves = resampling_moves(first, resample, jump)
    level = first
    for move in moves:
        assert move.t == level
        assert move.to == (level - 1 if move.kind == "step" else level + jump)
        assert move.to <= first
        level = move.to
    assert level == -1, "the edit must end at the data"
    whole_blocks = (first + 1) // jump
    steps = sum(move.kind == "step" for move in moves)
    assert steps == first + 1 + (resample - 1) * jump * whole_blocks
    assert resampling_moves(first) == resampling_moves(first, 1, jump)  # u = 1: the plain loop, whatever the jump
    assert [move.t for move in resampling_moves(first)] == list(range(first, -1, -1))


def test_a_jump_longer_than_the_edit_is_refused():
    with pytest.raises(ValueError, match=r"jump must be at most the edit's number of steps \(4 steps\), got 5"):
        resampling_moves(3, resample=2, jump=5)
    with pytest.raises(ValueError, match=r"\(1 step\), got 2"):
        resampling_moves(0, resample=2, jump=2)
    with pytest.raises(ValueError, match="at least 1"):
        resampling_moves(3, resample=0)


def test_renoising_from_x_s_is_noising_from_x_0():
    schedule = DiffusionSchedule.create(respacing="50")
    x0 = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(1, 3, 2, 2)
    noise = torch.randn(1, 3, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([30])
    assert torch.allclose(q_sample_later(schedule, x0, -1, 30, noise), q_sample(schedule, x0, t, noise), atol=1e-12)
    # x_s ~ q(x_s | x_0), then x_t ~ q(x_t | x_s): x_t has q(x_t | x_0)'s mean √ᾱ_t x_0 and variance 1 − ᾱ_t
    generator = torch.Generator().manual_seed(1)
    x0 = torch.full((200_000,), 0.6, dtype=torch.float64)
    x_s = q_sample(schedule, x0, torch.full((x0.numel(),), 10), torch.randn(x0.shape, generator=generator,
                                                                             dtype=torch.float64))
    x_t = q_sample_later(schedule, x_s, 10, 30, torch.randn(x0.shape, generator=generator, dtype=torch.float64))
    alpha_bar = float(schedule.alphas_cumprod[30])
    assert abs(float(x_t.mean()) - alpha_bar ** 0.5 * 0.6) < 0.01
    assert abs(float(x_t.var()) - (1 - alpha_bar)) < 0.01
    with pytest.raises(ValueError, match="s < t"):
        q_sample_later(schedule, x0, 30, 10, x0)


def _case(seed: int):
    rng = np.random.default_rng(seed)
    return rng.random((32, 32, 3)).astype(np.float32), rng.random((32, 32)) < 0.3


@pytest.mark.parametrize("seed", range(2))
def test_resampled_blended_diffusion_keeps_the_outside_exactly(world, seed):
    image, mask = _case(seed)
    result = edit(image, mask, "a red circle", world, resample=3, jump=2, seed=seed, **FAST)
    assert result.run.denoising_steps == 6 + 2 * 2 * 3  # three blocks of 2 steps, each run 3 times
    assert result.settings.resample == 3 and result.settings.jump == 2
    expected = np.round(image * 255).astype(np.uint8)
    for index in range(len(result.images)):
        assert np.array_equal(result.full_size(index)[~mask], expected[~mask])
    plain = edit(image, mask, "a red circle", world, seed=seed, **FAST)
    assert not torch.equal(plain.images, result.images), "resampling changed nothing"


def test_the_loop_draws_the_renoising_noise_by_name(world, monkeypatch):
    from bdlearn.editing import loop
    from bdlearn.editing.noise import GeneratorNoise, RecordingNoise

    recorded = []

    class Recording(RecordingNoise):
        def __init__(self, generator):
            super().__init__(GeneratorNoise(generator))
            recorded.append(self)

    monkeypatch.setattr(loop, "GeneratorNoise", Recording)
    image, mask = _case(0)
    edit(image, mask, "a red circle", world, resample=2, jump=3, **{**FAST, "repetitions": 1})
    names = [name for name, _ in recorded[0].draws]
    assert names.count("renoise") == 2  # after each of the two blocks of 3 steps
    assert names.count("step") == 12 and names[0] == "start"


@pytest.mark.parametrize("options, message", [
    (dict(resample=0), r"resample must be in \[1, 20\]"),
    (dict(resample=21), r"resample must be in \[1, 20\]"),
    (dict(resample=2.0), "resample must be an integer"),
    (dict(resample=2, jump=0), "jump must be in"),
    (dict(resample=2, jump=7), r"jump must be in \[1, 6\], got 7 \(the edit has 6 steps\)"),
])
def test_bad_resampling_settings_are_refused_before_any_work(options, message):
    image, mask = _case(0)
    with pytest.raises(InputError, match=message):
        edit(image, mask, "a red circle", "toy", **{**FAST, **options})
