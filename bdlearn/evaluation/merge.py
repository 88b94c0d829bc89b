"""Merging an evaluation's shards into its records and its table.

:func:`merge_records` reads every ``items-I-of-N.jsonl`` of a folder (all with the same N), checks
that every item of ``eval.json`` is there exactly once, and writes ``records.jsonl`` (the records in
item order, without their seconds: byte for byte what one process's run gives) and ``table.json``
(per method: edits, the judge's success rate where there is a judge, the mean CLIP distance and
background error, the seconds spent).
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from bdlearn.errors import InputError
from bdlearn.files import write_text_whole

_SHARD_FILE = re.compile(r"items-(\d+)-of-(\d+)\.jsonl")


def evaluation_folder(out: Any) -> Path:
    """``out``, an evaluation's folder given as a str or Path, as a Path; anything else is an InputError."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise InputError(f"give the evaluation's folder's path (str or Path), got {out!r}")
    return Path(out)


def shard_files(out: Path) -> dict[Path, tuple[int, int]]:
    """The shard files ``items-I-of-N.jsonl`` in ``out``, each with its (I, N)."""
    found = {path: _SHARD_FILE.fullmatch(path.name) for path in out.iterdir()}
    return {path: (int(match[1]), int(match[2])) for path, match in found.items() if match}


def _finite(value: Any, low: float = -math.inf) -> bool:
    """Whether ``value`` is a real number (not a bool), finite and at least ``low``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= low


def _bad_measure(record: dict[str, Any]) -> str | None:
    """What is wrong with a record's measures (a file changed by hand, or by another program), else None."""
    if not _finite(record.get("clip_distance")):
        return f"clip_distance is {record.get('clip_distance')!r}, not a finite number"
    if not _finite(record.get("background_error"), low=0):
        return f"background_error is {record.get('background_error')!r}, not a finite number of at least 0"
    if record.get("success") is not None and not isinstance(record.get("success"), bool):
        return f"success is {record.get('success')!r}, not true, false or null"
    return None


def _read_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, line) of a shard file, each line checked to be ``{"record": {...}, "seconds": number}``."""
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            value = json.loads(line)
        except ValueError:
            raise InputError(f"{path}, line {number}, is not JSON (a run killed while writing it? run that "
                             "shard again with --resume)") from None
        if not (isinstance(value, dict) and isinstance(value.get("record"), dict)
                and isinstance(value["record"].get("index"), int)
                and _finite(value.get("seconds"), low=0)):
            raise InputError(f"{path}, line {number}, is not a record of bdlearn eval run "
                             '({"record": {"index": ...}, "seconds": a finite number of at least 0})')
        lines.append((number, value))
    return lines


def read_description(out: Path) -> dict[str, Any]:
    """``out/eval.json``, checked to be what bdlearn eval run writes."""
    path = out / "eval.json"
    try:
        description = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        raise InputError(f"{path} is not JSON; bdlearn eval run writes it (remove it and run the evaluation again "
                         "there)") from None
    shapes = {"items": int, "tasks": list, "methods": list, "repetitions": int, "seed": int, "world": str}
    if not isinstance(description, dict) or not all(isinstance(description.get(key), kind)
                                                    for key, kind in shapes.items()):
        raise InputError(f"{path} is not an evaluation's description (it needs {', '.join(shapes)}); it is written "
                         "by bdlearn eval run")
    if description["items"] != len(description["tasks"]) * len(description["methods"]) * description["repetitions"]:
        raise InputError(f"{path}: its items do not count its tasks × methods × repetitions")
    return description


def _expected(description: dict[str, Any], index: int) -> dict[str, Any]:
    """What item ``index``'s record must name: tasks in order, then methods, then repetitions; seed + index."""
    repetitions, methods = description["repetitions"], description["methods"]
    task, rest = divmod(index, len(methods) * repetitions)
    method, repetition = divmod(rest, repetitions)
    return {"task": description["tasks"][task], "method": methods[method], "repetition": repetition,
            "seed": description["seed"] + index}


def merge_records(out: Path) -> dict[str, Any]:
    """Merge the shards in ``out`` into ``records.jsonl`` and ``table.json``; returns the table."""
    out = evaluation_folder(out)
    if not (out / "eval.json").is_file():
        raise InputError(f"{out} holds no evaluation (no eval.json): run bdlearn eval run --out {out} first")
    description = read_description(out)
    files = shard_files(out)
    counts = {count for _, count in files.values()}
    if len(counts) > 1:
        raise InputError(f"{out} holds shards of different splits ({', '.join(sorted(map(str, counts)))} shards); "
                         "keep one split per folder")
    records: dict[int, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for path in sorted(files):
        for number, line in _read_lines(path):
            record = line["record"]
            index = record["index"]
            if not 0 <= index < description["items"]:
                raise InputError(f"{path.name}, line {number}: item {index} is not one of this evaluation's "
                                 f"{description['items']} items (a shard of another evaluation?)")
            expected = _expected(description, index)
            differ = [key for key, value in expected.items() if record.get(key) != value]
            if differ:
                raise InputError(f"{path.name}, line {number}: item {index}'s {', '.join(differ)} "
                                 f"{'differs' if len(differ) == 1 else 'differ'} from "
                                 "eval.json's (a shard of another evaluation?); keep one evaluation per folder")
            problem = _bad_measure(record)
            if problem:
                raise InputError(f"{path.name}, line {number}: item {index}'s {problem} (bdlearn eval run does not "
                                 "write that: run its shard again)")
            if index in records:
                if records[index] != record:
                    raise InputError(f"item {index} has two different records ({path.name} and another shard)")
                continue  # the same record twice: its edit counted once
            records[index] = record
            seconds[record["method"]] = seconds.get(record["method"], 0.0) + float(line["seconds"])
    missing = sorted(set(range(description["items"])) - set(records))
    if missing:
        count = next(iter(counts)) if counts else 1
        shards = sorted({index for index, _ in files.values()})
        raise InputError(f"{len(missing)} of {description['items']} items are missing (shard files present: "
                         f"{shards or 'none'} of {count}); run the unfinished shards with --resume, then merge")
    ordered = [records[index] for index in range(description["items"])]
    write_text_whole(out / "records.jsonl", "".join(json.dumps(record, sort_keys=True) + "\n" for record in ordered))
    table = {"world": description["world"], "tasks": len(description["tasks"]),
             "repetitions": description["repetitions"], "methods": []}
    for method in description["methods"]:
        rows = [record for record in ordered if record["method"] == method]
        if not rows:  # an evaluation of no items has nothing to average
            continue
        judged = [record.get("success") for record in rows if record.get("success") is not None]
        table["methods"].append({
            "method": method, "edits": len(rows),
            "success": sum(judged) / len(judged) if judged else None,
            "clip_distance": sum(record["clip_distance"] for record in rows) / len(rows),
            "background_error": sum(record["background_error"] for record in rows) / len(rows),
            "seconds": round(seconds.get(method, 0.0), 3)})
    write_text_whole(out / "table.json", json.dumps(table, indent=2) + "\n")
    return table
