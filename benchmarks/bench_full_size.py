"""Edits of pictures larger than the model's side: success, exactness outside the mask, and the seam.

    python benchmarks/bench_full_size.py            # the README's figures
    python benchmarks/bench_full_size.py --quick    # a smoke run (writes under results/tmp/)

The reproduction suite's tasks (``bdlearn.scenes.edit_task_suite``) are rendered at several times
the toy model's side (32x32 at 1x, up to 128x128 at 4x) and edited at the toy defaults with the
window around the mask (and, at the largest scale, with the whole picture as the window). Each
edit is scored at the picture's own size:

* success: the independent judge finds the prompt's colour and shape inside the mask of the
  best-ranked edit (:func:`bdlearn.scenes.judge_region`, on the full-size edit);
* exact: every pixel outside the mask equals the input's (uint8);
* seam: the mean |difference| between 4-neighbour pixels straddling the mask's boundary, in [0, 1]
  units, for the edit and for the input itself (the picture's own contrast there). A visible seam
  shows as an edit's figure well above the input's.

Writes ``benchmarks/results/full_size.json`` and ``full_size_example.png`` (the first task edited
successfully at the largest scale: the picture with its mask and window, the model's edit of the
window, the edit at full size; the report gives the success rate).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

RESULTS = Path(__file__).resolve().parent / "results"


def score(world, task_seed: int, scale: int, fit: str, repetitions: int) -> dict:
    from bdlearn.pipeline import edit
    from bdlearn.scenes import judge_region, make_edit_task, seam

    task = make_edit_task(task_seed, size=world.image_size * scale)
    started = time.perf_counter()
    result = edit(task.image, task.mask, task.prompt, world, repetitions=repetitions, window=fit, seed=0,
                  progress=False)
    seconds = time.perf_counter() - started
    full = result.full_size(0)
    source = result.source
    verdict = judge_region(full.astype(np.float32) / 255, task.mask)
    return {"task": task_seed, "scale": scale, "picture_side": task.image.shape[0], "fit": fit,
            "window_side": result.window.side,
            "success": bool(verdict.matches(task.target_colour, task.target_shape)),
            "exact_outside": bool((full[~task.mask] == source[~task.mask]).all()),
            "seam_edit": seam(full, task.mask), "seam_input": seam(source, task.mask),
            "seconds": seconds}


def example_figure(world, task_seed: int, scale: int, repetitions: int, path: Path) -> None:
    """The picture, its mask and the window; the model's edit of the window; the edit at full size."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Rectangle

    from bdlearn.notebook import mask_overlay, show_images, to_display
    from bdlearn.pipeline import edit
    from bdlearn.scenes import make_edit_task

    task = make_edit_task(task_seed, size=world.image_size * scale)
    result = edit(task.image, task.mask, task.prompt, world, repetitions=repetitions, seed=0, progress=False)
    window = result.window
    fig = show_images([mask_overlay(task.image, task.mask), to_display(result.best), result.full_size(0) / 255],
                      [f"{window.image_width}x{window.image_height} picture, mask, window",
                       f"the model's edit ({window.model_side}x{window.model_side})",
                       f"full size: “{task.prompt}”"], size=3.0)
    fig.axes[0].add_patch(Rectangle((window.left - 0.5, window.top - 0.5), window.side, window.side, fill=False,
                                    edgecolor="yellow", linewidth=2))
    fig.savefig(path, dpi=80, bbox_inches="tight")


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for scale, fit in sorted({(row["scale"], row["fit"]) for row in rows}):
        group = [row for row in rows if (row["scale"], row["fit"]) == (scale, fit)]
        table.append({"scale": scale, "picture_side": group[0]["picture_side"], "fit": fit, "tasks": len(group),
                      "success": float(np.mean([row["success"] for row in group])),
                      "exact_outside": all(row["exact_outside"] for row in group),
                      "seam_edit": float(np.mean([row["seam_edit"] for row in group])),
                      "seam_input": float(np.mean([row["seam_input"] for row in group])),
                      "mean_window_side": float(np.mean([row["window_side"] for row in group]))})
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=24, help="tasks of the reproduction suite (default 24)")
    parser.add_argument("--repetitions", type=int, default=4)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--quick", action="store_true", help="2 tasks, 1 repetition, scales 1 and 2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.repetitions, args.scales = 2, 1, [1, 2]
    out = args.out or (RESULTS / "tmp" / "full_size.json" if args.quick else RESULTS / "full_size.json")

    from bdlearn.scenes import edit_task_suite
    from bdlearn.training.common import machine_description
    from bdlearn.worlds import load_toy_world

    world = load_toy_world()
    seeds = [task.seed for task in edit_task_suite(args.tasks)]
    jobs = [(seed, scale, "mask") for scale in args.scales for seed in seeds]
    jobs += [(seed, max(args.scales), "image") for seed in seeds]
    rows = [score(world, seed, scale, fit, args.repetitions) for seed, scale, fit in tqdm(jobs, desc="edits")]
    report = {"benchmark": "bench_full_size", "machine": machine_description(), "model_side": world.image_size,
              "repetitions": args.repetitions, "summary": summarise(rows), "edits": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    shown = next((row["task"] for row in rows if row["scale"] == max(args.scales) and row["fit"] == "mask"
                  and row["success"]), seeds[0])  # the first success: the figure shows what an edit looks like
    example_figure(world, shown, max(args.scales), args.repetitions, out.with_name("full_size_example.png"))
    for row in report["summary"]:
        print(row)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
