"""What an edit costs before it runs: memory per edit (which sets the batch) and arithmetic (the time).

Every step of an edit is one CLIP-guided step (:func:`~bdlearn.editing.guidance.guided_prediction`):
the UNet and CLIP run forward while autograd records, then the gradient flows back to x_t. So an
edit of ``repetitions`` repetitions and K steps costs ``repetitions × K`` UNet evaluations, each a
forward and a backward pass.

Both costs are counted, not guessed, by running one guided step on PyTorch's ``meta`` device with
twins of the world's models (same layers and dtypes, no memory, no arithmetic):

* memory: the bytes of the tensors autograd keeps for the backward pass
  (:func:`torch.autograd.graph.saved_tensors_hooks`), weights excluded. They grow with the batch;
  the weights are already in memory. On the meta device attention runs unfused and keeps the T×T
  attention weights that the fused kernels of a GPU do not: for the real world in float16 about
  0.2 GB per edit in the UNet and 0.5 GB in CLIP's 16 views, so the count (4.3 GB) errs on the
  safe side of about 3.6 GB.
* arithmetic: the floating-point operations of the step, forward and backward
  (:class:`torch.utils.flop_counter.FlopCounterMode`), for time estimates from a card's peak.

:func:`plan_batches` turns the memory count into the batch: on a GPU as many edits as
``torch.cuda.mem_get_info`` says fit, with :data:`BACKWARD_HEADROOM` for the backward pass's
temporaries; on the CPU the world's default (fewer where an edit heavier than the defaults does not
fit), and a larger batch that you chose but that the available memory cannot hold is refused
before any work.
"""
from __future__ import annotations

import copy
import itertools
import os
import warnings
from dataclasses import dataclass
from typing import get_args

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bdlearn.checks import checked_integer, shown
from bdlearn.choices import WorldName
from bdlearn.clip.bundle import ClipBundle
from bdlearn.editing.guidance import GuidanceWeights, guided_prediction
from bdlearn.machinery.inputs import InputError
from bdlearn.worlds.world import ModelWorld

#: Memory a batch needs beyond the saved activations: the backward pass's gradients and
#: temporaries, taken as half as much again. On the CPU the peak of a 64x64 stand-in of the real
#: UNet was 1.2-1.5 times its saved bytes (``bench_real_device.py --smoke``, 2 to 16 augmentations;
#: the resident-set measure is noisy); the stand-in has no overcounted attention to spare. A GPU's
#: figure is unmeasured until that script runs on one (it records the peak beside this model).
BACKWARD_HEADROOM = 1.5
#: Left free on the GPU for the allocator's rounding, cuDNN's workspaces and small tensors.
RESERVE_BYTES = 2**30


