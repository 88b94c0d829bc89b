"""Checks of plain arguments, shared by every layer: whole numbers, real numbers, flags, seeds, names, and η.

Counts and sizes must be ints (NumPy integers too; a float such as 2.0 and a bool are refused) within their range;
real numbers finite, within theirs; flags bools (a string such as 'no' would count as true); seeds in [0, 2**32);
names one of a list (:mod:`bdlearn.choices`); η belongs to the DDIM sampler. Every refusal is an
:class:`~bdlearn.errors.InputError` (a ValueError) that names the argument and says what it accepts, in the same
words wherever the argument is taken: :func:`bdlearn.edit`'s settings, the diffusion core, the editing method, the
scenes, the notebook helpers. The checks of tensors live beside the code that takes them
(:mod:`bdlearn.diffusion.checks`, :mod:`bdlearn.clip.checks`, :mod:`bdlearn.editing.checks`). Imports no torch.
"""
from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from bdlearn.choices import SEED_LIMIT
from bdlearn.errors import InputError

__all__ = ["check_eta_sampler", "checked_choice", "checked_flag", "checked_integer", "checked_real", "checked_seed",
           "shown"]


def shown(value: Any, longest: int = 60) -> str:
    """``value`` as a refusal quotes it: its repr and its type, e.g. ``'10' (str)``; a repr longer than ``longest``
    characters (an array's) is put on one line and cut, e.g. ``array([[0.1, 0.5, … (ndarray)``."""
    text = re.sub(r"\s*\n\s*", " ", repr(value))  # one line: an array's repr spans several
    if len(text) > longest:
        text = text[:longest - 1] + "…"
    return f"{text} ({type(value).__name__})"


def checked_integer(name: str, value: Any, low: int, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int in [low, high) (no upper bound when ``high`` is None); ``hint`` ends a refusal."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {shown(value)}{hint}")
    value = int(value)
    if value < low or (high is not None and value >= high):
        bounds = f"at least {low}" if high is None else f"in [{low}, {high - 1}]"
        raise InputError(f"{name} must be {bounds}, got {value}{hint}")
    return value


def checked_real(name: str, value: Any, low: float, high: float | None = None, hint: str = "") -> float:
    """``value`` as a finite float in [low, high] (no upper bound when ``high`` is None); ``hint`` ends a refusal."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {shown(value)}{hint}")
    if value < low or (high is not None and value > high):
        bounds = f"at least {low:g}" if high is None else f"in [{low:g}, {high:g}]"
        raise InputError(f"{name} must be {bounds}, got {value:g}{hint}")
    return float(value)


def checked_flag(name: str, value: Any) -> bool:
    """``value`` as a bool; anything but True or False (NumPy's too) is refused: a string such as 'no' would count
    as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {shown(value)}")
    return bool(value)


def checked_seed(value: Any) -> int:
    """``value`` as a seed in [0, 2**32): the CPU generator that draws the noise keeps 32 bits of its seed, so a
    larger seed would repeat the draws of a smaller one."""
    return checked_integer("seed", value, 0, SEED_LIMIT, hint=" (seeds run from 0 to 2**32 - 1)")


def checked_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of the names ``choices`` (e.g. ``typing.get_args`` of a :mod:`bdlearn.choices` type)."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {shown(value)}")
    return value


def check_eta_sampler(eta: float, sampler: str) -> None:
    """Refuse an η outside [0, 1], and one other than 0 with any sampler but DDIM: η sets DDIM's σ_t (Song et al.
    2021, eq. 16), and a DDPM step has no η to set."""
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, numbers.Real) or not 0 <= eta <= 1:
        raise InputError(f"eta (η) must be a number in [0, 1] (0: deterministic DDIM, 1: DDPM's variance), "
                         f"got {shown(eta)}")
    if eta and sampler != "ddim":
        raise InputError(f"eta (η = {eta:g}) belongs to the DDIM sampler; pass sampler='ddim' or leave eta at 0")
