"""Reproduction on the toy world: does each method put the prompt's object in the mask, and what does
it cost the background?

    python benchmarks/bench_edit_quality.py               # the README's figures (100 tasks; long)
    python benchmarks/bench_edit_quality.py --quick       # a smoke run
    python benchmarks/bench_edit_quality.py --clip-weight 300 --out other.json   # another λ_CLIP

A fixed suite of toy-world edit tasks (``bdlearn.scenes.tasks.edit_task_suite``: replace an object, or add
one on empty background), each edited with every configuration below at the toy defaults (λ_CLIP
from ``--clip-weight`` where given), with ``--repetitions`` repetitions. Scored by the independent
judge (not CLIP):

* success: the prompt's colour and shape found inside the mask. "ranked" scores the edit CLIP
  ranks best; "unranked" is the mean over all repetitions (what one unranked edit achieves);
* background error outside the mask, |edit − input| in [0, 1] pixel units: max and mean;
* the CLIP distance of the ranked-best edit.

Configurations: Blended Diffusion with 0, 4 and 16 augmentations; Local CLIP-guided diffusion
(no blending) with λ ∈ {0, 10, 100, 1000, 10000}. Writes ``benchmarks/results/edit_quality.json``
and the trade-off plot ``benchmarks/results/edit_tradeoff.png``; with another ``--out`` the plot
goes beside that report, under its name with ``.png``, and the README's plot is left alone. Work is
spread over the CPU's cores, one thread per process.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_REPORT = RESULTS / "edit_quality.json"
DEFAULT_PLOT = RESULTS / "edit_tradeoff.png"
CONFIGS = [
    {"name": "blended, 0 augmentations", "method": "blended", "num_augmentations": 0},
    {"name": "blended, 4 augmentations", "method": "blended", "num_augmentations": 4},
    {"name": "blended, 16 augmentations", "method": "blended", "num_augmentations": 16},
] + [{"name": f"local, λ={lam}", "method": "local", "background_weight": float(lam)}
     for lam in (0, 10, 100, 1000, 10000)]

_WORLD = None


def score_edit(world, config: dict, task_seed: int, repetitions: int, edit_seed: int) -> dict:
    """Edit toy task ``task_seed`` with one configuration and score the edits with the judge."""
    from bdlearn.pipeline import edit
    from bdlearn.scenes.judge import judge_region
    from bdlearn.scenes.tasks import make_edit_task

    task = make_edit_task(task_seed)
    options = {k: v for k, v in config.items() if k != "name"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = edit(task.image, task.mask, task.prompt, world, repetitions=repetitions, seed=edit_seed,
                      progress=False, **options)
    edits = (result.images.clamp(-1, 1).numpy() + 1) / 2  # [R, 3, S, S] in [0, 1]
    source = (result.input.numpy() + 1) / 2
    keep = result.mask[0].numpy() == 0
    successes = [judge_region(e.transpose(1, 2, 0), task.mask).matches(task.target_colour, task.target_shape)
                 for e in edits]
    errors = np.abs(edits - source[None])[:, :, keep]
    return {"config": config["name"], "task": task_seed, "kind": task.kind, "ranked_success": bool(successes[0]),
            "unranked_success": float(np.mean(successes)), "background_max": float(errors.max()),
            "background_mean": float(errors.mean()), "clip_distance": float(result.distances[0]),
            "lpips": result.run.lpips, "warnings": sorted({str(w.message)[:80] for w in caught})}


def _run(job: tuple[dict, int, int, int]) -> dict:
    """One job of the pool: a worker process with one thread and the shipped toy world."""
    import torch

    from bdlearn.worlds.toy import load_toy_world

    global _WORLD
    torch.set_num_threads(1)
    if _WORLD is None:
        _WORLD = load_toy_world()
    return score_edit(_WORLD, *job)


def summarise(rows: list[dict]) -> dict:
    summary = {}
    for config in CONFIGS:
        mine = [r for r in rows if r["config"] == config["name"]]
        if not mine:
            continue
        summary[config["name"]] = {
            "tasks": len(mine),
            "success_ranked": float(np.mean([r["ranked_success"] for r in mine])),
            "success_unranked": float(np.mean([r["unranked_success"] for r in mine])),
            "background_max": float(np.max([r["background_max"] for r in mine])),
            "background_mean": float(np.mean([r["background_mean"] for r in mine])),
            "clip_distance": float(np.mean([r["clip_distance"] for r in mine])),
            "lpips": sorted({str(r["lpips"]) for r in mine}),
        }
    return summary


def plot(summary: dict, path: Path, clip_weight: float) -> None:
    """Ranked success against mean background error, one point per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    local = [(name, s) for name, s in summary.items() if name.startswith("local")]
    ax.plot([s["background_mean"] for _, s in local], [s["success_ranked"] for _, s in local], "o-",
            label="Local CLIP-guided diffusion (λ sweep)")
    for i, (name, s) in enumerate(local):  # labels alternate above and below, so neighbours stay legible
        ax.annotate(name.split(", ")[1], (s["background_mean"], s["success_ranked"]), fontsize=8,
                    textcoords="offset points", xytext=(4, 6 if i % 2 else -12))
    for name, s in summary.items():
        if name.startswith("blended"):
            ax.plot(s["background_mean"], s["success_ranked"], "s", label=f"Blended Diffusion, {name.split(', ')[1]}")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlabel("mean background error outside the mask (0 = exact)")
    ax.set_ylabel("success rate (judge), ranked best edit")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(f"Edit vs background on the toy world (λ_CLIP = {clip_weight:g})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="4 tasks, 2 repetitions")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clip-weight", type=float, default=None,
                        help="λ_CLIP for every configuration (default: the toy defaults')")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT)
    args = parser.parse_args()
    tasks, repetitions = (4, 2) if args.quick else (args.tasks, args.repetitions)

    from bdlearn.scenes.tasks import edit_task_suite
    from bdlearn.training.common import machine_description
    from bdlearn.worlds.checkpoint import weight_card
    from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS, TOY_DEFAULTS

    suite = edit_task_suite(tasks, seed=0)
    clip_weight = TOY_DEFAULTS.clip_weight if args.clip_weight is None else args.clip_weight
    configs = [{**config, "clip_weight": clip_weight} for config in CONFIGS]
    jobs = [(config, task.seed, repetitions, 1000 + i) for config in configs for i, task in enumerate(suite)]
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        rows = list(tqdm(pool.map(_run, jobs, chunksize=4), total=len(jobs), desc="edits (task × configuration)"))
    elapsed = time.perf_counter() - began
    summary = summarise(rows)
    report = {"machine": machine_description(), "workers": args.workers, "tasks": tasks,
              "repetitions": repetitions, "toy_defaults": TOY_DEFAULTS.__dict__, "clip_weight": clip_weight,
              "ddpm_training_steps": weight_card(TOY_DDPM_WEIGHTS)["steps"], "seconds": round(elapsed, 1),
              "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(summary, DEFAULT_PLOT if args.out == DEFAULT_REPORT else args.out.with_suffix(".png"), clip_weight)
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
