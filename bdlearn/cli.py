"""The ``bdlearn`` command: ``edit`` an image, ``train`` and ``grow`` the toy models, run the ``demo``.

    bdlearn edit --image IN.png --mask M.png --prompt "a yellow triangle" --out DIR
    bdlearn train ddpm --preset quick --out runs/ddpm
    bdlearn train ddpm --preset anneal --init-weights runs/ddpm/toy_ddpm.safetensors --out runs/anneal
    bdlearn grow --weights runs/anneal/toy_ddpm.safetensors --attention 2 --out runs/grown.safetensors
    bdlearn grow --weights runs/anneal/toy_ddpm.safetensors --res-blocks 2 1 1 --out runs/deeper.safetensors
    bdlearn demo --out demo_output
    bdlearn eval run --tasks toy:100 --method blended --method local:background_weight=1000 --out eval/ --shard 0/4
    bdlearn eval merge eval/
"""
from __future__ import annotations

import argparse
import ast
import errno
import importlib.util
import io
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, get_args

from bdlearn.choices import SEED_LIMIT, Method, Sampler, Variant, WorldName
from bdlearn.errors import CheckpointError, DownloadError, InputError, first_words


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``low``."""
    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return integer


@cache
def _path(text: str) -> str:
    """A path option: never empty (an unset shell variable), ``~`` expanded as a shell would have."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty (an unset shell variable?); name a file or folder")
    if text == "-":
        raise argparse.ArgumentTypeError("'-' (standard input or output) is not used by bdlearn: name a file or "
                                         "folder (./- for one named -)")
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        raise argparse.ArgumentTypeError(f"{text} is a URL; bdlearn reads files on this machine: download it first "
                                         "(e.g. curl -O URL) and give the file")
    return os.path.expanduser(text)


def _seed(text: str) -> int:
    """A seed: 0 <= SEED < 2**32, as edit() takes them."""
    value = _at_least(0)(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be below 2**32 = {SEED_LIMIT}, got {value}")
    return value


def _edit_defaults() -> dict[str, Any]:
    """The defaults of :func:`bdlearn.edit`'s options, read from its signature, the one place they are
    written; read from the source of :mod:`bdlearn.pipeline`, not by importing it (and with it torch),
    so that ``--help`` and argument errors answer at once."""
    source = Path(importlib.util.find_spec("bdlearn.pipeline").origin).read_text(encoding="utf-8")
    edit = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == "edit")
    arguments = edit.args
    given = list(zip(arguments.args[len(arguments.args) - len(arguments.defaults):], arguments.defaults))
    given += [(argument, default) for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults)
              if default is not None]
    return {argument.arg: ast.literal_eval(default) for argument, default in given}


def _add_edit_options(parser: argparse.ArgumentParser) -> None:
    """The options passed on to :func:`bdlearn.edit`, named (``dest``) as its keywords. An option left out
    is not passed at all (``argparse.SUPPRESS``), so it takes ``edit``'s own default, shown in the help."""
    default = _edit_defaults()
    options = parser.add_argument_group("edit options", "passed on to bdlearn.edit(); unset ones take its defaults",
                                        argument_default=argparse.SUPPRESS)
    options.add_argument("--world", choices=get_args(WorldName), help=f"model world (default: {default['world']})")
    options.add_argument("--method", choices=get_args(Method), help=f"default: {default['method']}")
    options.add_argument("--variant", choices=get_args(Variant),
                         help=f"the method as the paper describes it or as the official code computes it "
                              f"(DDPM only; default: {default['variant']})")
    options.add_argument("--respacing", help="respaced steps, e.g. 100 or ddim50 (default: the world's; "
                                             "fewer steps than the world's default skip need --skip too)")
    options.add_argument("--skip", type=int, help="noisiest respaced steps to skip, from 0 to the steps less 1 "
                                                  "(default: the world's)")
    options.add_argument("--sampler", choices=get_args(Sampler), help="default: the world's")
    options.add_argument("--augmentations", dest="num_augmentations", metavar="N", type=int,
                         help="CLIP views per image; 0 = none (default: the world's)")
    options.add_argument("--repetitions", type=int, help="how many edits to make and rank (at least 1; default: "
                                                         "the world's)")
    options.add_argument("--batch-size", type=int,
                         help="edits run at once (at least 1; default: as many as fit in a GPU's free memory, "
                              "on a CPU the world's). Which noise each edit draws depends on the batch: to "
                              "repeat a run's edits exactly, give its batch size (report.json names it)")
    options.add_argument("--clip-weight", type=float, help="λ_CLIP, a finite number >= 0 (default: the world's)")
    options.add_argument("--range-weight", type=float, help="λ_range, a finite number >= 0 (default: the world's)")
    options.add_argument("--lambda", dest="background_weight", metavar="LAMBDA", type=float,
                         help=f"background loss weight λ (local method only; default: {default['background_weight']})")
    options.add_argument("--resample", type=int,
                         help="beyond the paper: run each block of --jump steps this many times, re-noising in "
                              "between (RePaint's resampling, heals the seam; 1 to 20; default: "
                              f"{default['resample']}, none)")
    options.add_argument("--jump", type=int, help="steps per resampled block, with --resample (default: 5)")
    options.add_argument("--invert-mask", action="store_true", help="edit where the mask is black")
    options.add_argument("--seed", type=int, help=f"0 <= SEED < 2**32 = {SEED_LIMIT} (the noise generator keeps "
                                                  f"32 bits; default: {default['seed']})")
    parser.add_argument("--top", type=_at_least(1), default=4, help="edits shown in the figure (at least 1)")
    parser.add_argument("--force", action="store_true",
                        help="write into an existing output folder, replacing the outputs of an earlier run there "
                             "(edit_NN.png, figure.png, report.json); other files are kept")


