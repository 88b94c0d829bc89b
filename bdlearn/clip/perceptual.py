"""LPIPS, the perceptual distance of the Local CLIP-guided diffusion baseline's background loss.

LPIPS (Zhang et al. 2018) compares deep features of two images. The ``lpips`` package ships only
its small linear heads; the VGG backbone comes from torchvision's ImageNet weights, which are
downloaded on first use (Colab does this in seconds). Where they cannot be had (offline, as on
bdlearn's CI machines), :func:`load_lpips` falls back *visibly*: it warns, and the reason it
returns is recorded in every edit result and benchmark report. The background loss then uses
MSE alone.
"""
from __future__ import annotations

import functools
import warnings

from torch import nn


class LPIPSUnavailableWarning(UserWarning):
    """LPIPS's ImageNet backbone could not be loaded; the background loss falls back to MSE only."""


@functools.lru_cache(maxsize=1)
def load_lpips(net: str = "vgg") -> tuple[nn.Module | None, str]:
    """The LPIPS module (inputs in [−1, 1]) and a description of what is used.

    Returns ``(module, "lpips-vgg")`` when the backbone loads, else ``(None, reason)`` after a
    :class:`LPIPSUnavailableWarning`. The module's parameters are frozen.
    """
    try:
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation notes
            module = lpips.LPIPS(net=net, verbose=False)
    except (OSError, RuntimeError, ValueError) as err:
        reason = (f"LPIPS unavailable ({type(err).__name__}: {str(err)[:120]}): torchvision's ImageNet "
                  f"{net} weights could not be loaded, so the background loss is ½·MSE without the LPIPS term")
        warnings.warn(reason, LPIPSUnavailableWarning, stacklevel=2)
        return None, reason
    module.eval().requires_grad_(False)
    return module, f"lpips-{net}"
