"""Evaluation at scale, beyond the paper: a named task set edited under named methods, one JSON record per
(task, method, repetition), split into shards that merge into exactly the table one process makes.

``bdlearn eval run`` and ``bdlearn eval merge`` (the command line) are the way in: :mod:`.tasks` names
the task sets, :mod:`.shards` says which items a process takes (``--shard i/N``, torchrun's or
accelerate's RANK and WORLD_SIZE, a Slurm array), :mod:`.run` edits them and writes the records,
:mod:`.merge` builds the table.
"""
from __future__ import annotations

from bdlearn.evaluation.merge import merge_records
from bdlearn.evaluation.run import run_evaluation

__all__ = ["merge_records", "run_evaluation"]
