"""Which items of an evaluation a process takes: ``--shard i/N``, or what its launcher says.

A task goes to shard ``sha256(task id) mod N``: the same shard in every process and every run (never
Python's ``hash()``, which changes from process to process), and all of a task's items together. The
launchers, read from the environment when ``--shard`` is not given:

* torchrun and ``accelerate launch``: ``RANK`` of ``WORLD_SIZE`` (each process also takes the GPU
  ``LOCAL_RANK`` names, where there are GPUs);
* a Slurm job array: ``SLURM_ARRAY_TASK_ID`` of ``SLURM_ARRAY_TASK_COUNT`` (counted from
  ``SLURM_ARRAY_TASK_MIN``, so ``--array=1-8`` works too).
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bdlearn.errors import InputError


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (from 0), and who said so (``--shard``, torchrun, Slurm, or one process)."""

    index: int
    count: int
    source: str

    def __post_init__(self) -> None:
        if not (isinstance(self.index, int) and isinstance(self.count, int) and 0 <= self.index < self.count):
            raise InputError(f"a shard is index i of count N, whole numbers with 0 <= i < N; got {self.index!r} of "
                             f"{self.count!r}")

    def takes(self, task_id: str) -> bool:
        """Whether the task ``task_id`` is this shard's."""
        return shard_of(task_id, self.count) == self.index


def shard_of(task_id: str, count: int) -> int:
    """The shard of ``task_id`` among ``count``: the first 8 bytes of its SHA-256, modulo ``count``."""
    if not isinstance(count, int) or count < 1:
        raise InputError(f"the number of shards must be a whole number of at least 1, got {count!r}")
    return int.from_bytes(hashlib.sha256(str(task_id).encode("utf-8")).digest()[:8], "big") % count


def parse_shard(text: str) -> Shard:
    """``"i/N"`` (0 <= i < N) as a :class:`Shard`."""
    if not isinstance(text, str):
        raise InputError(f"a shard is written 'i/N', e.g. '0/4'; got {text!r}")
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not found or not int(found[2]) >= 1 or not int(found[1]) < int(found[2]):
        raise InputError(f"--shard {text}: write i/N with 0 <= i < N, e.g. 0/4 for the first of four")
    return Shard(int(found[1]), int(found[2]), "--shard")


def _whole(environment: Mapping[str, str], name: str) -> int:
    try:
        return int(environment[name])
    except ValueError:
        raise InputError(f"{name}={environment[name]!r} in the environment is not a whole number") from None


def shard_from_environment(environment: Mapping[str, str] | None = None) -> Shard:
    """The shard a launcher gave this process (module docstring); one process takes every task."""
    environment = os.environ if environment is None else environment
    if "WORLD_SIZE" in environment and "RANK" in environment:
        index, count, source = _whole(environment, "RANK"), _whole(environment, "WORLD_SIZE"), "torchrun"
    elif "SLURM_ARRAY_TASK_ID" in environment and "SLURM_ARRAY_TASK_COUNT" in environment:
        first = _whole(environment, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in environment else 0
        index = _whole(environment, "SLURM_ARRAY_TASK_ID") - first
        count, source = _whole(environment, "SLURM_ARRAY_TASK_COUNT"), "Slurm"
    else:
        return Shard(0, 1, "one process")
    if not 0 <= index < count:
        raise InputError(f"the {source} environment says shard {index} of {count}, which does not exist")
    return Shard(index, count, source)
