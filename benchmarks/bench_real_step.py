"""One CLIP-guided step of the real 256x256 models: bdlearn's way beside the reference's way.

    python benchmarks/bench_real_step.py                  # the real architectures (minutes on a CPU)
    python benchmarks/bench_real_step.py --quick          # a tiny stand-in, a smoke run (< 1 min)
    python benchmarks/bench_real_step.py --half --channels-last   # GPU switches

Both ways compute the same thing for a batch of noisy images x_t at the edit's first step
(100 respaced steps, 25 skipped): the reverse step's mean and variance, and the gradient of the
guidance loss (CLIP distance over ``--augmentations`` views, plus the range loss) with respect to x_t.

* bdlearn: :func:`bdlearn.editing.guidance.guided_prediction`, one UNet evaluation with gradients
  serving both, and PyTorch's fused attention (``attention_kernel="sdpa"``);
* reference: as guided-diffusion with Blended Diffusion's guidance function, one UNet evaluation
  without gradients for the mean and variance, then another with gradients for the guidance,
  and attention written out with einsum (``attention_kernel="einsum"``).

The models have random weights (the cost does not depend on their values): the 552 M-parameter
ADM UNet and an OpenAI-size CLIP ViT-B/16, or with ``--quick`` a 64x64 UNet of the same family
and the toy CLIP. Seconds are the median of ``--repeats`` steps after ``--warmup`` steps. Peak
memory is what a step adds to what was resident before it: on a GPU from
``torch.cuda.max_memory_allocated``; on a CPU from the process's peak resident set (Linux
``VmHWM``, reset before each measurement; approximate, as the C allocator may keep freed pages).

Last, the peak memory of bdlearn's step per batch size against a 16 GB GPU: measured where a GPU
runs the benchmark; on a CPU estimated as the weights plus the bytes of the activations autograd
saves for the backward pass (counted in one step), a lower bound.

Writes ``benchmarks/results/real_step.json`` (``--quick``: ``benchmarks/results/tmp/real_step_quick.json``).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from real_models import random_real_world
from torch import Tensor

from bdlearn.clip.bundle import ClipBundle
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.diffusion.unet import UNet, count_parameters
from bdlearn.editing.guidance import GuidanceWeights, guided_prediction
from bdlearn.editing.loop import start_step
from bdlearn.training.common import machine_description
from bdlearn.worlds.real import REAL_DEFAULTS, REAL_DIFFUSION

RESULTS = Path(__file__).resolve().parent / "results"
#: What a 16 GB card (a T4 has 15.8e9 bytes in all) leaves for tensors beside the CUDA context, roughly.
GPU_BYTES = 15 * 10**9
BATCH_SIZES = (1, 2, 4, 8, 16)


@dataclass
class Setup:
    """The models and inputs of one guided step."""

    unet: UNet
    reference_unet: UNet
    clip: ClipBundle
    schedule: DiffusionSchedule
    step: int
    text_embedding: Tensor
    weights: GuidanceWeights
    memory_format: torch.memory_format

    def inputs(self, batch: int) -> tuple[Tensor, Tensor]:
        """Noisy images x_t [batch, 3, S, S] and masks [batch, 1, S, S] (the central quarter)."""
        size, device = self.unet.config.image_size, self.text_embedding.device
        x_t = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=self.memory_format)
        masks = torch.zeros(batch, 1, size, size, device=device)
        masks[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
        return x_t, masks


def with_attention_kernel(unet: UNet, kernel: str) -> UNet:
    """The same network, sharing ``unet``'s weights (no copy), with another attention kernel."""
    with torch.device("meta"):  # built without memory, then given unet's tensors
        twin = UNet(replace(unet.config, attention_kernel=kernel))
    twin.load_state_dict(unet.state_dict(), assign=True)
    return twin.eval().requires_grad_(False)


def ours(setup: Setup, batch: int) -> None:
    """bdlearn's step: one UNet evaluation gives the mean, the variance and the gradient."""
    x_t, masks = setup.inputs(batch)
    guided_prediction(setup.unet, setup.schedule, x_t, setup.step, clip=setup.clip,
                      text_embedding=setup.text_embedding, masks=masks, weights=setup.weights, seed=0)


def reference(setup: Setup, batch: int) -> None:
    """The reference's step: a UNet evaluation without gradients for the mean and variance, then
    another with gradients inside the guidance function."""
    x_t, masks = setup.inputs(batch)
    guided_prediction(setup.reference_unet, setup.schedule, x_t, setup.step)
    guided_prediction(setup.reference_unet, setup.schedule, x_t, setup.step, clip=setup.clip,
                      text_embedding=setup.text_embedding, masks=masks, weights=setup.weights, seed=0)


def _proc_status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (e.g. "VmRSS", "VmHWM") in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


class PeakMemory:
    """Measures the peak memory of a block above what was in use when it began."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.before = self.peak = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated()
        else:
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap pages back (glibc)
            except OSError:
                pass
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
            self.before = _proc_status_bytes("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self.peak = _proc_status_bytes("VmHWM")

    @property
    def added(self) -> int:
        return max(0, self.peak - self.before)


def measure(step: Callable[[Setup, int], None], setup: Setup, batch: int, warmup: int, repeats: int) -> dict:
    """Seconds per step (median of ``repeats`` after ``warmup``) and the peak memory it adds."""
    device = setup.text_embedding.device
    for _ in range(warmup):
        step(setup, batch)
    seconds = []
    with PeakMemory(device) as memory:
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            began = time.perf_counter()
            step(setup, batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - began)
    return {"seconds": [round(s, 3) for s in seconds], "seconds_median": round(statistics.median(seconds), 3),
            "peak_memory_added_bytes": memory.added, "peak_memory_bytes": memory.peak}


def saved_activation_bytes(setup: Setup, batch: int) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of bdlearn's step (weights excluded)."""
    weights = {t.untyped_storage().data_ptr() for m in (setup.unet, setup.clip.model) for t in m.state_dict().values()}
    saved: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        ours(setup, batch)
    return sum(saved.values())


