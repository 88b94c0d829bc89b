"""Training the toy CLIP on the procedural world with CLIP's contrastive loss.

CLIP (Radford et al. 2021) learns from (image, caption) pairs: in a batch of N pairs, each
image should match its own caption better than the other N − 1, and each caption its own
image. Every step shows the toy CLIP freshly rendered views of the kinds Blended Diffusion will
show it (a "group" is a set of views whose captions all differ):

* whole scenes with their scene captions ("a red circle and a blue cross on a striped
  background");
* single objects on a background with object captions ("a red circle"), one per
  (colour, shape) class, so each of the 28 captions meets its 27 nearest rivals;
* masked views: one object of every class, cut out of a scene by its own mask or by a box
  around it (Blended Diffusion's x̂_0 ⊙ m, everything outside the region set to 0), as they
  are and under the extending augmentations of :mod:`bdlearn.editing.augmentations`;
* the same masked views of blurred, noisy images, like the diffusion model's blurry predicted
  clean images x̂_0 early in sampling, so that CLIP's gradients mean something there too.

Training and evaluation renders come from separate random streams, so the zero-shot accuracy
of :func:`zero_shot_accuracy` is measured on scenes the model never saw.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import kornia
import numpy as np
import torch
from open_clip import ClipLoss
from tqdm.auto import tqdm

from bdlearn.checks import checked_integer, checked_real, shown
from bdlearn.clip.bundle import ClipBundle
from bdlearn.diffusion.unet import count_parameters
from bdlearn.editing.augmentations import extending_augmentations
from bdlearn.files import run_folder
from bdlearn.scenes.render import COLOUR_NAMES, SHAPES, Scene, SceneObject, object_caption, render_object, render_scene
from bdlearn.training.common import (
    TrainConfig,
    check_run_kind,
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
    save_checkpoint,
)
from bdlearn.worlds.toy_clip import TOY_CLIP_CONFIG, build_toy_clip

OBJECT_CLASSES: tuple[tuple[str, str], ...] = tuple((colour, shape) for colour in COLOUR_NAMES for shape in SHAPES)
"""Every (colour, shape) pair of the world: the labels of zero-shot classification."""
OBJECT_CAPTIONS: tuple[str, ...] = tuple(object_caption(colour, shape) for colour, shape in OBJECT_CLASSES)

TRAIN_STREAM, EVAL_STREAM = 0, 1
"""First entries of the seed sequences of training and evaluation renders, keeping the two apart."""


@dataclass
class ClipTrainConfig(TrainConfig):
    """Hyper-parameters of a toy CLIP run (the shared ones are :class:`~bdlearn.training.common.TrainConfig`'s)."""

    steps: int = 4_000
    warmup_steps: int = 200
    scenes_per_batch: int = 32
    weight_decay: float = 0.1
    ema_decay: float | None = None
    grey_fill: float = 0.75
    """Probability that a masked view is 0 (mid-grey) outside its region, as Blended Diffusion
    shows it; otherwise it is black (−1), like :func:`bdlearn.scenes.render.masked_view`."""
    max_blur_sigma: float = 2.0
    max_noise: float = 0.3
    eval_every: int = 500
    eval_size: int = 280
    final_eval_size: int = 2_000

    def __post_init__(self) -> None:
        """Every number checked for what it means (an :class:`~bdlearn.errors.InputError` otherwise): counts are
        positive ints, ``weight_decay``, ``max_blur_sigma`` and ``max_noise`` finite and at least 0, ``grey_fill``
        (a probability) and ``ema_decay`` (or None) in [0, 1]."""
        super().__post_init__()
        if self.ema_decay is not None:  # None: no average; the final weights are exported
            checked_ema_decay("ema_decay", self.ema_decay)
        checked_integer("scenes_per_batch", self.scenes_per_batch, 1, hint=" (whole scenes rendered per step)")
        checked_real("weight_decay", self.weight_decay, 0, hint=" (AdamW's decoupled weight decay; 0: none)")
        checked_real("grey_fill", self.grey_fill, 0, 1, hint=" (the probability that a masked view is grey outside "
                     "its region)")
        checked_real("max_blur_sigma", self.max_blur_sigma, 0, hint=" (the largest blur σ of the blurry views, "
                     "in pixels)")
        checked_real("max_noise", self.max_noise, 0, hint=" (the largest standard deviation of the noise added to "
                     "the blurry views)")
        for name, what in (("eval_every", "steps between evaluations"), ("eval_size", "renders per evaluation"),
                           ("final_eval_size", "renders of the final evaluation")):
            checked_integer(name, getattr(self, name), 1, hint=f" ({what})")


PRESETS: dict[str, ClipTrainConfig] = {
    # Shows learning within 5 minutes on a 2-core CPU: colours first, shapes after.
    "quick": ClipTrainConfig(steps=250, warmup_steps=50, checkpoint_every=125, eval_every=125, final_eval_size=280,
                             max_minutes=5),
    # What produced data/toy_clip.safetensors (see its card, toy_clip.json, for the steps actually run).
    "full": ClipTrainConfig(),
}


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) images in [0, 1] as a [N, 3, H, W] tensor in [−1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))) * 2 - 1


