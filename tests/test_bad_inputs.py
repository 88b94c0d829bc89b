"""Every bad input a clear error, nothing silently wrong (issue 26, section 2): one test per case.

Grouped as the user meets them: the Python API (:func:`bdlearn.edit`), reading images and masks,
weights files, and the ``bdlearn`` command (one ``bdlearn: error:`` line, exit status 2).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from bdlearn import pipeline
from bdlearn.cli import main
from bdlearn.diffusion.unet import UNet
from bdlearn.machinery.inputs import InputError, read_image, read_mask
from bdlearn.pipeline import edit
from bdlearn.scenes.render import CAPTION_WORDS
from bdlearn.scenes.tasks import make_edit_task
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, read_state_dict
from bdlearn.worlds.download import DownloadError, download
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS, TOY_DIFFUSION, load_toy_world
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS
from bdlearn.worlds.world import ModelWorld
from tests.helpers import TINY_UNET

FAST = {"respacing": "10", "skip": 7, "repetitions": 1, "num_augmentations": 0, "progress": False}


def _case(size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), dtype=bool)
    mask[8:20, 10:22] = True
    return image, mask


@pytest.fixture
def no_loading(monkeypatch):
    """A world given by name must not be loaded: every check comes first."""
    def refuse(name, *args, **kwargs):
        raise AssertionError(f"the {name!r} world was loaded before the inputs were checked")

    monkeypatch.setattr(pipeline, "shared_world", refuse)


# ------------------------------------------------------------------------------------------------
# The Python API: settings are checked, before any work and before a named world is loaded
# ------------------------------------------------------------------------------------------------

def test_respacing_as_an_int_means_the_same_string(world):
    image, mask = _case()
    as_int = edit(image, mask, "a red circle", world, **{**FAST, "respacing": 10})
    as_str = edit(image, mask, "a red circle", world, **FAST)
    assert torch.equal(as_int.images, as_str.images) and as_int.settings.respacing == "10"


@pytest.mark.parametrize("name, value, message", [
    ("repetitions", 2.5, "repetitions must be an integer"),
    ("repetitions", 0, r"repetitions must be in \[1, 1024\]"),
    ("num_augmentations", -1, r"num_augmentations must be in \[0, 256\]"),
    ("skip", 3.0, "skip must be an integer"),
])
def test_integer_settings_are_ints_in_range(no_loading, name, value, message):
    image, mask = _case()
    with pytest.raises(InputError, match=message):
        edit(image, mask, "a red circle", "real", **{**FAST, name: value})


@pytest.mark.parametrize("seed, message", [
    (1.5, "seed must be an integer"), (True, "seed must be an integer"), (-1, r"in \[0, 4294967295\]"),
    (2**32, r"in \[0, 4294967295\]"), (2**64, r"in \[0, 4294967295\]"),
])
def test_seeds_outside_the_documented_range_are_refused(no_loading, seed, message):
    image, mask = _case()  # 2**32 would repeat seed 0: the CPU generator keeps 32 bits of a seed
    with pytest.raises(InputError, match=message):
        edit(image, mask, "a red circle", "real", **FAST, seed=seed)


def test_the_largest_seed_and_numpy_integers_work(world):
    image, mask = _case()
    result = edit(image, mask, "a red circle", world, **FAST, seed=np.int64(2**32 - 1))
    assert result.settings.seed == 2**32 - 1 and type(result.settings.seed) is int


def test_batch_size_zero_is_refused_not_read_as_the_default(no_loading):
    image, mask = _case()
    with pytest.raises(InputError, match="batch_size must be at least 1, got 0"):
        edit(image, mask, "a red circle", "toy", **FAST, batch_size=0)


@pytest.mark.parametrize("skip", [-1, 10])
def test_skip_out_of_range_names_the_steps(no_loading, skip):
    image, mask = _case()
    with pytest.raises(InputError, match=r"skip must be in \[0, 9\].*respacing '10' has 10 steps"):
        edit(image, mask, "a red circle", "toy", **{**FAST, "skip": skip})


def test_fewer_steps_than_the_default_skip_names_the_default(no_loading):
    image, mask = _case()
    with pytest.raises(InputError, match=r"default skip is 15 .*pass a skip in \[0, 9\] \(--skip"):
        edit(image, mask, "a red circle", "toy", respacing="10")


@pytest.mark.parametrize("name", ["clip_weight", "range_weight", "background_weight", "eta"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_settings_are_refused(no_loading, name, value):
    image, mask = _case()
    extra = {"method": "local"} if name == "background_weight" else {"sampler": "ddim"} if name == "eta" else {}
    with pytest.raises(InputError, match=f"{name} must be a finite number"):
        edit(image, mask, "a red circle", "real", **FAST, **extra, **{name: value})


def test_eta_beyond_one_and_eta_without_ddim_are_refused(no_loading):
    image, mask = _case()  # η = 5 made DDIM's σ larger than the step allows: NaN edits
    with pytest.raises(InputError, match=r"eta must be in \[0, 1\], got 5"):
        edit(image, mask, "a red circle", "toy", **FAST, sampler="ddim", eta=5.0)
    with pytest.raises(InputError, match="belongs to the DDIM sampler"):
        edit(image, mask, "a red circle", "toy", **FAST, eta=0.5)


@pytest.mark.parametrize("name, value", [("invert_mask", "no"), ("window", "photo"), ("method", None),
                                         ("respacing", 2.5), ("respacing", "0"), ("clip_weight", -1.0)])
def test_other_bad_settings_name_themselves(no_loading, name, value):
    image, mask = _case()
    with pytest.raises(InputError, match=name):
        edit(image, mask, "a red circle", "toy", **{**FAST, name: value})


@pytest.mark.parametrize("world_name, message", [("imaginary", "unknown world"), (3, "world must be")])
def test_unknown_worlds_are_refused(no_loading, world_name, message):
    image, mask = _case()
    with pytest.raises(InputError, match=message):
        edit(image, mask, "a red circle", world_name, **FAST)


def test_bad_image_mask_and_prompt_are_found_before_loading_a_world(no_loading):
    image, mask = _case()
    with pytest.raises(InputError, match="selects nothing"):
        edit(image, np.zeros_like(mask), "a red circle", "real")
    with pytest.raises(InputError, match="empty"):
        edit(image, mask, "  ", "real")
    for punctuation in (".", " !!! ", "-- ?", "." * 30):
        with pytest.raises(InputError, match=r"the prompt '[-.!? ]{1,20}…?' has no words, only punctuation"):
            edit(image, mask, punctuation, "real")
    with pytest.raises(InputError, match=r"\(x \+ 1\) / 2"):
        edit(image / 127.5 - 1, mask, "a red circle", "real")


def test_a_nan_edit_is_an_error_not_black_pixels(world):
    unet = copy.deepcopy(world.unet)
    next(unet.parameters()).fill_(float("nan"))  # broken weights: every prediction is NaN
    broken = ModelWorld("broken", unet, world.clip, 32, dict(TOY_DIFFUSION), world.defaults)
    image, mask = _case()
    with pytest.raises(InputError, match="NaN or infinite"):
        edit(image, mask, "a red circle", broken, **FAST)


# ------------------------------------------------------------------------------------------------
# Reading images and masks
# ------------------------------------------------------------------------------------------------

def test_a_16_bit_greyscale_png_is_read_at_its_own_scale(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16)).save(path)  # 32896 / 65535 = 128 / 255
    assert Image.open(path).mode in ("I;16", "I")
    assert np.all(read_image(path) == 128)  # was 255: pure white
    assert np.all(read_image(np.full((8, 8), 32896, dtype=np.uint16)) == 128)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "LA", "La", "PA", "CMYK",
                                  "YCbCr", "LAB", "HSV", "I;16", "I;16B", "I", "F"])
def test_every_pil_mode_is_read_at_its_own_scale_or_refused_by_name(mode):
    grey = Image.new("RGB", (6, 6), (200, 200, 200))
    if mode in ("I;16", "I;16B", "I"):
        dtype = {"I;16": "<u2", "I;16B": ">u2", "I": np.int32}[mode]
        picture = Image.fromarray(np.full((6, 6), 200 * 257, dtype=dtype))
    elif mode == "F":
        picture = Image.fromarray(np.full((6, 6), 200 / 255, dtype=np.float32))
    else:
        picture = grey.convert(mode)
    assert picture.mode == mode
    expected = np.asarray(picture.convert("RGB")) if mode in ("1", "P", "PA") else np.full((6, 6, 3), 200)  # quantised
    difference = np.abs(read_image(picture).astype(int) - expected)
    assert difference.max() <= (1 if mode in ("LAB", "HSV", "YCbCr") else 0)  # colour spaces round


def test_modes_out_of_their_scale_are_refused_by_name():
    with pytest.raises(InputError, match="mode 'I'"):
        read_image(Image.fromarray(np.full((4, 4), 70000, dtype=np.int32)))
    with pytest.raises(InputError, match="mode 'F'.*divide 8-bit values by 255"):
        read_image(Image.new("RGB", (4, 4), (128, 128, 128)).convert("F"))


def test_a_0_1_mask_is_a_binary_mask_in_every_format(tmp_path):
    _, expected = _case()
    ones = expected.astype(np.uint8)
    png, png16 = tmp_path / "mask01.png", tmp_path / "mask01_16.png"
    Image.fromarray(ones).save(png)
    Image.fromarray(ones.astype(np.uint16)).save(png16)
    for form in (png, png16, ones, ones.astype(np.int64), Image.fromarray(ones).convert("RGB")):
        assert np.array_equal(read_mask(form, (32, 32)), expected)
        assert np.array_equal(read_mask(form, (32, 32), invert=True), ~expected)  # not the whole image


def test_an_alpha_only_mask_uses_its_alpha():
    _, expected = _case()
    alpha = expected.astype(np.uint8) * 255
    for colour in ((0, 0, 0), (255, 255, 255)):
        rgba = np.dstack([np.broadcast_to(np.uint8(colour), (32, 32, 3)), alpha])
        assert np.array_equal(read_mask(Image.fromarray(rgba, "RGBA"), (32, 32)), expected)
        assert np.array_equal(read_mask(rgba, (32, 32)), expected)
    la = np.dstack([np.zeros((32, 32), np.uint8), alpha])
    assert np.array_equal(read_mask(Image.fromarray(la, "LA"), (32, 32)), expected)
    # where the colour varies, the colour is the mask and alpha is ignored
    painted = np.dstack([np.repeat(alpha[..., None], 3, axis=-1), np.full((32, 32), 255, np.uint8)])
    assert np.array_equal(read_mask(Image.fromarray(painted, "RGBA"), (32, 32)), expected)


def test_exif_orientation_is_applied_to_images_and_masks(tmp_path):
    image, mask = np.zeros((10, 20, 3), dtype=np.uint8), np.zeros((10, 20), dtype=np.uint8)
    image[0, 0], mask[0, :5] = 255, 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(image).save(tmp_path / "image.png", exif=exif)
    Image.fromarray(mask).save(tmp_path / "mask.png", exif=exif)
    upright = read_image(tmp_path / "image.png")
    assert upright.shape == (20, 10, 3) and np.all(upright[0, -1] == 255)
    assert np.array_equal(upright, read_image(Image.open(tmp_path / "image.png")))
    upright_mask = read_mask(tmp_path / "mask.png", (20, 10))
    assert upright_mask[:5, -1].all() and upright_mask.sum() == 5


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height greyscale pixels (its pixel data is never reached)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(20000, 20000))
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InputError, match=r"400 megapixels.*50 megapixels"):
        read_image(bomb)
    with pytest.raises(InputError, match="400 megapixels"):
        read_mask(bomb, (20000, 20000))
    assert Image.MAX_IMAGE_PIXELS == limit  # PIL's own setting is left alone


def test_an_image_over_the_limit_but_under_pils_is_refused_by_size(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(_png_header(9000, 6000))  # 54 megapixels: under PIL's limit, over bdlearn's
    with pytest.raises(InputError, match=r"9000x6000 pixels \(54 megapixels\).*50 megapixels"):
        read_image(big)


def test_arrays_over_the_pixel_limit_are_refused(monkeypatch):
    monkeypatch.setattr("bdlearn.machinery.inputs.MAX_PIXELS", 100)
    with pytest.raises(InputError, match="11x10 pixels"):
        read_image(np.zeros((10, 11, 3), dtype=np.uint8))


def test_half_precision_tensors_are_read_as_float32():
    image, _ = _case()
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    for dtype in (torch.bfloat16, torch.float16):
        exact = np.round(tensor.to(dtype).float().permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        assert np.array_equal(read_image(tensor.to(dtype)), exact)
    assert read_mask(torch.ones(32, 32, dtype=torch.bfloat16), (32, 32)).all()


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 8), (8, 0, 3)])
def test_zero_size_arrays_are_refused(shape):
    with pytest.raises(InputError, match="empty"):
        read_image(np.zeros(shape, dtype=np.uint8))
    with pytest.raises(InputError, match="empty"):
        read_mask(np.zeros(shape[:2], dtype=bool), (8, 8))


def test_an_image_in_minus_one_to_one_is_refused_with_the_conversion():
    image = torch.rand(3, 8, 8) * 2 - 1  # bdlearn's model format, e.g. EditResult.images[0]
    with pytest.raises(InputError, match=r"\[−1, 1\].*convert with \(x \+ 1\) / 2"):
        read_image(image)
    assert read_image((image + 1) / 2).shape == (8, 8, 3)


def test_integers_beyond_their_scale_and_odd_types_are_refused():
    with pytest.raises(InputError, match=r"0\.\.255.*uint16"):
        read_image(np.full((4, 4), 1000, dtype=np.int32))
    with pytest.raises(InputError, match="unsupported dtype"):
        read_image(np.full((4, 4), "x"))
    with pytest.raises(InputError, match="got NoneType"):
        read_image(None)


# ------------------------------------------------------------------------------------------------
# Weights files
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
@pytest.mark.parametrize("seed", range(4))
def test_weights_of_random_bytes_are_a_checkpoint_error(tmp_path, suffix, seed):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match=str(path.name)):
        read_state_dict(path)


def test_a_zip_of_random_bytes_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "broken.pt"  # torch.save writes zip archives: a damaged one failed with KeyError
    torch.save({"w": torch.zeros(3)}, path)
    data = bytearray(path.read_bytes())
    data[200:600] = np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="broken.pt"):
        read_state_dict(path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_of_integer_tensors_are_a_checkpoint_error(tmp_path, suffix):
    state = {key: value.to(torch.int64) for key, value in UNet(TINY_UNET).state_dict().items()}
    path = tmp_path / f"ints{suffix}"
    torch.save(state, path) if suffix == ".pt" else save_file(state, str(path))
    with pytest.raises(CheckpointError, match=r"tensors are not floating point: .*\(torch\.int64\)"):
        load_unet(path, TINY_UNET)


def test_weights_holding_nan_are_a_checkpoint_error(tmp_path):
    state = UNet(TINY_UNET).state_dict()
    key = next(iter(state))
    state[key][0] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(CheckpointError, match=f"1 tensors hold NaN or infinite values: {key}"):
        load_unet(tmp_path / "nan.safetensors", TINY_UNET)


# ------------------------------------------------------------------------------------------------
# The command: one `bdlearn: error:` line and exit status 2, checked before the edit runs
# ------------------------------------------------------------------------------------------------

needs_toy = pytest.mark.skipif(not (TOY_DDPM_WEIGHTS.exists() and TOY_CLIP_WEIGHTS.exists()),
                               reason="the toy weights are not in data/")
CLI_FAST = ["--respacing", "10", "--skip", "7", "--augmentations", "0"]


@pytest.fixture
def files(tmp_path):
    image, mask = _case()
    Image.fromarray(image).save(tmp_path / "in.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    return ["--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "--prompt", "a red circle"]


@pytest.fixture
def no_edit(monkeypatch):
    """The edit itself must not run: the error is found before."""
    def refuse(*args, **kwargs):
        raise AssertionError("the edit ran before the error was found")

    monkeypatch.setattr("bdlearn.cli.run_edit", refuse)


def _one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.rsplit("\r", 1)[-1]  # after any progress bar
    assert err.startswith("bdlearn: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_out_naming_a_file(files, tmp_path, capsys, no_edit):
    (tmp_path / "taken").write_text("mine")
    assert main(["edit", *files, "--out", str(tmp_path / "taken"), *CLI_FAST]) == 2
    _one_error_line(capsys, "is a file")
    assert main(["edit", *files, "--out", str(tmp_path / "taken" / "deeper"), *CLI_FAST]) == 2
    _one_error_line(capsys, "is a file, not a folder")


def test_unwritable_out_is_found_before_the_edit(files, tmp_path, capsys, monkeypatch, no_edit):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)

    def no_write(*args, **kwargs):  # root may write anywhere: refuse as the file system would
        raise PermissionError(13, "Permission denied")

    try:
        monkeypatch.setattr("bdlearn.cli.tempfile.mkstemp", no_write)
        assert main(["edit", *files, "--out", str(locked / "out"), *CLI_FAST]) == 2
        _one_error_line(capsys, "cannot write in", "Permission denied")
        assert not (locked / "out").exists()
    finally:
        locked.chmod(0o755)


def test_an_unknown_mplbackend_is_found_before_the_work(files, tmp_path):
    """In a process of its own, as the command runs: matplotlib's first import fails on the unknown name."""
    environment = {**os.environ, "MPLBACKEND": "nonexistent"}
    for command in (["edit", *files, "--out", str(tmp_path / "out")], ["demo", "--out", str(tmp_path / "out")],
                    ["eval", "merge", str(tmp_path)], ["train", "ddpm", "--out", str(tmp_path / "run")]):
        done = subprocess.run([sys.executable, "-m", "bdlearn", *command], capture_output=True, text=True,
                              env=environment, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("bdlearn: error: MPLBACKEND='nonexistent' is not a matplotlib backend")
        assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


def test_a_failed_run_leaves_no_empty_output_folder(files, tmp_path, capsys):
    out = tmp_path / "new" / "deeper"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--batch-size", "0"]) == 2
    _one_error_line(capsys, "batch_size must be at least 1, got 0")
    assert not (tmp_path / "new").exists()


@needs_toy
def test_a_failure_while_writing_removes_the_new_folder(files, tmp_path, capsys, monkeypatch):
    def broken_figure(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bdlearn.notebook.plotting.edit_figure", broken_figure)
    out = tmp_path / "new"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "1"]) == 2
    _one_error_line(capsys, "No space left on device")
    assert not out.exists()


