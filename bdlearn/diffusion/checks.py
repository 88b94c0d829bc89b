"""Checks of the plain arguments the diffusion core shares with :func:`bdlearn.edit`'s settings.

Counts and sizes (T, the number of images, their side) and seeds must be ints (NumPy integers too; a float such as
2.0 and a bool are refused) within their range, and η belongs to the DDIM sampler. Every refusal is an
:class:`~bdlearn.errors.InputError` (a ValueError) that names the argument and says what it accepts. The checks live
here, in bdlearn's lowest layer, so that :mod:`bdlearn.machinery.settings` refuses an edit's settings in the same
words.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from bdlearn.choices import SEED_LIMIT
from bdlearn.errors import InputError

__all__ = ["check_eta_sampler", "checked_integer", "checked_seed", "shown"]


def shown(value: Any) -> str:
    """``value`` as a refusal quotes it: its repr and its type, e.g. ``'10' (str)``."""
    return f"{value!r} ({type(value).__name__})"


def checked_integer(name: str, value: Any, low: int, high: int | None = None, hint: str = "") -> int:
    """``value`` as an int in [low, high) (no upper bound when ``high`` is None); ``hint`` ends a refusal."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {shown(value)}{hint}")
    value = int(value)
    if value < low or (high is not None and value >= high):
        bounds = f"at least {low}" if high is None else f"in [{low}, {high - 1}]"
        raise InputError(f"{name} must be {bounds}, got {value}{hint}")
    return value


def checked_seed(value: Any) -> int:
    """``value`` as a seed in [0, 2**32): the CPU generator that draws the noise keeps 32 bits of its seed, so a
    larger seed would repeat the draws of a smaller one."""
    return checked_integer("seed", value, 0, SEED_LIMIT, hint=" (seeds run from 0 to 2**32 - 1)")


def check_eta_sampler(eta: float, sampler: str) -> None:
    """Refuse an η outside [0, 1], and one other than 0 with any sampler but DDIM: η sets DDIM's σ_t (Song et al.
    2021, eq. 16), and a DDPM step has no η to set."""
    if isinstance(eta, (bool, np.bool_)) or not isinstance(eta, numbers.Real) or not 0 <= eta <= 1:
        raise InputError(f"eta (η) must be a number in [0, 1] (0: deterministic DDIM, 1: DDPM's variance), "
                         f"got {shown(eta)}")
    if eta and sampler != "ddim":
        raise InputError(f"eta (η = {eta:g}) belongs to the DDIM sampler; pass sampler='ddim' or leave eta at 0")
