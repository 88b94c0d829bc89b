"""The cost of an edit, counted before it runs (bdlearn.machinery.cost), and the batches it sets.

* the meta-device count of the tensors a guided step keeps for its backward pass agrees with the
  same count on the CPU, running the step for real, and errs only on the safe side;
* half precision: the float16 torso keeps no float32 copies in its norms, and float16 CLIP halves
  CLIP's share (the real architectures, counted on the meta device in a second or two);
* the batch comes from the user, from free GPU memory, or from the world's default; out of GPU
  memory, an automatic batch is halved (same edits as that batch from the start), a chosen one is an
  error.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bdlearn import pipeline
from bdlearn.diffusion.unet import GroupNorm32
from bdlearn.editing.guidance import GuidanceWeights, guided_prediction
from bdlearn.machinery import cost
from bdlearn.machinery.cost import (
    BACKWARD_HEADROOM,
    RESERVE_BYTES,
    edits_that_fit,
    guided_step_cost,
    meta_twin,
    plan_batches,
)
from bdlearn.machinery.inputs import InputError
from bdlearn.worlds.real import REAL_DEFAULTS, REAL_DIFFUSION, build_real_clip, build_real_unet
from bdlearn.worlds.world import ModelWorld


def _saved_bytes_on_cpu(world: ModelWorld, batch: int, num_augmentations: int) -> int:
    """The bytes a real guided step on the CPU keeps for its backward pass, weights excluded."""
    weights = {t.untyped_storage().data_ptr() for m in (world.unet, world.clip.model) for t in m.state_dict().values()}
    saved: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    side = world.image_size
    schedule = world.schedule()
    text = world.clip.encode_text(["a red circle"]).detach()
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        guided_prediction(world.unet, schedule, torch.randn(batch, 3, side, side), schedule.num_timesteps - 1,
                          clip=world.clip, text_embedding=text, masks=torch.ones(batch, 1, side, side),
                          weights=GuidanceWeights(num_augmentations=num_augmentations), seed=0)
    return sum(saved.values()) // batch


def test_meta_twin_has_the_layout_and_no_memory(world):
    twin = meta_twin(world.unet)
    pairs = list(zip(world.unet.state_dict().items(), twin.state_dict().items()))
    assert pairs and all(name == twin_name and tensor.shape == twin_tensor.shape and tensor.dtype == twin_tensor.dtype
                         and twin_tensor.is_meta and not tensor.is_meta
                         for (name, tensor), (twin_name, twin_tensor) in pairs)


def test_meta_count_matches_the_cpu_and_errs_on_the_safe_side(world):
    counted = guided_step_cost(world, num_augmentations=4).saved_bytes
    measured = _saved_bytes_on_cpu(world, batch=2, num_augmentations=4)
    # the meta device runs attention unfused and keeps its T×T weights; nothing else differs
    assert measured <= counted <= 1.25 * measured


def test_half_precision_counts_on_the_real_architectures():
    def per_edit(half: bool) -> cost.StepCost:
        world = ModelWorld("real", build_real_unet("meta", use_fp16=half), build_real_clip("meta", half=half), 256,
                           dict(REAL_DIFFUSION), REAL_DEFAULTS)
        return guided_step_cost(world, REAL_DEFAULTS.num_augmentations)

    full, half = per_edit(False), per_edit(True)
    assert half.saved_bytes < 0.6 * full.saved_bytes
    assert half.flops == full.flops  # the same arithmetic, in other precisions
    assert 5e12 < full.flops < 6.5e12  # forward and backward of the 552 M-parameter UNet and 16 CLIP views


def test_group_norm_keeps_no_float32_copy_and_changes_nothing():
    torch.manual_seed(0)
    norm = GroupNorm32(64)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 64, 8, 8).half().requires_grad_(True)
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t.dtype) or t, lambda t: t):
        out = norm(x)
    assert torch.float32 not in kept
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, norm.weight, norm.bias), grad_out)
    plain = x.detach().requires_grad_(True)
    expected_out = torch.nn.functional.group_norm(plain.float(), 32, norm.weight, norm.bias, norm.eps).half()
    expected = torch.autograd.grad(expected_out, (plain, norm.weight, norm.bias), grad_out)  # keeps the copy
    assert torch.equal(out, expected_out)
    assert all(torch.equal(a, b) for a, b in zip(grads, expected))


def test_meta_twin_leaves_the_original_hooks_behind(world):
    calls = []
    handle = world.unet.register_forward_hook(lambda module, inputs, output: calls.append(output.shape))
    try:
        guided_step_cost(world, num_augmentations=2)
    finally:
        handle.remove()
    assert calls == []


def test_edits_that_fit():
    per_edit = 4 * 10**9
    assert edits_that_fit(RESERVE_BYTES + int(3 * per_edit * BACKWARD_HEADROOM), per_edit) == 3
    assert edits_that_fit(RESERVE_BYTES + int(3 * per_edit * BACKWARD_HEADROOM) - 1, per_edit) == 2
    assert edits_that_fit(10**6, per_edit) == 1  # a lone edit is always tried


def test_plan_batches_chooses_by_user_gpu_memory_or_default(world, monkeypatch):
    chosen = plan_batches(world, repetitions=5, steps=10, num_augmentations=2, batch_size=3)
    assert (chosen.batch_size, chosen.chosen_by, chosen.unet_evaluations) == (3, "you", 50)
    default = plan_batches(world, repetitions=5, steps=10, num_augmentations=2)
    assert (default.batch_size, default.chosen_by) == (min(world.defaults.batch_size, 5), "the world's default")

    per_edit = guided_step_cost(world, 2).saved_bytes
    free = RESERVE_BYTES + int(2.5 * per_edit * BACKWARD_HEADROOM)
    cached = 10**6  # held by PyTorch's allocator from earlier work: free for this edit
    monkeypatch.setattr(ModelWorld, "device", property(lambda self: torch.device("cuda")))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free - cached, 16 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 5 * cached)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 4 * cached)
    gpu = plan_batches(world, repetitions=5, steps=10, num_augmentations=2)
    assert (gpu.batch_size, gpu.chosen_by, gpu.saved_bytes_per_edit, gpu.free_bytes) == (2, "free GPU memory",
                                                                                         per_edit, free)
    assert "2 at a time on cuda (free GPU memory" in gpu.describe()

    def unreadable(device=None):
        raise RuntimeError("CUDA driver error: operation not supported")

    monkeypatch.setattr(torch.cuda, "mem_get_info", unreadable)
    with pytest.warns(RuntimeWarning, match="could not size the batch .*operation not supported"):
        fallback = plan_batches(world, repetitions=5, steps=10, num_augmentations=2)
    assert (fallback.batch_size, fallback.chosen_by) == (min(world.defaults.batch_size, 5), "the world's default")


def _out_of_memory_above(limit: int, monkeypatch, error: Exception | None = None) -> list[int]:
    """Make the editing loop raise ``error`` (CUDA's out-of-memory error) for batches above ``limit``;
    return the batches tried."""
    error = error or torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
    tried = []
    real_loop = pipeline.guided_edit_loop

    def loop(*args, batch, **kwargs):
        tried.append(batch)
        if batch > limit:
            torch.randn(batch, generator=kwargs["generator"])  # a failed attempt has drawn noise already
            raise error
        return real_loop(*args, batch=batch, **kwargs)

    monkeypatch.setattr(pipeline, "guided_edit_loop", loop)
    return tried


def _small_edit(world, **options):
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    return pipeline.edit(image, mask, "a red circle", world, respacing="10", skip=6, num_augmentations=2,
                         repetitions=4, seed=3, progress=False, **options)


def test_out_of_memory_halves_an_automatic_batch(world, monkeypatch):
    expected = _small_edit(world, batch_size=2)
    tried = _out_of_memory_above(2, monkeypatch)
    with pytest.warns(RuntimeWarning, match="out of memory on cpu with 4 edits at once; going on with 2"):
        result = _small_edit(world)  # the world's default batch: all 4 at once
    assert tried == [4, 2, 2]
    assert torch.equal(result.images, expected.images)
    assert (result.run.batch_size, result.run.batch_size_chosen_by) == (4, "the world's default")
    assert result.run.batches == (2, 2)  # what ran: enough to repeat the edits with batch_size=2


def test_out_of_memory_with_a_chosen_batch_or_one_edit_is_an_error(world, monkeypatch):
    _out_of_memory_above(0, monkeypatch)
    with pytest.raises(InputError, match="batch_size=4 .*pass a smaller batch_size"):
        _small_edit(world, batch_size=4)
    with pytest.raises(InputError, match="even with one edit at a time"), pytest.warns(RuntimeWarning):
        _small_edit(world)


def test_progress_says_the_cost_first(world, capsys):
    image = np.zeros((32, 32, 3), np.float32)
    mask = np.ones((32, 32), bool)
    pipeline.edit(image, mask, "a red circle", world, respacing="10", skip=6, num_augmentations=0, repetitions=3,
                  batch_size=2, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "3 edit(s) x 4 steps = 12 guided UNet evaluations, 2 at a time on cpu (you)" in err
    assert "/12 [" in err  # the bar over all of them


def test_out_of_memory_in_other_words_is_caught_and_other_errors_are_not(world, monkeypatch):
    _out_of_memory_above(2, monkeypatch, RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED: out of memory"))
    with pytest.warns(RuntimeWarning, match="going on with 2"):
        assert _small_edit(world).run.batches == (2, 2)
    _out_of_memory_above(2, monkeypatch, RuntimeError("an unrelated failure"))
    with pytest.raises(RuntimeError, match="an unrelated failure"):
        _small_edit(world)
