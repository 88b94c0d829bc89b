"""Merging an evaluation's shards into its records and its table.

:func:`merge_records` reads every ``items-I-of-N.jsonl`` of a folder (all with the same N), checks
that every item of ``eval.json`` is there exactly once, and writes ``records.jsonl`` (the records in
item order, without their seconds: byte for byte what one process's run gives) and ``table.json``
(per method: edits, the judge's success rate where there is a judge, the mean CLIP distance and
background error, the seconds spent).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from bdlearn.errors import InputError

_SHARD_FILE = re.compile(r"items-(\d+)-of-(\d+)\.jsonl")


def evaluation_folder(out: Any) -> Path:
    """``out``, an evaluation's folder given as a str or Path, as a Path; anything else is an InputError."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise InputError(f"give the evaluation's folder's path (str or Path), got {out!r}")
    return Path(out)


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
                and isinstance(value.get("seconds"), (int, float)) and not isinstance(value["seconds"], bool)):
            raise InputError(f"{path}, line {number}, is not a record of bdlearn eval run "
                             '({"record": {"index": ...}, "seconds": ...})')
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
    files = {path: _SHARD_FILE.fullmatch(path.name) for path in out.iterdir()}
    files = {path: (int(found[1]), int(found[2])) for path, found in files.items() if found}
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
    (out / "records.jsonl").write_text("".join(json.dumps(record, sort_keys=True) + "\n" for record in ordered))
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
    (out / "table.json").write_text(json.dumps(table, indent=2) + "\n")
    return table
