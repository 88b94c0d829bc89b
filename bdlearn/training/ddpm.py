"""Training the toy DDPM on the procedural world (DDPM algorithm 1 with IDDPM's hybrid loss).

The diffusion is the one the real 256x256 model was trained under (1000 steps, linear β's,
learned σ), so one sampler serves both worlds. Every batch is freshly rendered from the world,
so the model never sees the same image twice. Run it from Python (:func:`train_ddpm`) or the
command line (``bdlearn train ddpm --preset quick``).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from bdlearn.checks import checked_flag, checked_integer, checked_real
from bdlearn.diffusion.losses import diffusion_training_loss
from bdlearn.diffusion.sampling import sample
from bdlearn.diffusion.schedule import DiffusionSchedule
from bdlearn.diffusion.unet import UNet, UNetConfig
from bdlearn.errors import CheckpointError, InputError
from bdlearn.files import run_folder
from bdlearn.scenes.render import sample_scenes
from bdlearn.training.common import (
    TrainConfig,
    check_run_kind,
    check_weights_dest,
    checked_ema_decay,
    export_weights,
    learning_rate,
    load_checkpoint,
    machine_description,
    make_ema,
    optimisation_step,
    private_random_state,
    resolve_preset,
    resuming_from,
    run_kind,
    save_checkpoint,
)
from bdlearn.worlds.checkpoint import load_unet, weight_card
from bdlearn.worlds.toy import TOY_DIFFUSION, TOY_IMAGE_SIZE, TOY_UNET_CONFIG, toy_unet_config


@dataclass
class DDPMTrainConfig(TrainConfig):
    """Hyper-parameters of a toy DDPM run (the shared ones are :class:`~bdlearn.training.common.TrainConfig`'s)."""

    steps: int = 30_000
    lr: float = 6e-4
    warmup_steps: int = 500
    lr_schedule: str = "constant"
    checkpoint_every: int = 500
    batch_size: int = 32
    ema_decay: float = 0.999
    sample_every: int = 2_000  #: steps between sample grids (and one at the end); 0: none
    #: bfloat16 autocast for the UNet (1.6x faster on CPUs with AVX512-BF16; the loss stays float32)
    bf16_autocast: bool = True
    unet: UNetConfig = field(default_factory=lambda: TOY_UNET_CONFIG)
    #: exported weights (a ``.safetensors`` file) to start from instead of a random initialisation;
    #: both the model and its EMA start there (the optimiser starts afresh)
    init_weights: str | None = None
    #: True for settings that only make sense on trained weights (a low rate that decays to 0)
    requires_init_weights: bool = False
    #: γ of Min-SNR weighting of L_simple (:func:`bdlearn.diffusion.losses.min_snr_weight`); None: unweighted
    min_snr_gamma: float | None = None

    def __post_init__(self) -> None:
        """Every number and flag checked for what it means (an :class:`~bdlearn.errors.InputError` otherwise):
        ``batch_size`` a positive int, ``sample_every`` an int of at least 0, ``ema_decay`` in [0, 1],
        ``min_snr_gamma`` None or a finite number above 0, the flags True or False."""
        super().__post_init__()
        checked_ema_decay("ema_decay", self.ema_decay)
        checked_integer("batch_size", self.batch_size, 1, hint=" (scenes per training step)")
        checked_integer("sample_every", self.sample_every, 0, hint=" (steps between sample grids; 0: none)")
        checked_flag("bf16_autocast", self.bf16_autocast)
        checked_flag("requires_init_weights", self.requires_init_weights)
        hint = " (Min-SNR weighting's γ, above 0; None: unweighted)"
        if self.min_snr_gamma is not None and checked_real("min_snr_gamma", self.min_snr_gamma, 0, hint=hint) == 0:
            raise InputError(f"min_snr_gamma must be above 0, got 0{hint}")


PRESETS: dict[str, DDPMTrainConfig] = {
    # Shows learning within 5 minutes on a 2-core CPU: coloured blobs on backgrounds.
    "quick": DDPMTrainConfig(steps=400, warmup_steps=50, ema_decay=0.99, checkpoint_every=200, sample_every=400,
                             max_minutes=5),
    # The first stage of the shipped toy DDPM ran this preset from scratch at a constant rate and was
    # stopped after 15,000 of its 30,000 steps (the card, data/toy_ddpm.json, records it).
    "full": DDPMTrainConfig(),
    # The second to fifth stages: from the previous stage's EMA weights (the fifth's grown by
    # attention at 16x16 first), a lower rate that decays to 0 along a cosine, and a longer EMA.
    # Sampling quality rises as the rate falls: at a constant rate the weights keep jittering around
    # the optimum. Set init_weights to the previous export (later stages also set steps, data_seed
    # and seed, for batches not seen before; the card records each stage's settings, and
    # docs/toy_models.md what each stage measured).
    "anneal": DDPMTrainConfig(steps=16_000, lr=2e-4, warmup_steps=100, lr_schedule="cosine", ema_decay=0.9995,
                              requires_init_weights=True),
}


#: settings a resumed run may change: how long it runs and how often it reports
RESUMABLE_CHANGES = frozenset({"steps", "max_minutes", "checkpoint_every", "sample_every"})


def check_resumable(saved: dict | None, config: DDPMTrainConfig, ckpt_path: Path) -> None:
    """Refuse to resume a checkpoint whose run had other settings than ``config``.

    Resuming continues the saved optimiser, EMA and data stream; a checkpoint from a run with
    another data seed, rate or starting point would silently mix two runs in one card. Only the
    settings in :data:`RESUMABLE_CHANGES` may differ (e.g. more steps, to train on).
    """
    if saved is None:
        return
    current = asdict(config)
    changed = sorted(key for key in current if key not in RESUMABLE_CHANGES and saved.get(key) != current[key])
    if changed:
        details = ", ".join(f"{key}: {saved.get(key)!r} there, {current[key]!r} now" for key in changed)
        raise ValueError(f"{ckpt_path} is from a run with other settings ({details}); "
                         "train into a new folder, or pass resume=False (--restart) to start this one afresh")


def world_batch(batch_size: int, data_seed: int, step: int) -> torch.Tensor:
    """Batch ``step`` of fresh world scenes as a [B, 3, H, W] tensor in [−1, 1]."""
    images, _ = sample_scenes(batch_size, seed=data_seed * 1_000_003 + step, size=TOY_IMAGE_SIZE)
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))) * 2 - 1