@needs_toy
def test_force_replaces_the_earlier_run_and_keeps_other_files(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "3"]) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "2", "--force"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text(), parse_constant=lambda name: pytest.fail(name))
    assert printed.startswith(f"wrote {len(report['edits'])} ranked edits") and len(report["edits"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["edit_00.png", "edit_01.png", "figure.png", "notes.txt",
                                                     "report.json"]
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("option, value, message", [
    ("--clip-weight", "nan", "clip_weight must be a finite number"),
    ("--clip-weight", "inf", "clip_weight must be a finite number"),
    ("--range-weight", "-inf", "range_weight must be a finite number"),
    ("--seed", str(2**32), "seed must be in [0, 4294967295]"),
    ("--seed", "-1", "seed must be in [0, 4294967295]"),
    ("--seed", str(2**64), "seed must be in [0, 4294967295]"),
    ("--batch-size", "0", "batch_size must be at least 1"),
    ("--repetitions", "0", "repetitions must be in [1, 1024]"),
    ("--skip", "10", "skip must be in [0, 9]"),
    ("--top", "0", "argument --top: must be at least 1"),
    ("--respacing", "abc", "bad respacing 'abc'"),
])
def test_bad_settings_are_one_line_before_the_edit(files, tmp_path, capsys, no_loading, option, value, message):
    assert _exit_code(["edit", *files, "--out", str(tmp_path / "out"), *CLI_FAST, f"{option}={value}"]) == 2
    _one_error_line(capsys, message)
    assert not (tmp_path / "out").exists()


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's own errors
        return stop.code


def test_respacing_alone_names_the_default_skip(files, tmp_path, capsys, no_loading):
    assert main(["edit", *files, "--out", str(tmp_path / "out"), "--respacing", "10"]) == 2
    _one_error_line(capsys, "the world's default skip is 15", "--skip")


def test_real_world_without_its_weights_is_one_line(files, tmp_path, capsys, monkeypatch):
    def offline(url, dest, **kwargs):  # fail at once, as with no network: nothing is downloaded
        raise DownloadError(f"could not download {dest.name}:\n  {url} (attempt 1/3): could not connect: "
                            "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("BDLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("bdlearn.worlds.real.download", offline)
    assert main(["edit", *files, "--out", str(tmp_path / "out"), "--world", "real", "--repetitions", "1"]) == 2
    _one_error_line(capsys, "256x256_diffusion_uncond.pt", str(tmp_path / "cache"), "BDLEARN_CACHE",
                    "CLIP ViT-B/16", "BDLEARN_CLIP_WEIGHTS", "name resolution")
    assert not (tmp_path / "out").exists()


def test_a_decompression_bomb_is_one_line(files, tmp_path, capsys):
    (tmp_path / "bomb.png").write_bytes(_png_header(20000, 20000))
    files[1] = str(tmp_path / "bomb.png")
    assert main(["edit", *files, "--out", str(tmp_path / "out"), *CLI_FAST]) == 2
    _one_error_line(capsys, "400 megapixels")


def test_argparse_errors_are_one_line(capsys):
    assert _exit_code(["edit", "--image", "x.png"]) == 2
    _one_error_line(capsys, "required")


@needs_toy
def test_cli_says_in_one_line_when_it_halves_the_batch(files, tmp_path, capsys, monkeypatch):
    real_loop = pipeline.guided_edit_loop

    def loop(*args, batch, **kwargs):
        if batch > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_loop(*args, batch=batch, **kwargs)

    monkeypatch.setattr(pipeline, "guided_edit_loop", loop)
    assert main(["edit", *files, "--out", str(tmp_path / "out"), *CLI_FAST, "--repetitions", "2"]) == 0
    err = capsys.readouterr().err
    assert "bdlearn: warning: out of memory on cpu with 2 edits at once; going on with 1 at a time\n" in err
    assert "Traceback" not in err and "RuntimeWarning" not in err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["run"]["batches"] == [1, 1] and len(report["edits"]) == 2


# --- the second battery: links, pipes, folders, factors, Ctrl-C, indices ---------------------------------------

def _loop(tmp_path) -> str:
    first, second = tmp_path / "loop_a.png", tmp_path / "loop_b.png"
    first.symlink_to(second)
    second.symlink_to(first)
    return str(first)


def test_an_image_path_that_loops_is_one_error_line(files, tmp_path, capsys, no_edit):
    looping = _loop(tmp_path)
    arguments = ["--mask", files[3], "--prompt", "a red circle", "--out", str(tmp_path / "out"), *CLI_FAST]
    assert main(["edit", "--image", looping, *arguments]) == 2
    _one_error_line(capsys, "loop_a.png", "symbolic links loop")
    with pytest.raises(InputError, match="symbolic link to nothing"):
        read_image(looping)


def test_a_url_is_refused_as_a_url_not_a_missing_file():
    with pytest.raises(InputError, match=r"image https://example.com/x.png is a URL; bdlearn reads files on this "
                                         r"machine: download it first"):
        read_image("https://example.com/x.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_not_a_file_not_found(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    with pytest.raises(InputError, match="not a regular file"):
        read_image(pipe)


@needs_toy
def test_grow_refuses_a_folder_as_out_and_factors_the_unet_lacks(tmp_path, capsys):
    grow = ["grow", "--weights", str(TOY_DDPM_WEIGHTS)]
    assert main([*grow, "--attention", "2", "--out", str(tmp_path), "--force"]) == 2
    _one_error_line(capsys, "is a folder", "grown.safetensors")
    for factor in ("0", "99"):
        assert main([*grow, "--attention", factor, "--out", str(tmp_path / "grown.safetensors")]) == 2
        _one_error_line(capsys, f"no downsample factor [{factor}]", "1, 2, 4")
        assert not (tmp_path / "grown.safetensors").exists()


def test_ctrl_c_is_one_line_exit_130_and_leaves_nothing(files, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bdlearn.cli.run_edit", interrupted)
    out = tmp_path / "new"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST]) == 130
    err = capsys.readouterr().err
    assert err.startswith("bdlearn: interrupted") and err.count("\n") == 1, err
    assert not out.exists()


@needs_toy
def test_asking_for_an_edit_that_does_not_exist_says_how_many_there_are(world):
    image, mask = _case()
    result = edit(image, mask, "a red circle", world, respacing="10", skip=7, num_augmentations=0, repetitions=2,
                  progress=False)
    with pytest.raises(IndexError, match=r"this result holds 2 edits, 0 \(the best\) to 1"):
        result.to_pil(5)
    assert result.to_pil(-1).size == (32, 32)  # Python's negative indices still work


def test_a_meta_tensor_and_a_closed_pil_image_are_clear_errors():
    with pytest.raises(InputError, match="meta device has a shape but no values"):
        read_image(torch.zeros(3, 8, 8, device="meta"))
    with pytest.raises(InputError, match="meta device"):
        read_mask(torch.ones(8, 8, device="meta"))
    closed = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    closed.close()
    with pytest.raises(InputError, match="the PIL image was closed"):
        read_image(closed)


def test_a_numpy_channels_first_array_is_read_as_a_tensor_is():
    pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 9)).astype(np.uint8)
    assert np.array_equal(read_image(pixels), read_image(pixels.transpose(1, 2, 0)))
    assert np.array_equal(read_image(pixels), read_image(torch.from_numpy(pixels)))


def test_a_uint16_array_of_8_bit_values_warns_at_the_callers_line():
    with pytest.warns(UserWarning, match=r"nearly black; .* pass array.astype\(np.uint8\)") as seen:
        read_image(np.full((8, 8, 3), 200, np.uint16))
    assert seen[0].filename == __file__


@needs_toy
def test_a_500_word_prompt_is_refused_in_one_short_line(files, tmp_path, capsys):
    prompt = " ".join(["a very red circle"] * 125)
    arguments = ["--image", files[1], "--mask", files[3], "--prompt", prompt, "--out", str(tmp_path / "o"), *CLI_FAST]
    assert main(["edit", *arguments]) == 2
    err = _one_error_line(capsys, "this CLIP takes at most 20", "shorten it", "a very red circle a very")
    assert len(err) < 250, err


def test_train_names_a_file_out_and_missing_init_weights(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    assert main(["train", "ddpm", "--out", str(tmp_path / "taken")]) == 2
    _one_error_line(capsys, "is a file; name a run folder")
    assert main(["train", "ddpm", "--preset", "anneal", "--init-weights", str(tmp_path / "nowhere.safetensors"),
                 "--out", str(tmp_path / "run")]) == 2
    _one_error_line(capsys, "nowhere.safetensors does not exist")
    assert not (tmp_path / "run").exists()


def test_a_failed_training_run_leaves_no_empty_run_folder(tmp_path, capsys, monkeypatch):
    def fails_after_making_its_folder(out_dir, config, resume=True, progress=True):
        out_dir = __import__("pathlib").Path(out_dir)
        out_dir.mkdir(parents=True)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bdlearn.training.clip.train_clip", fails_after_making_its_folder)
    assert main(["train", "clip", "--out", str(tmp_path / "run")]) == 2
    _one_error_line(capsys, "No space left on device")
    assert not (tmp_path / "run").exists()


def test_a_cache_folder_that_cannot_be_made_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # downloads on: the folder is made before any connection
    (tmp_path / "a file").write_text("")
    with pytest.raises(DownloadError, match="cannot make the folder .* point BDLEARN_CACHE at a folder you can write"):
        download("https://example.invalid/w.bin", tmp_path / "a file" / "cache" / "w.bin", progress=False)


def test_strokes_of_any_bright_colour_count_in_a_mask():
    mask = np.zeros((40, 40, 3), np.uint8)
    mask[5:10, 5:30] = (255, 0, 0)  # red: its mean, 85, is under half scale
    mask[20:25, 5:30] = (255, 255, 0)  # yellow
    selected = read_mask(mask)
    assert selected[5:10, 5:30].all() and selected[20:25, 5:30].all() and selected.sum() == 2 * 5 * 25


def test_a_mask_that_looks_like_a_photo_is_refused(tmp_path, capsys):
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    painted = photo.copy()
    painted[20:40, 20:40] = (255, 0, 0)  # a red stroke on the photo itself
    for mask in (photo, painted):
        with pytest.raises(InputError, match=r"the mask looks like a picture \([\d,]+ colours"):
            read_mask(mask)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    same = str(tmp_path / "photo.png")
    assert main(["edit", "--image", same, "--mask", same, "--prompt", "a red circle", "--out", str(tmp_path / "o"),
                 *CLI_FAST]) == 2
    _one_error_line(capsys, "looks like a picture")
    task = make_edit_task(3)  # a toy scene, 32x32: 1,024 pixels, so few colours, but mostly mid-tones
    with pytest.raises(InputError, match="looks like a picture"):
        read_mask(np.round(task.image * 255).astype(np.uint8))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="flock locks on POSIX systems only")
def test_a_second_command_writing_into_the_same_folder_fails_clearly(files, tmp_path, capsys, no_edit):
    import fcntl

    out = tmp_path / "busy"
    out.mkdir()
    with open(out / ".bdlearn-lock", "w") as held:  # another bdlearn edit is running there
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--force"]) == 2
    _one_error_line(capsys, "another bdlearn command is writing into", "busy")


@needs_toy
def test_outputs_appear_whole_or_not_at_all(files, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "2"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["edit_00.png", "edit_01.png", "figure.png", "report.json"]
    before = (out / "edit_00.png").read_bytes()

    def dies_half_way(self, fp, format=None, **params):  # a crash after half a file was written
        __import__("pathlib").Path(fp).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", dies_half_way)
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "2", "--force"]) == 2
    _one_error_line(capsys, "No space left on device")
    assert not [path.name for path in out.iterdir() if "partial" in path.name or path.stat().st_size < 20]
    assert not (out / "edit_00.png").exists() or (out / "edit_00.png").read_bytes() == before