#: The methods' names in a report.
_METHOD_NAMES = {"blended": "Blended Diffusion", "local": "Local CLIP-guided diffusion", "sdedit": "SDEdit"}

#: What ``bdlearn edit`` writes: the files a rerun with --force replaces.
_EDIT_NAME = re.compile(r"edit_\d{2,}\.png")
_OUTPUT_NAMES = ("figure.png", "report.json")
#: What ``bdlearn demo`` writes besides: the task's input and mask.
_DEMO_NAMES = ("input.png", "mask.png")


def _resolved(path: Path) -> Path:
    """``path`` made absolute with its links followed; a link that loops is a user's error."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop, before Python 3.13
        raise InputError(f"{path}: its symbolic links loop or cannot be followed ({err})") from None


def _check_out(out: Path, inputs: list[Path], force: bool, demo: bool = False) -> None:
    """Refuse an output folder the run (``demo``: bdlearn demo, else edit) could not write, or should not, before
    any work is done."""
    if out.is_symlink() and not out.exists():
        raise InputError(f"--out {out} is a symbolic link to nothing; remove it or choose another folder")
    resolved = _resolved(out)
    for path in inputs:
        written_over = _resolved(path).parent == resolved and _ours(path.name, demo)
        if _resolved(path) == resolved or written_over:
            raise InputError(f"--out {out} would overwrite the input {path}; choose another folder")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; name a folder (it is created if missing)")
    if out.is_dir() and not force and any(not _left_by_a_killed_run(path) for path in out.iterdir()):
        raise InputError(f"{out} exists and is not empty; pass --force to write into it")
    if out.is_dir():
        for path in out.iterdir():
            if _ours(path.name, demo) and not path.is_file():
                raise InputError(f"{path} is not a file, and bdlearn writes a file of that name; move it, or "
                                 "choose another --out")
    _check_writable(f"--out {out}", out)


def _check_writable(option: str, folder: Path) -> None:
    """Refuse an output (``option`` names it in the message) whose ``folder`` cannot be written, or
    could not be created: a file in the way, no permission, a read-only file system."""
    folder = _resolved(folder)
    while not folder.exists():  # the folder that the missing ones would be created in
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{option}: {folder} is a file, not a folder")
    try:  # a real write, not os.access: it also sees read-only file systems, and holds for root
        handle, probe = tempfile.mkstemp(prefix=".bdlearn-write-test-", dir=folder)
    except OSError as err:
        raise InputError(f"{option}: cannot write in {folder} ({err.strerror or err}); "
                         "choose another place") from None
    os.close(handle)
    os.unlink(probe)


def _earlier_outputs(out: Path) -> list[Path]:
    """The files of an earlier run in ``out``: those its report lists, and every edit_NN.png."""
    found = {path for path in out.iterdir() if path.is_file() and _EDIT_NAME.fullmatch(path.name)}
    found |= {out / name for name in _OUTPUT_NAMES if (out / name).is_file()}
    try:
        report = json.loads((out / "report.json").read_text())
        listed = [entry["file"] for entry in report.get("edits", [])] + [report.get("figure")]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        listed = []
    for name in listed:
        if isinstance(name, str) and Path(name).name == name and (out / name).is_file():
            found.add(out / name)
    return sorted(found)


@dataclass
class _Writes:
    """What a command wrote into its output folder: new files, and the earlier files it replaced
    (kept aside under a hidden name until the command succeeds)."""

    new: list[Path] = field(default_factory=list)
    replaced: list[tuple[Path, Path]] = field(default_factory=list)  #: (the file, its earlier version aside)

    def undo(self) -> None:
        """Put the folder back as it was: new files removed, earlier ones restored."""
        for path in self.new:
            path.unlink(missing_ok=True)
        for path, earlier in reversed(self.replaced):
            os.replace(earlier, path)

    def keep(self) -> None:
        """The command succeeded: drop the earlier versions."""
        for _, earlier in self.replaced:
            earlier.unlink(missing_ok=True)


@contextmanager
def _output_folder(out: Path):
    """Create ``out`` (and missing parents) for writing and yield a :class:`_Writes`. If the body fails
    (an error, Ctrl-C), the folder is put back as it was: new files removed, replaced ones restored,
    the folders created here removed, so a failed run leaves neither an empty folder nor a mix of
    two runs' files."""
    created = []
    folder = out.resolve()
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    out.mkdir(parents=True, exist_ok=True)
    writes = _Writes()
    try:
        yield writes
    except BaseException:
        writes.undo()
        for folder in created:  # deepest first; only empty ones
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    writes.keep()