def region_mask(rng: np.random.Generator, scene: Scene, obj: SceneObject, max_margin: int = 4) -> np.ndarray:
    """(H, W) bool region around ``obj``: its own pixels, or half the time a box a little larger
    than the object when that box holds no other object (like the world's edit regions)."""
    if rng.random() < 0.5:
        top, left, side, _ = obj.box
        margin = int(rng.integers(1, max_margin + 1))
        box = np.zeros_like(obj.mask)
        box[max(top - margin, 0):top + side + margin, max(left - margin, 0):left + side + margin] = True
        if not any((other.mask & box).any() for other in scene.objects if other is not obj):
            return box
    return obj.mask


def mask_out(images: torch.Tensor, masks: torch.Tensor, fill: torch.Tensor | float = 0.0) -> torch.Tensor:
    """The masked view x ⊙ m + fill·(1 − m): images [N, 3, H, W] in [−1, 1] kept inside masks [N, 1, H, W]."""
    return images * masks + fill * (1 - masks)


def one_object_per_class(rng: np.random.Generator) -> list[tuple[Scene, SceneObject]]:
    """One object of every class in :data:`OBJECT_CLASSES` order, each taken from a random scene."""
    found: dict[tuple[str, str], tuple[Scene, SceneObject]] = {}
    while len(found) < len(OBJECT_CLASSES):
        scene = render_scene(rng)
        for obj in scene.objects:
            found.setdefault((obj.colour, obj.shape), (scene, obj))
    return [found[label] for label in OBJECT_CLASSES]


def degrade(images: torch.Tensor, generator: torch.Generator, max_sigma: float, max_noise: float) -> torch.Tensor:
    """Blur each image by a random Gaussian (σ up to ``max_sigma`` pixels) and add random noise
    (standard deviation up to ``max_noise``): a cheap stand-in for an early, blurry x̂_0."""
    n = images.shape[0]
    sigma = (0.1 + (max_sigma - 0.1) * torch.rand(n, 1, generator=generator)).expand(n, 2)
    noise = max_noise * torch.rand(n, 1, 1, 1, generator=generator) * torch.randn(images.shape, generator=generator)
    return kornia.filters.gaussian_blur2d(images, (9, 9), sigma) + noise


def training_groups(config: ClipTrainConfig, step: int) -> list[tuple[torch.Tensor, list[str]]]:
    """Batch ``step``: groups of (images [N, 3, H, W] in [−1, 1], N different captions)."""
    rng = np.random.default_rng((TRAIN_STREAM, config.data_seed, step))
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    scenes = {}
    for _ in range(config.scenes_per_batch):
        scene = render_scene(rng)
        scenes.setdefault(scene.caption, scene.image)  # a repeated caption would be a false negative
    objects = [render_object(shape, colour, rng).image for colour, shape in OBJECT_CLASSES]
    picked = one_object_per_class(rng)
    images = to_tensor(np.stack([scene.image for scene, _ in picked]))
    masks = torch.from_numpy(np.stack([region_mask(rng, scene, obj) for scene, obj in picked]))[:, None].float()
    n = len(picked)
    fill = torch.where(torch.rand(n, 1, 1, 1, generator=generator) < config.grey_fill, 0.0, -1.0)
    views, view_masks = extending_augmentations(images, masks, 2, seed=generator)
    blurry, blurry_masks = extending_augmentations(
        degrade(images, generator, config.max_blur_sigma, config.max_noise), masks, 2, seed=generator)
    return [
        (to_tensor(np.stack(list(scenes.values()))), list(scenes)),
        (to_tensor(np.stack(objects)), list(OBJECT_CAPTIONS)),
        (mask_out(images, masks, fill), list(OBJECT_CAPTIONS)),
        (mask_out(views[n:], view_masks[n:], fill), list(OBJECT_CAPTIONS)),
        (mask_out(blurry[n:], blurry_masks[n:], fill), list(OBJECT_CAPTIONS)),
    ]


