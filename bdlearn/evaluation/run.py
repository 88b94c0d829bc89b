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
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from bdlearn.choices import EDIT_OPTIONS, Method
from bdlearn.errors import InputError
from bdlearn.evaluation.merge import evaluation_folder, read_description, shard_files
from bdlearn.evaluation.shards import Shard
from bdlearn.evaluation.tasks import EvalTask, task_digest
from bdlearn.files import write_text_whole

if TYPE_CHECKING:
    from bdlearn.worlds.world import ModelWorld

#: edit()'s keywords an evaluation sets itself, per item: not a method's options.
_PER_ITEM = {"image", "mask", "prompt", "world", "seed", "repetitions", "progress", "return_trajectory", "method"}
_SET_BY_THE_RUN = {"seed": "--seed: item k gets seed + k", "repetitions": "--repetitions",
                   "method": "the NAME before the colon", "world": "--world", "image": "--tasks", "mask": "--tasks",
                   "prompt": "--tasks"}


@dataclass(frozen=True)
class MethodSpec:
    """A method to evaluate: its ``label`` as given, the edit method, and edit() options for it."""

    label: str
    method: str
    options: dict[str, Any]


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


#: edit()'s options a method may set.
METHOD_OPTIONS = frozenset(EDIT_OPTIONS) - _PER_ITEM


def parse_method(text: str) -> MethodSpec:
    """``NAME`` or ``NAME:KEY=VALUE,...`` (edit() keywords, e.g. ``local:background_weight=1000``)."""
    if not isinstance(text, str):
        raise InputError(f"a method is written NAME or NAME:KEY=VALUE,..., e.g. 'blended'; got {text!r}")
    name, _, rest = text.strip().partition(":")
    if name not in get_args(Method):
        raise InputError(f"--method {text}: the method is one of {', '.join(get_args(Method))}, then "
                         "optionally :KEY=VALUE,... (edit()'s keywords)")
    options: dict[str, Any] = {}
    for pair in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, value = pair.partition("=")
        if key.strip() in _PER_ITEM:
            raise InputError(f"--method {text}: {key.strip()} is set by bdlearn eval run itself, for every item "
                             f"({_SET_BY_THE_RUN.get(key.strip(), 'one edit at a time')}), not by a method")
        if key.strip() in options:
            raise InputError(f"--method {text}: {key.strip()} is given twice; give each option once")
        if not equals or key.strip() not in METHOD_OPTIONS:
            raise InputError(f"--method {text}: {pair!r} is not KEY=VALUE with KEY one of edit()'s options "
                             f"({', '.join(sorted(METHOD_OPTIONS))})")
        options[key.strip()] = _value(value.strip())
    return MethodSpec(text.strip() if options else name, name, options)  # "blended:" is labelled "blended"


@dataclass(frozen=True)
class EvalItem:
    """Item ``index`` of an evaluation: ``task`` edited by ``method``, repetition ``repetition``, seed ``seed``."""

    index: int
    task: EvalTask
    method: MethodSpec
    repetition: int
    seed: int


def _check_repetitions(repetitions: Any) -> None:
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise InputError(f"repetitions must be a whole number of at least 1, got {repetitions!r}")


def eval_items(tasks: Sequence[EvalTask], methods: Sequence[MethodSpec], repetitions: int, seed: int) -> list[EvalItem]:
    """Every item, numbered in the one order all processes share (module docstring)."""
    _check_repetitions(repetitions)
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


def _check_description(out: Path, description: dict[str, Any]) -> bool:
    """Write ``out/eval.json``, or check that the evaluation already there is this one; True when it wrote it."""
    path = out / "eval.json"
    text = json.dumps(description, indent=2, sort_keys=True) + "\n"
    if path.exists():
        earlier = read_description(out)
        differ = sorted(key for key in {*earlier, *description} if earlier.get(key) != description.get(key))
        changed = [task for task, digest in description["inputs"].items()
                   if task in earlier.get("inputs", {}) and earlier["inputs"][task] != digest]
        if changed:
            raise InputError(f"the picture, mask or prompt of task {', '.join(changed[:3])}"
                             f"{' and more' if len(changed) > 3 else ''} changed since this evaluation began in "
                             f"{out}: its records would mix two tasks; choose another --out, or put the task back")
        if differ:
            raise InputError(f"{out} holds another evaluation (its {', '.join(differ)} differ); "
                             "choose another --out, or give the same settings")
        return False
    write_text_whole(path, text)  # shards starting together write the same text
    return True