def save_sample_grid(model: torch.nn.Module, path: Path, num_images: int = 16, seed: int = 0) -> None:
    """Sample a 4x4 grid with 50 respaced DDPM steps and save it as a PNG."""
    from bdlearn.notebook.plotting import save_image_grid

    images = sample(model, DiffusionSchedule.create(**{**TOY_DIFFUSION, "respacing": "50"}), num_images,
                    TOY_IMAGE_SIZE, seed=seed, progress=False)
    save_image_grid(images, path, nrow=4)


@private_random_state
def train_ddpm(out_dir: str | Path, config: DDPMTrainConfig | str = "quick", resume: bool = True,
               progress: bool = True) -> dict:
    """Train (or resume training) the toy DDPM; returns a summary with the loss history.

    ``out_dir``, a folder (created if missing; a file is refused), receives ``checkpoint.pt``
    (resumable), ``samples_<step>.png`` grids and, at the end, ``toy_ddpm.safetensors`` (EMA
    weights) with its JSON card.
    """
    config = resolve_preset(config, PRESETS)
    out_dir = run_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.default_generator.manual_seed(config.seed)  # a private copy: private_random_state
    generator = torch.Generator().manual_seed(config.seed)
    schedule = DiffusionSchedule.create(**TOY_DIFFUSION)
    if config.requires_init_weights and not config.init_weights:
        raise ValueError("these settings continue a trained DDPM: set init_weights to its exported weights")
    earlier_stages(config.init_weights)  # before any work: weights without a card are refused
    if config.init_weights and (recorded := toy_unet_config(config.init_weights)) != config.unet:
        raise ValueError(f"{config.init_weights} holds another UNet than config.unet (its card records {recorded}): "
                         "train it with unet=bdlearn.worlds.toy.toy_unet_config(init_weights)")
    model = load_unet(config.init_weights, config.unet) if config.init_weights else UNet(config.unet)
    ema = make_ema(model, config.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    start, elapsed, history = 0, 0.0, []
    ckpt_path = out_dir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        with resuming_from(ckpt_path):
            state = load_checkpoint(ckpt_path)
            saved = state.get("config")
        check_run_kind(state, "ddpm", ckpt_path)
        check_resumable(saved, config, ckpt_path)
        with resuming_from(ckpt_path):
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            start, elapsed, history = state["step"], state["elapsed"], state["history"]

    def checkpoint(step: int) -> None:
        save_checkpoint(ckpt_path, model=model.state_dict(), ema=ema.state_dict(), optimizer=optimizer.state_dict(),
                        generator=generator.get_state(), step=step, elapsed=elapsed, history=history,
                        config=asdict(config), threads=torch.get_num_threads())

    def network(x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16_autocast):
            return model(x_t, timesteps).float()

    began = time.time() - elapsed
    bar = tqdm(range(start, config.steps), desc="toy DDPM", initial=start, total=config.steps, disable=not progress)
    step = start
    running = None
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        losses = diffusion_training_loss(network, schedule, world_batch(config.batch_size, config.data_seed, step),
                                         generator, min_snr_gamma=config.min_snr_gamma)
        value = optimisation_step(model, optimizer, losses["loss"], config.grad_clip)
        ema.update_parameters(model)
        running = value if running is None else 0.98 * running + 0.02 * value
        if (step + 1) % 50 == 0:
            history.append((step + 1, running, losses["mse"].item()))
            bar.set_postfix(loss=f"{running:.4f}")
        elapsed = time.time() - began
        done = config.finished(step + 1, elapsed)
        if (step + 1) % config.checkpoint_every == 0 or done:
            checkpoint(step + 1)
        if config.sample_every and ((step + 1) % config.sample_every == 0 or done):
            save_sample_grid(ema.module, out_dir / f"samples_{step + 1:06d}.png")
        if done:
            step += 1
            break
    else:
        step = config.steps
    card = export_ddpm(out_dir, out_dir / "toy_ddpm.safetensors", config, overwrite=True)  # the run's own export
    return {"steps": step, "elapsed": elapsed, "history": history, "out_dir": str(out_dir), "card": card}


def export_ddpm(run_dir: str | Path, dest: str | Path, config: DDPMTrainConfig | None = None,
                notes: str | None = None, overwrite: bool = False) -> dict:
    """Write the EMA weights of ``run_dir/checkpoint.pt`` to ``dest`` (safetensors) with a JSON card.

    Works on a run in progress too (its latest checkpoint). ``notes`` (e.g. how the run's settings
    changed on the way) go into the card. A run that started from ``init_weights`` inherits the
    stages recorded in those weights' card, so the card's ``steps`` and ``training_seconds`` count
    all the training behind the weights and ``stages`` lists each part. Returns the card. A ``run_dir``
    that is no DDPM run folder (missing, without ``checkpoint.pt``, a CLIP run) is a
    :class:`~bdlearn.errors.CheckpointError`; an existing ``dest`` is replaced only with ``overwrite``.
    """
    dest = check_weights_dest(dest, overwrite)
    ckpt_path = Path(run_dir) / "checkpoint.pt"
    if not ckpt_path.is_file():
        where = "does not exist" if not Path(run_dir).exists() else "holds no checkpoint.pt"
        raise CheckpointError(f"run_dir {run_dir} {where}; give a folder that bdlearn train ddpm --out "
                              "(train_ddpm) wrote")
    state = load_checkpoint(ckpt_path)
    check_run_kind(state, "ddpm", ckpt_path)
    if run_kind(state) is None:
        raise CheckpointError(f"{ckpt_path} is not a checkpoint of bdlearn train ddpm (it has no model, EMA and "
                              "config)")
    settings = state.get("config") or asdict(config or PRESETS["full"])
    prefix = "module."
    weights = {k[len(prefix):]: v for k, v in state["ema"].items() if k.startswith(prefix)}
    history = state["history"]
    stage = {"train_config": {k: v for k, v in settings.items() if k != "unet"}, "steps": state["step"],
             "training_seconds": round(state["elapsed"], 1), "training_threads": state.get("threads"),
             "machine": machine_description(threads=state.get("threads"))}
    if notes:
        stage["notes"] = notes
    stages = earlier_stages(settings.get("init_weights")) + [stage]
    card = {
        "model": "toy DDPM (ADM UNet), EMA weights", "unet": settings["unet"], "diffusion": TOY_DIFFUSION,
        "parameters": sum(v.numel() for v in weights.values()), "image_size": TOY_IMAGE_SIZE,
        "steps": sum(s["steps"] for s in stages),
        "training_seconds": round(sum(s["training_seconds"] for s in stages), 1),
        "machine": stage["machine"], "final_loss": history[-1][1] if history else None, "stages": stages,
    }
    export_weights(dest, weights, card)
    return card


def earlier_stages(init_weights: str | Path | None) -> list[dict]:
    """The training stages behind ``init_weights``, read from the JSON card beside them.

    A card written before cards listed stages counts as one stage. No weights: no stages. Weights
    without a card raise :class:`~bdlearn.worlds.checkpoint.CheckpointError` (their training would go
    unrecorded).
    """
    if init_weights is None:
        return []
    card = weight_card(init_weights)
    if "stages" in card:
        return card["stages"]
    stage = {key: card[key]
             for key in ("train_config", "steps", "training_seconds", "training_threads", "machine", "notes")
             if key in card}
    return [stage]
