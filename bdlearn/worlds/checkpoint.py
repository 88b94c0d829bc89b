"""Loading weights safely: ``.pt`` files without unpickling code, and ``.safetensors``.

A ``.pt`` file is a pickle, and unpickling an untrusted pickle can run arbitrary code. bdlearn
only ever reads one with ``torch.load(..., weights_only=True)``, which accepts tensors and plain
containers and refuses anything else. ``.safetensors`` files hold raw tensors and no code at all.
"""
from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from bdlearn.checks import shown
from bdlearn.diffusion import UNet, UNetConfig
from bdlearn.errors import CheckpointError, first_words


def _show(keys: list[str], limit: int = 5) -> str:
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict of tensors from ``.safetensors`` or ``.pt``/``.pth``, on the CPU.

    Raises :class:`CheckpointError` for a missing file, a file that is not a checkpoint (whatever
    its bytes: the readers' own errors, such as an ``IndexError`` from a file of random bytes,
    become a ``CheckpointError`` naming the file), a pickle that carries code (refused by
    ``weights_only=True``), or one that is not a mapping of names to tensors.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the weights file in it (.safetensors)")
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    if path.suffix == ".json":
        raise CheckpointError(f"{path} is a weight card (JSON), not weights; give the weights beside it, "
                              f"{path.with_suffix('.safetensors')}")
    if path.suffix == ".safetensors":
        try:
            state = load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from err
        except Exception as err:  # a damaged file can fail in any way
            raise CheckpointError(f"{path} is not a readable safetensors file: {type(err).__name__}: {err}") from err
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
            raise CheckpointError(
                f"{path} could not be read as a weights-only PyTorch checkpoint (bdlearn never unpickles code): "
                f"{first_words(err)}; is it a .safetensors file named otherwise, or not weights?") from err
        except Exception as err:  # random bytes give IndexError, KeyError, ...
            raise CheckpointError(
                f"{path} is not a PyTorch checkpoint (reading it failed with {type(err).__name__}: {err}); "
                "is it the right file, downloaded completely?") from err
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    not_tensors = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path} is not a state dict of tensors; "
                              f"offending entries: {_show(list(map(str, not_tensors)))}")
    return dict(state)


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` naming the first missing, unexpected or mis-shaped keys, the
    tensors that are not floating point where the model's are (integer weights), and those that
    hold NaN or infinite values (an edit with them would come out NaN: black pixels)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    wrong_dtype = [f"{k} ({state[k].dtype})" for k, v in expected.items()
                   if k in state and v.is_floating_point() and not state[k].is_floating_point()]
    not_finite = [k for k, v in expected.items() if k in state and state[k].is_floating_point()
                  and not bool(torch.isfinite(state[k]).all())]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_show(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_show(unexpected)}")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} keys with the wrong shape (file != model): {_show(wrong_shape)}")
    if problems:
        raise CheckpointError(f"{source} does not fit the model: " + "; ".join(problems))
    if wrong_dtype:
        problems.append(f"{len(wrong_dtype)} tensors are not floating point: {_show(wrong_dtype)}")
    if not_finite:
        problems.append(f"{len(not_finite)} tensors hold NaN or infinite values: {_show(not_finite)}")
    if problems:
        raise CheckpointError(f"{source} holds weights the model cannot use: " + "; ".join(problems)
                              + "; is it the right file, saved from a healthy training run?")


def load_unet(path: str | Path, config: UNetConfig, device: str | torch.device = "cpu") -> UNet:
    """Build the ADM :class:`~bdlearn.diffusion.unet.UNet` for ``config`` and load ``path`` into it strictly.

    Weights stored in float16 are cast to the model's float32 parameters; with
    ``config.use_fp16`` the torso is then cast to float16 as the reference does. ``config`` is a
    :class:`~bdlearn.diffusion.unet.UNetConfig` (a TypeError otherwise).
    """
    if not isinstance(config, UNetConfig):
        hint = " (UNetConfig(**config) makes one of a dict)" if isinstance(config, Mapping) else ""
        raise TypeError(f"config must be a UNetConfig, got {shown(config)}{hint}")
    state = read_state_dict(path)
    with torch.device("meta"):  # no memory for random weights: the file's tensors are used directly
        model = UNet(replace(config, use_fp16=False))
    check_state_dict(model, state, source=str(path))
    # float16-stored weights become float32 parameters (a float32 file is used as is, without a copy)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    if config.use_fp16:
        model.convert_to_fp16()
    return model.to(device).eval()


def weight_card(path: str | Path) -> dict:
    """The JSON card beside a weights file (configuration, training cost, metrics); for a symbolic link to the
    weights, beside the link or else beside the file it points to.

    Raises :class:`CheckpointError` where there is none: the card records the architecture and the
    training behind the weights, which growing and further training need.
    """
    card_path = Path(path).with_suffix(".json")
    if not card_path.is_file() and Path(path).is_symlink():  # a link to weights: the card is beside the target
        card_path = Path(path).resolve().with_suffix(".json")
    if not card_path.is_file():
        raise CheckpointError(f"{path} has no card beside it ({card_path.name}): it records the UNet architecture "
                              "and the training behind the weights")
    try:
        card = json.loads(card_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"the card {card_path} is not valid JSON ({err}); write it again (bdlearn train or "
                              "bdlearn grow writes it beside the weights)") from None
    if not isinstance(card, dict):
        raise CheckpointError(f"the card {card_path} holds {type(card).__name__}, not a JSON object")
    return card