@pytest.mark.parametrize("suffix", [".gif", ".tiff"])
def test_an_animation_or_a_multi_page_file_is_refused(tmp_path, suffix):
    frames = [Image.fromarray(np.full((16, 16, 3), level, np.uint8)) for level in (0, 120, 240)]
    path = tmp_path / f"three{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="holds 3 frames .* save the frame you want as a PNG"):
        read_image(path)
    with pytest.raises(InputError, match="holds 3 frames"):
        read_mask(path)


@needs_toy
def test_a_cpu_batch_larger_than_the_memory_holds_is_refused_before_any_work(world, monkeypatch):
    monkeypatch.setattr("bdlearn.machinery.cost.available_cpu_memory", lambda: 200 * 2**20)  # 200 MiB free
    image, mask = _case()
    with pytest.raises(InputError, match=r"a batch of 1000 edits needs about [\d.]+ GB .* at most \d+"):
        edit(image, mask, "a red circle", world, **{**FAST, "repetitions": 1000, "batch_size": 1000})
    fits = edit(image, mask, "a red circle", world, **{**FAST, "repetitions": 2, "batch_size": 2})
    assert fits.run.batches == (2,)  # the world's default or less is not counted, and runs


def test_transparent_pixels_are_shown_on_white_in_every_form(tmp_path):
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)  # index 0 black (transparent), 1 red
    palette.paste(1, (0, 0, 4, 8))
    palette.info["transparency"] = 0
    palette.save(tmp_path / "palette.png", transparency=0)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (200, 30, 30, 255)  # left half opaque red, right half transparent black
    for image in (palette, tmp_path / "palette.png", rgba, Image.fromarray(rgba), torch.from_numpy(rgba)):
        read = read_image(image)
        assert (read[:, :4] == (200, 30, 30)).all() and (read[:, 4:] == 255).all(), type(image)


