"""``load_world(name)``: the one entry point to both model worlds, and :data:`WORLDS`, the table of named worlds.

A world named in the table has its edit defaults and diffusion at hand without loading its models,
so :func:`bdlearn.edit` checks a setting against ``"real"`` in a moment, before reading 2.2 GB.
:func:`shared_world` loads a named world once per process, for callers that ask for it again and again.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import get_args

import torch

from bdlearn.choices import WorldName
from bdlearn.diffusion.checks import available_device
from bdlearn.worlds.real import REAL_DEFAULTS, REAL_DIFFUSION, load_real_world
from bdlearn.worlds.toy import TOY_DEFAULTS, TOY_DIFFUSION, load_toy_world
from bdlearn.worlds.world import EditDefaults, ModelWorld


@dataclass(frozen=True)
class NamedWorld:
    """A world known by name: what it is, its edit defaults and diffusion, and how to load it."""

    description: str
    defaults: EditDefaults
    diffusion: Mapping[str, object]
    load: Callable[[str | torch.device | None], ModelWorld]  #: called with a device, or None for the world's own


#: The named worlds, for :func:`load_world`, :func:`bdlearn.edit` and the command line's ``--world``.
WORLDS: dict[str, NamedWorld] = {
    "toy": NamedWorld("32x32 procedural scenes: the small DDPM and CLIP shipped in the package (offline, CPU)",
                      TOY_DEFAULTS, TOY_DIFFUSION, lambda device: load_toy_world(device=device or "cpu")),
    "real": NamedWorld("guided-diffusion's 256x256 unconditional DDPM and OpenCLIP ViT-B/16 (downloaded; a GPU)",
                       REAL_DEFAULTS, REAL_DIFFUSION, lambda device: load_real_world(device=device)),
}
WORLD_NAMES = tuple(WORLDS)
assert set(WORLD_NAMES) == set(get_args(WorldName)), "bdlearn.choices.WorldName names the worlds of this table"

#: Worlds :func:`shared_world` has loaded, kept for the rest of the process.
_LOADED: dict[str, ModelWorld] = {}


def named_world(name: str) -> NamedWorld:
    """The entry of :data:`WORLDS` called ``name``; a ValueError naming the choices for any other name."""
    if not isinstance(name, str) or name not in WORLDS:
        shown = repr(name) if isinstance(name, str) else f"given as a {type(name).__name__}"
        already = " (that is a loaded world already: use it as it is)" if isinstance(name, ModelWorld) else ""
        raise ValueError(f"unknown world {shown}{already}; choose from {', '.join(map(repr, WORLD_NAMES))}")
    return WORLDS[name]


def load_world(name: str = "toy", device: str | torch.device | None = None) -> ModelWorld:
    """``"toy"`` (offline, CPU) or ``"real"`` (guided-diffusion 256x256 + OpenCLIP ViT-B/16): :data:`WORLDS`.

    ``device`` (None: the world's own) must be one this machine has: a CUDA device without a GPU, or
    a name torch does not know, is an :class:`~bdlearn.errors.InputError` before anything is read.
    """
    return named_world(name).load(None if device is None else available_device(device))


def shared_world(name: str) -> ModelWorld:
    """The world ``name`` on its default device, loaded once per process: a notebook calling
    ``edit(..., world="real")`` again and again reads the real world's 2.2 GB of weights once."""
    if name not in _LOADED:
        _LOADED[name] = load_world(name)
    return _LOADED[name]