def gpu_memory_table(setup: Setup, batch: int) -> dict:
    """bdlearn's peak memory per batch size against a 16 GB GPU, measured or estimated."""
    device = setup.text_embedding.device
    table = {}
    if device.type == "cuda":
        for size in BATCH_SIZES:
            try:
                peak = measure(ours, setup, size, warmup=0, repeats=1)["peak_memory_bytes"]
            except torch.cuda.OutOfMemoryError:
                table[size] = {"peak_memory_bytes": None, "fits_16GB": False, "note": "out of memory"}
                break
            table[size] = {"peak_memory_bytes": peak, "fits_16GB": peak <= GPU_BYTES}
            if peak > GPU_BYTES:
                break
        return {"method": f"measured on {torch.cuda.get_device_name(device)} (torch.cuda.max_memory_allocated)",
                "budget_bytes": GPU_BYTES, "by_batch_size": table}
    weights = sum(t.nbytes for m in (setup.unet, setup.clip.model) for t in m.state_dict().values())
    per_image = saved_activation_bytes(setup, batch) / batch
    for size in BATCH_SIZES:
        estimate = round(weights + size * per_image)
        table[size] = {"peak_memory_bytes": estimate, "fits_16GB": estimate <= GPU_BYTES}
    return {"method": "estimated on the CPU: weights plus the activations saved for backward, in the models' "
                      "dtypes (a lower bound: the backward pass's temporaries and the allocator's overhead "
                      "come on top)",
            "budget_bytes": GPU_BYTES, "weights_bytes": weights,
            "saved_activation_bytes_per_image": round(per_image), "by_batch_size": table}


def build(quick: bool, device: torch.device, half: bool, channels_last: bool, augmentations: int) -> Setup:
    """Random-weight models on ``device`` and the guidance inputs of the edit's first step."""
    world = random_real_world(device, half_unet=half, channels_last=channels_last, stand_in=quick)
    unet, clip = world.unet, world.clip
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    schedule = DiffusionSchedule.create(**REAL_DIFFUSION, respacing=REAL_DEFAULTS.respacing)
    with torch.no_grad():
        text_embedding = clip.encode_text(["a red ball"])
    weights = GuidanceWeights(clip=REAL_DEFAULTS.clip_weight, range=REAL_DEFAULTS.range_weight,
                              num_augmentations=augmentations)
    return Setup(unet, with_attention_kernel(unet, "einsum"), clip, schedule,
                 start_step(schedule, REAL_DEFAULTS.skip), text_embedding, weights, memory_format)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 64x64 UNet and the toy CLIP: a smoke run")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--augmentations", type=int, default=REAL_DEFAULTS.num_augmentations)
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before each measurement")
    parser.add_argument("--repeats", type=int, help="timed steps (default: 3 on a GPU, 1 on a CPU)")
    parser.add_argument("--half", action="store_true", help="GPU only: the UNet's torso in float16")
    parser.add_argument("--channels-last", action="store_true", help="GPU only: channels-last UNet and input")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if on_gpu else 1)
    switches = {"half": args.half and on_gpu, "channels_last": args.channels_last and on_gpu}
    if not on_gpu and (args.half or args.channels_last):
        switches["note"] = "half precision and channels-last are GPU switches: skipped on the CPU"
    torch.manual_seed(0)
    setup = build(args.quick, device, switches["half"], switches["channels_last"], args.augmentations)

    ours_result = measure(ours, setup, args.batch_size, args.warmup, repeats)
    reference_result = measure(reference, setup, args.batch_size, args.warmup, repeats)
    report = {
        "machine": machine_description(), "device": str(device), "quick": args.quick,
        "unet": {"config": setup.unet.config.to_dict(), "parameters": count_parameters(setup.unet)},
        "clip": {"model": "toy CLIP" if args.quick else "ViT-B-16 (OpenAI architecture)",
                 "parameters": count_parameters(setup.clip.model)},
        "weights": "random", "batch_size": args.batch_size, "augmentations": args.augmentations,
        "step": setup.step, "switches": switches, "warmup": args.warmup, "repeats": repeats,
        "memory_measure": ("torch.cuda.max_memory_allocated above the memory allocated before the steps" if on_gpu
                           else "peak resident set (VmHWM, reset) above the resident set before the steps"),
        "bdlearn": {"unet_evaluations": 1, "attention_kernel": "sdpa", **ours_result},
        "reference": {"unet_evaluations": 2, "attention_kernel": "einsum", **reference_result},
        "reference_over_bdlearn": {
            "seconds": round(reference_result["seconds_median"] / ours_result["seconds_median"], 3),
            "peak_memory_added": round(reference_result["peak_memory_added_bytes"]
                                       / max(1, ours_result["peak_memory_added_bytes"]), 3),
        },
        "gpu_16GB": gpu_memory_table(setup, args.batch_size),
        "cpu_max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    out = args.out or (RESULTS / "tmp" / "real_step_quick.json" if args.quick else RESULTS / "real_step.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