def meta_twin(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers live on the ``meta`` device (shapes and
    dtypes only), made without copying a byte of the weights."""
    memo: dict[int, object] = {}
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        twin = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = nn.Parameter(twin, requires_grad=False) if isinstance(tensor, nn.Parameter) else twin
    twin = copy.deepcopy(module, memo)
    for part in twin.modules():  # the original's hooks (a progress counter, say) must not run on the twin
        for hooks in (part._forward_hooks, part._forward_pre_hooks, part._backward_hooks,
                      part._backward_pre_hooks):
            hooks.clear()
    return twin


class _FromNonLeaf:
    """Calls ``unet`` on a copy of x_t made by an operation, not on the leaf tensor itself: the
    module tracking inside :class:`~torch.utils.flop_counter.FlopCounterMode` fails on a module
    whose input is the leaf that ``torch.autograd.grad`` differentiates with respect to. (Not a
    module itself, for the same reason.)"""

    def __init__(self, unet: nn.Module) -> None:
        self.unet = unet

    def __call__(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.unet(x * 1, timesteps)


@dataclass(frozen=True)
class StepCost:
    """One guided step of one edit: the bytes autograd keeps for its backward pass, and its
    floating-point operations (forward and backward, UNet and CLIP)."""

    saved_bytes: int
    flops: int


def _loaded(world: ModelWorld | str) -> ModelWorld:
    """``world`` itself, or the world its name loads as :func:`bdlearn.edit` loads it (once per process); anything
    else is a TypeError naming ModelWorld."""
    if isinstance(world, str):
        from bdlearn.worlds.load import shared_world

        return shared_world(world)
    if not isinstance(world, ModelWorld):
        names = ", ".join(map(repr, get_args(WorldName)))
        raise TypeError(f"world must be a ModelWorld or one of {names}, got {shown(world)}")
    return world


def guided_step_cost(world: ModelWorld | str, num_augmentations: int) -> StepCost:
    """Count one guided step of ``world`` with ``num_augmentations`` CLIP views, per edit.

    Runs :func:`~bdlearn.editing.guidance.guided_prediction` for a batch of two on twins of the
    world's UNet and CLIP on the ``meta`` device (a second or two for the real world) and divides
    by two. ``world`` is a :class:`~bdlearn.worlds.world.ModelWorld` or a world's name (:func:`_loaded`).
    """
    world = _loaded(world)
    batch, side = 2, world.image_size
    unet = meta_twin(world.unet)
    clip = ClipBundle(meta_twin(world.clip.model), world.clip.tokenizer, world.clip.image_size,
                      world.clip.mean, world.clip.std)
    weights = {tensor.untyped_storage()._cdata for tensor in itertools.chain(
        unet.parameters(), unet.buffers(), clip.model.parameters(), clip.model.buffers())}
    saved: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage._cdata not in weights:  # a tensor and its views share one storage: counted once
            saved[storage._cdata] = storage.nbytes()
        return tensor

    x_t = torch.zeros(batch, 3, side, side, device="meta")
    masks = torch.ones(batch, 1, side, side, device="meta")
    text = torch.zeros(1, world.clip.model.text_projection.shape[-1], device="meta")
    schedule = world.schedule()
    flop_counter = FlopCounterMode(display=False)
    with flop_counter, torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        guided_prediction(_FromNonLeaf(unet), schedule, x_t, schedule.num_timesteps - 1, clip=clip, text_embedding=text,
                          masks=masks, weights=GuidanceWeights(num_augmentations=num_augmentations), seed=0)
    return StepCost(saved_bytes=sum(saved.values()) // batch, flops=flop_counter.get_total_flops() // batch)


def edits_that_fit(free_bytes: int, saved_bytes_per_edit: int) -> int:
    """How many edits' guided steps fit in ``free_bytes`` at once (at least 1: a lone edit is tried
    even when the model says it does not fit). ``saved_bytes_per_edit`` is a positive int
    (:attr:`StepCost.saved_bytes`)."""
    saved_bytes_per_edit = checked_integer("saved_bytes_per_edit", saved_bytes_per_edit, 1,
                                           hint=" (the bytes one edit's guided step keeps, guided_step_cost(...)"
                                                ".saved_bytes)")
    usable = free_bytes - RESERVE_BYTES
    return max(1, int(usable // (saved_bytes_per_edit * BACKWARD_HEADROOM)))


def available_cpu_memory() -> int | None:
    """Bytes of memory this machine has available now (Linux, macOS: ``os.sysconf``); None where unknown."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class BatchPlan:
    """How an edit's repetitions run: ``batch_size`` at a time, chosen by ``chosen_by``."""

    repetitions: int
    steps: int
    batch_size: int
    chosen_by: str  #: "you", "free GPU memory", "available memory" or "the world's default"
    device: str
    saved_bytes_per_edit: int | None = None
    free_bytes: int | None = None

    @property
    def unet_evaluations(self) -> int:
        """Guided UNet evaluations (a forward and a backward pass each): repetitions × steps."""
        return self.repetitions * self.steps

    def describe(self) -> str:
        """One line for a person about to wait: what runs, how many at once, and why."""
        line = (f"{self.repetitions} edit(s) x {self.steps} steps = {self.unet_evaluations:,} guided UNet "
                f"evaluations, {self.batch_size} at a time on {self.device} ({self.chosen_by}")
        if self.saved_bytes_per_edit is not None and self.free_bytes is not None:
            line += (f": {self.saved_bytes_per_edit / 1e9:.1f} GB per edit, "
                     f"{self.free_bytes / 1e9:.1f} GB free")
        return line + ")"


