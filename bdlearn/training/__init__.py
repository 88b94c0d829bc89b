"""Training the toy world's models on a CPU, and growing trained ones.

Shared machinery (configs, learning-rate schedule, EMA, checkpoints, weight export:
:mod:`.common`), the toy DDPM's trainer (:mod:`.ddpm`), the toy CLIP's (:mod:`.clip`), and
growing a trained UNet without changing what it computes (:mod:`.grow`).
"""
from bdlearn.training.clip import ClipTrainConfig, train_clip, zero_shot_accuracy
from bdlearn.training.common import make_ema
from bdlearn.training.ddpm import DDPMTrainConfig, export_ddpm, train_ddpm
from bdlearn.training.grow import grow_attention, grow_res_blocks

__all__ = [
    "ClipTrainConfig",
    "DDPMTrainConfig",
    "export_ddpm",
    "grow_attention",
    "grow_res_blocks",
    "make_ema",
    "train_clip",
    "train_ddpm",
    "zero_shot_accuracy",
]
