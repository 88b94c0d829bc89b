"""What both toy trainers share: the run settings, the optimisation step, EMA weights, resumable
checkpoints and exported weights with a card.

A training checkpoint holds only tensors and plain Python values, so it loads with
``torch.load(..., weights_only=True)``. Exported weights are safetensors files beside a JSON
"card" (configuration, data seed, steps, training time and machine, metrics).
"""
from __future__ import annotations

import json
import math
import os
import pickle
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import torch
from safetensors.torch import save
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from bdlearn.checks import checked_flag, checked_integer, checked_real, checked_seed
from bdlearn.diffusion.checks import check_module
from bdlearn.errors import CheckpointError, InputError, first_words
from bdlearn.files import write_whole

Params = ParamSpec("Params")
Returned = TypeVar("Returned")


def private_random_state(trainer: Callable[Params, Returned]) -> Callable[Params, Returned]:
    """Run ``trainer`` on a private copy of torch's CPU random state (:func:`torch.random.fork_rng`).

    A trainer seeds that copy (``torch.default_generator.manual_seed(config.seed)``) for its
    initialisation and its augmentations; the caller's random numbers are as they were afterwards.
    """
    @wraps(trainer)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> Returned:
        with torch.random.fork_rng(devices=[]):
            return trainer(*args, **kwargs)

    return run


@dataclass
class TrainConfig:
    """Settings every toy training run has; the DDPM's and the CLIP's configs add their own.

    ``max_minutes`` stops a run early (a resumable checkpoint is kept). ``lr_schedule`` is what
    the learning rate does after its linear warm-up: stay at ``lr`` ("constant") or fall to 0 at
    ``steps`` along a half cosine ("cosine"); see :func:`learning_rate`. ``steps`` and
    ``checkpoint_every`` are positive ints, ``warmup_steps`` and ``data_seed`` ints of at least 0,
    ``seed`` a seed in [0, 2**32), ``lr`` and ``grad_clip`` finite numbers of at least 0 (0 leaves the
    weights as they are), ``max_minutes`` None or one: anything else is an
    :class:`~bdlearn.errors.InputError` when the config is made, not an error from deep inside the
    optimiser, or a run that ends without a checkpoint.
    """

    steps: int = 1_000
    lr: float = 1e-3
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    grad_clip: float = 1.0
    data_seed: int = 1
    seed: int = 0
    checkpoint_every: int = 250
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        checked_integer("steps", self.steps, 1, hint=" (the optimisation steps of the run)")
        checked_real("lr", self.lr, 0, hint=" (the learning rate; 0 leaves the weights as they are)")
        checked_integer("warmup_steps", self.warmup_steps, 0, hint=" (the steps of the learning rate's linear warm-up)")
        checked_real("grad_clip", self.grad_clip, 0, hint=" (the largest gradient norm a step applies)")
        checked_integer("data_seed", self.data_seed, 0, hint=" (the seed of the rendered training data)")
        checked_seed(self.seed)
        checked_integer("checkpoint_every", self.checkpoint_every, 1, hint=" (steps between checkpoints)")
        if self.max_minutes is not None:  # None: no time limit
            checked_real("max_minutes", self.max_minutes, 0, hint=" (the run's time limit in minutes, or None)")

    def finished(self, step: int, elapsed_seconds: float) -> bool:
        """True after the last step, or once the run has used ``max_minutes``."""
        return step == self.steps or (self.max_minutes is not None and elapsed_seconds > 60 * self.max_minutes)


Config = TypeVar("Config", bound=TrainConfig)

LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate at (0-based) ``step``: a linear warm-up over ``warmup_steps``, then
    ``config.lr`` held ("constant") or decayed to 0 at ``config.steps`` by a half cosine ("cosine")."""
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {config.lr_schedule!r}")
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.lr
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def resolve_preset(config: Config | str, presets: dict[str, Config]) -> Config:
    """``config`` itself, or the preset it names (a clear error for an unknown name)."""
    if isinstance(config, str):
        if config not in presets:
            raise ValueError(f"unknown preset {config!r}; choose one of {sorted(presets)}")
        return presets[config]
    return config


def optimisation_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                      grad_clip: float) -> float:
    """Backpropagate ``loss``, clip the gradient's norm to ``grad_clip``, update; returns the loss value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