#: The lock file a command holds in its output folder while it runs there.
_LOCK_NAME = ".bdlearn-lock"
#: The hidden names a file has while it is written (see :func:`_atomic`): ``.NAME.partial`` for the new
#: file, ``.NAME.earlier`` for the file it replaces. A run killed with kill -9 can leave them behind.
_IN_PROGRESS = re.compile(r"\.(?P<name>.+)\.(?P<stage>partial|earlier)")


def _ours(name: str, demo: bool = True) -> bool:
    """Whether a file called ``name`` is one bdlearn's edit writes, or with ``demo`` one edit or demo writes."""
    return bool(_EDIT_NAME.fullmatch(name)) or name in _OUTPUT_NAMES + (_DEMO_NAMES if demo else ())


def _in_progress(path: Path) -> re.Match | None:
    """The parts of ``path``'s name when it is one of bdlearn's outputs being written, else None (a
    user's own hidden file of that shape is not touched)."""
    found = _IN_PROGRESS.fullmatch(path.name)
    return found if found is not None and _ours(found["name"]) else None


def _left_by_a_killed_run(path: Path) -> bool:
    """Whether ``path`` is only what a killed run left: its lock, or a file it was writing."""
    return path.name == _LOCK_NAME or _in_progress(path) is not None


def _tidy_after_a_killed_run(out: Path) -> None:
    """Clear what a run killed while writing into ``out`` left there (called with the folder locked, so
    no running command is writing those files): a half-written ``.NAME.partial`` is removed, and an
    earlier ``.NAME.earlier`` goes back to NAME where the killed run had not yet put the new one, else
    is removed."""
    for path in out.iterdir():
        found = _in_progress(path)
        if found is None or not path.is_file():
            continue
        target = out / found["name"]
        if found["stage"] == "earlier" and not target.exists():
            os.replace(path, target)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def _locked(out: Path):
    """Hold ``out``'s lock for the body: a second command writing into the same folder fails at once,
    instead of both reporting success over files only one of them wrote. The lock is the operating
    system's (flock), so it ends with the process, even one killed with kill -9."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the folder is not locked
        yield
        return
    lock = out / _LOCK_NAME
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"another bdlearn command is writing into {out} now; wait for it to finish, "
                             "or choose another --out") from None
        try:
            _tidy_after_a_killed_run(out)
            yield
        finally:
            lock.unlink(missing_ok=True)


@contextmanager
def _atomic(path: Path, writes: _Writes):
    """Write to a hidden temporary name beside ``path`` (the body gets that name), then rename it into
    place: even a kill leaves the old file or the new one, never half of one. An earlier ``path`` is
    kept aside in ``writes`` until the command succeeds."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        if path.exists():
            earlier = path.with_name(f".{path.name}.earlier")
            os.replace(path, earlier)
            writes.replaced.append((path, earlier))
        else:
            writes.new.append(path)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _check_figure_backend() -> None:
    """MPLBACKEND, when set, names a backend matplotlib has: refused before the work, not when the figure is drawn
    after it (the commands write their figures to PNG files, which every backend can)."""
    backend = os.environ.get("MPLBACKEND")
    if backend:
        try:  # a first import of matplotlib reads MPLBACKEND, and refuses a name it does not know
            from matplotlib.rcsetup import validate_backend

            validate_backend(backend)
        except ValueError:
            raise InputError(f"MPLBACKEND={backend!r} is not a matplotlib backend; unset it, or set it to one "
                             "such as 'agg' (bdlearn writes its figures to files)") from None


