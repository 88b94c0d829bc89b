"""The ``bdlearn`` command: ``edit`` an image, ``train`` and ``grow`` the toy models, run the ``demo``.

    bdlearn edit --image IN.png --mask M.png --prompt "a yellow triangle" --out DIR
    bdlearn train ddpm --preset quick --out runs/ddpm
    bdlearn train ddpm --preset anneal --init-weights runs/ddpm/toy_ddpm.safetensors --out runs/anneal
    bdlearn grow --weights runs/anneal/toy_ddpm.safetensors --attention 2 --out runs/grown.safetensors
    bdlearn grow --weights runs/anneal/toy_ddpm.safetensors --res-blocks 2 1 1 --out runs/deeper.safetensors
    bdlearn demo --out demo_output
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from bdlearn.editing.inputs import InputError
from bdlearn.training.common import resolve_preset
from bdlearn.worlds.checkpoint import CheckpointError


def _add_edit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", choices=["toy", "real"], default="toy", help="model world (default: toy)")
    parser.add_argument("--method", choices=["blended", "local"], default="blended")
    parser.add_argument("--respacing", help="respaced steps, e.g. 100 (default: the world's)")
    parser.add_argument("--skip", type=int, help="noisiest respaced steps to skip (default: the world's)")
    parser.add_argument("--sampler", choices=["ddpm", "ddim"])
    parser.add_argument("--augmentations", type=int, help="CLIP views per image; 0 = none")
    parser.add_argument("--repetitions", type=int, help="how many edits to make and rank")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--clip-weight", type=float)
    parser.add_argument("--range-weight", type=float)
    parser.add_argument("--lambda", dest="background_weight", type=float, default=0.0,
                        help="background loss weight λ (local method only)")
    parser.add_argument("--invert-mask", action="store_true", help="edit where the mask is black")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=4, help="edits shown in the figure")
    parser.add_argument("--force", action="store_true", help="write into an existing output folder")


def _prepare_out(out: Path, inputs: list[Path], force: bool) -> None:
    resolved = out.resolve()
    for path in inputs:
        if path.resolve() == resolved or resolved in path.resolve().parents:
            raise InputError(f"--out {out} would overwrite the input {path}; choose another folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise InputError(f"{out} exists and is not empty; pass --force to write into it")
    out.mkdir(parents=True, exist_ok=True)


def run_edit(image, mask, prompt: str, out: Path, args: argparse.Namespace) -> Path:
    """Run one edit and write the ranked PNGs, a figure and ``report.json`` to ``out``; return the figure."""
    from bdlearn.editing.pipeline import edit
    from bdlearn.notebook.plotting import edit_figure

    result = edit(image, mask, prompt, args.world, method=args.method, respacing=args.respacing, skip=args.skip,
                  sampler=args.sampler, num_augmentations=args.augmentations, repetitions=args.repetitions,
                  batch_size=args.batch_size, clip_weight=args.clip_weight, range_weight=args.range_weight,
                  background_weight=args.background_weight, invert_mask=args.invert_mask, seed=args.seed)
    files = []
    for rank in range(result.images.shape[0]):
        name = f"edit_{rank:02d}.png"
        result.to_pil(rank).save(out / name)
        files.append({"file": name, "rank": rank, "clip_distance": round(float(result.distances[rank]), 6)})
    figure = out / "figure.png"
    edit_figure(result, top=args.top).savefig(figure, dpi=100, bbox_inches="tight")
    height, width = result.source.shape[:2]
    report = {"prompt": result.prompt, "input_size": {"width": width, "height": height},
              "model_side": result.window.model_side, "window": result.window.as_dict(), "settings": result.settings,
              "edits": files, "figure": figure.name}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return figure


def _edit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _prepare_out(out, [Path(args.image), Path(args.mask)], args.force)
    figure = run_edit(args.image, args.mask, args.prompt, out, args)
    print(f"wrote {len(list(out.glob('edit_*.png')))} ranked edits, {out / 'report.json'} and the figure {figure}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """A toy-world edit task, saved as input files, then edited exactly as ``bdlearn edit`` would."""
    import numpy as np
    from PIL import Image

    from bdlearn.scenes.tasks import make_edit_task

    out = Path(args.out)
    _prepare_out(out, [], args.force)
    task = make_edit_task(args.task_seed)
    image_path, mask_path = out / "input.png", out / "mask.png"
    Image.fromarray(np.round(task.image * 255).astype(np.uint8)).save(image_path)
    Image.fromarray(task.mask.astype(np.uint8) * 255).save(mask_path)
    print(f"demo task: edit the masked region of {image_path} into {task.prompt!r}")
    figure = run_edit(image_path, mask_path, task.prompt, out, args)
    from bdlearn.scenes.judge import judge_region

    best = np.asarray(Image.open(out / "edit_00.png"), dtype=np.float32) / 255
    verdict = judge_region(best, task.mask)
    found = f"a {verdict.colour} {verdict.shape}" if verdict.has_object else "no object"
    print(f"the judge finds {found} in the mask of the best edit "
          f"({'success' if verdict.matches(task.target_colour, task.target_shape) else 'not the prompt'})")
    print(f"figure: {figure.resolve()}")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.model == "ddpm":
        from bdlearn.training.ddpm import PRESETS
        from bdlearn.training.ddpm import train_ddpm as train
        from bdlearn.worlds.toy import toy_unet_config

        config = resolve_preset(args.preset, PRESETS)
        if args.init_weights:  # the UNet architecture is the one the weights' card records
            config = replace(config, init_weights=args.init_weights, unet=toy_unet_config(args.init_weights))
        elif config.requires_init_weights:
            raise SystemExit(f"--preset {args.preset} continues a trained DDPM: give its weights with --init-weights")
    else:
        from bdlearn.training.clip import train_clip as train

        if args.init_weights:
            raise SystemExit("--init-weights is for the DDPM trainer")
        config = args.preset
    summary = train(args.out, config, resume=not args.restart)
    print(f"trained {args.model} for {summary['steps']} steps; weights and samples in {args.out}")
    return 0


def _grow(args: argparse.Namespace) -> int:
    from bdlearn.training.grow import grow_attention, grow_res_blocks

    if Path(args.out).exists() and not args.force:
        raise InputError(f"{args.out} exists; pass --force to overwrite it")
    if args.attention:
        config = grow_attention(args.weights, args.out, tuple(args.attention), seed=args.seed)
        grown = f"attention at downsample factors {config.attention_resolutions}"
    else:
        config = grow_res_blocks(args.weights, args.out, tuple(args.res_blocks), seed=args.seed)
        grown = f"residual blocks per level {config.blocks_per_level}"
    print(f"wrote {args.out} with its card: {grown}, "
          f"computing exactly what {args.weights} does. Train it on with\n"
          f"  bdlearn train ddpm --preset anneal --init-weights {args.out} --out <run folder>")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bdlearn", description="Blended Diffusion, taught from first principles.")
    commands = parser.add_subparsers(dest="command", required=True)

    edit_parser = commands.add_parser("edit", help="edit the masked region of an image to match a prompt")
    edit_parser.add_argument("--image", required=True)
    edit_parser.add_argument("--mask", required=True, help="white (or True) marks the region to edit")
    edit_parser.add_argument("--prompt", required=True)
    edit_parser.add_argument("--out", required=True, help="output folder")
    _add_edit_options(edit_parser)
    edit_parser.set_defaults(run=_edit)

    demo_parser = commands.add_parser("demo", help="edit a toy-world scene and save a figure")
    demo_parser.add_argument("--out", default="demo_output")
    demo_parser.add_argument("--task-seed", type=int, default=3)
    _add_edit_options(demo_parser)
    demo_parser.set_defaults(run=_demo)

    train_parser = commands.add_parser("train", help="train a toy model")
    train_parser.add_argument("model", choices=["ddpm", "clip"])
    train_parser.add_argument("--preset", default="quick",
                              help="quick (minutes) or full (hours); for the DDPM also anneal (with --init-weights)")
    train_parser.add_argument("--init-weights", help="DDPM only: start from these exported weights (.safetensors)")
    train_parser.add_argument("--out", required=True, help="run folder (checkpoints, sample grids, weights)")
    train_parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    train_parser.set_defaults(run=_train)

    grow_parser = commands.add_parser("grow", help="add attention or residual blocks to trained toy DDPM weights")
    grow_parser.add_argument("--weights", required=True, help="toy DDPM weights (.safetensors) with their card")
    growth = grow_parser.add_mutually_exclusive_group(required=True)
    growth.add_argument("--attention", type=int, nargs="+",
                        help="downsample factors to add attention at (2 = 16x16 for 32x32 images)")
    growth.add_argument("--res-blocks", type=int, nargs="+",
                        help="new residual blocks per level on the way down, one count per level "
                             "(2 1 1 adds a block at 32x32 on the way down and up)")
    grow_parser.add_argument("--out", required=True, help="where to write the grown weights (.safetensors)")
    grow_parser.add_argument("--seed", type=int, default=0, help="initialises the new blocks' layers")
    grow_parser.add_argument("--force", action="store_true", help="overwrite --out")
    grow_parser.set_defaults(run=_grow)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (InputError, CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"bdlearn: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
