"""Growing a trained UNet without changing what it computes: more attention, more residual blocks.

Both growths rest on one fact: a block whose last layer is zero adds nothing.

* An ADM attention block adds ``proj_out(attention(x))`` to its input. With ``proj_out`` at zero
  the block is the identity, so attention inserted into a trained UNet leaves its output exactly
  as it was; training then teaches the new blocks what to add. The shipped toy DDPM's fifth stage
  started this way (attention at 16x16 added to the fourth stage's 8x8; see its weight card).
* A residual block returns ``skip(x) + h`` where ``h`` ends in a convolution. With that
  convolution at zero, a new block on the way down is the identity, and the skip activation it
  hands the way up is the one the level's last old block handed before. On the way up each block
  reads ``[h, skip]``; a new block there starts with its 1x1 skip convolution set to ``[I, 0]``,
  which passes ``h`` through and ignores the skip, so it too is the identity (:func:`grow_res_blocks`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from bdlearn.checks import checked_integer, checked_seed, shown
from bdlearn.diffusion.unet import AttentionBlock, ResBlock, UNet, UNetConfig
from bdlearn.training.common import check_weights_dest, export_weights
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, weight_card
from bdlearn.worlds.toy import toy_unet_config


def grow_attention(weights: str | Path, dest: str | Path, add_resolutions: tuple[int, ...],
                   seed: int = 0, overwrite: bool = False) -> UNetConfig:
    """Write ``weights`` (toy DDPM weights with their card) to ``dest`` with attention added.

    ``add_resolutions`` are downsample factors (2 = 16x16 at 32x32), as in
    :attr:`UNetConfig.attention_resolutions`. The new blocks' normalisation and qkv projection
    start from a seeded random initialisation and their output projection at zero. ``dest`` gets a
    copy of the card with the grown ``unet`` config, so training can start from it
    (``init_weights``). Returns the grown config. ``add_resolutions`` is a tuple of ints (a bare int
    is a TypeError) and ``seed`` a seed in [0, 2**32); an existing ``dest`` is replaced only with ``overwrite``.
    """
    check_weights_dest(dest, overwrite)
    add_resolutions = _whole_numbers("add_resolutions", add_resolutions, 0, "(2,) for attention at 16x16")
    seed = checked_seed(seed)
    old_config = _card_config(weights)
    factors = [2**level for level in range(len(old_config.channel_mult))]  # one per resolution level
    if unknown := sorted(set(add_resolutions) - set(factors)):
        raise ValueError(f"the UNet of {weights} has no downsample factor {unknown}: its levels have factors "
                         f"{factors} (1 = {old_config.image_size} px, 2 = {old_config.image_size // 2} px, ...)")
    new_factors = set(add_resolutions) - set(old_config.attention_resolutions)
    if not new_factors:
        raise ValueError(f"{weights} already has attention at {sorted(old_config.attention_resolutions)}: "
                         f"nothing to add from {sorted(add_resolutions)}")
    config = replace(old_config,
                     attention_resolutions=tuple(sorted(set(old_config.attention_resolutions) | new_factors)))
    old, grown = load_unet(weights, old_config), _seeded_unet(config, seed)
    _write_grown(weights, dest, old, grown, _attention_key_map(old, grown))
    return config


def grow_res_blocks(weights: str | Path, dest: str | Path, blocks_per_level: tuple[int, ...],
                    seed: int = 0, overwrite: bool = False) -> UNetConfig:
    """Write ``weights`` to ``dest`` with more residual blocks per resolution level.

    ``blocks_per_level`` gives the new count of blocks on the way down for each level of
    ``channel_mult`` (the way up has one more), at least the old count everywhere:
    ``(2, 1, 1)`` on the toy UNet adds one block on the way down and one on the way up at 32x32.
    New blocks at an attention resolution get their attention block too, output projection at
    zero. On the way down a level's new blocks follow its old ones; on the way up they follow the
    level's first block (whose skip, the level's last activation on the way down, is unchanged).
    Returns the grown config (its ``blocks_per_level`` are ``blocks_per_level``). ``blocks_per_level``
    is a tuple of positive ints (a bare int is a TypeError) and ``seed`` a seed in [0, 2**32); an existing
    ``dest`` is replaced only with ``overwrite``.
    """
    check_weights_dest(dest, overwrite)
    new_counts = _whole_numbers("blocks_per_level", blocks_per_level, 1, "(2, 1, 1) for the toy UNet's three levels")
    seed = checked_seed(seed)
    old_config = _card_config(weights)
    old_counts = old_config.blocks_per_level
    if len(new_counts) != len(old_counts) or any(new < old for new, old in zip(new_counts, old_counts)):
        raise ValueError(f"blocks_per_level {new_counts} must give, for each of the {len(old_counts)} levels, "
                         f"at least the {old_counts} blocks {weights} has")
    if new_counts == old_counts:
        raise ValueError(f"{weights} already has {old_counts} residual blocks per level: nothing to add")
    config = replace(old_config, num_res_blocks=new_counts)
    old, grown = load_unet(weights, old_config), _seeded_unet(config, seed)
    index_maps = {"input_blocks": _down_index_map(old_counts, new_counts),
                  "output_blocks": _up_index_map(old_counts, new_counts)}
    key_map = {}
    for torso, index_map in index_maps.items():
        for new_index, old_index in enumerate(index_map):
            if old_index is not None:
                key_map.update({f"{torso}.{new_index}.{key}": f"{torso}.{old_index}.{key}"
                                for key in getattr(old, torso)[old_index].state_dict()})
            else:
                _make_identity(getattr(grown, torso)[new_index][0], reads_skip=torso == "output_blocks")
    _write_grown(weights, dest, old, grown, key_map)
    return config


def _whole_numbers(name: str, values: Any, low: int, example: str) -> tuple[int, ...]:
    """``values`` as a tuple of ints of at least ``low``: a tuple or list of them, e.g. ``example``; a bare number or
    a string is a TypeError, a float or a smaller number in it an InputError."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a tuple of whole numbers, e.g. {example}, got {shown(values)}")
    hint = f" ({name} is a tuple of whole numbers, e.g. {example})"
    return tuple(checked_integer(f"{name}[{index}]", value, low, hint=hint) for index, value in enumerate(values))


