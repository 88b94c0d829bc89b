"""What a real-world edit costs on common GPUs, estimated from counts on the CPU (no GPU, no weights).

    python benchmarks/bench_real_cost.py     # seconds

Counts one guided step of the real world per edit on PyTorch's ``meta`` device
(:func:`bdlearn.machinery.cost.guided_step_cost`): the bytes kept for the backward pass, in float32
and in bdlearn's GPU precision (float16 torso and CLIP), and the floating-point operations. Then,
for each card, from its published memory and float16 tensor-core peak (dense, without sparsity):

* the batch bdlearn would choose on an idle card (:func:`bdlearn.machinery.cost.edits_that_fit`,
  with the models' weights and :data:`CUDA_CONTEXT_BYTES` taken from its memory first);
* the estimated minutes of bdlearn's default real edit (``REAL_DEFAULTS``: 12 repetitions of 75
  steps) and of the paper's (64 repetitions), at :data:`ASSUMED_FRACTION_OF_PEAK`.

These are estimates, not measurements: the achieved fraction of peak is an assumption (a UNet
with float32 norms and small attention layers does not reach a matrix multiply's rate) until
``benchmarks/bench_real_device.py`` measures a card.

Writes ``benchmarks/results/real_cost.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

from real_models import random_real_world

from bdlearn.editing.loop import start_step
from bdlearn.machinery.cost import edits_that_fit, guided_step_cost
from bdlearn.training.common import machine_description
from bdlearn.worlds.real import REAL_DEFAULTS

RESULTS = Path(__file__).resolve().parent / "results"
#: The share of a card's float16 peak the guided step is assumed to reach.
ASSUMED_FRACTION_OF_PEAK = 0.25
#: Memory the CUDA context and libraries take before any tensor, roughly.
CUDA_CONTEXT_BYTES = 5 * 10**8
#: Memory a program can use, in bytes (a little under the nominal 16/24/40/80 GB: ECC and the
#: driver take their share; Colab's T4 shows about 15 GB), and the dense float16 tensor-core peak in
#: TFLOP/s (NVIDIA's datasheets, without sparsity).
CARDS = {
    "Tesla T4 (Colab's free GPU)": (15 * 10**9, 65),
    "L4": (22.5 * 10**9, 121),
    "A100 40GB": (39.5 * 10**9, 312),
    "H100 SXM 80GB": (79 * 10**9, 989),
}
PAPER_REPETITIONS = 64


def main() -> None:
    float32_world = random_real_world("meta")  # the real architectures, on the meta device
    gpu_world = random_real_world("meta", half_unet=True, half_clip=True)  # in bdlearn's GPU precision
    steps = start_step(float32_world.schedule(REAL_DEFAULTS.respacing), REAL_DEFAULTS.skip) + 1
    augmentations = REAL_DEFAULTS.num_augmentations
    full, half = guided_step_cost(float32_world, augmentations), guided_step_cost(gpu_world, augmentations)
    weights = sum(t.nbytes for m in (gpu_world.unet, gpu_world.clip.model) for t in m.state_dict().values())
    cards = {}
    for card, (memory, peak_tflops) in CARDS.items():
        seconds_per_edit_step = half.flops / (peak_tflops * 1e12 * ASSUMED_FRACTION_OF_PEAK)
        cards[card] = {
            "memory_bytes": memory, "fp16_peak_tflops": peak_tflops,
            "batch_size": min(REAL_DEFAULTS.repetitions,
                              edits_that_fit(int(memory - CUDA_CONTEXT_BYTES - weights), half.saved_bytes)),
            "estimated_minutes_default_edit": round(REAL_DEFAULTS.repetitions * steps * seconds_per_edit_step / 60, 1),
            "estimated_minutes_paper_edit": round(PAPER_REPETITIONS * steps * seconds_per_edit_step / 60, 1),
        }
    report = {
        "machine": machine_description(), "kind": "estimate (counted on the meta device; no GPU ran)",
        "steps_per_edit": steps, "augmentations": augmentations,
        "default_repetitions": REAL_DEFAULTS.repetitions, "paper_repetitions": PAPER_REPETITIONS,
        "flops_per_edit_step": half.flops,
        "saved_bytes_per_edit": {"float32": full.saved_bytes, "fp16_torso_and_clip": half.saved_bytes},
        "gpu_weights_bytes": weights, "assumed_fraction_of_peak": ASSUMED_FRACTION_OF_PEAK,
        "cuda_context_bytes": CUDA_CONTEXT_BYTES, "cards": cards,
    }
    out = RESULTS / "real_cost.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