#: What evaluations write in their folder: eval.json, shard files, merge's outputs, and bdlearn's hidden lock, write
#: probe and temporary files (``.NAME.partial``, ``.NAME.earlier``, ``.NAME.<process id>.partial``).
#: What an evaluation's folder holds before its eval.json is whole: shard files, bdlearn's lock, its probe of the
#: folder and the partial eval.json (records, table and figure come with a merge, which needs eval.json).
_BEGUN_EVALUATION_FILE = re.compile(r"items-\d+-of-\d+\.jsonl|\.bdlearn-lock|\.bdlearn-write-test-.*"
                                    r"|\.eval\.json\.(\d+\.)?partial")


def _check_folder(out: Path) -> None:
    """Refuse an existing ``out`` without eval.json that holds files no evaluation writes (an edit's, a training
    run's, a user's): merge would write over them. Shards starting together find it empty or with their own files."""
    if not out.is_dir() or (out / "eval.json").exists():
        return
    if any(not _BEGUN_EVALUATION_FILE.fullmatch(path.name) for path in out.iterdir()):
        raise InputError(f"{out} holds other files than an evaluation's (and no eval.json), which merge could "
                         "write over; choose a new or empty --out folder")


def _take_back(out: Path, path: Path, created: bool) -> None:
    """Remove what a run that stopped before its first record wrote (``out/eval.json``, its empty shard file
    ``path``, the folder ``out`` if it ``created`` it), unless another shard has begun there: a corrected run then
    finds no half-begun evaluation in its way."""
    if (path.exists() and path.stat().st_size) or set(shard_files(out)) - {path}:
        return
    path.unlink(missing_ok=True)
    (out / "eval.json").unlink(missing_ok=True)
    if created and not any(out.iterdir()):
        out.rmdir()


