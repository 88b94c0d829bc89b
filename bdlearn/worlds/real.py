"""The real world: guided-diffusion's 256x256 unconditional DDPM and OpenAI's CLIP ViT-B/16.

These are the two pretrained models Blended Diffusion edits with (paper section 5):

* the diffusion model ``256x256_diffusion_uncond.pt`` of Dhariwal & Nichol (2021), an ADM UNet
  of 552,814,086 parameters trained on ImageNet with 1000 linear-schedule steps. bdlearn
  downloads it once (2.2 GB, :mod:`bdlearn.worlds.download`) into :func:`~bdlearn.worlds.download.default_cache_dir`
  and reads it with ``torch.load(weights_only=True)``, which never runs code from the file;
* CLIP ViT-B/16 with OpenAI's weights, built and fetched by open_clip (about 600 MB, kept in the
  Hugging Face cache).

On a GPU the UNet's torso runs in float16, as in guided-diffusion with ``use_fp16``; on a CPU
everything stays float32. :func:`build_real_unet` and :func:`build_real_clip` make the same
architectures with random weights, on the ``meta`` device (no memory at all) for tests or on a
real device for benchmarks.
"""
from __future__ import annotations

import errno
import logging
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import open_clip
import torch

from bdlearn.clip.bundle import ClipBundle
from bdlearn.diffusion import UNet
from bdlearn.diffusion.unet import adm256_uncond_config
from bdlearn.worlds.checkpoint import CheckpointError, load_unet
from bdlearn.worlds.download import CACHE_ENV, DownloadError, default_cache_dir, download, partial_path
from bdlearn.worlds.world import EditDefaults, ModelWorld

REAL_IMAGE_SIZE = 256
#: The diffusion the 256x256 model was trained under: 1000 steps, linear β's.
REAL_DIFFUSION = {"steps": 1000, "schedule": "linear"}

#: The paper's settings (section 5): 100 respaced steps starting at step 75, 16 augmentations,
#: λ_CLIP = 1000, λ_range = 50; but 12 repetitions, not the paper's 64, so that one edit takes
#: about 5 minutes on a 16 GB T4 (900 guided steps of 5.6 TFLOP at an assumed quarter of the card's
#: 65 TFLOP/s float16 peak: ``benchmarks/bench_real_cost.py``). On a GPU the batch comes from its
#: free memory (:func:`bdlearn.machinery.cost.plan_batches`); ``batch_size`` here is the CPU's.
REAL_DEFAULTS = EditDefaults(respacing="100", skip=25, num_augmentations=16, repetitions=12, batch_size=1,
                             clip_weight=1000.0, range_weight=50.0)

REAL_UNET_FILENAME = "256x256_diffusion_uncond.pt"
#: Where guided-diffusion's README publishes the checkpoint.
REAL_UNET_URL = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt"
#: Tried in order when the published address fails. The Hugging Face copy is the one the
#: Blended Diffusion README links to (repository omriav/blended-diffusion). The size and
#: digest checks below reject any copy that is not byte-for-byte the published file.
REAL_UNET_MIRRORS = (
    "https://huggingface.co/omriav/blended-diffusion/resolve/main/checkpoints/256x256_diffusion_uncond.pt",
)
#: Size and SHA-256 of the published file. OpenAI publishes neither; these are the values that
#: independent users of the file record (Disco Diffusion's model table, and reproduction notes
#: that also give its MD5, fd9dd2335b8736d521de0aed54bd90ca); bdlearn has not downloaded the file
#: itself to confirm them. The size fits the contents: 552,814,086 float32 values are 2,211,256,344
#: bytes, plus the pickle's key names and structure.
REAL_UNET_SIZE = 2_211_383_297
REAL_UNET_SHA256 = "a37c32fffd316cd494cf3f35b339936debdc1576dad13fe57c42399a5dbc78b1"

