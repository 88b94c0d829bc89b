"""Resampling (RePaint, Lugmayr et al., CVPR 2022, §4.2): beyond the paper, a sampling-time remedy for the seam.

Blended Diffusion's blend is RePaint's known-region step: at every level the outside of the mask
is the input noised to that level, the inside is the model's. The two halves are drawn apart, so
the model sees an outside that its inside never shaped; at the end the region can disagree with
its surroundings across the mask's edge (a seam, :func:`bdlearn.scenes.measures.seam`).
RePaint's answer needs no training: after a block of ``jump`` (j) blended steps, go back up j levels
by re-noising the whole picture with q(x_{t+j} | x_t) (:func:`~bdlearn.diffusion.forward.q_sample_later`)
and denoise the block again, so that the model revisits the region with the blended outside in its
input. Each block is run ``resample`` (u) times in all: u = 1 is the paper's loop, and u costs
about u times the UNet evaluations.

:func:`resampling_moves` lists what the loop does, step by step; :mod:`bdlearn.editing.loop` follows it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bdlearn.checks import checked_integer


@dataclass(frozen=True)
class Move:
    """One move of the loop: a guided reverse ``"step"`` from x_t at step index ``t`` (to x_{t−1}), or a
    ``"renoise"`` of x_t (t = −1: the data) up to x_``to`` with q(x_to | x_t)."""

    kind: Literal["step", "renoise"]
    t: int
    to: int


def resampling_moves(first: int, resample: int = 1, jump: int = 1) -> list[Move]:
    """The moves of an edit that starts at x_``first`` and resamples each block of ``jump`` steps
    ``resample`` times in all (RePaint's schedule; ``resample=1``: the plain loop, first … 0).

    Blocks are counted from the start: after every ``jump`` steps down, the loop goes back up
    ``jump`` levels, until that block has been run ``resample`` times; then it goes on down. The
    last block, which ends at the data x_0, is resampled too. ``first`` is an int of at least 0, ``resample``
    and ``jump`` ints of at least 1.
    """
    first = checked_integer("first", first, 0)
    resample = checked_integer("resample", resample, 1)
    jump = checked_integer("jump", jump, 1)
    if resample > 1 and jump > first + 1:
        steps = f"{first + 1} steps" if first else "1 step"
        raise ValueError(f"jump must be at most the edit's number of steps ({steps}), got {jump}")
    moves, level, runs = [], first, {}
    while level >= 0:
        moves.append(Move("step", level, level - 1))
        level -= 1
        block_done = (first - level) % jump == 0 and level + jump <= first
        if block_done and runs.setdefault(level, 1) < resample:
            runs[level] += 1
            moves.append(Move("renoise", level, level + jump))
            level += jump
    return moves