def run_edit(image, mask, prompt: str, args: argparse.Namespace):
    """The edit of ``image`` inside ``mask`` toward ``prompt`` with the options the user typed (checked before
    any work); the others take :func:`bdlearn.edit`'s defaults."""
    from bdlearn.pipeline import edit

    keywords = _edit_defaults()
    options = {name: value for name, value in vars(args).items() if name in keywords}
    return edit(image, mask, prompt, **options)


def write_outputs(result, out: Path, args: argparse.Namespace, writes: _Writes) -> tuple[Path, int]:
    """Write the ranked PNGs, a figure and ``report.json`` to ``out`` (which must exist); return the
    figure and the number of edits. Each file replaces its namesake of an earlier run whole; the
    earlier run's other outputs (more edits than now) are removed once all the new ones are written."""
    from bdlearn.notebook.plotting import edit_figure

    earlier = _earlier_outputs(out)
    files = []
    for rank in range(result.images.shape[0]):
        name = f"edit_{rank:02d}.png"
        with _atomic(out / name, writes) as partial:
            result.to_pil(rank).save(partial, format="PNG")
        files.append({"file": name, "rank": rank, "clip_distance": round(float(result.distances[rank]), 6)})
    figure = out / "figure.png"
    with _atomic(figure, writes) as partial:
        edit_figure(result, top=args.top).savefig(partial, format="png", dpi=100, bbox_inches="tight")
    height, width = result.source.shape[:2]
    report = {"prompt": result.prompt, "input_size": {"width": width, "height": height},
              "model_side": result.window.model_side, "window": result.window.as_dict(),
              "settings": asdict(result.settings), "run": asdict(result.run),
              "outside_the_mask": ("the input, exactly (Blended Diffusion's final replacement)"
                                   if result.settings.method == "blended" else
                                   f"the model's whole window ({_METHOD_NAMES[result.settings.method]} has no final "
                                   "replacement)"),
              "edits": files, "figure": figure.name}
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"  # strict JSON: no NaN or Infinity
    with _atomic(out / "report.json", writes) as partial:
        partial.write_text(text)
    for path in sorted(set(earlier) - {out / entry["file"] for entry in files} - {figure, out / "report.json"}):
        aside = path.with_name(f".{path.name}.earlier")  # an earlier run's extra edit: gone once this one succeeds
        os.replace(path, aside)
        writes.replaced.append((path, aside))
    return figure, len(files)


