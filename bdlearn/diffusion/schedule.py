"""Noise schedules of a Gaussian diffusion process, and how to respace them.

A schedule is the list of variances β_1..β_T of the forward process
q(x_t | x_{t-1}) = N(x_t; √(1-β_t) x_{t-1}, β_t I)  (DDPM, Ho et al. 2020, eq. 2).
Everything else the samplers need is derived from it once, in float64, and kept in a
frozen :class:`DiffusionSchedule`:

* α_t = 1 - β_t and ᾱ_t = ∏_{s≤t} α_s  (DDPM eq. 4),
* the posterior q(x_{t-1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
  β̃_t = (1-ᾱ_{t-1}) / (1-ᾱ_t) · β_t and
  μ̃_t = √ᾱ_{t-1} β_t / (1-ᾱ_t) · x_0 + √α_t (1-ᾱ_{t-1}) / (1-ᾱ_t) · x_t  (DDPM eqs. 6-7).

Time indices here are 0-based: entry ``t`` of every buffer belongs to the paper's step t+1.

Respacing (IDDPM, Nichol & Dhariwal 2021, section 4) keeps a subsequence S of the original
steps and builds a shorter process with the same ᾱ at every kept step:
β_i = 1 - ᾱ_{S_i} / ᾱ_{S_{i-1}}.  The network was trained on the original step numbers, so a
respaced schedule remembers, in ``timestep_map``, which original step each of its steps is.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from bdlearn.checks import checked_integer, shown
from bdlearn.diffusion.checks import checked_steps
from bdlearn.errors import InputError

__all__ = [
    "DiffusionSchedule",
    "cosine_beta_schedule",
    "linear_beta_schedule",
    "model_timesteps",
    "named_beta_schedule",
    "respace",
    "space_timesteps",
    "step_indices_from_model_timesteps",
]

#: The number of steps the network's timestep input is scaled to (IDDPM's rescaled timesteps).
MODEL_TIMESTEP_RANGE = 1000

#: The fewest steps of the linear schedule: its last β is 20 / T, which must stay below 1.
LINEAR_MIN_STEPS = 21


def linear_beta_schedule(num_timesteps: int) -> Tensor:
    """β_t rising linearly, as in DDPM (section 4), in float64.

    DDPM uses β from 1e-4 to 0.02 over T = 1000 steps; for other T both ends are multiplied by
    1000 / T, so that the total noise added stays about the same (IDDPM's convention). T
    (``num_timesteps``) is an int of at least 21: the last β, 0.02 · 1000 / T = 20 / T, must stay
    below 1, or ᾱ_T would be 0 (no signal left, and 1/√ᾱ_T infinite).
    """
    num_timesteps = checked_integer("num_timesteps", num_timesteps, 1)
    if num_timesteps < LINEAR_MIN_STEPS:
        raise InputError(f"the linear schedule needs at least {LINEAR_MIN_STEPS} steps, got {num_timesteps}: its "
                         f"last β is 20/T = {20 / num_timesteps:g}, which must stay below 1; use at least "
                         f"{LINEAR_MIN_STEPS} steps, or the cosine schedule")
    scale = 1000 / num_timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, num_timesteps, dtype=torch.float64)


def cosine_beta_schedule(num_timesteps: int, max_beta: float = 0.999) -> Tensor:
    """IDDPM's cosine schedule (eq. 17), in float64.

    ᾱ is prescribed as f(t) / f(0) with f(t) = cos²((t/T + s) / (1 + s) · π/2), s = 0.008, and
    β_t = 1 - ᾱ_t / ᾱ_{t-1} is clipped to ``max_beta`` so that the last steps stay finite. T
    (``num_timesteps``) is an int of at least 1.
    """
    num_timesteps = checked_integer("num_timesteps", num_timesteps, 1)
    s = 0.008

    def alpha_bar(fraction: float) -> float:
        return math.cos((fraction + s) / (1 + s) * math.pi / 2) ** 2

    betas = [
        min(1 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), max_beta)
        for i in range(num_timesteps)
    ]
    return torch.tensor(betas, dtype=torch.float64)


def named_beta_schedule(name: str, num_timesteps: int) -> Tensor:
    """The β schedule called ``name`` ("linear" or "cosine") with ``num_timesteps`` steps."""
    if name == "linear":
        return linear_beta_schedule(num_timesteps)
    if name == "cosine":
        return cosine_beta_schedule(num_timesteps)
    raise ValueError(f"unknown beta schedule {name!r}; expected 'linear' or 'cosine'")


@dataclass(frozen=True, eq=False)
class DiffusionSchedule:
    """Every per-step constant of a diffusion process, as 1-D float64 CPU tensors of length T.

    Build one with :meth:`create` or :meth:`from_betas`; the field names are those of the
    equations in the module docstring.
    """

    betas: Tensor  #: β_t
    alphas: Tensor  #: α_t = 1 - β_t
    alphas_cumprod: Tensor  #: ᾱ_t
    alphas_cumprod_prev: Tensor  #: ᾱ_{t-1}, with ᾱ_0 = 1 before the first step
    alphas_cumprod_next: Tensor  #: ᾱ_{t+1}, with 0 after the last step
    sqrt_alphas_cumprod: Tensor  #: √ᾱ_t
    sqrt_one_minus_alphas_cumprod: Tensor  #: √(1-ᾱ_t)
    log_one_minus_alphas_cumprod: Tensor  #: log(1-ᾱ_t)
    sqrt_recip_alphas_cumprod: Tensor  #: 1/√ᾱ_t
    sqrt_recipm1_alphas_cumprod: Tensor  #: √(1/ᾱ_t - 1)
    posterior_variance: Tensor  #: β̃_t
    #: log β̃_t, its first entry (β̃ = 0 at the first step) replaced by the second one
    posterior_log_variance_clipped: Tensor
    posterior_mean_coef1: Tensor  #: the x_0 coefficient of μ̃_t
    posterior_mean_coef2: Tensor  #: the x_t coefficient of μ̃_t
    timestep_map: Tensor  #: int64: the original step each step is (arange when not respaced)
    original_num_steps: int  #: T of the schedule this one was respaced from

    @property
    def num_timesteps(self) -> int:
        """T, the number of steps of this (possibly respaced) process."""
        return self.betas.shape[0]

    @classmethod
    def from_betas(
        cls,
        betas: Tensor,
        timestep_map: Tensor | None = None,
        original_num_steps: int | None = None,
    ) -> DiffusionSchedule:
        """Derive every buffer from β_1..β_T.

        Every β lies in (0, 1): β = 1 would make ᾱ_T = 0, whose 1/√ᾱ_T is infinite, so the process
        could not be sampled. ``timestep_map`` and ``original_num_steps`` describe a respaced
        schedule (see :func:`respace`); left out, the schedule is its own original.
        """
        betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
        if betas.ndim != 1 or betas.numel() == 0:
            raise InputError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        outside = betas[~((betas > 0) & (betas < 1))]
        if outside.numel():
            raise InputError(f"every beta must lie in (0, 1), got {outside[0].item():g}: β = 1 leaves ᾱ = 0, no "
                             "signal, and 1/√ᾱ infinite")
        num_timesteps = betas.shape[0]
        if timestep_map is None:
            timestep_map = torch.arange(num_timesteps, dtype=torch.int64)
        if original_num_steps is None:
            original_num_steps = num_timesteps

        one = betas.new_ones(1)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([one, alphas_cumprod[:-1]])
        alphas_cumprod_next = torch.cat([alphas_cumprod[1:], betas.new_zeros(1)])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        return cls(
            betas=betas,
            alphas=alphas,
            alphas_cumprod=alphas_cumprod,
            alphas_cumprod_prev=alphas_cumprod_prev,
            alphas_cumprod_next=alphas_cumprod_next,
            sqrt_alphas_cumprod=torch.sqrt(alphas_cumprod),
            sqrt_one_minus_alphas_cumprod=torch.sqrt(1.0 - alphas_cumprod),
            log_one_minus_alphas_cumprod=torch.log(1.0 - alphas_cumprod),
            sqrt_recip_alphas_cumprod=torch.sqrt(1.0 / alphas_cumprod),
            sqrt_recipm1_alphas_cumprod=torch.sqrt(1.0 / alphas_cumprod - 1.0),
            posterior_variance=posterior_variance,
            posterior_log_variance_clipped=torch.log(
                torch.cat([posterior_variance[1:2], posterior_variance[1:]])
            ),
            posterior_mean_coef1=betas * torch.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            posterior_mean_coef2=(1.0 - alphas_cumprod_prev) * torch.sqrt(alphas) / (1.0 - alphas_cumprod),
            timestep_map=torch.as_tensor(timestep_map, dtype=torch.int64).cpu(),
            original_num_steps=original_num_steps,
        )

    @classmethod
    def create(
        cls,
        steps: int = 1000,
        schedule: str = "linear",
        respacing: str | int | Sequence[int] | None = None,
    ) -> DiffusionSchedule:
        """The ``schedule`` β's over ``steps`` steps (an int of at least 1), respaced by ``respacing`` when given.

        ``respacing`` takes the forms :func:`space_timesteps` accepts, e.g. "100", 100 or "ddim50";
        ``None`` or "" keep every step. A respacing that asks for more steps than ``steps`` is
        refused as such, before the β's are built.
        """
        steps = checked_integer("steps", steps, 1)
        kept = None if respacing is None or respacing == "" else space_timesteps(steps, respacing)
        base = cls.from_betas(named_beta_schedule(schedule, steps))
        return base if kept is None else respace(base, kept)


def space_timesteps(num_timesteps: int, section_counts: str | int | Sequence[int]) -> set[int]:
    """Which of ``num_timesteps`` original steps a respaced process keeps (IDDPM section 4).

    ``section_counts`` is either

    * "ddimN": every k-th step from 0, for the integer stride k that gives exactly N steps
      (the striding of the DDIM paper); or
    * per-section counts, as a list of ints or a comma-separated string such as "10,15,20":
      the steps are cut into that many equal sections (the first ``num_timesteps % n`` one step
      longer) and each section keeps its count of steps, evenly spread from its first step to
      its last and rounded to the nearest step. "100" is the one-section case, and an int such as
      100 is read as that string, as :func:`bdlearn.edit` reads its respacing.

    ``num_timesteps`` and every count are ints of at least 1.
    """
    num_timesteps = checked_integer("num_timesteps", num_timesteps, 1)
    if isinstance(section_counts, numbers.Integral) and not isinstance(section_counts, (bool, np.bool_)):
        section_counts = str(int(section_counts))
    if not isinstance(section_counts, (str, Iterable)):
        raise InputError(f"the respacing must be a string such as '100', 'ddim50' or '10,20,30', an int or a list "
                         f"of counts, got {shown(section_counts)}")
    if isinstance(section_counts, str):
        text = section_counts.strip()
        if text.startswith("ddim"):
            return _ddim_timesteps(num_timesteps, text)
        try:
            counts = [int(part) for part in text.split(",")]
        except ValueError:
            raise ValueError(
                f"bad respacing {section_counts!r}: expected 'ddimN', 'N' or comma-separated counts"
            ) from None
    else:
        counts = [checked_integer("a section count", count, 1) for count in section_counts]
    if not counts:
        raise ValueError("respacing needs at least one section count")
    if any(count < 1 for count in counts):
        raise ValueError(f"every section count must be at least 1, got {counts}")
    if sum(counts) > num_timesteps:
        raise ValueError(f"the respacing asks for {sum(counts)} steps, more than the schedule's {num_timesteps}")

    kept: set[int] = set()
    shortest, longer_sections = divmod(num_timesteps, len(counts))
    section_start = 0
    for index, count in enumerate(counts):
        size = shortest + (1 if index < longer_sections else 0)
        if count > size:
            raise ValueError(f"cannot take {count} steps from a section of {size} steps")
        stride = 1.0 if count == 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.add(section_start + round(position))
            position += stride
        section_start += size
    return kept


def _ddim_timesteps(num_timesteps: int, text: str) -> set[int]:
    """The steps 0, k, 2k, ... for the integer stride k that yields the count in "ddimN"."""
    try:
        desired = int(text[len("ddim"):])
    except ValueError:
        raise ValueError(f"bad respacing {text!r}: expected 'ddim' followed by a step count") from None
    for stride in range(1, num_timesteps):
        steps = range(0, num_timesteps, stride)
        if len(steps) == desired:
            return set(steps)
    raise ValueError(f"no integer stride gives exactly {desired} of {num_timesteps} steps")


def respace(schedule: DiffusionSchedule, use_timesteps: Iterable[int] | Tensor) -> DiffusionSchedule:
    """The process that keeps only the steps ``use_timesteps`` of ``schedule``.

    ᾱ is unchanged at every kept step, which fixes the new β's: with the kept steps
    S_0 < S_1 < ..., β_i = 1 - ᾱ_{S_i} / ᾱ_{S_{i-1}} (and ᾱ before S_0 taken as 1).
    ``use_timesteps`` holds step indices, ints in [0, T) (a set, a list, a range, an integer tensor),
    as :func:`space_timesteps` gives them; a respacing string such as "10" goes to that function.
    """
    if isinstance(use_timesteps, str):
        raise TypeError(f"use_timesteps must be the step indices to keep, got the string {use_timesteps!r}; for "
                        f"a respacing use respace(schedule, space_timesteps({schedule.num_timesteps}, "
                        f"{use_timesteps!r}))")
    if isinstance(use_timesteps, Tensor):
        use_timesteps = use_timesteps.tolist()
    kept = sorted({checked_integer("a kept step (use_timesteps)", step, 0, schedule.num_timesteps,
                                   hint=f" (the schedule has {schedule.num_timesteps} steps)")
                   for step in use_timesteps})
    if not kept:
        raise ValueError("respacing must keep at least one step")
    indices = torch.tensor(kept, dtype=torch.int64)
    kept_alphas_cumprod = schedule.alphas_cumprod[indices]
    previous = torch.cat([kept_alphas_cumprod.new_ones(1), kept_alphas_cumprod[:-1]])
    return DiffusionSchedule.from_betas(
        1.0 - kept_alphas_cumprod / previous,
        timestep_map=schedule.timestep_map[indices],
        original_num_steps=schedule.original_num_steps,
    )


def model_timesteps(schedule: DiffusionSchedule, t: Tensor | int) -> Tensor:
    """The float32 timesteps the network receives for step indices ``t`` of ``schedule``.

    ``t`` is an int or an integer tensor of indices in [0, T); the result has its shape (one
    value for an int) and device. Each index becomes the original step it stands for
    (``timestep_map``), scaled to a range of 1000 (IDDPM's rescaled timesteps): with 1000
    original steps the value is just the original step number.
    """
    device = t.device if isinstance(t, Tensor) else torch.device("cpu")
    original = schedule.timestep_map[checked_steps(schedule, t)].to(torch.float32)
    return (original * (MODEL_TIMESTEP_RANGE / schedule.original_num_steps)).to(device)


def step_indices_from_model_timesteps(schedule: DiffusionSchedule, timesteps: Tensor) -> Tensor:
    """Invert :func:`model_timesteps` for a 1-D ``timesteps``: the int64 step indices whose
    network timesteps are nearest.

    A guidance function is handed the network's timesteps but needs the step index to look up
    the schedule. Blended Diffusion computes it as ⌊timestep · T / 1000⌋, which agrees with this
    exact inverse for evenly respaced schedules such as "100".
    """
    table = model_timesteps(schedule, torch.arange(schedule.num_timesteps))
    distance = (timesteps.detach().cpu().to(torch.float32)[:, None] - table[None, :]).abs()
    return distance.argmin(dim=1).to(timesteps.device)