REAL_CLIP_MODEL = "ViT-B-16"
REAL_CLIP_PRETRAINED = "openai"
#: Environment variable naming a local CLIP weights file, used instead of open_clip's download.
CLIP_WEIGHTS_ENV = "BDLEARN_CLIP_WEIGHTS"
#: Where open_clip fetches those weights: the Hugging Face Hub repository of its table of pretrained
#: weights (``open_clip.get_pretrained_cfg("ViT-B-16", "openai")["hf_hub"]``; tests/test_real.py
#: checks the two agree).
CLIP_HUB_REPO = "timm/vit_base_patch16_clip_224.openai"
#: The files open_clip asks that repository for, in its order: the safetensors file first, and the
#: pickled state dict only when the first is absent (``open_clip.pretrained.download_pretrained_from_hf``;
#: tests/test_real.py checks the list against open_clip).
CLIP_HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def default_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """Silence open_clip's log lines (random-init notices, download errors we re-raise ourselves)."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def build_real_unet(device: str | torch.device = "meta", use_fp16: bool = False) -> UNet:
    """The 256x256 ADM UNet with random weights, made directly on ``device``.

    On ``"meta"`` the parameters have shapes and dtypes but no storage, so the 552 M-parameter
    model costs no memory: enough to compare its layout with the checkpoint's.
    """
    with torch.device(device):
        return UNet(adm256_uncond_config(use_fp16=use_fp16))


def real_unet_path(cache_dir: str | Path | None = None) -> Path:
    """Where the downloaded checkpoint lives: ``<cache dir>/256x256_diffusion_uncond.pt``."""
    return Path(cache_dir or default_cache_dir()) / REAL_UNET_FILENAME


def download_real_unet(cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Download the checkpoint into the cache unless it is there; return its path.

    Resumes an interrupted download and checks size and SHA-256 (:func:`bdlearn.worlds.download.download`).
    """
    return download(REAL_UNET_URL, real_unet_path(cache_dir), sha256=REAL_UNET_SHA256, size=REAL_UNET_SIZE,
                    mirrors=REAL_UNET_MIRRORS, progress=progress)


def _real_unet_unavailable(dest: Path, err: DownloadError) -> str:
    """One paragraph: which files the real world needs, where they go, and why the download failed."""
    failures = [line.strip() for line in str(err).splitlines()[1:] if line.strip() and not line.startswith("The ")]
    reason = f"the last of {len(failures)} tries: {failures[-1]}" if failures else str(err)
    kept = partial_path(dest)
    resume = (f" The {kept.stat().st_size:,} bytes received so far are kept in {kept}; running again resumes."
              if kept.exists() and kept.stat().st_size else "")
    return (f"the real world needs guided-diffusion's {REAL_UNET_FILENAME} (2.2 GB) in {dest.parent}, and downloading "
            f"it failed ({reason}).{resume} Run again with network access, or put a copy of the file there "
            f"(set {CACHE_ENV} to use another folder). CLIP ViT-B/16's OpenAI weights (about 600 MB) are needed "
            f"too: open_clip downloads them into the Hugging Face cache, or set {CLIP_WEIGHTS_ENV} to a local "
            f"{CLIP_HUB_FILES[0]} from https://huggingface.co/{CLIP_HUB_REPO}.")


def load_real_unet(path: str | Path | None = None, device: str | torch.device | None = None,
                   use_fp16: bool | None = None, cache_dir: str | Path | None = None,
                   progress: bool = True) -> UNet:
    """guided-diffusion's 256x256 unconditional UNet with its released weights, frozen, in eval mode.

    Args:
        path: a local copy of ``256x256_diffusion_uncond.pt`` (or a ``.safetensors`` of the same
            tensors). None: the cached download, fetched first if missing.
        device: where the model goes; None picks :func:`default_device`.
        use_fp16: run the torso in float16 (the convolutions listed as
            ``fp16_after_convert_to_fp16`` in the reference layout). None: on a GPU yes,
            on a CPU no.

    Raises :class:`~bdlearn.worlds.checkpoint.CheckpointError` for a file that is missing, carries code,
    or does not fit the model, and :class:`~bdlearn.worlds.download.DownloadError` when the download fails
    (saying which files the real world needs and where to put them).
    """
    device = torch.device(device) if device is not None else default_device()
    if use_fp16 is None:
        use_fp16 = device.type == "cuda"
    if path is None:
        try:
            path = download_real_unet(cache_dir, progress)
        except DownloadError as err:
            raise DownloadError(_real_unet_unavailable(real_unet_path(cache_dir), err)) from err
    return load_unet(path, adm256_uncond_config(use_fp16=use_fp16), device=device).requires_grad_(False)


def _clip_precision(half: bool) -> str:
    """open_clip's name for the precision: ``"fp16"`` converts the convolutions, linear layers and
    projections to float16 and keeps the layer norms in float32, as OpenAI's own CLIP does on a GPU."""
    return "fp16" if half else "fp32"


