"""How the toy world's edit defaults were chosen: a sweep of λ_CLIP and the number of denoising steps.

    python benchmarks/bench_toy_defaults.py                       # benchmarks/README.md's sweep of the shipped DDPM
    python benchmarks/bench_toy_defaults.py --ddpm run/toy_ddpm.safetensors   # another DDPM
    python benchmarks/bench_toy_defaults.py --quick               # a smoke run

Blended Diffusion at 8 augmentations and 50 respaced steps on a suite of toy edit tasks drawn with another seed than
the reproduction benchmark's (``bench_edit_quality.py``), so the defaults are not tuned on the
tasks that report them. Every (λ_CLIP, skip) pair of the grid edits every task with
``--repetitions`` repetitions; the judge scores them as in ``bench_edit_quality.py``. Writes
``benchmarks/results/toy_defaults.json``. One worker, one thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_edit_quality import score_edit
from bench_toy_models import portable_path
from tqdm.auto import tqdm

from bdlearn.scenes.tasks import edit_task_suite
from bdlearn.training.common import machine_description
from bdlearn.worlds.checkpoint import weight_card
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS, TOY_DEFAULTS, load_toy_world

RESULTS = Path(__file__).resolve().parent / "results"
CLIP_WEIGHTS = (300.0, 1000.0, 3000.0)
RESPACED_STEPS = 50
SKIPS = (15, 25)  # 35 or 25 denoising steps
AUGMENTATIONS = 8
SUITE_SEED = 1  # bench_edit_quality.py uses suite seed 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=72)
    parser.add_argument("--repetitions", type=int, default=4)
    parser.add_argument("--ddpm", type=Path, default=TOY_DDPM_WEIGHTS)
    parser.add_argument("--quick", action="store_true", help="2 tasks, 1 repetition")
    parser.add_argument("--out", type=Path, default=RESULTS / "toy_defaults.json")
    args = parser.parse_args()
    tasks, repetitions = (2, 1) if args.quick else (args.tasks, args.repetitions)
    torch.set_num_threads(1)
    world = load_toy_world(ddpm_path=args.ddpm)
    suite = edit_task_suite(tasks, seed=SUITE_SEED)
    grid = [{"name": f"clip {w:g}, skip {s}", "clip_weight": w, "skip": s, "respacing": str(RESPACED_STEPS),
             "num_augmentations": AUGMENTATIONS} for w in CLIP_WEIGHTS for s in SKIPS]
    began = time.perf_counter()
    results = {}
    for config in tqdm(grid, desc="defaults sweep"):
        started = time.perf_counter()
        rows = [score_edit(world, config, task.seed, repetitions, 2000 + i) for i, task in enumerate(suite)]
        results[config["name"]] = {
            "clip_weight": config["clip_weight"], "skip": config["skip"],
            "denoising_steps": RESPACED_STEPS - config["skip"],
            "success_ranked": float(np.mean([r["ranked_success"] for r in rows])),
            "success_unranked": float(np.mean([r["unranked_success"] for r in rows])),
            "seconds_per_edit": round((time.perf_counter() - started) / len(rows), 2),
        }
    report = {"machine": machine_description(), "ddpm": portable_path(args.ddpm),
              "ddpm_training_steps": weight_card(args.ddpm)["steps"], "tasks": tasks, "suite_seed": SUITE_SEED,
              "repetitions": repetitions, "augmentations": AUGMENTATIONS, "shipped_defaults": TOY_DEFAULTS.__dict__,
              "seconds": round(time.perf_counter() - began, 1), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
