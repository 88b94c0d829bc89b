"""The two variants of the method (bdlearn.editing.variants) and the noise an edit draws (bdlearn.editing.noise).

The official variant's numbers are proved against the official code in test_conformance_official.py;
here: the table of choices, the variant through edit() and the command line, and recording and
replaying an edit's draws.
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch

from bdlearn import edit
from bdlearn.editing.guidance import GuidanceWeights
from bdlearn.editing.loop import guided_edit_loop
from bdlearn.editing.noise import GeneratorNoise, RecordedNoise, RecordingNoise
from bdlearn.editing.variants import VARIANTS, variant_choices
from bdlearn.machinery.inputs import InputError
from bdlearn.scenes.tasks import make_edit_task
from bdlearn.worlds.load import shared_world

FAST = dict(respacing="10", skip=5, repetitions=2, num_augmentations=3, progress=False)


def test_the_official_variant_differs_from_the_paper_in_every_listed_choice():
    paper, official = VARIANTS["paper"], VARIANTS["official"]
    same = [each.name for each in fields(paper) if getattr(paper, each.name) == getattr(official, each.name)]
    assert not same, f"choices listed as differences that do not differ: {same}"
    assert variant_choices("official") is official and variant_choices(paper) is paper
    with pytest.raises(ValueError, match="variant must be one of 'paper', 'official'"):
        variant_choices("offical")


def test_edit_defaults_to_the_paper_variant_and_runs_the_official_one():
    task = make_edit_task(5)
    paper = edit(task.image, task.mask, task.prompt, seed=1, **FAST)
    official = edit(task.image, task.mask, task.prompt, seed=1, variant="official", **FAST)
    assert (paper.settings.variant, paper.settings.clip_input) == ("paper", "pred_xstart")
    assert (official.settings.variant, official.settings.clip_input) == ("official", "official_mix")
    assert not torch.equal(paper.images, official.images)
    for result in (paper, official):  # both keep the photo outside the mask
        outside = ~result.source_mask
        assert np.array_equal(result.full_size(0)[outside], result.source[outside])
    # the official PNGs truncate ×255, bdlearn's round
    unit = ((official.images + 1) / 2).clamp(0, 1).double()
    assert np.array_equal(official.to_numpy(), (unit * 255).floor().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    rounded = ((paper.images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(paper.to_numpy(), rounded)


def test_the_official_variant_is_refused_with_ddim_and_a_clip_input_can_still_be_chosen():
    task = make_edit_task(5)
    with pytest.raises(InputError, match="official variant is reproduced for the DDPM sampler"):
        edit(task.image, task.mask, task.prompt, variant="official", sampler="ddim", **FAST)
    chosen = edit(task.image, task.mask, task.prompt, variant="official", clip_input="pred_xstart", **FAST)
    assert chosen.settings.clip_input == "pred_xstart"


@pytest.mark.parametrize("variant", ["paper", "official"])
@pytest.mark.parametrize("method", ["blended", "local"])
def test_a_recorded_edit_replays_exactly(variant, method):
    world = shared_world("toy")
    task = make_edit_task(4)
    image = torch.from_numpy(task.image).permute(2, 0, 1)[None].float() * 2 - 1
    mask = torch.from_numpy(task.mask)[None, None].float()
    text = world.clip.encode_text([task.prompt])
    weights = GuidanceWeights(clip=500, range=50, background=20.0 if method == "local" else 0.0,
                              num_augmentations=3 if variant == "official" else 0)
    schedule = world.schedule("10")
    run = dict(batch=2, skip=6, weights=weights, method=method, variant=variant, progress=False)
    recorder = RecordingNoise(GeneratorNoise(torch.Generator().manual_seed(3)))
    first = guided_edit_loop(world.unet, world.clip, schedule, image, mask, text, noise=recorder, **run)
    replay = guided_edit_loop(world.unet, world.clip, schedule, image, mask, text,
                              noise=RecordedNoise(recorder.draws), **run)
    assert torch.equal(first.edits, replay.edits)
    assert [kind for kind, _ in recorder.draws][:2] == ["start", "step"]


def test_a_replay_out_of_step_says_so():
    like = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match="asked for 'step' but the recording holds 'background'"):
        RecordedNoise([("background", like)]).normal("step", (2, 3, 4, 4), like)
    with pytest.raises(ValueError, match=r"recorded shape \(1, 3, 4, 4\), the loop needs \(2, 3, 4, 4\)"):
        RecordedNoise([("step", like[:1])]).normal("step", (2, 3, 4, 4), like)
    with pytest.raises(ValueError, match="no more draws"):
        RecordedNoise([]).normal("start", (2, 3, 4, 4), like)