def _edit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out(out, [Path(args.image), Path(args.mask)], args.force)
    _check_figure_backend()
    with _output_folder(out) as writes, _locked(out):
        result = run_edit(args.image, args.mask, args.prompt, args)
        figure, count = write_outputs(result, out, args, writes)
    print(f"wrote {count} ranked edits, {out / 'report.json'} and the figure {figure}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """A toy-world edit task, edited exactly as ``bdlearn edit`` would edit its saved input files."""
    import numpy as np
    from PIL import Image

    from bdlearn.scenes.judge import judge_region
    from bdlearn.scenes.tasks import make_edit_task

    if getattr(args, "invert_mask", False):
        raise InputError("--invert-mask: the demo judges its task's own region, which an inverted mask leaves as "
                         "it was; edit the demo's input.png and mask.png with bdlearn edit --invert-mask instead")
    out = Path(args.out)
    _check_out(out, [], args.force, demo=True)
    _check_figure_backend()
    task = make_edit_task(args.task_seed)
    image = np.round(task.image * 255).astype(np.uint8)  # the pixels of input.png
    mask = task.mask.astype(np.uint8) * 255
    image_path, mask_path = out / "input.png", out / "mask.png"
    print(f"demo task: edit the masked region of {image_path} into {task.prompt!r}")
    with _output_folder(out) as writes, _locked(out):
        result = run_edit(image, mask, task.prompt, args)
        for path, pixels in ((image_path, image), (mask_path, mask)):
            with _atomic(path, writes) as partial:
                Image.fromarray(pixels).save(partial, format="PNG")
        figure, _ = write_outputs(result, out, args, writes)
    verdict = judge_region(result.full_size(0).astype(np.float32) / 255, task.mask)
    found = f"a {verdict.colour} {verdict.shape}" if verdict.has_object else "no object"
    print(f"the judge finds {found} in the mask of the best edit "
          f"({'success' if verdict.matches(task.target_colour, task.target_shape) else 'not the prompt'})")
    print(f"figure: {figure.resolve()}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bdlearn.files import run_folder

    out = run_folder(args.out, "--out")
    _check_writable(f"--out {out}", out)
    _check_figure_backend()  # the DDPM's sample grids
    if args.init_weights and Path(args.init_weights).is_dir():
        raise InputError(f"--init-weights {args.init_weights} is a folder; give the .safetensors weights file in it")
    if args.init_weights and not Path(args.init_weights).is_file():
        raise InputError(f"--init-weights {args.init_weights} does not exist; give the .safetensors weights "
                         "that bdlearn train or bdlearn grow wrote (with their .json card beside them)")
    created = not out.exists()
    try:
        return _run_training(args)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):  # a run that failed before writing anything
            out.rmdir()
        raise


def _run_training(args: argparse.Namespace) -> int:
    if args.model == "ddpm":
        from bdlearn.training.common import resolve_preset
        from bdlearn.training.ddpm import PRESETS
        from bdlearn.training.ddpm import train_ddpm as train
        from bdlearn.worlds.toy import toy_unet_config

        config = resolve_preset(args.preset, PRESETS)
        if args.init_weights:  # the UNet architecture is the one the weights' card records
            config = replace(config, init_weights=args.init_weights, unet=toy_unet_config(args.init_weights))
        elif config.requires_init_weights:
            raise InputError(f"--preset {args.preset} continues a trained DDPM: give its weights with --init-weights")
    else:
        from bdlearn.training.clip import train_clip as train

        if args.init_weights:
            raise InputError("--init-weights is for the DDPM trainer")
        config = args.preset
    summary = train(args.out, config, resume=not args.restart)
    print(f"trained {args.model} for {summary['steps']} steps; weights and samples in {args.out}")
    return 0


def _grow(args: argparse.Namespace) -> int:
    from bdlearn.training.grow import grow_attention, grow_res_blocks

    if Path(args.out).is_dir():
        raise InputError(f"--out {args.out} is a folder; name the weights file to write, "
                         f"e.g. {Path(args.out) / 'grown.safetensors'}")
    if Path(args.out).exists() and not args.force:
        raise InputError(f"{args.out} exists; pass --force to overwrite it")
    if Path(args.out).suffix != ".safetensors":
        raise InputError(f"--out {args.out}: name the grown weights NAME.safetensors (their card is written "
                         "beside them as NAME.json)")
    if any(parent.exists() and not parent.is_dir() for parent in Path(args.out).parents):
        raise InputError(f"--out {args.out}: a part of that path is a file, not a folder")
    _check_writable(f"--out {args.out}", Path(args.out).parent)
    if args.attention:
        config = grow_attention(args.weights, args.out, tuple(args.attention), seed=args.seed, overwrite=args.force)
        grown = f"attention at downsample factors {config.attention_resolutions}"
    else:
        config = grow_res_blocks(args.weights, args.out, tuple(args.res_blocks), seed=args.seed,
                                 overwrite=args.force)
        grown = f"residual blocks per level {config.blocks_per_level}"
    print(f"wrote {args.out} with its card: {grown}, "
          f"computing exactly what {args.weights} does. Train it on with\n"
          f"  bdlearn train ddpm --preset anneal --init-weights {shlex.quote(str(args.out))} --out <run folder>")
    return 0


def _version() -> str:
    """bdlearn's installed version (from its metadata: no import of the package's heavy parts)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bdlearn")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a user error as one ``bdlearn: error:`` line (exit status 2) instead of the usage."""

    def error(self, message: str):
        if message.endswith("expected one argument"):  # e.g. --clip-weight -inf or --prompt "-x": taken for options
            message += " (a value that starts with '-' is written --option=-value)"
        self.exit(2, f"bdlearn: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bdlearn", description="Blended Diffusion, taught from first principles.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    edit_parser = commands.add_parser("edit", help="edit the masked region of an image to match a prompt")
    edit_parser.add_argument("--image", type=_path, required=True)
    edit_parser.add_argument("--mask", type=_path, required=True, help="white (or True) marks the region to edit")
    edit_parser.add_argument("--prompt", required=True)
    edit_parser.add_argument("--out", type=_path, required=True, help="output folder")
    _add_edit_options(edit_parser)
    edit_parser.set_defaults(run=_edit)

    demo_parser = commands.add_parser("demo", help="edit a toy-world scene and save a figure")
    demo_parser.add_argument("--out", type=_path, default="demo_output", help="output folder (default: demo_output)")
    demo_parser.add_argument("--task-seed", type=_at_least(0), default=3, help="which toy task (at least 0)")
    _add_edit_options(demo_parser)
    demo_parser.set_defaults(run=_demo)

    train_parser = commands.add_parser("train", help="train a toy model")
    train_parser.add_argument("model", choices=["ddpm", "clip"])
    train_parser.add_argument("--preset", default="quick",
                              help="quick (minutes) or full (hours); for the DDPM also anneal (with --init-weights)")
    train_parser.add_argument("--init-weights", type=_path,
                              help="DDPM only: start from these exported weights (.safetensors)")
    train_parser.add_argument("--out", type=_path, required=True,
                              help="run folder (checkpoints, sample grids, weights)")
    train_parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    train_parser.set_defaults(run=_train)

    grow_parser = commands.add_parser("grow", help="add attention or residual blocks to trained toy DDPM weights")
    grow_parser.add_argument("--weights", type=_path, required=True,
                             help="toy DDPM weights (.safetensors) with their card")
    growth = grow_parser.add_mutually_exclusive_group(required=True)
    growth.add_argument("--attention", type=int, nargs="+",
                        help="downsample factors to add attention at (2 = 16x16 for 32x32 images)")
    growth.add_argument("--res-blocks", type=int, nargs="+",
                        help="new residual blocks per level on the way down, one count per level "
                             "(2 1 1 adds a block at 32x32 on the way down and up)")
    grow_parser.add_argument("--out", type=_path, required=True,
                             help="where to write the grown weights (.safetensors)")
    grow_parser.add_argument("--seed", type=_seed, default=0,
                             help="initialises the new blocks' layers (0 to 2**32 - 1)")
    grow_parser.add_argument("--force", action="store_true", help="overwrite --out")
    grow_parser.set_defaults(run=_grow)

    eval_parser = commands.add_parser("eval", help="evaluate methods over a task set, in shards (beyond the paper)")
    eval_commands = eval_parser.add_subparsers(dest="eval_command", required=True)
    run_parser = eval_commands.add_parser(
        "run", help="edit a task set under named methods, one JSON line per (task, method, repetition)",
        description="Items are split into shards by a stable hash of the task: --shard i/N, or torchrun's / "
                    "accelerate's RANK and WORLD_SIZE, or a Slurm array's SLURM_ARRAY_TASK_ID and _COUNT.")
    run_parser.add_argument("--tasks", required=True, help="toy:N (the toy suite's first N tasks) or a folder of "
                                                           "NAME.png with NAME.mask.png and NAME.txt (the prompt)")
    run_parser.add_argument("--method", dest="methods", action="append", required=True, metavar="METHOD",
                            help="blended, local or sdedit, then optionally :KEY=VALUE,... with edit()'s keywords "
                                 "(e.g. local:background_weight=1000); repeat for more methods")
    run_parser.add_argument("--repetitions", type=_at_least(1), default=1, help="edits per task and method")
    run_parser.add_argument("--seed", type=_at_least(0), default=0, help="item k is edited with seed SEED + k")
    run_parser.add_argument("--world", choices=get_args(WorldName), default="toy")
    run_parser.add_argument("--respacing", help="passed on to edit() (default: the world's)")
    run_parser.add_argument("--skip", type=int, help="passed on to edit() (default: the world's)")
    run_parser.add_argument("--augmentations", dest="num_augmentations", type=int, help="passed on to edit()")
    run_parser.add_argument("--shard", help="i/N: this process's share (default: from the launcher, else all)")
    run_parser.add_argument("--resume", action="store_true", help="go on from this shard's records in --out")
    run_parser.add_argument("--out", type=_path, required=True,
                            help="the evaluation's folder (shared by its shards)")
    run_parser.set_defaults(run=_eval_run)
    merge_parser = eval_commands.add_parser("merge", help="merge the shards of an evaluation into its records, "
                                                         "table and figure")
    merge_parser.add_argument("folder", type=_path, help="the --out folder of bdlearn eval run")
    merge_parser.set_defaults(run=_eval_merge)
    return parser


def _eval_run(args: argparse.Namespace) -> int:
    from bdlearn.evaluation.run import parse_method
    from bdlearn.evaluation.shards import parse_shard, shard_from_environment
    from bdlearn.evaluation.tasks import named_task_set

    shard = parse_shard(args.shard) if args.shard else shard_from_environment()  # these answer before torch loads
    methods = [parse_method(text) for text in args.methods]
    options = {name: getattr(args, name) for name in ("respacing", "skip", "num_augmentations")
               if getattr(args, name) is not None}
    tasks = named_task_set(args.tasks)
    out = Path(args.out)
    _check_writable(f"--out {out}", out)

    import torch

    from bdlearn.evaluation import run_evaluation
    from bdlearn.worlds.load import load_world

    local_rank = os.environ.get("LOCAL_RANK")
    device = f"cuda:{local_rank}" if local_rank is not None and torch.cuda.is_available() else None
    world = load_world(args.world, device=device)
    path, count = run_evaluation(world, tasks, methods, repetitions=args.repetitions, seed=args.seed, out=out,
                                 shard=shard, resume=args.resume, options=options)
    print(f"shard {shard.index}/{shard.count} ({shard.source}): edited {count} item{'s' if count != 1 else ''} "
          f"into {path}")
    return 0


def _eval_merge(args: argparse.Namespace) -> int:
    _check_figure_backend()
    import matplotlib.pyplot as plt

    from bdlearn.evaluation import merge_records
    from bdlearn.notebook.plotting import evaluation_figure

    folder = Path(args.folder)
    with _locked(folder) if folder.is_dir() else nullcontext():  # a second merge of the folder stops at once
        table = merge_records(folder)
        figure, writes = evaluation_figure(table), _Writes()
        with _atomic(folder / "figure.png", writes) as partial:
            figure.savefig(partial, format="png", dpi=120)
        plt.close(figure)
        writes.keep()
    for row in table["methods"]:
        success = "no judge" if row["success"] is None else f"success {row['success']:.1%}"
        print(f"{row['method']}: {row['edits']} edits, {success}, CLIP distance {row['clip_distance']:.4f}, "
              f"background error {row['background_error']:.4f}, {row['seconds']:.1f} s")
    print(f"wrote {folder / 'records.jsonl'}, {folder / 'table.json'} and the figure {folder / 'figure.png'}")
    return 0


_MISSING_GLYPH = re.compile(r"Glyph \d+ .* missing from font")


class _WarningLines:
    """Shows each warning as one line, ``bdlearn: warning: ...`` (e.g. a batch halved after running out of GPU
    memory, a prompt word the toy CLIP never learned), and each distinct one once (a figure drawn twice repeats
    matplotlib's)."""

    def __init__(self) -> None:
        self.shown: set[str] = set()

    def __call__(self, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
        text = str(message)
        if _MISSING_GLYPH.match(text):  # matplotlib says it once per character: once is enough
            text = "the figure's font has no glyph for some characters of the prompt; they show as boxes in it"
        if text not in self.shown:
            self.shown.add(text)
            print(f"bdlearn: warning: {text}", file=sys.stderr)


#: What an operating system error means for the user, where its own words say less.
_OS_ERROR_WORDS = {
    errno.EACCES: "permission denied (choose a place you may read or write)",
    errno.EPERM: "operation not permitted there (choose another place)",
    errno.EROFS: "the file system is read-only (choose another place)",
    errno.ENOSPC: "no space left on the device",
}


#: The longest path the system takes, in bytes with its closing NUL (Linux: 4096).
_PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096


def _shortened(name: str, longest: int = 100) -> str:
    """``name``, its middle elided when it is longer than ``longest`` characters."""
    keep = (longest - 1) // 2
    return name if len(name) <= longest else f"{name[:keep]}…{name[-keep:]}"


def _error_line(err: BaseException) -> str:
    """A user's error as one line: an operating system's error names its file and says what went wrong."""
    if isinstance(err, OSError) and err.filename is not None:
        name = os.fsdecode(err.filename)
        if err.errno == errno.ENAMETOOLONG and len(os.fsencode(name)) >= _PATH_MAX:
            return (f"{_shortened(name, 61)}: the path has {len(os.fsencode(name))} bytes, more than the system "
                    f"allows ({_PATH_MAX - 1}); choose a shorter one")
        if err.errno == errno.ENAMETOOLONG:
            part = max(Path(name).parts, key=len)
            return (f"{_shortened(name, 61)}: the name {_shortened(part, 41)} has {len(part)} characters, more than "
                    "the file system allows (most allow 255 for each folder or file name)")
        return f"{_shortened(name)}: {_OS_ERROR_WORDS.get(err.errno, err.strerror or err)}"
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user's error (a bad input or setting, missing or broken weights, a failed
    download, a file that cannot be written) is one line on stderr, ``bdlearn: error: ...``, and
    exit status 2. Ctrl-C and SIGTERM end with one line (130, 143); a standard output whose reader
    went away (``| head -1``) ends quietly with 141, as a tool killed by SIGPIPE does."""
    if sys.stderr is None:  # started with stderr closed (2>&-): messages and progress bars go nowhere
        sys.stderr = open(os.devnull, "w")
    args = build_parser().parse_args(argv)
    try:
        os.getcwd()
    except FileNotFoundError:  # relative paths, and torch's own libraries, would fail in stranger words
        print("bdlearn: error: the current folder no longer exists (deleted?); cd into one that does",
              file=sys.stderr)
        return 2
    previous, encoding_errors = _stop_on_sigterm(), _replace_unencodable()
    try:
        with warnings.catch_warnings():  # restored on return: only this command's warnings look like this
            warnings.showwarning = _WarningLines()
            return args.run(args)
    except ImportError as err:  # torch's libraries under a memory limit (ulimit -v), a damaged install, ...
        print(f"bdlearn: error: a library bdlearn needs could not be loaded ({first_words(err)}); a memory limit "
              "(ulimit -v) or a damaged install? (pip install --force-reinstall bdlearn)", file=sys.stderr)
        return 2
    except BrokenPipeError as err:
        if err.filename is not None:  # a file of the command's own, not its standard output
            print(f"bdlearn: error: {_error_line(err)}", file=sys.stderr)
            return 2
        _discard_standard_output()  # its reader went away (bdlearn ... | head -1): end as a tool killed by SIGPIPE
        return 128 + signal.SIGPIPE
    except (InputError, CheckpointError, ValueError, DownloadError, OSError, Warning) as err:  # Warning: -W error
        print(f"bdlearn: error: {_error_line(err)}", file=sys.stderr)
        return 2
    except _Terminated:  # kill, timeout, a cancelled job: cleaned up on the way out, as for Ctrl-C
        print(f"bdlearn: terminated; {args.command} stopped and left nothing half-written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:  # Ctrl-C: the output folder was already cleaned up on the way out
        print(f"bdlearn: interrupted; {args.command} stopped and left nothing half-written", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _restore_encoding_errors(encoding_errors)


def _replace_unencodable() -> dict[Any, str]:
    """Let standard output and error write what their encoding cannot (a file name in ü under
    PYTHONIOENCODING=ascii, a C locale) as ``\\xfc``, so that a finished edit is not reported as a failure;
    returns each stream's earlier setting, for :func:`_restore_encoding_errors`."""
    earlier = {}
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            earlier[stream] = stream.errors
            stream.reconfigure(errors="backslashreplace")
    return earlier


def _restore_encoding_errors(earlier: dict[Any, str]) -> None:
    for stream, errors in earlier.items():
        try:
            stream.reconfigure(errors=errors)
        except (OSError, ValueError):  # a reader gone (| head), a stream closed: nothing left to restore for
            pass


def _discard_standard_output() -> None:
    """Point file descriptor 1 at os.devnull, so that Python's last flush at exit does not fail on the closed pipe
    (the Python documentation's recipe for SIGPIPE); where stdout has no descriptor (captured), nothing to do."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it cleans up as it does for Ctrl-C."""


def _stop_on_sigterm() -> Any:
    """Make SIGTERM raise :class:`_Terminated` (only in the main thread, where signals are handled);
    returns the handler it replaced, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, terminate)


if __name__ == "__main__":
    sys.exit(main())
