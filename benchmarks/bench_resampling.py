"""Resampling (RePaint) against the seam: success, exactness outside the mask, seam and cost for u = 1, 2, 4, 8.

    python benchmarks/bench_resampling.py            # the figures benchmarks/README.md cites
    python benchmarks/bench_resampling.py --quick    # a smoke run (writes under results/tmp/)

The reproduction suite's tasks (``bdlearn.scenes.edit_task_suite``) are rendered at 1x and 4x the toy
model's side (32x32 and 128x128) and edited by Blended Diffusion at the toy defaults, each block of
``--jump`` steps run u times (``edit(resample=u, jump=j)``; u = 1 is the paper's loop). Every edit
of a task uses the same seed, so the rows differ by u alone. Each edit is scored at the picture's size,
as in ``bench_full_size.py``:

* success: the independent judge finds the prompt's colour and shape inside the mask of the
  best-ranked edit (:func:`bdlearn.scenes.judge_region`);
* exact: every pixel outside the mask equals the input's (uint8);
* seam: the mean |difference| between 4-neighbour pixels straddling the mask's boundary, in [0, 1]
  units, for the edit and for the input (:func:`bdlearn.scenes.seam`);
* cost: the UNet evaluations (guided steps × repetitions) and the seconds of the edit (one process,
  the machine otherwise idle: time it alone).

Writes ``benchmarks/results/resampling.json``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

RESULTS = Path(__file__).resolve().parent / "results"


def score(world, task_seed: int, scale: int, resample: int, jump: int, repetitions: int) -> dict:
    from bdlearn.pipeline import edit
    from bdlearn.scenes import judge_region, make_edit_task, seam

    task = make_edit_task(task_seed, size=world.image_size * scale)
    started = time.perf_counter()
    result = edit(task.image, task.mask, task.prompt, world, repetitions=repetitions, resample=resample,
                  jump=jump if resample > 1 else None, seed=task_seed, progress=False)  # j belongs to u > 1
    seconds = time.perf_counter() - started
    full, source = result.full_size(0), result.source
    verdict = judge_region(full.astype(np.float32) / 255, task.mask)
    return {"task": task_seed, "scale": scale, "picture_side": task.image.shape[0], "resample": resample,
            "jump": jump, "success": bool(verdict.matches(task.target_colour, task.target_shape)),
            "exact_outside": bool((full[~task.mask] == source[~task.mask]).all()),
            "seam_edit": seam(full, task.mask), "seam_input": seam(source, task.mask),
            "unet_evaluations": result.run.denoising_steps * repetitions, "seconds": seconds}


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for scale, resample in sorted({(row["scale"], row["resample"]) for row in rows}):
        group = [row for row in rows if (row["scale"], row["resample"]) == (scale, resample)]
        table.append({"scale": scale, "picture_side": group[0]["picture_side"], "resample": resample,
                      "jump": group[0]["jump"], "tasks": len(group),
                      "success": float(np.mean([row["success"] for row in group])),
                      "exact_outside": all(row["exact_outside"] for row in group),
                      "seam_edit": float(np.mean([row["seam_edit"] for row in group])),
                      "seam_input": float(np.mean([row["seam_input"] for row in group])),
                      "unet_evaluations": int(group[0]["unet_evaluations"]),
                      "seconds_per_edit": float(np.mean([row["seconds"] for row in group]))})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16, help="tasks of the reproduction suite (default 16)")
    parser.add_argument("--repetitions", type=int, default=4)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--resample", type=int, nargs="+", default=[1, 2, 4, 8], help="the u to compare")
    parser.add_argument("--jump", type=int, default=5, help="steps per resampled block (default 5, edit()'s)")
    parser.add_argument("--quick", action="store_true", help="2 tasks, 1 repetition, scale 1, u = 1 and 2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.repetitions, args.scales, args.resample = 2, 1, [1], [1, 2]
    out = args.out or (RESULTS / "tmp" / "resampling.json" if args.quick else RESULTS / "resampling.json")

    from bdlearn.scenes import edit_task_suite
    from bdlearn.training.common import machine_description
    from bdlearn.worlds import load_toy_world

    world = load_toy_world()
    seeds = [task.seed for task in edit_task_suite(args.tasks)]
    jobs = [(seed, scale, u) for scale in args.scales for seed in seeds for u in args.resample]
    rows = [score(world, seed, scale, u, args.jump, args.repetitions) for seed, scale, u in tqdm(jobs, desc="edits")]
    report = {"benchmark": "bench_resampling", "machine": machine_description(), "model_side": world.image_size,
              "repetitions": args.repetitions, "summary": summarise(rows), "edits": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    for row in report["summary"]:
        print(row)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
