"""The real world, proved offline: architectures on the meta device, safe loading, clear errors."""
from __future__ import annotations

import errno
import json
import socket

import huggingface_hub.constants
import open_clip.constants as open_clip_constants
import pytest
import torch
from open_clip.transformer import QuickGELU

from bdlearn.diffusion.unet import count_parameters
from bdlearn.worlds import real
from bdlearn.worlds.checkpoint import CheckpointError
from bdlearn.worlds.download import DownloadError
from bdlearn.worlds.load import load_world
from bdlearn.worlds.real import REAL_DEFAULTS


def test_real_unet_on_meta_matches_the_reference_layout(reference_dir):
    layout = json.loads((reference_dir / "adm256_uncond_state_dict_layout.json").read_text())
    unet = real.build_real_unet("meta", use_fp16=True)
    state = unet.state_dict()
    assert [(k, list(v.shape)) for k, v in state.items()] == [(k, shape) for k, shape, _ in layout["state_dict"]]
    half = {k for k, v in state.items() if v.dtype == torch.float16}
    assert half == set(layout["fp16_after_convert_to_fp16"])
    assert all(v.dtype == torch.float32 for k, v in state.items() if k not in half)
    assert count_parameters(unet) == layout["total_parameters"] == 552_814_086
    assert all(p.is_meta for p in unet.parameters())


def test_real_clip_on_meta_is_openai_vit_b16():
    bundle = real.build_real_clip("meta")
    model = bundle.model
    assert all(p.is_meta for p in model.parameters())
    assert count_parameters(model) == 149_620_737
    assert bundle.image_size == (224, 224) and bundle.context_length == 77
    assert bundle.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert model.visual.proj.shape == (768, 512) and model.text_projection.shape == (512, 512)
    assert any(isinstance(m, QuickGELU) for m in model.modules()), "OpenAI's weights need QuickGELU"


def test_the_unet_loader_refuses_a_pickle_carrying_code(evil_checkpoint):
    path, marker = evil_checkpoint
    with pytest.raises(CheckpointError, match="never unpickles code"):
        real.load_real_unet(path, device="cpu")
    assert not marker.exists()


def test_the_clip_loader_refuses_a_pickle_carrying_code(evil_checkpoint):
    path, marker = evil_checkpoint
    with pytest.raises(CheckpointError, match="never unpickles code"):
        real.load_real_clip(device="meta", weights=path)
    assert not marker.exists()


def test_load_real_clip_offline_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv(real.CLIP_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    tried = []

    def no_network(self, address):  # offline, a connection must not even be tried (retries would take minutes)
        tried.append(address)
        raise OSError("this test has no network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(CheckpointError, match=r"(?s)not available.*open_clip_model\.safetensors.*BDLEARN_CLIP_WEIGHTS"):
        real.load_real_clip(device="meta")
    assert tried == [], f"connections were tried offline: {tried}"


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOTDIR])
def test_a_hugging_face_cache_that_cannot_be_written_names_hf_home(monkeypatch, code):
    """HOME read-only (or a file): open_clip cannot make its cache folder; the error says where to point it."""
    monkeypatch.delenv(real.CLIP_WEIGHTS_ENV, raising=False)

    def unwritable(*args, **kwargs):
        raise OSError(code, "cannot write", "/home/student/.cache/huggingface/hub")

    monkeypatch.setattr(real.open_clip, "create_model", unwritable)
    with pytest.raises(CheckpointError, match=r"the folder /home/student/\.cache/huggingface/hub cannot be written"
                                              r".*point HF_HOME at a folder you can write"):
        real.load_real_clip(device="meta")


def test_the_clip_error_names_the_files_open_clip_fetches():
    from open_clip.pretrained import _get_safe_alternatives, get_pretrained_cfg

    repo = get_pretrained_cfg("ViT-B-16", "openai")["hf_hub"].rstrip("/")
    default = open_clip_constants.HF_WEIGHTS_NAME  # what open_clip asks for when the entry names no file
    asked = [*_get_safe_alternatives(default), default]
    assert (real.CLIP_HUB_REPO, list(real.CLIP_HUB_FILES)) == (repo, asked)
    message = str(real._clip_unavailable(OSError("offline")))
    assert f"download {asked[0]} from https://huggingface.co/{repo} and pass its path" in message