@needs_toy
def test_ctrl_c_during_a_forced_rerun_puts_the_folder_back_as_it_was(files, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "3"]) == 0
    (out / "notes.txt").write_text("mine")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    from bdlearn.notebook import plotting

    def interrupted_while_writing(*args, **kwargs):  # after the new edit PNGs, before the figure and report
        raise KeyboardInterrupt

    monkeypatch.setattr(plotting, "edit_figure", interrupted_while_writing)
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "2", "--seed", "5", "--force"]) == 130
    assert capsys.readouterr().err.rsplit("\r", 1)[-1].startswith("bdlearn: interrupted")  # after the progress bar
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # the earlier run, whole


def test_asking_for_an_edit_by_a_bool_or_a_float_is_a_type_error(world):
    image, mask = _case()
    result = edit(image, mask, "a red circle", world, **{**FAST, "repetitions": 2})
    for index in (True, 1.0, "0"):
        with pytest.raises(TypeError, match="an edit's index is an int"):
            result.full_size(index)


def test_absurd_numbers_of_augmentations_are_refused_before_any_work(no_loading):
    image, mask = _case()
    for count in (257, 10**11):
        with pytest.raises(InputError, match=r"num_augmentations must be in \[0, 256\].*the paper uses 16"):
            edit(image, mask, "a red circle", "toy", **{**FAST, "num_augmentations": count})


