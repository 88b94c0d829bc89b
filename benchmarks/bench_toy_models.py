"""Quality and cost of the shipped toy models (data/toy_ddpm.safetensors and toy_clip.safetensors).

    python benchmarks/bench_toy_models.py            # the README's figures (a few minutes)
    python benchmarks/bench_toy_models.py --quick    # a smoke run

Writes ``benchmarks/results/toy_models.json`` and a grid of DDPM samples
``benchmarks/results/toy_ddpm_samples.png``.

* Small CLIP: zero-shot accuracy over all colour×shape captions on held-out renders, for whole
  single-object images and for masked views (background zeroed), as Blended Diffusion shows CLIP.
* Small DDPM: unconditional samples (100 respaced DDPM steps) judged by the independent judge over
  the whole image. A sample "holds a well-formed object" when the judge finds an object whose
  shape fits its template at least as well as 95% of clean renders do (the threshold is measured
  on clean renders in the same run). Colour and shape frequencies are compared with those of clean
  renders judged the same way (total variation distance). For scale, the fractions of samples and
  of clean renders whose best shape fit (IoU) reaches 0.6, 0.7, 0.8 and 0.9 are reported too, and
  the well-formed fraction per shape the judge named.
* Costs: loading time, sampling time per image, and the training costs from the weight cards.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from bdlearn.diffusion.sampling import sample
from bdlearn.notebook.plotting import save_image_grid
from bdlearn.scenes.judge import judge_region
from bdlearn.scenes.render import COLOUR_NAMES, SHAPES, render_scene
from bdlearn.training.clip import zero_shot_accuracy
from bdlearn.training.common import machine_description
from bdlearn.worlds.checkpoint import weight_card
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS, load_toy_world
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS

RESULTS = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]


def portable_path(path: str | Path) -> str:
    """``path`` as a report records it: relative to the repository where it lies inside it, else its
    file name. A kept report names no folder of one machine (``tests/test_docs.py`` checks)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return resolved.name


def judge_whole_images(images: np.ndarray) -> list:
    """The judge's verdict on each whole image [N, H, W, 3] in [0, 1]."""
    everything = np.ones(images.shape[1:3], dtype=bool)
    return [judge_region(image, everything) for image in images]


def to_unit_images(images: torch.Tensor) -> np.ndarray:
    """Model samples [N, 3, H, W] in [-1, 1] as images [N, H, W, 3] in [0, 1], the judge's input."""
    return ((images.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()


def clean_render_reference(n: int) -> tuple[list, float]:
    """The judge's verdicts on ``n`` clean renders from unseen seeds, and the well-formed bar: the
    shape fit (IoU) that 95% of those renders reach."""
    renders = np.stack([render_scene((2024, i)).image for i in range(n)])
    verdicts = judge_whole_images(renders)
    return verdicts, float(np.quantile([v.shape_confidence for v in verdicts if v.has_object], 0.05))


def frequencies(verdicts: list, attribute: str, names: list[str]) -> np.ndarray:
    counts = Counter(getattr(v, attribute) for v in verdicts if v.has_object)
    total = max(sum(counts[n] for n in names), 1)
    return np.array([counts[n] / total for n in names])


def well_formed_fraction(verdicts: list, threshold: float) -> float:
    """The fraction of verdicts that found an object whose shape fit reaches the well-formed bar."""
    return float(np.mean([v.has_object and v.shape_confidence >= threshold for v in verdicts]))


def well_formed_by_shape(verdicts: list, threshold: float) -> dict[str, dict[str, float]]:
    """For each shape the judge named: how many verdicts named it, and the well-formed fraction of those."""
    by_shape = {}
    for shape in SHAPES:
        named = [v for v in verdicts if v.has_object and v.shape == shape]
        by_shape[shape] = {"judged": len(named),
                           "well_formed": round(well_formed_fraction(named, threshold), 3) if named else None}
    return by_shape


def distances_to_renders(verdicts: list, render_verdicts: list) -> dict[str, float]:
    """Colour and shape frequencies of the found objects against clean renders', as TVDs."""
    return {f"{attribute}_tvd": total_variation(frequencies(verdicts, attribute, names),
                                                frequencies(render_verdicts, attribute, names))
            for attribute, names in (("colour", COLOUR_NAMES), ("shape", SHAPES))}


def shape_fit_fractions(verdicts: list, levels: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)) -> dict[str, float]:
    """For each IoU level, the fraction of verdicts that found an object fitting its shape at least that well."""
    return {f"{q:.1f}": well_formed_fraction(verdicts, q) for q in levels}


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """½ Σ |p − q|: 0 for equal distributions, 1 for disjoint ones."""
    return float(0.5 * np.abs(p - q).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--out", type=Path, default=RESULTS / "toy_models.json")
    args = parser.parse_args()
    num_samples = 16 if args.quick else args.samples
    num_eval = 100 if args.quick else 2000

    began = time.perf_counter()
    world = load_toy_world()
    load_seconds = time.perf_counter() - began

    clip_whole = zero_shot_accuracy(world.clip, n=num_eval, seed=7, view="whole")
    clip_masked = zero_shot_accuracy(world.clip, n=num_eval, seed=7, view="masked")

    schedule = world.schedule("100")
    began = time.perf_counter()
    images = sample(world.unet, schedule, num_samples, world.image_size, seed=2024, progress=True)
    sample_seconds = (time.perf_counter() - began) / num_samples
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image_grid(images[:64], args.out.parent / "toy_ddpm_samples.png", nrow=8)

    sample_verdicts = judge_whole_images(to_unit_images(images))
    render_verdicts, threshold = clean_render_reference(max(num_samples, 256))

    ddpm_card, clip_card = weight_card(TOY_DDPM_WEIGHTS), weight_card(TOY_CLIP_WEIGHTS)
    report = {
        "machine": machine_description(),
        "quick": args.quick,
        "load_seconds": round(load_seconds, 2),
        "clip": {"zero_shot_whole": clip_whole, "zero_shot_masked": clip_masked, "eval_renders": num_eval,
                 "classes": len(COLOUR_NAMES) * len(SHAPES), "training_seconds": clip_card.get("training_seconds"),
                 "training_steps": clip_card.get("steps")},
        "ddpm": {
            "samples": num_samples, "sampler": "ddpm, 100 respaced steps",
            "well_formed_fraction": well_formed_fraction(sample_verdicts, threshold),
            "shape_fit_threshold": threshold,
            "object_found_fraction": float(np.mean([v.has_object for v in sample_verdicts])),
            # How far from the bar the others are: the fraction whose best shape fit reaches each IoU.
            "shape_fit_at_least": shape_fit_fractions(sample_verdicts),
            "clean_renders_shape_fit_at_least": shape_fit_fractions(render_verdicts),
            # Which shapes miss the bar: per shape the judge named, its count and well-formed fraction.
            "well_formed_by_shape": well_formed_by_shape(sample_verdicts, threshold),
            "clean_renders_well_formed_by_shape": well_formed_by_shape(render_verdicts, threshold),
            **distances_to_renders(sample_verdicts, render_verdicts),
            "colour_frequencies": dict(zip(COLOUR_NAMES,
                                           frequencies(sample_verdicts, "colour", COLOUR_NAMES).round(3).tolist())),
            "shape_frequencies": dict(zip(SHAPES, frequencies(sample_verdicts, "shape", SHAPES).round(3).tolist())),
            "seconds_per_image": round(sample_seconds, 4),
            "training_seconds": ddpm_card.get("training_seconds"), "training_steps": ddpm_card.get("steps"),
        },
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
