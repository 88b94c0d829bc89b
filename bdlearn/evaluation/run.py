"""Running an evaluation: every (task, method, repetition) item of a shard edited once, one JSON line each.

The items are numbered in one order for every process: tasks in their set's order, then methods as
given, then repetitions. Item ``k`` is edited with seed ``seed + k`` (one repetition each), so its
record is the same whichever process makes it, and the shards' records merge into exactly what one
process writes (:mod:`bdlearn.evaluation.merge`; on the CPU, with the same number of threads).

A run writes, in its ``--out`` folder:

* ``eval.json``: what is evaluated (task ids, methods, repetitions, seed, edit options): every shard
  and every ``--resume`` must match it;
* ``items-I-of-N.jsonl``: shard I's lines, ``{"record": {...}, "seconds": ...}``, each written and
  flushed as soon as its edit is done, so ``--resume`` goes on after the last whole line.

A record: ``index``, ``task``, ``method`` (as given, e.g. ``local:background_weight=1000``),
``repetition``, ``seed``; ``success`` and ``judge`` (the judge's verdict inside the mask, toy tasks
only, else null); ``clip_distance`` (the edit's unaugmented CLIP distance to the prompt, inside the
mask; over the whole picture for SDEdit); ``background_error`` (the RMS of edit − input outside the
mask, in [0, 1] units, :func:`bdlearn.scenes.measures.background_error`: 0 for Blended Diffusion).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from bdlearn.choices import Method
from bdlearn.errors import InputError
from bdlearn.evaluation.shards import Shard
from bdlearn.evaluation.tasks import EvalTask

#: edit()'s keywords an evaluation sets itself, per item: not a method's options.
_PER_ITEM = {"image", "mask", "prompt", "world", "seed", "repetitions", "progress", "return_trajectory", "method"}


@dataclass(frozen=True)
class MethodSpec:
    """A method to evaluate: its ``label`` as given, the edit method, and edit() options for it."""

    label: str
    method: str
    options: dict[str, Any]


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_method(text: str) -> MethodSpec:
    """``NAME`` or ``NAME:KEY=VALUE,...`` (edit() keywords, e.g. ``local:background_weight=1000``)."""
    import inspect

    from bdlearn.pipeline import edit

    name, _, rest = text.strip().partition(":")
    if name not in get_args(Method):
        raise InputError(f"--method {text}: the method is one of {', '.join(get_args(Method))}, then "
                         "optionally :KEY=VALUE,... (edit()'s keywords)")
    keywords = set(inspect.signature(edit).parameters) - _PER_ITEM
    options = {}
    for pair in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, value = pair.partition("=")
        if not equals or key.strip() not in keywords:
            raise InputError(f"--method {text}: {pair!r} is not KEY=VALUE with KEY one of edit()'s options "
                             f"({', '.join(sorted(keywords))})")
        options[key.strip()] = _value(value.strip())
    return MethodSpec(text.strip(), name, options)


@dataclass(frozen=True)
class EvalItem:
    """Item ``index`` of an evaluation: ``task`` edited by ``method``, repetition ``repetition``, seed ``seed``."""

    index: int
    task: EvalTask
    method: MethodSpec
    repetition: int
    seed: int


def eval_items(tasks: Sequence[EvalTask], methods: Sequence[MethodSpec], repetitions: int, seed: int) -> list[EvalItem]:
    """Every item, numbered in the one order all processes share (module docstring)."""
    combos = [(task, method, repetition) for task in tasks for method in methods for repetition in range(repetitions)]
    return [EvalItem(index, task, method, repetition, seed + index)
            for index, (task, method, repetition) in enumerate(combos)]


def edit_item(world, item: EvalItem, options: dict[str, Any]) -> dict[str, Any]:
    """Edit ``item`` once and return its record (module docstring)."""
    import numpy as np

    from bdlearn.pipeline import edit
    from bdlearn.scenes.judge import judge_region
    from bdlearn.scenes.measures import background_error

    task = item.task
    result = edit(task.image, task.mask, task.prompt, world, method=item.method.method,
                  **{**options, **item.method.options}, repetitions=1, seed=item.seed, progress=False)
    full, source, mask = result.full_size(0), result.source, result.source_mask
    judge, success = None, None
    if task.target is not None:
        verdict = judge_region(full.astype(np.float32) / 255, mask)
        judge = {"object": verdict.has_object, "colour": verdict.colour, "shape": verdict.shape}
        success = bool(verdict.matches(*task.target))
    return {"index": item.index, "task": task.id, "method": item.method.label, "repetition": item.repetition,
            "seed": item.seed, "success": success, "judge": judge, "clip_distance": float(result.distances[0]),
            "background_error": background_error(full, source, mask)}


def shard_file(out: Path, shard: Shard) -> Path:
    """Where shard ``shard`` writes its lines."""
    return out / f"items-{shard.index}-of-{shard.count}.jsonl"


def _done_indices(path: Path) -> set[int]:
    """The items ``path`` holds whole; a last line cut short by a kill is dropped from the file."""
    if not path.exists():
        return set()
    done, keep = set(), 0
    with open(path, "rb") as handle:
        for line in handle:
            try:
                done.add(int(json.loads(line)["record"]["index"]))
            except (ValueError, KeyError, TypeError):
                break  # a torn last line: what follows is rewritten
            keep += len(line)
    with open(path, "r+b") as handle:
        handle.truncate(keep)
    return done


def _check_description(out: Path, description: dict[str, Any]) -> None:
    """Write ``out/eval.json``, or check that the evaluation already there is this one."""
    path = out / "eval.json"
    text = json.dumps(description, indent=2, sort_keys=True) + "\n"
    if path.exists():
        earlier = json.loads(path.read_text())
        differ = sorted(key for key in {*earlier, *description} if earlier.get(key) != description.get(key))
        if differ:
            raise InputError(f"{out} holds another evaluation (its {', '.join(differ)} differ); "
                             "choose another --out, or give the same settings")
        return
    partial = path.with_name(f".eval.json.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)  # shards starting together write the same text


def run_evaluation(world, tasks: Sequence[EvalTask], methods: Sequence[MethodSpec], *, repetitions: int, seed: int,
                   out: Path, shard: Shard, resume: bool = False, options: dict[str, Any] | None = None,
                   progress: bool = True) -> tuple[Path, int]:
    """Edit this shard's items not yet done into ``out`` (module docstring); returns its file and how many
    items it edited now."""
    from tqdm.auto import tqdm

    options = dict(options or {})
    items = eval_items(tasks, methods, repetitions, seed)
    out.mkdir(parents=True, exist_ok=True)
    _check_description(out, {"world": world.name, "tasks": [task.id for task in tasks],
                             "methods": [method.label for method in methods], "repetitions": repetitions,
                             "seed": seed, "options": options, "items": len(items)})
    path = shard_file(out, shard)
    if path.exists() and path.stat().st_size and not resume:
        raise InputError(f"{path} already holds records of shard {shard.index}/{shard.count}; pass --resume to go "
                         "on from them, or choose another --out")
    done = _done_indices(path)
    mine = [item for item in items if shard.takes(item.task.id) and item.index not in done]
    with open(path, "a", encoding="utf-8") as handle:
        for item in tqdm(mine, desc=f"shard {shard.index}/{shard.count}", disable=not progress):
            started = time.perf_counter()
            record = edit_item(world, item, options)
            line = {"record": record, "seconds": round(time.perf_counter() - started, 3)}
            handle.write(json.dumps(line, sort_keys=True, allow_nan=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return path, len(mine)
