"""Checking the settings of :func:`bdlearn.edit` before any work is done.

:func:`resolve_settings` fills the unset options from a world's defaults and checks every one:
type, range and finiteness. It needs only the world's defaults and diffusion, which a world named
``"toy"`` or ``"real"`` has without loading its models (:func:`world_defaults`), so a bad setting is
reported in a moment, never after the real world's 2.2 GB have been read. Every refusal is an
:class:`~bdlearn.machinery.inputs.InputError` that names the setting and says what it accepts.

The rules, where :func:`bdlearn.edit`'s docstring does not give them already:

* integers (``skip``, ``repetitions``, ``batch_size``, ``num_augmentations``, ``seed``) must be
  ints (NumPy integers too); a float such as 2.5, or 2.0, and a bool are refused;
* ``respacing`` may be an int (10 means "10");
* weights and η must be finite real numbers, at least 0; η at most 1, and only with
  ``sampler="ddim"`` (DDIM's σ(η) is defined for η in [0, 1]: η = 1 is DDPM's variance, and a
  larger η takes the square root of a negative number);
* ``seed`` lies in [0, 2**32): the CPU generator that draws all of an edit's noise keeps 32 bits
  of its seed, so a larger seed would repeat the edits of a smaller one;
* ``variant="official"`` (:mod:`bdlearn.editing.variants`) runs with the DDPM sampler only, the one
  its conformance fixtures prove; ``clip_input`` None takes the variant's choice;
* ``resample`` (u) is in [1, 20]; ``jump`` (j), given only with u ≥ 2 (5 when unset), at least 1 and
  at most the edit's steps (the respaced steps less ``skip``); a respaced schedule has at least 2 steps;
* ``batch_size`` None leaves the batch to :func:`bdlearn.machinery.cost.plan_batches` (what fits on
  a GPU, the world's default elsewhere); 0 is refused, not read as "unset".
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from bdlearn.checks import (
    check_eta_sampler,
    checked_choice,
    checked_flag,
    checked_integer,
    checked_real,
    checked_seed,
    shown,
)
from bdlearn.choices import ClipInput, Distance, Method, Sampler, Variant, WindowFit
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.editing.guidance import GuidanceWeights
from bdlearn.editing.resampling import resampling_moves
from bdlearn.editing.variants import VARIANTS
from bdlearn.machinery.inputs import InputError
from bdlearn.worlds.load import named_world
from bdlearn.worlds.world import EditDefaults

#: In the official variant, λ weighs the background loss's L2 term and this share of it its LPIPS term:
#: the official defaults' ratio (``--l2_sim_lambda 10000``, ``--lpips_sim_lambda 1000``).
OFFICIAL_LPIPS_SHARE = 0.1

#: The most CLIP views an edit may ask for: each costs a CLIP pass per step; past this, memory runs out first.
MAX_AUGMENTATIONS = 256

#: The most edits one call may make and rank (the paper makes 64): past this, an edit runs for days.
MAX_REPETITIONS = 1024

#: The most times resampling may run each block of steps (RePaint uses 10; each costs a pass over the block).
MAX_RESAMPLE = 20

#: Steps per resampled block when ``jump`` is not given (RePaint's j; its paper uses 10 of 250).
DEFAULT_JUMP = 5

#: The choices of each option, read from the type the code that takes it declares (one source of truth).
METHODS: tuple[str, ...] = get_args(Method)
SAMPLERS: tuple[str, ...] = get_args(Sampler)
DISTANCES: tuple[str, ...] = get_args(Distance)
CLIP_INPUTS: tuple[str, ...] = get_args(ClipInput)
WINDOW_FITS: tuple[str, ...] = get_args(WindowFit)
VARIANT_NAMES: tuple[str, ...] = get_args(Variant)


@dataclass(frozen=True)
class EditSettings:
    """The checked settings of one edit, every unset option filled from the world's defaults."""

    method: str
    variant: str  #: "paper" or "official" (:mod:`bdlearn.editing.variants`)
    respacing: str
    skip: int
    num_steps: int  #: steps of the respaced schedule
    sampler: str
    eta: float
    num_augmentations: int
    repetitions: int
    batch_size: int | None  #: at most ``repetitions``; None: chosen when the world is at hand
    clip_weight: float
    range_weight: float
    background_weight: float
    distance: str
    clip_input: str
    clip_denoised: bool
    invert_mask: bool
    window: str
    seed: int
    resample: int  #: runs of each block of ``jump`` steps (1: no resampling; :mod:`bdlearn.editing.resampling`)
    jump: int
    return_trajectory: bool
    progress: bool

    @property
    def denoising_steps(self) -> int:
        """The guided steps of the loop: the respaced steps less the skipped ones, repeated blocks included."""
        moves = resampling_moves(self.num_steps - 1 - self.skip, self.resample, self.jump)
        return sum(move.kind == "step" for move in moves)

    def guidance_weights(self) -> GuidanceWeights:
        """The weights and choices of the guided step (:class:`~bdlearn.editing.guidance.GuidanceWeights`)."""
        official = VARIANTS[self.variant].background_loss == "official"
        return GuidanceWeights(clip=self.clip_weight, range=self.range_weight, background=self.background_weight,
                               lpips=self.background_weight * OFFICIAL_LPIPS_SHARE if official else 0.0,
                               num_augmentations=self.num_augmentations, distance=self.distance,
                               clip_input=self.clip_input)