@needs_toy
def test_what_a_killed_run_left_does_not_block_the_next_and_is_cleared(files, tmp_path, capsys):
    """kill -9 while writing leaves the lock and hidden .NAME.partial / .NAME.earlier files: the next run,
    even without --force, counts the folder as empty and clears them."""
    out = tmp_path / "out"
    out.mkdir()
    (out / ".bdlearn-lock").write_text("")  # left by a run the kernel killed: nobody holds it
    (out / ".edit_00.png.partial").write_bytes(b"\x89PNG half")
    (out / ".report.json.earlier").write_text("{}")
    assert main(["edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "1"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["edit_00.png", "figure.png", "report.json"]
    assert json.loads((out / "report.json").read_text())["edits"], "the leftover replaced the new report"


def test_an_earlier_file_a_killed_run_had_set_aside_is_put_back(tmp_path):
    """Killed between setting NAME aside and renaming the new one into place: NAME comes back."""
    from bdlearn.cli import _tidy_after_a_killed_run

    (tmp_path / ".figure.png.earlier").write_text("the earlier figure")  # no figure.png: put back
    (tmp_path / "edit_00.png").write_text("the new edit")
    (tmp_path / ".edit_00.png.earlier").write_text("the earlier edit")  # the new one is in place: removed
    (tmp_path / ".edit_01.png.partial").write_text("half")
    (tmp_path / ".mine").write_text("a user's hidden file")
    (tmp_path / ".notes.txt.earlier").write_text("a user's file of the same shape")
    _tidy_after_a_killed_run(tmp_path)
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == {
        "figure.png": "the earlier figure", "edit_00.png": "the new edit", ".mine": "a user's hidden file",
        ".notes.txt.earlier": "a user's file of the same shape"}


def test_names_too_long_for_the_file_system_are_one_short_line(files, tmp_path, capsys):
    long_name = "a" * 300
    image = ["--image", str(tmp_path / f"{long_name}.png"), *files[2:]]
    assert main(["edit", *image, "--out", str(tmp_path / "out"), *CLI_FAST]) == 2
    line = _one_error_line(capsys, "has 304 characters, more than the file system allows")
    assert len(line) < 260, line
    assert main(["edit", *files, "--out", str(tmp_path / long_name), *CLI_FAST]) == 2
    _one_error_line(capsys, "has 300 characters, more than the file system allows")


def test_train_and_grow_find_an_unwritable_out_first(tmp_path, capsys, monkeypatch):
    def no_write(*args, **kwargs):  # root may write anywhere: refuse as a read-only folder would
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("bdlearn.cli.tempfile.mkstemp", no_write)
    assert main(["train", "ddpm", "--preset", "quick", "--out", str(tmp_path / "ro" / "run")]) == 2
    _one_error_line(capsys, f"--out {tmp_path / 'ro' / 'run'}: cannot write in {tmp_path}", "Permission denied")
    assert not (tmp_path / "ro").exists()
    grow = ["grow", "--weights", str(TOY_DDPM_WEIGHTS), "--res-blocks", "2", "1", "1"]
    assert main([*grow, "--out", str(tmp_path / "g.safetensors")]) == 2
    _one_error_line(capsys, "cannot write in", "Permission denied")


def test_demo_names_a_negative_task_seed_and_grow_a_broken_card(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["demo", "--task-seed", "-1", "--out", str(tmp_path / "demo")])
    assert stopped.value.code == 2
    _one_error_line(capsys, "--task-seed", "must be at least 0, got -1")
    weights = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(1)}, str(weights))
    weights.with_suffix(".json").write_text("{not json")
    assert main(["grow", "--weights", str(weights), "--res-blocks", "2", "--out", str(tmp_path / "g.safetensors")]) == 2
    _one_error_line(capsys, "w.json is not valid JSON", "write it again")


@needs_toy
def test_an_out_that_is_a_dangling_link_or_under_a_file_is_named(files, tmp_path, capsys, no_edit):
    (tmp_path / "nowhere").symlink_to(tmp_path / "missing")
    assert main(["edit", *files, "--out", str(tmp_path / "nowhere"), *CLI_FAST]) == 2
    _one_error_line(capsys, "is a symbolic link to nothing")
    (tmp_path / "a file").write_text("")
    grow = ["grow", "--weights", str(TOY_DDPM_WEIGHTS), "--res-blocks", "2", "1", "1"]
    assert main([*grow, "--out", str(tmp_path / "a file" / "g.safetensors")]) == 2
    _one_error_line(capsys, "a part of that path is a file")