def run_evaluation(world: ModelWorld | str, tasks: Sequence[EvalTask], methods: Sequence[MethodSpec], *,
                   repetitions: int, seed: int, out: Path | str, shard: Shard, resume: bool = False,
                   options: dict[str, Any] | None = None, progress: bool = True) -> tuple[Path, int]:
    """Edit this shard's items not yet done into ``out`` with ``world`` (a loaded world, or its name as
    :func:`bdlearn.edit` takes it), as the module docstring says; returns the shard's file and how many items it
    edited now. ``options`` are edit() keywords for every method (:data:`METHOD_OPTIONS`); everything, each task's
    prompt length included, is checked before a file is written, and a run that stops before its first record takes
    back what it wrote (:func:`_take_back`)."""
    from tqdm.auto import tqdm

    from bdlearn.worlds.load import shared_world

    options = dict(options or {})
    out = evaluation_folder(out)
    _check_run(world, tasks, methods, repetitions, seed, shard, options)
    world = shared_world(world) if isinstance(world, str) else world
    _check_prompt_lengths(world, tasks)
    items = eval_items(tasks, methods, repetitions, seed)
    _check_folder(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    other_splits = sorted({count for _, count in shard_files(out).values()} - {shard.count})
    if other_splits:
        raise InputError(f"{out} holds the shards of a split into {' and '.join(map(str, other_splits))}, and "
                         f"merge takes one split per folder: give --shard i/{other_splits[0]}, or choose another --out")
    began = _check_description(out, {"world": world.name, "tasks": [task.id for task in tasks],
                             "inputs": {task.id: task_digest(task) for task in tasks},
                             "methods": [method.label for method in methods], "repetitions": repetitions,
                             "seed": seed, "options": options, "items": len(items)})
    path = shard_file(out, shard)
    if path.exists() and path.stat().st_size and not resume:
        raise InputError(f"{path} already holds records of shard {shard.index}/{shard.count}; pass --resume to go "
                         "on from them, or choose another --out")
    locked = False
    try:
        with open(path, "a", encoding="utf-8") as handle:
            _lock(handle, path)
            locked = True  # no other process on this shard: what it wrote is this run's to take back
            done = _done_indices(path)
            mine = [item for item in items if shard.takes(item.task.id) and item.index not in done]
            for item in tqdm(mine, desc=f"shard {shard.index}/{shard.count}", disable=not progress):
                started = time.perf_counter()
                record = edit_item(world, item, options)
                line = {"record": record, "seconds": round(time.perf_counter() - started, 3)}
                handle.write(json.dumps(line, sort_keys=True, allow_nan=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        if began and locked:
            _take_back(out, path, created)
        raise
    return path, len(mine)


def _check_run(world, tasks: Sequence[EvalTask], methods: Sequence[MethodSpec], repetitions: Any, seed: Any,
               shard: Any, options: dict[str, Any]) -> None:
    """Everything an evaluation is given, checked before any file is written: a corrected command then finds no
    half-begun evaluation in its way."""
    from bdlearn.machinery.inputs import check_prompt, read_image, read_mask
    from bdlearn.pipeline import checked_edit_settings

    if not tasks:
        raise InputError("the task set is empty: nothing to evaluate")
    if not methods or not all(isinstance(method, MethodSpec) for method in methods):
        raise InputError("give at least one method (parse_method('blended'), --method blended)")
    seen: dict[tuple, str] = {}
    for method in methods:  # `blended` and `blended:` are one edit under two labels
        edit_made = (method.method, tuple(sorted(method.options.items())))
        if edit_made in seen:
            same = seen[edit_made]
            twice = f"--method {same}" + ("" if same == method.label else f" and --method {method.label}")
            raise InputError(f"{twice}: a method is given twice (the same edit with the same options)")
        seen[edit_made] = method.label
    _check_repetitions(repetitions)
    last_seed = (seed + len(tasks) * len(methods) * repetitions - 1) if isinstance(seed, int) else None
    if isinstance(seed, bool) or last_seed is None or seed < 0 or last_seed >= 2**32:
        raise InputError(f"seed must be a whole number with seed + items - 1 below 2**32 (item k is edited with seed "
                         f"+ k, {len(tasks) * len(methods) * repetitions} items); got {seed!r}")
    if not isinstance(shard, Shard):
        raise InputError(f"shard must be a Shard (parse_shard('0/4')), got {shard!r}")
    if unknown := sorted(map(repr, set(options) - METHOD_OPTIONS)):
        raise InputError(f"options {', '.join(unknown)}: an evaluation's options are edit()'s keywords other than "
                         f"those it sets for each item, i.e. one of {', '.join(sorted(METHOD_OPTIONS))}")
    inverts = set()
    for method in methods:  # the settings each item will use, as edit() checks them
        try:
            settings = checked_edit_settings(world, method=method.method, **{**options, **method.options},
                                             repetitions=1, seed=seed)
        except InputError as err:
            raise InputError(f"--method {method.label}: {err}") from None
        inverts.add(settings.invert_mask)
        if settings.invert_mask and any(task.target is not None for task in tasks):
            raise InputError(f"--method {method.label}: the judge looks inside each toy task's mask, which an "
                             "inverted mask leaves as it was; evaluate invert_mask on a folder of photos")
    for task in tasks:  # every picture, mask and prompt read as edit() reads them, not found bad half-way through
        try:
            check_prompt(task.prompt)
            source = read_image(task.image)
            for invert in inverts:
                read_mask(task.mask, source.shape[:2], invert=invert)
        except (InputError, OSError) as err:
            raise InputError(f"task {task.id}: {err}") from None


def _check_prompt_lengths(world: ModelWorld, tasks: Sequence[EvalTask]) -> None:
    """Every task's prompt within the world's CLIP context, as edit() finds it when it embeds the prompt
    (:meth:`~bdlearn.clip.bundle.ClipBundle.tokenize`), before any file is written."""
    for task in tasks:
        try:
            world.clip.tokenize([task.prompt.strip()])
        except ValueError as err:
            raise InputError(f"task {task.id}: {err}") from None


def _lock(handle, path: Path) -> None:
    """Hold the shard file's lock while the run writes it: a second process on the same shard (a requeued job
    while the first still runs) stops at once instead of editing every item twice. The operating system's
    lock (flock) ends with the process."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InputError(f"another process is writing {path} (the same shard); let it finish, or give this one "
                         "another --shard") from None
