"""Growing a trained UNet: self-attention at more resolutions, without changing what it computes.

An ADM attention block adds ``proj_out(attention(x))`` to its input. With ``proj_out`` at zero
the block is the identity, so attention inserted into a trained UNet leaves its output exactly as
it was; training then teaches the new blocks what to add. The shipped toy DDPM's fifth stage
started this way (attention at 16x16 added to the fourth stage's 8x8; see its weight card).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from bdlearn.checkpoint import CheckpointError, load_unet
from bdlearn.models import toy_unet_config, weight_card
from bdlearn.training import export_weights
from bdlearn.unet import AttentionBlock, UNet, UNetConfig


def grow_attention(weights: str | Path, dest: str | Path, add_resolutions: tuple[int, ...],
                   seed: int = 0) -> UNetConfig:
    """Write ``weights`` (toy DDPM weights with their card) to ``dest`` with attention added.

    ``add_resolutions`` are downsample factors (2 = 16x16 at 32x32), as in
    :attr:`UNetConfig.attention_resolutions`. The new blocks' normalisation and qkv projection
    start from a seeded random initialisation and their output projection at zero. ``dest`` gets a
    copy of the card with the grown ``unet`` config, so training can start from it
    (``init_weights``). Returns the grown config.
    """
    card_path = Path(weights).with_suffix(".json")
    if not Path(weights).is_file():
        raise CheckpointError(f"{weights} does not exist")
    if not card_path.is_file():
        raise CheckpointError(f"{weights} has no card beside it ({card_path.name}): "
                              "growing needs the UNet architecture the card records")
    old_config = toy_unet_config(weights)
    new_factors = set(add_resolutions) - set(old_config.attention_resolutions)
    if not new_factors:
        raise ValueError(f"{weights} already has attention at {sorted(old_config.attention_resolutions)}: "
                         f"nothing to add from {sorted(add_resolutions)}")
    config = replace(old_config, attention_resolutions=tuple(sorted(set(old_config.attention_resolutions) | new_factors)))
    old = load_unet(weights, old_config)
    with torch.random.fork_rng():  # a seeded initialisation that leaves the caller's generator alone
        torch.manual_seed(seed)
        grown = UNet(config)
    for module in grown.modules():  # every block's zero is overwritten below, except the new blocks'
        if isinstance(module, AttentionBlock):
            torch.nn.init.zeros_(module.proj_out.weight)
            torch.nn.init.zeros_(module.proj_out.bias)
    state, old_state, key_map = grown.state_dict(), old.state_dict(), _key_map(old, grown)
    if len(key_map) != len(old_state):
        raise ValueError(f"{weights}: {len(old_state) - len(key_map)} tensors found no place in the grown UNet")
    state.update({new: old_state[old_key] for new, old_key in key_map.items()})
    export_weights(Path(dest), state, {**weight_card(weights), "unet": asdict(config)})
    return config


def _key_map(old: UNet, grown: UNet) -> dict[str, str]:
    """Each tensor name of ``grown`` that ``old`` has, mapped to its name in ``old``.

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
    old_names = set(old.state_dict())
    for key in grown.state_dict():
        if not key.startswith(("input_blocks.", "output_blocks.")) and key in old_names:
            mapping[key] = key
    return mapping