def test_load_real_clip_names_a_missing_weights_file(monkeypatch, tmp_path):
    monkeypatch.setenv(real.CLIP_WEIGHTS_ENV, str(tmp_path / "absent.safetensors"))
    with pytest.raises(CheckpointError, match="no file at .*absent.safetensors"):
        real.load_real_clip(device="meta")


def test_load_real_unet_downloads_the_published_file_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("BDLEARN_CACHE", str(tmp_path))
    calls = []

    def offline_download(url, dest, **kwargs):
        calls.append((url, dest, kwargs))
        raise DownloadError("offline")

    monkeypatch.setattr(real, "download", offline_download)
    with pytest.raises(DownloadError):
        real.load_real_unet(device="cpu")
    [(url, dest, kwargs)] = calls
    assert url == "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt"
    assert dest == tmp_path / "256x256_diffusion_uncond.pt"
    assert kwargs["size"] == real.REAL_UNET_SIZE and len(kwargs["sha256"]) == 64
    assert list(kwargs["mirrors"]) == list(real.REAL_UNET_MIRRORS)


def test_load_world_real_assembles_the_real_models(monkeypatch):
    monkeypatch.setattr(real, "load_real_unet", lambda device: real.build_real_unet("meta"))
    monkeypatch.setattr(real, "load_real_clip", lambda device: real.build_real_clip("meta"))
    world = load_world("real", device="cpu")
    assert (world.name, world.image_size, world.defaults) == ("real", 256, REAL_DEFAULTS)
    schedule = world.schedule("100")
    assert len(schedule.timestep_map) == 100 and int(schedule.timestep_map[-1]) == 999


@pytest.mark.parametrize("has_gpu, chosen", [(True, "cuda"), (False, "cpu")])
def test_the_real_world_goes_to_a_gpu_when_there_is_one(monkeypatch, has_gpu, chosen):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_gpu)
    asked = []
    monkeypatch.setattr(real, "load_real_unet", lambda device: asked.append(("unet", device)))
    monkeypatch.setattr(real, "load_real_clip", lambda device: asked.append(("clip", device)))
    assert real.default_device() == torch.device(chosen)
    load_world("real")  # no device given: the world's own choice
    assert asked == [("unet", torch.device(chosen)), ("clip", torch.device(chosen))]


def test_half_precision_clip_runs_and_agrees_with_float32():
    """CLIP in float16 (open_clip's "fp16": layer norms in float32), the GPU default, on the CPU."""
    torch.manual_seed(0)
    full, half = real.build_real_clip("cpu"), real.build_real_clip("cpu", half=True)
    half.model.load_state_dict(full.model.state_dict())  # the same weights, rounded to float16
    for bundle in (full, half):
        bundle.model.requires_grad_(False)
    assert (half.dtype, half.model.visual.ln_pre.weight.dtype, full.dtype) == (torch.float16, torch.float32,
                                                                                 torch.float32)
    images = (torch.rand(1, 3, 256, 256) * 2 - 1).requires_grad_(True)
    embedding = half.encode_image(images)
    assert embedding.dtype == torch.float32
    assert float((embedding.detach() * full.encode_image(images.detach())).sum()) > 0.999
    assert float((half.encode_text(["a cat"]) * full.encode_text(["a cat"])).sum()) > 0.999
    # The gradient through the float16 tower: float16 backward is slow on a CPU (about 20 s through all 12 blocks),
    # and one block takes the same path (float32 in, float16 blocks, float32 layer norms and out).
    visual = half.model.visual.transformer
    visual.resblocks = visual.resblocks[:1]
    embedding = half.encode_image(images)
    grad = torch.autograd.grad(embedding.sum(), images)[0]
    assert grad.dtype == torch.float32 and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_load_real_clip_is_half_precision_on_a_gpu_only(monkeypatch):
    asked = []

    def create_model(*args, precision: str, **kwargs):
        asked.append(precision)
        raise RuntimeError("stop here: only the precision asked for matters")

    monkeypatch.setattr(real.open_clip, "create_model", create_model)
    for device, half in (("cpu", None), ("cuda", None), ("cpu", True), ("cuda", False)):
        with pytest.raises(CheckpointError):
            real.load_real_clip(device=device, half=half)
    assert asked == ["fp32", "fp16", "fp16", "fp32"]