def plan_batches(world: ModelWorld | str, repetitions: int, steps: int, num_augmentations: int,
                 batch_size: int | None = None) -> BatchPlan:
    """The batch for an edit: ``batch_size`` if given; on a CUDA GPU, as many edits as fit in its
    free memory by :func:`guided_step_cost` and :func:`edits_that_fit` (memory that PyTorch holds
    cached from earlier work counts as free); else the world's default. Never more than
    ``repetitions``. Where the GPU's memory cannot be read or the step cannot be counted, a warning
    says so and the world's default is used.

    ``repetitions``, ``steps`` (guided steps per edit) and ``batch_size`` are positive ints,
    ``num_augmentations`` an int of at least 0; anything else is an :class:`InputError`. ``world`` is a
    :class:`~bdlearn.worlds.world.ModelWorld` or a world's name."""
    repetitions, steps = checked_integer("repetitions", repetitions, 1), checked_integer("steps", steps, 1)
    num_augmentations = checked_integer("num_augmentations", num_augmentations, 0)
    if batch_size is not None:
        batch_size = checked_integer("batch_size", batch_size, 1, hint=" (or None for bdlearn to choose)")
    world = _loaded(world)
    device = world.device
    if device.type == "cpu":
        return _cpu_plan(world, repetitions, steps, num_augmentations, batch_size)
    if batch_size is not None:
        return BatchPlan(repetitions, steps, min(batch_size, repetitions), "you", str(device))
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
            free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            per_edit = guided_step_cost(world, num_augmentations).saved_bytes
        except RuntimeError as err:
            warnings.warn(f"could not size the batch from the GPU's memory ({err}); using the world's default, "
                          f"{world.defaults.batch_size}", RuntimeWarning, stacklevel=2)
        else:
            fit = edits_that_fit(free, per_edit)
            return BatchPlan(repetitions, steps, min(fit, repetitions), "free GPU memory", str(device), per_edit,
                             free)
    return BatchPlan(repetitions, steps, min(world.defaults.batch_size, repetitions), "the world's default",
                     str(device))


def _cpu_plan(world: ModelWorld, repetitions: int, steps: int, num_augmentations: int,
              batch_size: int | None) -> BatchPlan:
    """On the CPU: the world's default batch, or ``batch_size``. An edit heavier than the world's
    defaults (a larger batch, more CLIP views) is counted first (:func:`guided_step_cost`): the default
    batch shrinks to what the memory available now holds, and a batch you chose that it cannot hold
    is refused before any work (the kernel would otherwise stop the process without a word)."""
    defaults = world.defaults
    wanted = min(batch_size or defaults.batch_size, repetitions)
    chosen_by = "you" if batch_size is not None else "the world's default"
    available = available_cpu_memory()
    if (wanted <= defaults.batch_size and num_augmentations <= defaults.num_augmentations) or available is None:
        return BatchPlan(repetitions, steps, wanted, chosen_by, "cpu")
    per_edit = guided_step_cost(world, num_augmentations).saved_bytes
    fit = max(1, int(available // (per_edit * BACKWARD_HEADROOM)))
    if wanted <= fit:
        return BatchPlan(repetitions, steps, wanted, chosen_by, "cpu", per_edit, available)
    if batch_size is None:
        return BatchPlan(repetitions, steps, fit, "available memory", "cpu", per_edit, available)
    needed = wanted * per_edit * BACKWARD_HEADROOM
    raise InputError(f"a batch of {wanted} edits needs about {needed / 1e9:.1f} GB of memory on the CPU and "
                     f"{available / 1e9:.1f} GB are available now: choose a batch size of at most {fit}")
