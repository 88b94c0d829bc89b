"""The real path on a GPU, in one run: speed and memory of the guided 256x256 step per precision and batch.

    python benchmarks/bench_real_device.py               # on a CUDA machine, about 5 minutes
    python benchmarks/bench_real_device.py --smoke       # anywhere: a tiny stand-in, proves the logic (< 1 min)

Random weights, no downloads. One guided step (:func:`bdlearn.editing.guidance.guided_prediction`:
the UNet and CLIP forward, the gradient back to x_t) at the edit's first step, for four set-ups,
each adding one switch to the one before:

1. ``float32``: everything in float32 (the CPU's way);
2. ``fp16_torso``: the UNet's torso in float16, as guided-diffusion's ``use_fp16``;
3. ``channels_last``: that, with the UNet and its input in channels-last memory format;
4. ``fp16_clip``: that, with CLIP in float16 too (bdlearn's default on a GPU).

Float16 is a GPU switch: elsewhere (``--smoke`` on a CPU) those set-ups run in float32, and each
set-up's ``switches_applied`` says what it ran.

For each, batches of 1, 2, 4 and 8 edits (stopping at the first out-of-memory): seconds per step
(median of ``--repeats`` after a warm-up), the peak memory the step adds
(``torch.cuda.max_memory_allocated``) beside what bdlearn's memory model predicts for it
(:mod:`bdlearn.machinery.cost`: the saved activations counted on the meta device, times
``BACKWARD_HEADROOM``), the arithmetic rate achieved (FLOPs counted on the meta device), and the
projected time of the paper's edit: 64 ranked edits of 75 steps with 16 augmentations, at the
fastest batch. A set-up that would run past ``--time-limit`` is skipped and marked so.

Writes ``benchmarks/results/real_device_<card>.json`` (``--smoke``: under ``results/tmp/``).
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import torch
from bench_real_step import PeakMemory
from real_models import random_real_world

from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.editing.guidance import GuidanceWeights, guided_prediction
from bdlearn.editing.loop import start_step
from bdlearn.machinery.cost import BACKWARD_HEADROOM, guided_step_cost
from bdlearn.training.common import machine_description
from bdlearn.worlds.real import REAL_DEFAULTS, REAL_DIFFUSION
from bdlearn.worlds.world import ModelWorld

RESULTS = Path(__file__).resolve().parent / "results"
SETUPS = {  # name: (float16 torso, channels-last, float16 CLIP)
    "float32": (False, False, False),
    "fp16_torso": (True, False, False),
    "channels_last": (True, True, False),
    "fp16_clip": (True, True, True),
}
BATCHES = (1, 2, 4, 8)
#: The paper's edit: 64 ranked repetitions of 75 steps (100 respaced, 25 skipped), 16 augmentations.
PAPER_EDIT_STEPS = 64 * 75


def guided_step(world: ModelWorld, schedule: DiffusionSchedule, text: torch.Tensor, batch: int,
                channels_last: bool, augmentations: int) -> None:
    side, device = world.image_size, world.device
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    x_t = torch.randn(batch, 3, side, side, device=device).contiguous(memory_format=memory_format)
    masks = torch.zeros(batch, 1, side, side, device=device)
    masks[..., side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 1
    guided_prediction(world.unet, schedule, x_t, start_step(schedule, REAL_DEFAULTS.skip), clip=world.clip,
                      text_embedding=text, masks=masks, seed=0,
                      weights=GuidanceWeights(clip=REAL_DEFAULTS.clip_weight, range=REAL_DEFAULTS.range_weight,
                                              num_augmentations=augmentations))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure_setup(world: ModelWorld, channels_last: bool, augmentations: int, repeats: int,
                  deadline: float, batches: tuple[int, ...] = BATCHES) -> dict:
    """Every batch of ``batches`` (:data:`BATCHES` by default) until out of memory or past ``deadline``."""
    device = world.device
    schedule = DiffusionSchedule.create(**REAL_DIFFUSION, respacing=REAL_DEFAULTS.respacing)
    with torch.no_grad():
        text = world.clip.encode_text(["a red ball"])
    counted = guided_step_cost(world, augmentations)
    by_batch: dict[int, dict] = {}
    for batch in batches:
        if time.perf_counter() > deadline:
            by_batch[batch] = {"note": "skipped: past the time limit"}
            break
        try:
            guided_step(world, schedule, text, batch, channels_last, augmentations)  # warm-up (cuDNN's choices)
            seconds = []
            with PeakMemory(device) as memory:
                for _ in range(repeats):
                    synchronize(device)
                    began = time.perf_counter()
                    guided_step(world, schedule, text, batch, channels_last, augmentations)
                    synchronize(device)
                    seconds.append(time.perf_counter() - began)
        except torch.cuda.OutOfMemoryError:
            by_batch[batch] = {"note": "out of memory"}
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        median = statistics.median(seconds)
        by_batch[batch] = {
            "seconds_per_step": round(median, 4),
            "seconds_per_edit_step": round(median / batch, 4),
            "peak_memory_added_bytes": memory.added,
            "predicted_bytes": round(batch * counted.saved_bytes * BACKWARD_HEADROOM),
            # 3 digits: a slow CPU still shows
            "tflop_per_second": float(f"{batch * counted.flops / median / 1e12:.3g}"),
        }
    timed = {batch: entry for batch, entry in by_batch.items() if "seconds_per_edit_step" in entry}
    best = min(timed, key=lambda batch: timed[batch]["seconds_per_edit_step"]) if timed else None
    return {
        "saved_bytes_per_edit_counted": counted.saved_bytes, "flops_per_edit_step": counted.flops,
        "by_batch": by_batch, "fastest_batch": best,
        "paper_edit_minutes": (round(PAPER_EDIT_STEPS * timed[best]["seconds_per_edit_step"] / 60, 1)
                               if best is not None else None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a 64x64 UNet and the toy CLIP, on any device")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--augmentations", type=int, default=REAL_DEFAULTS.num_augmentations)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per batch")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES),
                        help="the batch sizes to measure, smallest first (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=420, help="seconds; later set-ups are skipped")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type != "cuda" and not args.smoke:
        parser.error("the real set-ups need a CUDA GPU; use --smoke elsewhere")
    began = time.perf_counter()
    deadline = began + args.time_limit
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    report: dict = {"machine": machine_description(), "device": card, "smoke": args.smoke,
                    "augmentations": args.augmentations, "repeats": args.repeats,
                    "backward_headroom": BACKWARD_HEADROOM, "setups": {}}
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        report["gpu_memory"] = {"free_bytes": free, "total_bytes": total}
    for name, (half, channels_last, half_clip) in SETUPS.items():
        if time.perf_counter() > deadline:
            report["setups"][name] = {"note": "skipped: past the time limit"}
            continue
        torch.manual_seed(0)
        applied = {"fp16_torso": half and device.type == "cuda", "channels_last": channels_last,
                   "fp16_clip": half_clip and device.type == "cuda"}  # float16 is a GPU switch
        world = random_real_world(device, half_unet=applied["fp16_torso"], half_clip=applied["fp16_clip"],
                                  channels_last=channels_last, stand_in=args.smoke)
        report["setups"][name] = {"switches_applied": applied,
                                  **measure_setup(world, channels_last, args.augmentations, args.repeats, deadline,
                                                  tuple(args.batches))}
        print(name, json.dumps(report["setups"][name]), flush=True)
        del world
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report["seconds"] = round(time.perf_counter() - began, 1)
    slug = re.sub(r"[^a-z0-9]+", "_", card.lower()).strip("_")
    out = args.out or (RESULTS / "tmp" / "real_device_smoke.json" if args.smoke
                       else RESULTS / f"real_device_{slug}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
