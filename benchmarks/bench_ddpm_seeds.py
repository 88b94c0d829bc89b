"""Toy DDPM weight files compared on fresh sample seeds, to tell a real gain from sampling noise.

    python benchmarks/bench_ddpm_seeds.py --weights stage3.safetensors data/toy_ddpm.safetensors --seeds 11

One benchmark run of 256 samples measures the well-formed fraction to about ±3 points, so a gain of
two points between two training stages could be chance. This draws 256 samples (DDPM, 100
respaced steps, unless ``--sampler`` and ``--respacing`` say otherwise) from each weight file for
each sample seed and judges them as ``bench_toy_models.py`` does: the well-formed fraction, and
the colour and shape distances (TVD) to clean renders. Writes ``benchmarks/results/tmp/ddpm_seeds.json``
(ignored by git) unless ``--out`` says otherwise; a report kept in ``benchmarks/results/`` must be cited
by ``benchmarks/README.md``, ``docs/toy_models.md`` or the README (``tests/test_docs.py``), as
``toy_ddpm_attn16.json`` is: the shipped weights on seeds 2024 and 11. Weight files are recorded by
their path in the repository, or else by file name. Earlier weights and their cards are in git
history (``docs/toy_models.md`` names the commits):

    git show 3daeffe:data/toy_ddpm.safetensors > stage3.safetensors
    git show 3daeffe:data/toy_ddpm.json > stage3.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_toy_models import (
    RESULTS,
    clean_render_reference,
    distances_to_renders,
    judge_whole_images,
    portable_path,
    to_unit_images,
    well_formed_fraction,
)

from bdlearn.diffusion.sampling import sample
from bdlearn.training.common import machine_description
from bdlearn.worlds.checkpoint import weight_card
from bdlearn.worlds.toy import load_toy_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", required=True, help="toy DDPM safetensors files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11], help="sample seeds")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm", help="DDIM runs with eta = 0")
    parser.add_argument("--respacing", default="100", help='timesteps kept of the 1000, e.g. "100" or "250"')
    parser.add_argument("--out", type=Path, default=RESULTS / "tmp" / "ddpm_seeds.json")
    args = parser.parse_args()

    render_verdicts, threshold = clean_render_reference(max(args.samples, 256))
    runs = []
    for weights in args.weights:
        world, training_steps = load_toy_world(weights), weight_card(weights).get("steps")
        schedule = world.schedule(args.respacing)
        for seed in args.seeds:
            images = sample(world.unet, schedule, args.samples, world.image_size, sampler=args.sampler, seed=seed,
                            progress=True)
            verdicts = judge_whole_images(to_unit_images(images))
            runs.append({"weights": portable_path(weights), "training_steps": training_steps, "seed": seed,
                         "well_formed_fraction": well_formed_fraction(verdicts, threshold),
                         **distances_to_renders(verdicts, render_verdicts)})
            print(json.dumps(runs[-1]), flush=True)
    report = {"machine": machine_description(), "samples": args.samples,
              "sampler": f"{args.sampler}, {args.respacing} respaced steps",
              "shape_fit_threshold": threshold, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
