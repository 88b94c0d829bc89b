"""LPIPS, the perceptual distance of the Local CLIP-guided diffusion baseline's background loss.

LPIPS (Zhang et al. 2018) compares deep features of two images. The ``lpips`` package ships only
its small linear heads; the VGG backbone comes from torchvision's ImageNet weights, which are
downloaded on first use (Colab does this in seconds). Where they cannot be had (offline, as on
bdlearn's CI machines), :func:`load_lpips` falls back *visibly*: it warns, and the reason it
returns is recorded in every edit result and benchmark report. The background loss then uses
MSE alone. With ``HF_HUB_OFFLINE`` set (the switch open_clip's downloads obey, and the one
bdlearn's tests set) and the weights not in torch's cache, no download is tried at all: on a
machine whose network silently drops connections a try can hang for minutes.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn

from bdlearn.checks import checked_choice
from bdlearn.errors import first_words
from bdlearn.offline import downloads_are_off

#: torchvision's ImageNet weights behind each LPIPS backbone (the ones ``lpips`` asks torchvision for).
_BACKBONE_WEIGHTS = {"vgg": "VGG16_Weights", "alex": "AlexNet_Weights", "squeeze": "SqueezeNet1_1_Weights"}


class LPIPSUnavailableWarning(UserWarning):
    """LPIPS's ImageNet backbone could not be loaded; the background loss falls back to MSE only."""


@functools.lru_cache(maxsize=1)
def load_lpips(net: str = "vgg") -> tuple[nn.Module | None, str]:
    """The LPIPS module (inputs in [−1, 1]) and a description of what is used.

    ``net`` is the backbone whose features LPIPS compares: ``"vgg"`` (the default), ``"alex"`` or ``"squeeze"``.
    Returns ``(module, "lpips-vgg")`` when the backbone loads, else ``(None, reason)`` after a
    :class:`LPIPSUnavailableWarning`. The module's parameters are frozen. The answer is kept for
    the process (``HF_HUB_OFFLINE`` is read on the first call).
    """
    checked_choice("net", net, tuple(_BACKBONE_WEIGHTS))
    missing = _uncached_offline_weights(net)
    if missing is not None:
        reason = (f"LPIPS unavailable (offline: HF_HUB_OFFLINE is set and torchvision's {missing} is not in torch's "
                  f"cache): the background loss is ½·MSE without the LPIPS term")
        warnings.warn(reason, LPIPSUnavailableWarning, stacklevel=2)
        return None, reason
    try:
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation notes
            module = lpips.LPIPS(net=net, verbose=False)
    except (OSError, RuntimeError, ValueError) as err:
        reason = (f"LPIPS unavailable ({type(err).__name__}: {first_words(err)}): torchvision's ImageNet "
                  f"{net} weights could not be loaded, so the background loss is ½·MSE without the LPIPS term")
        warnings.warn(reason, LPIPSUnavailableWarning, stacklevel=2)
        return None, reason
    module.eval().requires_grad_(False)
    return module, f"lpips-{net}"


def _uncached_offline_weights(net: str) -> str | None:
    """The file name of the backbone's weights when downloads are off and torch's cache lacks it; else None."""
    if not downloads_are_off():
        return None
    import torchvision.models

    file_name = getattr(torchvision.models, _BACKBONE_WEIGHTS[net]).IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    return None if (Path(torch.hub.get_dir()) / "checkpoints" / file_name).is_file() else file_name
