"""What growing the toy UNet would cost: one ε_θ pass with and without gradients, per architecture.

    python benchmarks/bench_unet_growth.py

An edit's time is mostly UNet passes (a forward pass per step, and a backward pass through it for
the CLIP gradient), so this times the shipped architecture against residual blocks added per level
(``num_res_blocks``), at the batch of 16 repetitions the speed goal names, on the threads given
(default 2). Weights are random: time does not depend on them. Each pass is run ``--repeats``
times, interleaved across the architectures so that a slow spell of the machine hits them all; the
median after two warm-up rounds is reported. Writes ``benchmarks/results/unet_growth.json``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from bdlearn.diffusion.unet import UNet, count_parameters
from bdlearn.training.common import machine_description
from bdlearn.worlds.toy import TOY_UNET_CONFIG

RESULTS = Path(__file__).parent / "results"
GROWTHS = (TOY_UNET_CONFIG.num_res_blocks, (2, 1, 1), (1, 1, 2), (1, 2, 1), (2, 2, 1), 2)  # the shipped one first


def time_pass(model: UNet, x: torch.Tensor, t: torch.Tensor, with_gradient: bool) -> float:
    """Seconds for ε_θ(x, t), and with ``with_gradient`` also d(sum ε)/dx, as the CLIP-guided step needs."""
    x = x.clone().requires_grad_(with_gradient)
    start = time.perf_counter()
    with torch.set_grad_enabled(with_gradient):
        eps = model(x, t)[:, :3]
        if with_gradient:
            torch.autograd.grad(eps.sum(), x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--out", type=Path, default=RESULTS / "unet_growth.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {counts: UNet(replace(TOY_UNET_CONFIG, num_res_blocks=counts)).eval().requires_grad_(False)
              for counts in GROWTHS}
    x = torch.randn(args.batch, 3, TOY_UNET_CONFIG.image_size, TOY_UNET_CONFIG.image_size)
    t = torch.full((args.batch,), 500)
    seconds: dict = {(counts, grad): [] for counts in GROWTHS for grad in (False, True)}
    for _ in range(args.repeats + 2):
        for counts, model in models.items():
            for grad in (False, True):
                seconds[(counts, grad)].append(time_pass(model, x, t, grad))
    shipped = statistics.median(seconds[(TOY_UNET_CONFIG.num_res_blocks, True)][2:])
    rows = []
    for counts, model in models.items():
        forward, backward = (statistics.median(seconds[(counts, grad)][2:]) for grad in (False, True))
        rows.append({"num_res_blocks": counts, "parameters": count_parameters(model),
                     "forward_ms": round(1000 * forward, 1), "forward_and_input_gradient_ms": round(1000 * backward, 1),
                     "relative_to_shipped": round(backward / shipped, 3)})
        print(rows[-1])
    result = {"machine": machine_description(args.threads), "batch": args.batch, "repeats": args.repeats,
              "shipped_architecture": TOY_UNET_CONFIG.to_dict(), "architectures": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