def contrastive_loss(bundle: ClipBundle, groups: list[tuple[torch.Tensor, list[str]]],
                     loss_fn: ClipLoss) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over each group's image–caption similarities, averaged over groups."""
    captions = list(dict.fromkeys(caption for _, group_captions in groups for caption in group_captions))
    index = {caption: i for i, caption in enumerate(captions)}
    text = bundle.encode_text(captions)
    image = bundle.encode_image(torch.cat([images for images, _ in groups]))
    losses = []
    for features, (_, group_captions) in zip(image.split([len(c) for _, c in groups]), groups):
        losses.append(loss_fn(features, text[[index[c] for c in group_captions]], bundle.logit_scale))
    return torch.stack(losses).mean()


def zero_shot_accuracy(bundle: ClipBundle, n: int = 1_000, seed: int = 0, view: str = "whole",
                       batch_size: int = 250) -> float:
    """Fraction of ``n`` held-out renders that zero-shot classification over all 28 object captions gets right.

    ``view="whole"``: a single object on a background, the whole image. ``view="masked"``: a
    random object of a random scene seen through :func:`region_mask`, everything outside set
    to 0 as Blended Diffusion shows it. Renders come from the evaluation stream (``seed``, an int of
    at least 0), never from the training one; ``n`` and ``batch_size`` (renders classified at once)
    are positive ints. ``bundle`` is a :class:`ClipBundle` (a TypeError otherwise).
    """
    if not isinstance(bundle, ClipBundle):
        raise TypeError(f"zero_shot_accuracy needs a ClipBundle (a world's is world.clip), got {shown(bundle)}")
    if view not in ("whole", "masked"):
        raise ValueError(f"unknown view {view!r}; expected 'whole' or 'masked'")
    n, batch_size = checked_integer("n", n, 1), checked_integer("batch_size", batch_size, 1)
    seed = checked_integer("seed", seed, 0)
    rng = np.random.default_rng((EVAL_STREAM, seed))
    images, masks, labels = [], [], []
    for _ in range(n):
        if view == "whole":
            label = int(rng.integers(len(OBJECT_CLASSES)))
            colour, shape = OBJECT_CLASSES[label]
            scene = render_object(shape, colour, rng)
            mask = np.ones(scene.image.shape[:2], dtype=bool)
        else:
            scene = render_scene(rng)
            obj = scene.objects[int(rng.integers(len(scene.objects)))]
            label = OBJECT_CLASSES.index((obj.colour, obj.shape))
            mask = region_mask(rng, scene, obj)
        images.append(scene.image)
        masks.append(mask)
        labels.append(label)
    views = mask_out(to_tensor(np.stack(images)), torch.from_numpy(np.stack(masks))[:, None].float())
    correct = 0
    for start in range(0, n, batch_size):
        probabilities = bundle.zero_shot(views[start:start + batch_size], OBJECT_CAPTIONS)
        correct += (probabilities.argmax(dim=-1) == torch.tensor(labels[start:start + batch_size])).sum().item()
    return correct / n


