"""What both toy trainers share: EMA weights, resumable checkpoints and exported weights with a card.

A training checkpoint holds only tensors and plain Python values, so it loads with
``torch.load(..., weights_only=True)``. Exported weights are safetensors files beside a JSON
"card" (configuration, data seed, steps, training time and machine, metrics).
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s weights: θ_ema ← decay·θ_ema + (1 − decay)·θ."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def save_checkpoint(path: Path, **state) -> None:
    """Write a resumable checkpoint atomically (a crash mid-write never leaves a torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, without unpickling code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def machine_description() -> str:
    """A one-line description of this machine, for cards and benchmark reports."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def export_weights(path: Path, state_dict: dict[str, torch.Tensor], card: dict, dtype: torch.dtype = torch.float32) -> None:
    """Save ``state_dict`` as safetensors (cast to ``dtype``) and ``card`` as JSON beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in state_dict.items()}
    save_file(tensors, str(path), metadata={"format": "pt", "bdlearn_card": path.with_suffix(".json").name})
    card = {**card, "exported": time.strftime("%Y-%m-%d %H:%M:%S"), "storage_dtype": str(dtype).replace("torch.", "")}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
