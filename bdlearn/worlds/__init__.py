"""The two model worlds behind one interface: a diffusion UNet, a CLIP and the settings that suit them.

:class:`ModelWorld` is the interface (:mod:`.world`); :func:`load_world` loads ``"toy"`` (the small
models bdlearn trained, shipped inside the package: :mod:`.toy`, :mod:`.toy_clip`) or ``"real"``
(guided-diffusion's 256x256 DDPM and OpenCLIP ViT-B/16: :mod:`.real`). Beside them: reading
weights safely (:mod:`.checkpoint`), downloads (:mod:`.download`), the files shipped in the package
(:mod:`.package_data`) and the demonstration photos (:mod:`.photos`).
"""
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, weight_card
from bdlearn.worlds.download import DownloadError
from bdlearn.worlds.load import load_world
from bdlearn.worlds.photos import list_photos, load_photo
from bdlearn.worlds.real import load_real_world
from bdlearn.worlds.toy import load_toy_world
from bdlearn.worlds.world import ModelWorld

__all__ = [
    "CheckpointError",
    "DownloadError",
    "ModelWorld",
    "list_photos",
    "load_photo",
    "load_real_world",
    "load_toy_world",
    "load_unet",
    "load_world",
    "weight_card",
]
