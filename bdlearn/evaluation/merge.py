"""Merging an evaluation's shards into its records and its table.

:func:`merge_records` reads every ``items-I-of-N.jsonl`` of a folder (all with the same N), checks
that every item of ``eval.json`` is there exactly once, and writes ``records.jsonl`` (the records in
item order, without their seconds: byte for byte what one process's run gives) and ``table.json``
(per method: edits, the judge's success rate where there is a judge, the mean CLIP distance and
background error, the seconds spent).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bdlearn.errors import InputError

_SHARD_FILE = re.compile(r"items-(\d+)-of-(\d+)\.jsonl")


def _read_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise InputError(f"{path}, line {number}, is not JSON (a run killed while writing it? run that "
                             "shard again with --resume)") from None
    return lines


def merge_records(out: Path) -> dict[str, Any]:
    """Merge the shards in ``out`` into ``records.jsonl`` and ``table.json``; returns the table."""
    if not (out / "eval.json").is_file():
        raise InputError(f"{out} holds no evaluation (no eval.json): run bdlearn eval run --out {out} first")
    description = json.loads((out / "eval.json").read_text())
    files = {path: _SHARD_FILE.fullmatch(path.name) for path in out.iterdir()}
    files = {path: (int(found[1]), int(found[2])) for path, found in files.items() if found}
    counts = {count for _, count in files.values()}
    if len(counts) > 1:
        raise InputError(f"{out} holds shards of different splits ({', '.join(sorted(map(str, counts)))} shards); "
                         "keep one split per folder")
    records: dict[int, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for path in sorted(files):
        for line in _read_lines(path):
            record = line["record"]
            index = record["index"]
            if index in records and records[index] != record:
                raise InputError(f"item {index} has two different records ({path.name} and another shard)")
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
        judged = [record["success"] for record in rows if record["success"] is not None]
        table["methods"].append({
            "method": method, "edits": len(rows),
            "success": sum(judged) / len(judged) if judged else None,
            "clip_distance": sum(record["clip_distance"] for record in rows) / len(rows),
            "background_error": sum(record["background_error"] for record in rows) / len(rows),
            "seconds": round(seconds.get(method, 0.0), 3)})
    (out / "table.json").write_text(json.dumps(table, indent=2) + "\n")
    return table
