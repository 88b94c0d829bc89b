"""The two model worlds behind one interface: a diffusion UNet, a CLIP and the settings that suit them.

:class:`ModelWorld` is the interface (:mod:`.world`); :func:`load_world` loads ``"toy"`` (the small
models bdlearn trained, shipped inside the package: :mod:`.toy`, :mod:`.toy_clip`) or ``"real"``
(guided-diffusion's 256x256 DDPM and OpenCLIP ViT-B/16: :mod:`.real`). Beside them: reading
weights safely (:mod:`.checkpoint`), downloads (:mod:`.download`), the files shipped in the package
(:mod:`.package_data`) and the demonstration photos (:mod:`.photos`).
"""
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, read_state_dict, weight_card
from bdlearn.worlds.download import DownloadError, default_cache_dir, download
from bdlearn.worlds.load import WORLDS, load_world
from bdlearn.worlds.package_data import PackageDataError
from bdlearn.worlds.photos import Photo, PhotoEdit, list_photos, load_photo
from bdlearn.worlds.real import (
    CLIP_HUB_FILES,
    CLIP_HUB_REPO,
    CLIP_WEIGHTS_ENV,
    REAL_DEFAULTS,
    REAL_IMAGE_SIZE,
    REAL_UNET_URL,
    build_real_clip,
    build_real_unet,
    load_real_clip,
    load_real_unet,
    load_real_world,
    real_unet_path,
)
from bdlearn.worlds.toy import (
    TOY_DDPM_WEIGHTS,
    TOY_DEFAULTS,
    TOY_DIFFUSION,
    TOY_IMAGE_SIZE,
    TOY_UNET_CONFIG,
    load_toy_world,
    toy_unet_config,
)
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS, build_toy_clip, load_toy_clip
from bdlearn.worlds.world import EditDefaults, ModelWorld

__all__ = [
    "CLIP_HUB_FILES",
    "CLIP_HUB_REPO",
    "CLIP_WEIGHTS_ENV",
    "CheckpointError",
    "DownloadError",
    "EditDefaults",
    "ModelWorld",
    "PackageDataError",
    "Photo",
    "PhotoEdit",
    "REAL_DEFAULTS",
    "REAL_IMAGE_SIZE",
    "REAL_UNET_URL",
    "TOY_CLIP_WEIGHTS",
    "TOY_DDPM_WEIGHTS",
    "TOY_DEFAULTS",
    "TOY_DIFFUSION",
    "TOY_IMAGE_SIZE",
    "TOY_UNET_CONFIG",
    "WORLDS",
    "build_real_clip",
    "build_real_unet",
    "build_toy_clip",
    "default_cache_dir",
    "download",
    "list_photos",
    "load_photo",
    "load_real_clip",
    "load_real_unet",
    "load_real_world",
    "load_toy_clip",
    "load_toy_world",
    "load_unet",
    "load_world",
    "read_state_dict",
    "real_unet_path",
    "toy_unet_config",
    "weight_card",
]
