"""The toy CLIP: a small open_clip model that reads the toy world's 32x32 scenes and captions.

Its architecture lives in ``data/configs/toy_clip.json``, an ordinary open_clip model
config: a ViT image tower (32x32 inputs cut into 4x4 patches, width 128, 4 layers, 4 heads)
and a text tower (20 tokens, the longest world caption plus start and end; width 64, 3 layers,
4 heads), both projected to 64-dimensional embeddings. It keeps open_clip's tokenizer and its
49408-token vocabulary, whose embedding table holds three quarters of the 4.1 M parameters.
Images are normalised with mean = std = 0.5 per channel, which maps [0, 1] to [−1, 1].
Trained weights are made by :mod:`bdlearn.training.clip`; the shipped ones are package data.
"""
from __future__ import annotations

import json
from pathlib import Path

import open_clip

from bdlearn.clip.bundle import ClipBundle
from bdlearn.worlds.checkpoint import check_state_dict, read_state_dict
from bdlearn.worlds.package_data import DATA_DIR, shipped_file

#: The toy CLIP's architecture, an open_clip model config.
TOY_CLIP_CONFIG = DATA_DIR / "configs" / "toy_clip.json"
#: The shipped toy CLIP's weights (its card is ``toy_clip.json`` beside them).
TOY_CLIP_WEIGHTS = DATA_DIR / "toy_clip.safetensors"
TOY_CLIP_MEAN = (0.5, 0.5, 0.5)
TOY_CLIP_STD = (0.5, 0.5, 0.5)


def build_toy_clip() -> ClipBundle:
    """A randomly initialised toy CLIP with its tokenizer, built from its open_clip config.

    Built as ``open_clip.CLIP(**config)``, as ``open_clip.create_model`` would build a registered
    config, without adding the config to open_clip's registry or logging that the model is random.
    """
    config = json.loads(shipped_file(TOY_CLIP_CONFIG).read_text())
    model = open_clip.CLIP(**config)
    tokenizer = open_clip.SimpleTokenizer(context_length=config["text_cfg"]["context_length"])
    side = config["vision_cfg"]["image_size"]
    return ClipBundle(model, tokenizer, (side, side), TOY_CLIP_MEAN, TOY_CLIP_STD)


def load_toy_clip(path: str | Path | None = None) -> ClipBundle:
    """The trained toy CLIP from a safetensors file (default: the shipped one), in eval mode with
    its weights frozen.

    Weights stored in float16 are cast to the model's float32. Raises
    :class:`~bdlearn.worlds.checkpoint.CheckpointError` for a missing or unreadable file, or one whose
    tensors do not fit the toy CLIP.
    """
    path = path or shipped_file(TOY_CLIP_WEIGHTS)
    state = read_state_dict(path)
    bundle = build_toy_clip()
    check_state_dict(bundle.model, state, source=str(path))
    bundle.model.load_state_dict(state)
    bundle.model.eval().requires_grad_(False)
    return bundle