def checked_ema_decay(name: str, decay: Any) -> float:
    """``decay`` of an exponential moving average as a float in [0, 1]: the weight the average keeps of itself at
    each step, so 0 follows the weights and 1 never moves (an :class:`~bdlearn.errors.InputError` otherwise)."""
    return checked_real(name, decay, 0, 1, hint=" (the share of the average kept at each step, e.g. 0.999)")


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s weights: θ_ema ← decay·θ_ema + (1 − decay)·θ.

    ``model`` must be a torch module (torch would wrap anything, and fail only when the average is used) and
    ``decay`` a number in [0, 1] (:func:`checked_ema_decay`).
    """
    check_module("make_ema", model)
    decay = checked_ema_decay("decay", decay)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def save_checkpoint(path: Path, **state) -> None:
    """Write a resumable checkpoint whole (:func:`write_whole`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, lambda partial: torch.save(state, partial))


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, without unpickling code (a TypeError for a
    torch file that holds something else than a run's state, e.g. a bare tensor)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f"it holds a {type(state).__name__}, not a run's state")
    return state


RUN_KINDS = {"ddpm": "DDPM", "clip": "CLIP"}
"""The trainers whose runs a checkpoint can hold, with the names messages give them."""


def run_kind(state: dict) -> str | None:
    """Which trainer wrote the checkpoint ``state``: the CLIP trainer's keeps its zero-shot evaluations
    (``"evals"``), the DDPM trainer's its config and EMA weights; None for a dict that is neither's."""
    if "evals" in state:
        return "clip"
    return "ddpm" if {"config", "ema", "model"} <= state.keys() else None


def check_run_kind(state: dict, kind: str, path: Path) -> None:
    """Refuse the checkpoint ``path`` when another trainer than ``kind``'s wrote it: its weights would not load
    into this model, and starting afresh in its folder would throw that other run away. (A dict neither trainer
    wrote is left to the loading, which calls it not a whole checkpoint.)"""
    if (found := run_kind(state)) not in (None, kind):
        raise CheckpointError(f"{path.parent} holds a {RUN_KINDS[found]} training run, not a {RUN_KINDS[kind]} "
                              f"run; train the {RUN_KINDS[kind]} into another folder")


@contextmanager
def resuming_from(path: Path) -> Iterator[None]:
    """Around the reading of a checkpoint to resume from: a file that cannot be read, or does not hold a
    run's whole state (empty, garbage, another kind of torch file), is a CheckpointError saying how to
    start afresh, not an error from deep inside torch's unpickler."""
    try:
        yield
    except (pickle.UnpicklingError, EOFError, RuntimeError, KeyError, AttributeError, TypeError, IndexError) as err:
        raise CheckpointError(f"{path} is not a whole checkpoint of a run ({type(err).__name__}: "
                              f"{first_words(err)}); start afresh with --restart (resume=False in Python), "
                              "or remove it") from None


def machine_description(threads: int | None = None) -> str:
    """A one-line description of this machine, for cards and benchmark reports.

    ``threads`` is the number of torch threads the work used (default: this process's).
    """
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {threads or torch.get_num_threads()} threads"


def check_weights_dest(dest: str | Path, overwrite: bool = False) -> Path:
    """``dest`` as the path of weights to write: a folder there is refused (the weights would go to a temporary
    file beside it, and the error name that file), and so is an existing file unless ``overwrite`` (weights such as
    the toy world's own, or the ones a growth starts from, are not replaced by accident)."""
    dest = Path(dest)
    if dest.is_dir():
        raise InputError(f"dest {dest} is a folder; name the weights file to write, e.g. "
                         f"{dest / 'weights.safetensors'}")
    if not checked_flag("overwrite", overwrite) and dest.exists():
        raise InputError(f"dest {dest} exists; pass overwrite=True to replace it (bdlearn grow: --force), or name "
                         "another file")
    return dest


def export_weights(path: Path, state_dict: dict[str, torch.Tensor], card: dict,
                   dtype: torch.dtype = torch.float32) -> None:
    """Save ``state_dict`` as safetensors (cast to ``dtype``) and ``card`` as JSON beside it.

    Each file is written whole (:func:`write_whole`), the card last.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in state_dict.items()}
    metadata = {"format": "pt", "bdlearn_card": path.with_suffix(".json").name}
    # safetensors' save_file creates its file readable by its owner only; bytes written here get the usual mode
    write_whole(path, lambda partial: partial.write_bytes(save(tensors, metadata=metadata)))
    card = {**card, "exported": time.strftime("%Y-%m-%d %H:%M:%S"), "storage_dtype": str(dtype).replace("torch.", "")}
    write_whole(path.with_suffix(".json"), lambda partial: partial.write_text(json.dumps(card, indent=2) + "\n"))