def _down_index_map(old_counts: tuple[int, ...], new_counts: tuple[int, ...]) -> list[int | None]:
    """For each of the grown UNet's ``input_blocks``, its index in the old UNet (None: new)."""
    index_map: list[int | None] = [0]  # the first convolution
    old_index = 1
    for level, (old, new) in enumerate(zip(old_counts, new_counts)):
        index_map += list(range(old_index, old_index + old)) + [None] * (new - old)
        old_index += old
        if level != len(old_counts) - 1:  # the downsampling block
            index_map.append(old_index)
            old_index += 1
    return index_map


def _up_index_map(old_counts: tuple[int, ...], new_counts: tuple[int, ...]) -> list[int | None]:
    """For each of the grown UNet's ``output_blocks``, its index in the old UNet (None: new)."""
    index_map: list[int | None] = []
    old_index = 0
    for old, new in reversed(list(zip(old_counts, new_counts))):
        index_map += [old_index] + [None] * (new - old) + list(range(old_index + 1, old_index + old + 1))
        old_index += old + 1
    return index_map


def _make_identity(resblock: ResBlock, reads_skip: bool) -> None:
    """Zero the last convolution of a new residual block, so that it returns ``skip(x)``; for a
    block on the way up (``x = [h, skip]``), set ``skip`` to pass ``h`` through: ``[I, 0]``."""
    torch.nn.init.zeros_(resblock.out_layers[-1].weight)
    torch.nn.init.zeros_(resblock.out_layers[-1].bias)
    if reads_skip:
        weight, out_channels = resblock.skip_connection.weight, resblock.skip_connection.weight.shape[0]
        torch.nn.init.zeros_(weight)
        torch.nn.init.zeros_(resblock.skip_connection.bias)
        with torch.no_grad():
            weight[:, :out_channels, 0, 0] = torch.eye(out_channels)


def _card_config(weights: str | Path) -> UNetConfig:
    """The architecture on the card of ``weights``; a clear error for a missing file or card."""
    if Path(weights).is_dir():
        raise CheckpointError(f"{weights} is a folder; give the weights file (.safetensors) with its card")
    if not Path(weights).is_file():
        raise CheckpointError(f"{weights} does not exist")
    weight_card(weights)  # the architecture is on the card: a clear error where there is none
    return toy_unet_config(weights)


def _seeded_unet(config: UNetConfig, seed: int) -> UNet:
    """A UNet of ``config`` from a seeded initialisation, every attention output projection at zero
    (the old blocks' values overwrite theirs)."""
    with torch.random.fork_rng():  # leaves the caller's generator alone
        torch.manual_seed(seed)
        grown = UNet(config)
    for module in grown.modules():
        if isinstance(module, AttentionBlock):
            torch.nn.init.zeros_(module.proj_out.weight)
            torch.nn.init.zeros_(module.proj_out.bias)
    return grown


def _write_grown(weights: str | Path, dest: str | Path, old: UNet, grown: UNet, key_map: dict[str, str]) -> None:
    """Copy ``old``'s tensors into ``grown`` and export it to ``dest`` with a copy of the card of
    ``weights`` that records the grown architecture. ``key_map`` maps the grown torso's tensor
    names to the old ones (``input_blocks``, ``output_blocks``); the timestep MLP, the middle block
    and the output head keep their names."""
    state, old_state = grown.state_dict(), old.state_dict()
    key_map = {**{key: key for key in old_state if not key.startswith(("input_blocks.", "output_blocks."))},
               **key_map}
    if len(key_map) != len(old_state):
        raise ValueError(f"{weights}: {len(old_state) - len(key_map)} tensors found no place in the grown UNet")
    state.update({new: old_state[old_key] for new, old_key in key_map.items()})
    export_weights(Path(dest), state, {**weight_card(weights), "unet": asdict(grown.config)})


def _attention_key_map(old: UNet, grown: UNet) -> dict[str, str]:
    """Each tensor name of ``grown``'s torso that ``old`` has, mapped to its name in ``old``.

    The two differ only by attention blocks inserted into some ``TimestepSequential`` blocks (at
    most one per block), so a block's other layers keep their order and only their index moves:
    a resampling layer after a new attention block moves from index 1 to 2.
    """
    mapping = {}
    for torso in ("input_blocks", "output_blocks"):
        for index, (old_block, new_block) in enumerate(zip(getattr(old, torso), getattr(grown, torso))):
            inserted = not any(isinstance(layer, AttentionBlock) for layer in old_block)
            old_positions = iter(range(len(old_block)))
            for new_position, layer in enumerate(new_block):
                if isinstance(layer, AttentionBlock) and inserted:
                    continue  # nothing in ``old`` to copy
                old_position = next(old_positions)
                for key in layer.state_dict():
                    mapping[f"{torso}.{index}.{new_position}.{key}"] = f"{torso}.{index}.{old_position}.{key}"
    return mapping