def build_real_clip(device: str | torch.device = "meta", half: bool = False) -> ClipBundle:
    """CLIP ViT-B/16 (OpenAI's architecture, QuickGELU) with random weights, made on ``device``,
    in float16 where ``half`` (see :func:`load_real_clip`)."""
    with _quiet_open_clip(), torch.device(device):  # initialised in place: on "meta", for free
        model = open_clip.create_model(REAL_CLIP_MODEL, pretrained=None, device=device, force_quick_gelu=True,
                                       precision=_clip_precision(half))
    return ClipBundle.from_model(model, open_clip.get_tokenizer(REAL_CLIP_MODEL))


#: The operating system's errors for a folder that cannot be made or written.
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOSPC)


def _clip_unavailable(err: Exception) -> CheckpointError:
    if isinstance(err, OSError) and err.filename and err.errno in _UNWRITABLE:  # e.g. HOME read-only, or a file
        err = (f"the folder {os.fsdecode(err.filename)} cannot be written ({err.strerror}): point HF_HOME at a "
               "folder you can write, or give the weights as below")
    return CheckpointError(
        f"The OpenAI weights of CLIP ViT-B/16 (open_clip {REAL_CLIP_MODEL!r}, pretrained="
        f"{REAL_CLIP_PRETRAINED!r}, about 600 MB) are not available: {err}\n"
        f"open_clip fetches them ({CLIP_HUB_FILES[0]}, or else {CLIP_HUB_FILES[1]}) from the Hugging Face Hub "
        f"({CLIP_HUB_REPO}) into the Hugging Face "
        "cache ($HF_HUB_CACHE, by default ~/.cache/huggingface/hub), which needs network access "
        "and HF_HUB_OFFLINE unset. To work offline, either\n"
        "  * run once with network access, or copy a Hugging Face cache that holds them, or\n"
        f"  * download {CLIP_HUB_FILES[0]} from https://huggingface.co/{CLIP_HUB_REPO} and "
        f"pass its path: load_real_clip(weights=PATH), or set {CLIP_WEIGHTS_ENV}=PATH.\n"
        "(OpenAI's own ViT-B-16.pt is a TorchScript archive, which cannot be read without running "
        "its code; use the safetensors file.)")


def load_real_clip(device: str | torch.device | None = None, weights: str | Path | None = None,
                   half: bool | None = None) -> ClipBundle:
    """CLIP ViT-B/16 with OpenAI's weights, frozen, in eval mode.

    ``half``: run CLIP in float16 (layer norms in float32), as the official code does on a GPU; it
    halves the activations kept for the guidance gradient. None: on a GPU yes, on a CPU no.

    The weights come from ``weights`` (a local file in open_clip's format, ideally
    ``open_clip_model.safetensors``), else from the file named by ``$BDLEARN_CLIP_WEIGHTS``,
    else through open_clip's own download and cache. Files are read weights-only.

    Raises :class:`~bdlearn.worlds.checkpoint.CheckpointError` saying what is missing and where to put
    it when the weights cannot be had (offline, say), or why a given file was refused.
    """
    device = torch.device(device) if device is not None else default_device()
    if half is None:
        half = device.type == "cuda"
    weights = weights or os.environ.get(CLIP_WEIGHTS_ENV) or None
    if weights is not None and not Path(weights).is_file():
        raise _clip_unavailable(FileNotFoundError(f"no file at {weights}"))
    try:
        with _quiet_open_clip(), torch.device(device):
            model = open_clip.create_model(REAL_CLIP_MODEL, pretrained=str(weights or REAL_CLIP_PRETRAINED),
                                           device=device, force_quick_gelu=True, precision=_clip_precision(half))
    except (RuntimeError, OSError, ValueError, pickle.UnpicklingError) as err:
        if weights is None:
            raise _clip_unavailable(err) from err
        raise CheckpointError(f"{weights} could not be loaded as CLIP ViT-B/16 weights (bdlearn reads "
                              f"weights-only and never unpickles code): {err}") from err
    model.eval().requires_grad_(False)
    return ClipBundle.from_model(model, open_clip.get_tokenizer(REAL_CLIP_MODEL))


def load_real_world(device: str | torch.device | None = None) -> ModelWorld:
    """The real 256x256 DDPM and CLIP ViT-B/16 on ``device`` (None: a GPU if there is one), with the
    paper's edit settings. Downloads the diffusion model the first time (2.2 GB)."""
    device = torch.device(device) if device is not None else default_device()
    unet = load_real_unet(device=device)
    clip = load_real_clip(device=device)
    return ModelWorld("real", unet, clip, REAL_IMAGE_SIZE, dict(REAL_DIFFUSION), REAL_DEFAULTS, autocast=False)