@private_random_state
def train_clip(out_dir: str | Path, config: ClipTrainConfig | str = "quick", resume: bool = True,
               progress: bool = True) -> dict:
    """Train (or resume training) the toy CLIP; returns a summary with the loss and accuracy history.

    ``out_dir``, a folder (created if missing; a file is refused), receives ``checkpoint.pt``
    (resumable) and, at the end, ``toy_clip.safetensors`` (float16; the EMA weights when
    ``ema_decay`` is set) with its JSON card.
    """
    config = resolve_preset(config, PRESETS)
    out_dir = run_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.default_generator.manual_seed(config.seed)  # a private copy: private_random_state
    bundle = build_toy_clip()
    model = bundle.model.train()
    ema = make_ema(model, config.ema_decay) if config.ema_decay is not None else None
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]  # gains, biases, class token, logit scale
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    loss_fn = ClipLoss()
    start, elapsed, history, evals = 0, 0.0, [], []
    ckpt_path = out_dir / "checkpoint.pt"
    if resume and ckpt_path.exists():
        with resuming_from(ckpt_path):
            state = load_checkpoint(ckpt_path)
            check_run_kind(state, "clip", ckpt_path)
            model.load_state_dict(state["model"])
            if ema is not None:
                ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            start, elapsed, history, evals = state["step"], state["elapsed"], state["history"], state["evals"]
    trained = replace(bundle, model=ema.module) if ema is not None else bundle

    def checkpoint(step: int) -> None:
        extra = {"ema": ema.state_dict()} if ema is not None else {}
        save_checkpoint(ckpt_path, model=model.state_dict(), optimizer=optimizer.state_dict(), step=step,
                        elapsed=elapsed, history=history, evals=evals, **extra)

    def evaluate(step: int, n: int) -> dict:
        result = {"step": step, "whole": zero_shot_accuracy(trained, n, view="whole"),
                  "masked": zero_shot_accuracy(trained, n, view="masked")}
        if progress:
            tqdm.write(f"step {step}: zero-shot accuracy whole {result['whole']:.3f}, masked {result['masked']:.3f}")
        return result

    began = time.time() - elapsed
    bar = tqdm(range(start, config.steps), desc="toy CLIP", initial=start, total=config.steps, disable=not progress)
    step = start
    running = None
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        value = optimisation_step(model, optimizer, contrastive_loss(bundle, training_groups(config, step), loss_fn),
                                  config.grad_clip)
        with torch.no_grad():  # CLIP caps its temperature at 100, as open_clip's training does
            model.logit_scale.clamp_(0, math.log(100))
        if ema is not None:
            ema.update_parameters(model)
        running = value if running is None else 0.98 * running + 0.02 * value
        if (step + 1) % 25 == 0:
            history.append((step + 1, running))
            bar.set_postfix(loss=f"{running:.3f}", scale=f"{bundle.logit_scale.item():.1f}")
        elapsed = time.time() - began
        done = config.finished(step + 1, elapsed)
        if (step + 1) % config.eval_every == 0 and not done:
            evals.append(evaluate(step + 1, config.eval_size))
        if (step + 1) % config.checkpoint_every == 0 or done:
            checkpoint(step + 1)
        if done:
            step += 1
            break
    else:
        step = config.steps
    final = evaluate(step, config.final_eval_size)
    card = {
        "model": "toy CLIP (open_clip ViT and text transformer)",
        "open_clip_config": json.loads(TOY_CLIP_CONFIG.read_text()),
        "image_size": list(bundle.image_size), "mean": list(bundle.mean), "std": list(bundle.std),
        "context_length": bundle.context_length, "parameters": count_parameters(model),
        "train_config": asdict(config), "data_seed": config.data_seed, "steps": step,
        "training_seconds": round(elapsed, 1), "machine": machine_description(), "final_loss": running,
        "weights": "EMA" if ema is not None else "final",
        "metrics": {"zero_shot_accuracy_whole": final["whole"], "zero_shot_accuracy_masked": final["masked"],
                    "eval_renders_per_view": config.final_eval_size, "eval_seed": 0,
                    "labels": f"all {len(OBJECT_CAPTIONS)} object captions"},
        "eval_history": evals,
    }
    export_weights(out_dir / "toy_clip.safetensors", trained.model.state_dict(), card, dtype=torch.float16)
    return {"steps": step, "elapsed": elapsed, "history": history, "evals": evals, "out_dir": str(out_dir),
            "card": card}
