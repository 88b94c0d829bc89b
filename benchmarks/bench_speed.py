"""Speed of toy-world edits on this CPU: seconds per edit and the throughput of batched repetitions.

    python benchmarks/bench_speed.py            # the README's figures
    python benchmarks/bench_speed.py --quick    # a smoke run

Times ``bdlearn.edit`` at the toy defaults (median of ``--runs`` runs after a warm-up) for one
repetition and for 16 repetitions in one batch, then edits per second for several batch sizes.
Writes ``benchmarks/results/speed.json``. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bdlearn.pipeline import edit
from bdlearn.scenes.tasks import make_edit_task
from bdlearn.training.common import machine_description
from bdlearn.worlds.toy import TOY_DEFAULTS, load_toy_world

RESULTS = Path(__file__).resolve().parent / "results"


def timed_edit(world, task, repetitions: int, batch_size: int, runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` edits (after one warm-up edit)."""
    kwargs = dict(repetitions=repetitions, batch_size=batch_size, progress=False)
    edit(task.image, task.mask, task.prompt, world, **kwargs)
    times = []
    for run in range(runs):
        began = time.perf_counter()
        edit(task.image, task.mask, task.prompt, world, seed=run, **kwargs)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    world = load_toy_world()
    task = make_edit_task(3)
    one = timed_edit(world, task, 1, 1, runs)
    sixteen = timed_edit(world, task, 16, 16, runs)
    throughput = {}
    for batch in (1, 4, 8, 16):
        seconds = statistics.median(timed_edit(world, task, batch, batch, max(1, runs // 2)))
        throughput[batch] = round(batch / seconds, 3)
    report = {
        "machine": machine_description(), "toy_defaults": TOY_DEFAULTS.__dict__,
        "denoising_steps": int(TOY_DEFAULTS.respacing) - TOY_DEFAULTS.skip,
        "seconds_one_repetition_median": round(statistics.median(one), 3),
        "seconds_16_repetitions_batched_median": round(statistics.median(sixteen), 3),
        "edits_per_second_by_batch_size": throughput, "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