def world_defaults(name: str) -> tuple[EditDefaults, dict]:
    """The edit defaults and diffusion of the world called ``name`` (:func:`bdlearn.worlds.load.named_world`),
    without loading it."""
    try:
        world = named_world(name)
    except ValueError as err:  # the registry's own words for an unknown name, as a user's error
        raise InputError(f"{err}, or pass a ModelWorld") from None
    return world.defaults, dict(world.diffusion)


def _respacing(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if not isinstance(value, str):
        raise InputError(f"respacing must be a string such as '100', 'ddim50' or '10,20,30', or an int; "
                         f"got {shown(value)}")
    if not value.strip():
        raise InputError("respacing is empty; give the respaced steps, e.g. '100' or 'ddim50', or leave it unset "
                         "for the world's")
    return value.strip()


def _schedule_steps(diffusion: dict, respacing: str) -> int:
    try:
        steps = DiffusionSchedule.create(**diffusion, respacing=respacing).num_timesteps
    except ValueError as err:
        raise InputError(f"respacing {respacing!r}: {err}") from err
    if steps < 2:  # the posterior's clipped log-variance takes its first value from the second step
        raise InputError(f"respacing {respacing!r} keeps {steps} step; a schedule needs at least 2")
    return steps


def resolve_settings(defaults: EditDefaults, diffusion: dict, *, method: Any, variant: Any, respacing: Any, skip: Any,
                     sampler: Any, eta: Any, num_augmentations: Any, repetitions: Any, batch_size: Any,
                     clip_weight: Any, range_weight: Any, background_weight: Any, distance: Any, clip_input: Any,
                     clip_denoised: Any, invert_mask: Any, window: Any, seed: Any, resample: Any, jump: Any,
                     return_trajectory: Any, progress: Any) -> EditSettings:
    """The settings of :func:`bdlearn.edit`, unset ones (None) from ``defaults``, all checked (module docstring).

    Every option is given: its default is :func:`bdlearn.edit`'s, the one place it is written (the
    command line passes only the options a user typed, so an unset one takes the same default).

    ``diffusion`` is the world's :attr:`~bdlearn.worlds.world.ModelWorld.diffusion`, which the
    respacing is checked against. Raises :class:`~bdlearn.machinery.inputs.InputError`.
    """
    method = checked_choice("method", method, METHODS)
    variant = checked_choice("variant", variant, VARIANT_NAMES)
    sampler = checked_choice("sampler", defaults.sampler if sampler is None else sampler, SAMPLERS)
    if variant == "official" and method == "sdedit":
        raise InputError("the official variant reproduces the official code's Blended Diffusion and Local baseline; "
                         "SDEdit runs with variant='paper'")
    if variant == "official" and sampler != "ddpm":
        raise InputError("the official variant is reproduced for the DDPM sampler (its fixtures); pass sampler='ddpm' "
                         "or use variant='paper' with DDIM")
    respacing = _respacing(respacing, defaults.respacing)
    num_steps = _schedule_steps(diffusion, respacing)
    if skip is None:
        skip = defaults.skip
        if skip >= num_steps:
            default_steps = _schedule_steps(diffusion, defaults.respacing)
            same_share = min(num_steps - 1, round(skip * num_steps / default_steps))
            raise InputError(
                f"respacing {respacing!r} has {num_steps} steps, but the world's default skip is {skip} "
                f"(made for its respacing {defaults.respacing!r}); pass a skip in [0, {num_steps - 1}] "
                f"(--skip on the command line), e.g. {same_share}, the same share of the steps")
    skip = checked_integer("skip", skip, 0, num_steps, hint=f" (respacing {respacing!r} has {num_steps} steps)")
    eta = checked_real("eta", eta, 0, 1)
    check_eta_sampler(eta, sampler)
    num_augmentations = checked_integer("num_augmentations", defaults.num_augmentations if num_augmentations is None
                                        else num_augmentations, 0, MAX_AUGMENTATIONS + 1,
                                        hint=" (the paper uses 16 views, the official code 8)")
    repetitions = checked_integer("repetitions", defaults.repetitions if repetitions is None else repetitions, 1,
                                  MAX_REPETITIONS + 1, hint=" (the paper makes 64)")
    if batch_size is not None:
        batch_size = min(checked_integer("batch_size", batch_size, 1), repetitions)
    clip_weight = checked_real("clip_weight", defaults.clip_weight if clip_weight is None else clip_weight, 0)
    range_weight = checked_real("range_weight", defaults.range_weight if range_weight is None else range_weight, 0)
    background_weight = checked_real("background_weight", background_weight, 0)
    if background_weight and method != "local":
        why = ("blending keeps the background exactly" if method == "blended" else
               "SDEdit has no background loss: it redraws the whole window")
        raise InputError(f"background_weight (λ) belongs to the local method; {why}")
    resample = checked_integer("resample", resample, 1, MAX_RESAMPLE + 1, hint=" (1: no resampling; RePaint uses 10)")
    edit_steps = num_steps - skip
    steps_text = f"{edit_steps} step{'s' if edit_steps != 1 else ''}"
    jump_hint = f" (the edit has {steps_text})"
    if jump is None:
        jump, jump_hint = DEFAULT_JUMP, f" (the default; the edit has {steps_text}: pass a smaller jump)"
    elif resample == 1:
        raise InputError(f"jump (j = {jump!r}) sets the blocks of resampling; pass resample of 2 or more (--resample) "
                         "or leave jump unset")
    jump = checked_integer("jump", jump, 1, edit_steps + 1 if resample > 1 else None,
                           hint=jump_hint if resample > 1 else "")
    return EditSettings(
        method=method, variant=variant, respacing=respacing, skip=skip, num_steps=num_steps, sampler=sampler, eta=eta,
        num_augmentations=num_augmentations, repetitions=repetitions, batch_size=batch_size,
        clip_weight=clip_weight, range_weight=range_weight, background_weight=background_weight,
        distance=checked_choice("distance", distance, DISTANCES),
        clip_input=checked_choice("clip_input", VARIANTS[variant].clip_input if clip_input is None else clip_input,
                           CLIP_INPUTS),
        clip_denoised=checked_flag("clip_denoised", clip_denoised),
        invert_mask=checked_flag("invert_mask", invert_mask),
        window=checked_choice("window", window, WINDOW_FITS),
        seed=checked_seed(seed),
        resample=resample, jump=jump, return_trajectory=checked_flag("return_trajectory", return_trajectory),
        progress=checked_flag("progress", progress))