def test_a_mask_whose_marks_vanish_at_the_image_size_says_so():
    mask = np.zeros((32, 32), bool)
    mask[4:10, 4:10] = True  # at 1x1, nearest neighbour keeps the centre pixel: unmarked
    with pytest.raises(InputError, match=r"the mask \(32x32\) selects nothing once resized to the image's 1x1"):
        read_mask(mask, (1, 1))
    with pytest.raises(InputError, match=r"^the mask selects nothing to edit"):
        read_mask(np.zeros((32, 32), bool), (1, 1))


def test_a_device_this_machine_lacks_is_named(monkeypatch):
    from bdlearn.worlds.load import load_world

    with pytest.raises(InputError, match="'tpu' is not a device torch knows"):
        load_world("toy", device="tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="torch sees no CUDA GPU on this machine"):
        load_world("toy", device="cuda")
    assert load_world("toy", device="cpu").device.type == "cpu"


@pytest.mark.parametrize("shape", [(0, 0), (-4, 4), (64.0, 64.0), (64,), "64x64", (True, 64)])
def test_read_mask_checks_the_image_shape_and_invert(shape):
    mask = np.zeros((64, 64), bool)
    mask[8:20, 8:20] = True
    with pytest.raises(InputError, match=r"image_shape must be the image's \(height, width\)"):
        read_mask(mask, shape)
    with pytest.raises(InputError, match="invert must be True or False, got 'no'"):
        read_mask(mask, invert="no")
    assert read_mask(mask, (np.int64(32), 32)).shape == (32, 32)


def test_widgets_refuse_odd_sizes_and_the_editor_takes_a_world_name(world, monkeypatch):
    from bdlearn.notebook import EditorApp, mask_drawer, trajectory_slider

    picture = np.zeros((32, 32, 3), np.float32)
    for options, message in ((dict(scale=0), "scale must be a whole number >= 1"),
                             (dict(brush=-1), "brush must be a whole number >= 0")):
        with pytest.raises(ValueError, match=message):
            mask_drawer(picture, **options)
    with pytest.raises(TypeError, match="takes an EditResult or a LoopOutput, got NoneType"):
        trajectory_slider(None)
    monkeypatch.setattr("bdlearn.worlds.load._LOADED", {"toy": world})
    assert EditorApp("toy", picture, mask_drawer(picture), prompt="a red circle").world is world


@pytest.mark.parametrize("model", ["ddpm", "clip"])
@pytest.mark.parametrize("broken", ["garbage", "empty", "another dict", "a tensor"])
def test_a_broken_checkpoint_is_one_line_saying_how_to_start_afresh(model, broken, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    checkpoint = run / "checkpoint.pt"
    if broken == "garbage":
        checkpoint.write_text("not a checkpoint")
    elif broken == "empty":
        checkpoint.write_bytes(b"")
    else:
        torch.save({"hello": 1} if broken == "another dict" else torch.zeros(3), checkpoint)
    assert main(["train", model, "--preset", "quick", "--out", str(run)]) == 2
    _one_error_line(capsys, "is not a whole checkpoint of a run", "--restart")


def test_sigterm_is_one_line_exit_143_and_leaves_nothing(files, tmp_path, capsys, monkeypatch):
    import signal

    def terminated(*args, **kwargs):  # what kill, timeout or a cancelled CI job sends
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr("bdlearn.cli.run_edit", terminated)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "new"
    assert main(["edit", *files, "--out", str(out), *CLI_FAST]) == 143
    err = capsys.readouterr().err
    assert err.startswith("bdlearn: terminated") and err.count("\n") == 1, err
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) == before, "the command left its SIGTERM handler behind"


@needs_toy
def test_an_edit_with_stderr_closed_and_stdout_unread_writes_its_outputs(files, tmp_path):
    import shlex

    out = tmp_path / "out"
    command = [sys.executable, "-m", "bdlearn", "edit", *files, "--out", str(out), *CLI_FAST, "--repetitions", "1"]
    # stderr closed (2>&-), and stdout's reader gone before the closing lines are printed (| true)
    script = f"{shlex.join(command)} 2>&- | true; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert done.returncode == 141 and not done.stderr, done  # as a tool killed by SIGPIPE: quietly
    assert (out / "report.json").exists() and (out / "edit_00.png").exists()


def test_a_closed_standard_output_ends_quietly_with_141(capsys, monkeypatch):
    def reader_gone(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("bdlearn.cli._eval_merge", reader_gone)
    assert main(["eval", "merge", "somewhere"]) == 141
    assert capsys.readouterr().err == ""


def test_a_nan_step_stops_the_edit_at_once(world):
    unet = copy.deepcopy(world.unet)
    next(unet.parameters()).fill_(float("nan"))
    calls = []
    unet.register_forward_hook(lambda *args: calls.append(1))
    broken = ModelWorld("broken", unet, world.clip, 32, dict(TOY_DIFFUSION), world.defaults)
    image, mask = _case()
    with pytest.raises(InputError, match=r"NaN or infinite at guided step 1 of 3 \(step index 2\) .*skip 7"):
        edit(image, mask, "a red circle", broken, **FAST)
    assert len(calls) == 1, "the edit went on after its first NaN step"


@needs_toy
def test_words_the_toy_clip_never_learned_are_named(world, files, tmp_path, capsys):
    taught = dataclasses.replace(world, vocabulary=CAPTION_WORDS)
    image, mask = _case()
    with pytest.warns(UserWarning, match=r"never learned 'eine', 'rote' and 'katze', .*captions: .*circle .*red"):
        edit(image, mask, "eine rote Katze!", taught, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        edit(image, mask, "A red circle, on a striped background.", taught, **FAST)
        edit(image, mask, "eine rote Katze", world, **FAST)  # a world whose CLIP knows any text
    assert load_toy_world().unknown_words("an Orange cross 🐱") == ["🐱"]
    out = tmp_path / "out"
    assert main(["edit", *files, "--prompt", "eine Katze 猫", "--out", str(out), *CLI_FAST, "--repetitions", "1"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bdlearn: warning:")]
    assert lines[0].startswith("bdlearn: warning: the toy world's CLIP never learned 'eine', 'katze' and '猫'"), lines
    assert len(lines) == len(set(lines)), "a warning was shown twice"  # matplotlib's missing glyph, once


def test_grow_names_its_output_safetensors_and_checks_the_seed(tmp_path, capsys):
    grow = ["grow", "--weights", str(TOY_DDPM_WEIGHTS), "--attention", "1"]
    for out in ("g.json", "grown"):
        assert main([*grow, "--out", str(tmp_path / out)]) == 2
        _one_error_line(capsys, "name the grown weights NAME.safetensors")
    with pytest.raises(SystemExit) as stopped:
        main([*grow, "--out", str(tmp_path / "g.safetensors"), "--seed", str(2**32)])
    assert stopped.value.code == 2
    _one_error_line(capsys, "--seed", "must be below 2**32")


def test_weights_that_are_a_folder_or_a_card_are_named(tmp_path, capsys):
    assert main(["grow", "--weights", str(tmp_path), "--attention", "1", "--out", str(tmp_path / "g.safetensors")]) == 2
    _one_error_line(capsys, "is a folder")
    assert main(["train", "ddpm", "--preset", "anneal", "--init-weights", str(tmp_path), "--out",
                 str(tmp_path / "run")]) == 2
    _one_error_line(capsys, "is a folder")
    with pytest.raises(CheckpointError, match=r"is a weight card \(JSON\), not weights"):
        read_state_dict(TOY_DDPM_WEIGHTS.with_suffix(".json"))


def test_empty_paths_and_a_tilde_are_read_as_a_shell_would(files, tmp_path, capsys, monkeypatch):
    for option in ("--out", "--image"):
        arguments = ["edit", *files, "--out", str(tmp_path / "o"), *CLI_FAST]
        arguments[arguments.index(option) + 1] = ""
        with pytest.raises(SystemExit):
            main(arguments)
        _one_error_line(capsys, f"argument {option}: is empty")
    from bdlearn.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    parsed = build_parser().parse_args(["edit", *files, "--out", "~/edits"])
    assert parsed.out == str(tmp_path / "edits")
    with pytest.raises(InputError, match="respacing is empty"):
        edit(*_case(), "a red circle", "toy", respacing="")
    with pytest.raises(InputError, match=r"repetitions must be in \[1, 1024\]"):
        edit(*_case(), "a red circle", "toy", repetitions=10**9)


def test_out_is_refused_only_where_it_would_write_over_an_input(tmp_path, capsys):
    from bdlearn.cli import _check_out

    inside = tmp_path / "out" / "sub" / "in.png"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"")
    _check_out(tmp_path / "out", [inside], force=True)  # the outputs go beside sub/, not over it
    named_like = tmp_path / "out" / "edit_00.png"
    named_like.write_bytes(b"")
    with pytest.raises(InputError, match="would overwrite the input"):
        _check_out(tmp_path / "out", [named_like], force=True)
    named_like.unlink()
    (tmp_path / "out" / "figure.png").mkdir()
    with pytest.raises(InputError, match="figure.png is not a file, and bdlearn writes a file of that name"):
        _check_out(tmp_path / "out", [], force=True)


def test_edit_force_into_a_demo_folder_may_read_the_demo_input_it_does_not_write(tmp_path):
    from bdlearn.cli import _check_out

    out = tmp_path / "demo"
    out.mkdir()
    for name in ("input.png", "mask.png", "edit_00.png"):
        (out / name).write_bytes(b"")
    _check_out(out, [out / "input.png", out / "mask.png"], force=True)  # edit writes neither
    with pytest.raises(InputError, match="would overwrite the input .*edit_00.png"):
        _check_out(out, [out / "edit_00.png", out / "mask.png"], force=True)
    (out / "input.png").unlink()
    (out / "input.png").mkdir()
    _check_out(out, [], force=True)  # edit writes no input.png: a folder of that name is not in its way
    with pytest.raises(InputError, match="input.png is not a file, and bdlearn writes a file of that name"):
        _check_out(out, [], force=True, demo=True)


def test_a_value_starting_with_a_dash_gets_a_hint(files, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["edit", *files, "--out", str(tmp_path / "o"), "--clip-weight", "-inf"])
    _one_error_line(capsys, "--option=-value")
    with pytest.raises(InputError, match="file not found: '.*in.png '"):
        read_image(files[1] + " ")


def test_the_mask_drawer_reads_pictures_as_edit_does_and_sliders_name_their_frames(world, tmp_path):
    from bdlearn.notebook import mask_drawer, trajectory_slider

    grey = np.full((32, 32, 3), 200, np.uint8)
    assert np.allclose(mask_drawer(grey).picture, 200 / 255)  # not clipped to white
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert np.allclose(mask_drawer(str(tmp_path / "grey.png")).picture, 200 / 255)
    with pytest.raises(ValueError, match="draws on a square picture.*32x48"):
        mask_drawer(np.zeros((32, 48, 3), np.uint8))
    result = edit(*_case(), "a red circle", world, **{**FAST, "repetitions": 1}, return_trajectory=True)
    with pytest.raises(ValueError, match=r"value must be a frame, 0 to \d+; got 999"):
        trajectory_slider(result, value=999)


def test_the_editor_refuses_settings_it_cannot_show(world):
    from bdlearn.notebook import EditorApp

    picture = np.zeros((32, 32, 3), np.float32)
    with pytest.raises(TypeError, match="no control for repetition; its controls set method"):
        EditorApp(world, picture, _case()[1], repetition=4)  # a typo of repetitions
    with pytest.raises(ValueError, match=r"repetitions=-1 is outside the editor's control for it \(1 to 16\)"):
        EditorApp(world, picture, _case()[1], repetitions=-1)
    assert EditorApp(world, picture, _case()[1], repetitions=3).settings()["repetitions"] == 3


# ------------------------------------------------------------------------------------------------
# The third battery's findings
# ------------------------------------------------------------------------------------------------

def test_jump_without_resampling_and_a_one_step_schedule_are_refused(no_loading):
    image, mask = _case()
    for options, message in (({"jump": 3}, "jump .* sets the blocks of resampling"),
                             ({"resample": 1, "jump": 1_000_000}, "pass resample of 2 or more"),
                             ({"respacing": "1", "skip": 0}, "keeps 1 step; a schedule needs at least 2")):
        with pytest.raises(InputError, match=message):
            edit(image, mask, "a red circle", "real", **options)


def test_a_prompt_of_undecodable_bytes_is_refused(no_loading):
    image, mask = _case()
    latin1 = b"une fleur \xe9".decode("utf-8", "surrogateescape")  # what a shell passes from a Latin-1 file
    with pytest.raises(InputError, match="not UTF-8 text"):
        edit(image, mask, latin1, "real")


def test_a_url_or_an_over_long_path_says_so(files, tmp_path, capsys):
    import errno

    from bdlearn.cli import _error_line

    for url in ("http://example.com/cat.png", "file:///tmp/cat.png"):
        with pytest.raises(SystemExit):
            main(["edit", *files, "--image", url, "--out", str(tmp_path / "o")])
        _one_error_line(capsys, "is a URL; bdlearn reads files on this machine")
    deep = "/".join(["abcdefghij"] * 500)
    line = _error_line(OSError(errno.ENAMETOOLONG, "File name too long", deep))
    assert "the path has 5499 bytes, more than the system allows" in line


@needs_toy
def test_warnings_as_errors_are_one_error_line(files, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PYTHONWARNINGS=error
        assert main(["edit", *files, "--prompt", "eine Katze", "--out", str(tmp_path / "o"), *CLI_FAST]) == 2
    _one_error_line(capsys, "never learned 'eine' and 'katze'")


def test_matplotlibs_missing_glyphs_are_one_warning(capsys):
    from bdlearn.cli import _WarningLines

    show = _WarningLines()
    for glyph in (29483, 29399, 29483):
        show(UserWarning(f"Glyph {glyph} (\\N{{CJK UNIFIED IDEOGRAPH}}) missing from font(s) DejaVu Sans."),
             UserWarning, "x.py", 1)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["bdlearn: warning: the figure's font has no glyph for some characters of the prompt; they "
                     "show as boxes in it"]


def test_hyphens_and_slashes_join_known_words(world):
    taught = dataclasses.replace(world, vocabulary=CAPTION_WORDS)
    assert taught.unknown_words("a red-square and square/circle, two-tone") == []
    assert taught.unknown_words("a Katze-red") == ["katze-red"]


def test_claims_and_rates_take_only_booleans():
    from bdlearn.notebook import claim, success_rate

    with pytest.raises(TypeError, match="True or False"):
        claim("a statement", "yes", "evidence")
    with pytest.raises(ValueError, match="True/False"):
        success_rate([0.5, 2])
    assert success_rate(np.array([True, False])).value == 0.5


def test_load_world_refuses_the_meta_device_and_a_world_given_for_a_name():
    from bdlearn.worlds.load import load_world

    with pytest.raises(InputError, match="holds shapes, not weights"):
        load_world("toy", device="meta")
    with pytest.raises(ValueError, match="a loaded world already"):
        load_world(object.__new__(ModelWorld))


def test_sliders_name_what_they_take(world):
    from bdlearn.notebook import gallery_slider, trajectory_slider

    for pictures, message in ((None, "mapping of labels"), ({}, "empty"), ({0: "x.png"}, "picture of 0 is a str")):
        with pytest.raises(TypeError, match=message):
            gallery_slider(pictures)
    image, mask = _case()
    result = edit(image, mask, "a red circle", world, **FAST, return_trajectory=True)
    with pytest.raises(ValueError, match="one of the 1 edits"):
        trajectory_slider(result, index=5)


def test_the_mask_drawer_refuses_a_float_tensor_out_of_0_1_and_reads_uint8_ones():
    from bdlearn.notebook import mask_drawer

    with pytest.raises(ValueError, match=r"\[0, 1\] \(floats\) or 0..255 \(integers\); got \[200, 200\]"):
        mask_drawer(torch.full((3, 32, 32), 200.0))
    drawer = mask_drawer(torch.full((3, 32, 32), 51, dtype=torch.uint8))
    assert np.allclose(drawer.picture, 0.2)


def test_standard_input_as_a_path_is_refused(files, tmp_path, capsys):
    for option in ("--image", "--mask", "--out"):
        arguments = [*files, "--out", str(tmp_path / "o"), option, "-"]
        with pytest.raises(SystemExit):
            main(["edit", *arguments])
        _one_error_line(capsys, f"{option}: '-' (standard input or output) is not used by bdlearn")


def test_a_cache_path_that_is_a_file_is_named_offline_too(tmp_path):
    (tmp_path / "a file").write_text("")  # BDLEARN_CACHE=a file, with HF_HUB_OFFLINE set (conftest)
    with pytest.raises(DownloadError, match="a file, not a folder, so w.bin cannot be kept in it; point BDLEARN_CACHE"):
        download("https://example.invalid/w.bin", tmp_path / "a file" / "w.bin", progress=False)


def test_a_library_error_quoted_in_ours_is_cut_at_a_word(tmp_path):
    import datetime

    from bdlearn.errors import first_words

    assert first_words(ValueError("one two three four"), width=12) == "one two …"
    assert first_words(RuntimeError("\x1b[1mshort\x1b[0m. More.\nsecond line")) == "short"
    torch.save({"w": torch.zeros(1), "when": datetime.date(2026, 1, 1)}, tmp_path / "code.pt")  # not weights only
    with pytest.raises(CheckpointError) as caught:
        read_state_dict(tmp_path / "code.pt")
    assert "unpickles code): Weights only load failed; is it" in str(caught.value)


def test_a_tab_or_a_newline_in_a_prompt_draws_no_glyph_warning(world):
    import matplotlib.pyplot as plt

    from bdlearn.notebook.plotting import edit_figure

    image, mask = _case()
    result = edit(image, mask, "a red\tcircle\n", world, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = edit_figure(result)
        figure.canvas.draw()
    plt.close(figure)
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]
    assert figure._suptitle.get_text().startswith("“a red circle”")


# ------------------------------------------------------------------------------------------------
# The fourth battery's findings
# ------------------------------------------------------------------------------------------------

def test_output_the_terminal_cannot_encode_is_escaped_not_an_error(monkeypatch):
    import io

    def says_where(args):
        print("wrote /tmp/ü/edit_00.png")
        return 0

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")  # PYTHONIOENCODING=ascii, or a C locale
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setattr("bdlearn.cli._demo", says_where)
    assert main(["demo"]) == 0
    stdout.flush()
    assert stdout.buffer.getvalue() == b"wrote /tmp/\\xfc/edit_00.png\n" and stdout.errors == "strict"


def test_a_deleted_current_folder_and_a_library_that_cannot_load_are_one_line(capsys, monkeypatch):
    def gone():
        raise FileNotFoundError(2, "No such file or directory")

    with monkeypatch.context() as patched:
        patched.setattr("os.getcwd", gone)
        assert main(["demo"]) == 2
    _one_error_line(capsys, "the current folder no longer exists")

    def cannot_map(args):
        raise ImportError("libtorch_cpu.so: failed to map segment from shared object")

    monkeypatch.setattr("bdlearn.cli._demo", cannot_map)
    assert main(["demo"]) == 2
    _one_error_line(capsys, "could not be loaded (libtorch_cpu.so: failed to map segment", "ulimit -v")


def test_sdedits_background_weight_is_refused_for_its_own_reason(no_loading):
    image, mask = _case()
    with pytest.raises(InputError, match="belongs to the local method; SDEdit has no background loss"):
        edit(image, mask, "a red circle", "toy", method="sdedit", background_weight=5, **FAST)


def test_a_ragged_list_and_a_16_bit_file_of_8_bit_values_are_named(tmp_path):
    with pytest.raises(InputError, match="image: its nested lists are not all of one length"):
        read_image([[1, 2], [3]])
    Image.fromarray(np.full((8, 8), 200, np.uint16)).save(tmp_path / "dark16.png")  # 8-bit values in 16 bits
    with pytest.warns(UserWarning, match=r"a 16-bit image \(PIL mode 'I;16'\) is read over 0..65535.*nearly black"):
        read_image(tmp_path / "dark16.png")


def test_grow_reads_the_card_beside_a_linked_weights_file_and_quotes_its_advice(tmp_path, capsys):
    (tmp_path / "my weights").mkdir()
    link = tmp_path / "my weights" / "link.safetensors"
    link.symlink_to(TOY_DDPM_WEIGHTS)  # its card is beside the target, not beside the link
    out = tmp_path / "my weights" / "grown 1.safetensors"
    assert main(["grow", "--weights", str(link), "--attention", "1", "--out", str(out)]) == 0
    assert f"--init-weights '{out}' --out" in capsys.readouterr().out


def test_version_is_the_installed_one(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    from importlib.metadata import version

    assert stopped.value.code == 0 and capsys.readouterr().out == f"bdlearn {version('bdlearn')}\n"


# ------------------------------------------------------------------------------------------------
# The fifth battery's findings (the command line's; the building blocks' are in test_*_inputs.py)
# ------------------------------------------------------------------------------------------------

def test_the_demo_refuses_an_inverted_mask_it_would_not_judge(tmp_path, capsys):
    assert main(["demo", "--invert-mask", "--out", str(tmp_path / "demo")]) == 2
    _one_error_line(capsys, "--invert-mask: the demo judges its task's own region", "bdlearn edit --invert-mask")
    assert not (tmp_path / "demo").exists()


def test_damaged_exif_data_is_read_as_stored_with_a_warning(tmp_path):
    garbage = b"Exif\x00\x00" + bytes(np.random.default_rng(0).integers(0, 256, 40, dtype=np.uint8))
    Image.new("RGB", (16, 16), "red").save(tmp_path / "damaged.jpg", exif=garbage)
    with pytest.warns(UserWarning, match="its EXIF data is damaged .* read as stored"):
        pixels = read_image(tmp_path / "damaged.jpg")
    assert pixels.shape == (16, 16, 3) and pixels[..., 0].min() > 200


def test_load_image_and_load_mask_check_their_size():
    from bdlearn.machinery.inputs import load_image, load_mask

    image, mask = _case()
    for size, message in ((0, "size must be at least 1, got 0"), (-1, "at least 1, got -1"),
                          (32.5, "size must be an integer, got 32.5")):
        with pytest.raises(InputError, match=message):
            load_image(image, size)
        with pytest.raises(InputError, match=message):
            load_mask(mask, size)


def test_a_file_object_gets_a_hint_to_open_it():
    import io

    with pytest.raises(InputError, match=r"got BytesIO \(a file object: pass PIL.Image.open\(it\)\)"):
        read_image(io.BytesIO(b"\x89PNG"))
