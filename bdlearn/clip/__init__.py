"""CLIP (Radford et al. 2021) as the editing method uses it, and the perceptual metric.

:class:`ClipBundle` holds an open_clip model with its tokenizer and preprocessing and embeds images
and prompts; :func:`spherical_distance` is the guidance loss of Blended Diffusion (eq. 4). LPIPS
(Zhang et al. 2018), the background loss of the Local CLIP-guided baseline, is in :mod:`.perceptual`.
"""
from bdlearn.clip.bundle import ClipBundle, cosine_distance, spherical_distance
from bdlearn.clip.perceptual import LPIPSUnavailableWarning, load_lpips

__all__ = [
    "ClipBundle",
    "LPIPSUnavailableWarning",
    "cosine_distance",
    "load_lpips",
    "spherical_distance",
]
