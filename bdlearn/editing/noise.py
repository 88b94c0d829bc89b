"""Where an edit's random numbers come from: a seeded generator, or tensors recorded earlier (replay).

The editing loop asks a :class:`NoiseSource` for every random draw by name, in the order its variant
draws them (:mod:`bdlearn.editing.variants`):

* ``"start"`` [B, 3, S, S]: the noise that takes x_0 to the starting level, x_k ~ q(x_k | x_0);
* ``"step"`` [B, 3, S, S]: each step's noise z of x_{t−1} = μ + σ·z (drawn before the guidance in the
  official variant, after it in the paper's);
* ``"background"`` [B or 1, 3, S, S]: each step's noise of the noised background (Blended Diffusion
  only; one draw shared by the batch in the official variant);
* ``"augmentation"``: each guided step's random warps of the CLIP views
  (:class:`~bdlearn.editing.augmentations.WarpParameters`; the official variant's augmentations only);
* ``"renoise"`` [B, 3, S, S]: the noise of each jump back up when resampling
  (:mod:`bdlearn.editing.resampling`; beyond the paper, off by default).

:class:`GeneratorNoise` draws them from a ``torch.Generator`` (what :func:`bdlearn.edit` does: a seed
gives the same edits on the CPU); :class:`RecordingNoise` keeps another source's draws as it hands
them out. :class:`RecordedNoise` hands out tensors recorded earlier, by bdlearn or e.g.
by the official code (the conformance fixtures), so that a run can be replayed draw for draw, and
refuses a draw of another name or shape than the recording holds next: a replay that drifts out of
step says so at once.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import torch
from torch import Tensor

from bdlearn.editing.augmentations import WarpParameters, draw_warp_parameters


class NoiseSource(Protocol):
    """What the editing loop draws its random numbers from."""

    def normal(self, kind: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A standard normal draw named ``kind`` of ``shape``, on ``like``'s device and dtype."""
        ...

    def warps(self, count: int, size: int, like: Tensor) -> WarpParameters:
        """The random warps of ``count`` augmented copies of side ``size``."""
        ...


class GeneratorNoise:
    """Draws from ``generator`` on the CPU (then moves the draw to the tensors' device), so a seed
    gives the same numbers on every device."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def normal(self, kind: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return torch.randn(shape, generator=self.generator, dtype=like.dtype).to(like.device)

    def warps(self, count: int, size: int, like: Tensor) -> WarpParameters:
        return draw_warp_parameters(count, size, self.generator, like)


class RecordedNoise:
    """Replays recorded draws in order: ``draws`` is a sequence of ``(kind, tensor or WarpParameters)``.

    :meth:`from_fixture` builds the sequence from a conformance fixture's tensors and its variant's order.
    """

    def __init__(self, draws: Iterable[tuple[str, Any]]) -> None:
        self.draws = list(draws)
        self.used = 0  #: how many draws were handed out

    def _next(self, kind: str) -> Any:
        if self.used == len(self.draws):
            raise ValueError(f"the recording has no more draws; draw {self.used} asked for {kind!r}")
        recorded_kind, value = self.draws[self.used]
        if recorded_kind != kind:
            raise ValueError(f"draw {self.used}: the loop asked for {kind!r} but the recording holds {recorded_kind!r} "
                             "(another variant's draw order, or another number of steps)")
        self.used += 1
        return value

    def normal(self, kind: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        value = self._next(kind)
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"draw {self.used - 1} ({kind!r}): recorded shape {tuple(value.shape)}, "
                             f"the loop needs {tuple(shape)}")
        return value.to(device=like.device, dtype=like.dtype)

    def warps(self, count: int, size: int, like: Tensor) -> WarpParameters:
        value = self._next("augmentation")
        if value.affine.shape[0] != count:
            raise ValueError(f"draw {self.used - 1} (augmentation): recorded {value.affine.shape[0]} warps, "
                             f"the loop needs {count}")
        return value.to(like)

    @classmethod
    def from_fixture(cls, tensors: dict[str, Tensor], *, blended: bool, steps: Iterable[int] | None = None,
                     with_start: bool = True) -> RecordedNoise:
        """The draws of an edit recorded from the official code, in the order it drew them: ``noise.init``,
        then for each step k (all, or ``steps``) ``noise.step[k]``, the warps ``aug.{k}.*`` when recorded,
        and ``noise.background[k]`` for Blended Diffusion. ``with_start=False`` leaves out the first draw
        (to replay single steps, teacher-forced)."""
        draws: list[tuple[str, Any]] = [("start", tensors["noise.init"])] if with_start else []
        for k in range(tensors["noise.step"].shape[0]) if steps is None else steps:
            draws.append(("step", tensors["noise.step"][k]))
            if f"aug.{k}.affine_matrix" in tensors:
                draws.append(("augmentation", WarpParameters.from_fixture(tensors, k)))
            if blended:
                draws.append(("background", tensors["noise.background"][k]))
        return cls(draws)


class RecordingNoise:
    """Hands out ``source``'s draws and keeps them in :attr:`draws`, so that ``RecordedNoise(draws)``
    replays the same edit (or a student replays a trajectory and changes one draw)."""

    def __init__(self, source: NoiseSource) -> None:
        self.source = source
        self.draws: list[tuple[str, Any]] = []

    def normal(self, kind: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        value = self.source.normal(kind, shape, like)
        self.draws.append((kind, value))
        return value

    def warps(self, count: int, size: int, like: Tensor) -> WarpParameters:
        value = self.source.warps(count, size, like)
        self.draws.append(("augmentation", value))
        return value
