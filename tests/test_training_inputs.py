"""Bad inputs to the toy trainers: each is refused in bdlearn's words, not torch's, and a good one still works."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch.optim.swa_utils import AveragedModel

from bdlearn.cli import main
from bdlearn.errors import CheckpointError, InputError
from bdlearn.training.clip import PRESETS as CLIP_PRESETS
from bdlearn.training.clip import ClipTrainConfig, train_clip, zero_shot_accuracy
from bdlearn.training.common import make_ema
from bdlearn.training.ddpm import DDPMTrainConfig, export_ddpm, train_ddpm
from bdlearn.training.grow import grow_attention, grow_res_blocks
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS
from tests.helpers import TINY_UNET

ONE_STEP = DDPMTrainConfig(steps=1, batch_size=2, checkpoint_every=1, warmup_steps=0, sample_every=0,
                           unet=replace(TINY_UNET, image_size=32))
ONE_CLIP_STEP = replace(CLIP_PRESETS["quick"], steps=1, warmup_steps=0, checkpoint_every=1, eval_every=100,
                        final_eval_size=28, scenes_per_batch=4)


def test_make_ema_of_a_string():
    with pytest.raises(TypeError, match=r"make_ema needs a torch.nn.Module, got 'unet' \(str\)"):
        make_ema("unet", 0.9)
    assert isinstance(make_ema(torch.nn.Linear(2, 2), 0.9), AveragedModel)


@pytest.mark.parametrize("decay", [1.5, -0.1, float("nan"), "0.9"])
def test_make_ema_decay_outside_0_1(decay):
    with pytest.raises(InputError, match=r"decay must be (in \[0, 1\]|a finite number), got"):
        make_ema(torch.nn.Linear(2, 2), decay)
    assert isinstance(make_ema(torch.nn.Linear(2, 2), 1), AveragedModel)


@pytest.mark.parametrize(("lr", "refusal"), [("1e-3", r"lr must be a finite number, got '1e-3' \(str\)"),
                                             (-1, "lr must be at least 0, got -1"),
                                             (float("nan"), "lr must be a finite number, got nan")])
@pytest.mark.parametrize("config", [DDPMTrainConfig, ClipTrainConfig])
def test_training_config_lr(config, lr, refusal):
    with pytest.raises(InputError, match=refusal):
        config(lr=lr)
    assert config(lr=0).lr == 0  # a rate of 0 is allowed: the weights stay where they are


@pytest.mark.parametrize("config", [DDPMTrainConfig, ClipTrainConfig])
def test_training_config_ema_decay(config):
    with pytest.raises(InputError, match=r"ema_decay must be in \[0, 1\], got 2"):
        config(ema_decay=2)
    assert config(ema_decay=0.5).ema_decay == 0.5
    assert ClipTrainConfig(ema_decay=None).ema_decay is None  # the CLIP's default: no average


def test_train_ddpm_with_a_string_lr(tmp_path):
    with pytest.raises(InputError, match="lr must be a finite number"):
        train_ddpm(tmp_path, replace(ONE_STEP, lr="1e-3"), progress=False)
    assert train_ddpm(tmp_path, replace(ONE_STEP, lr=1e-3), progress=False)["steps"] == 1


def test_export_ddpm_of_a_missing_or_empty_folder(tmp_path):
    with pytest.raises(CheckpointError, match=r"run_dir .*nope_run does not exist; give a folder that bdlearn "
                                              r"train ddpm --out \(train_ddpm\) wrote"):
        export_ddpm(tmp_path / "nope_run", tmp_path / "x.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"run_dir .*empty holds no checkpoint.pt; give a folder"):
        export_ddpm(tmp_path / "empty", tmp_path / "x.safetensors")
    torch.save({"hello": 1}, tmp_path / "empty" / "checkpoint.pt")  # a dict neither trainer wrote
    with pytest.raises(CheckpointError, match=r"checkpoint.pt is not a checkpoint of bdlearn train ddpm"):
        export_ddpm(tmp_path / "empty", tmp_path / "x.safetensors")


def test_training_clip_into_a_ddpm_run(tmp_path, capsys):
    train_ddpm(tmp_path, ONE_STEP, progress=False)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    refusal = "holds a DDPM training run, not a CLIP run; train the CLIP into another folder"
    with pytest.raises(CheckpointError, match=refusal):
        train_clip(tmp_path, ONE_CLIP_STEP, progress=False)
    assert main(["train", "clip", "--preset", "quick", "--out", str(tmp_path)]) == 2
    assert refusal in capsys.readouterr().err
    assert (tmp_path / "checkpoint.pt").read_bytes() == before  # the DDPM run is as it was


def test_training_ddpm_into_a_clip_run(tmp_path, capsys):
    train_clip(tmp_path, ONE_CLIP_STEP, progress=False)
    refusal = "holds a CLIP training run, not a DDPM run; train the DDPM into another folder"
    with pytest.raises(CheckpointError, match=refusal):
        train_ddpm(tmp_path, ONE_STEP, progress=False)
    with pytest.raises(CheckpointError, match=refusal):
        export_ddpm(tmp_path, tmp_path / "x.safetensors")
    assert main(["train", "ddpm", "--preset", "quick", "--out", str(tmp_path)]) == 2
    assert refusal in capsys.readouterr().err


# --- the ninth battery's findings ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "refusal"), [
    ("weight_decay", float("nan"), "weight_decay must be a finite number, got nan"),
    ("weight_decay", -0.1, "weight_decay must be at least 0, got -0.1"),
    ("grey_fill", 2.0, r"grey_fill must be in \[0, 1\], got 2 \(the probability"),
    ("grey_fill", float("nan"), "grey_fill must be a finite number, got nan"),
    ("max_noise", -1.0, r"max_noise must be at least 0, got -1 \(the largest standard deviation"),
    ("max_blur_sigma", float("inf"), "max_blur_sigma must be a finite number"),
    ("scenes_per_batch", 0, "scenes_per_batch must be at least 1, got 0"),
    ("eval_every", 0, "eval_every must be at least 1, got 0"),
    ("final_eval_size", 2.0, r"final_eval_size must be an integer, got 2.0 \(float\)"),
    ("grad_clip", float("nan"), "grad_clip must be a finite number"),
    ("seed", -1, r"seed must be in \[0, 4294967295\], got -1"),
    ("data_seed", -1, "data_seed must be at least 0, got -1"),
    ("warmup_steps", -5, "warmup_steps must be at least 0, got -5"),
    ("checkpoint_every", 0, "checkpoint_every must be at least 1, got 0"),
    ("max_minutes", -1, "max_minutes must be at least 0, got -1")])
def test_clip_config_numbers_are_checked(field, value, refusal):
    with pytest.raises(InputError, match=refusal):  # when the config is made, before a run writes anything
        replace(ONE_CLIP_STEP, **{field: value})


@pytest.mark.parametrize(("field", "value", "refusal"), [
    ("batch_size", 0, "batch_size must be at least 1, got 0"),
    ("sample_every", -1, "sample_every must be at least 0, got -1"),
    ("min_snr_gamma", 0, r"min_snr_gamma must be above 0, got 0 \(Min-SNR"),
    ("min_snr_gamma", float("inf"), "min_snr_gamma must be a finite number"),
    ("bf16_autocast", "no", "bf16_autocast must be True or False, got 'no'"),
    ("grad_clip", -1, "grad_clip must be at least 0, got -1")])
def test_ddpm_config_numbers_are_checked(field, value, refusal):
    with pytest.raises(InputError, match=refusal):
        replace(ONE_STEP, **{field: value})
    assert replace(ONE_STEP, min_snr_gamma=5.0, sample_every=0).min_snr_gamma == 5.0


def test_clip_weight_decay_of_zero_still_trains(tmp_path):
    assert train_clip(tmp_path, replace(ONE_CLIP_STEP, weight_decay=0.0, grey_fill=1.0, max_noise=0.0),
                      progress=False)["steps"] == 1


def test_grow_seeds_and_argument_forms(tmp_path):
    dest = tmp_path / "grown.safetensors"
    with pytest.raises(InputError, match=r"seed must be in \[0, 4294967295\], got -1"):
        grow_attention(TOY_DDPM_WEIGHTS, dest, (1,), seed=-1)
    with pytest.raises(InputError, match=r"seed must be in \[0, 4294967295\], got -1"):
        grow_res_blocks(TOY_DDPM_WEIGHTS, dest, (2, 2, 2), seed=-1)
    with pytest.raises(InputError, match=r"blocks_per_level\[0\] must be an integer, got 2.0 \(float\) "
                                         r"\(blocks_per_level is a tuple of whole numbers, e.g. \(2, 1, 1\)"):
        grow_res_blocks(TOY_DDPM_WEIGHTS, dest, (2.0, 2, 2))
    with pytest.raises(TypeError, match=r"add_resolutions must be a tuple of whole numbers, e.g. \(2,\).*got 1 "
                                        r"\(int\)"):
        grow_attention(TOY_DDPM_WEIGHTS, dest, 1)
    with pytest.raises(TypeError, match="blocks_per_level must be a tuple of whole numbers.*got '222' \\(str\\)"):
        grow_res_blocks(TOY_DDPM_WEIGHTS, dest, "222")
    assert not dest.exists()


def test_zero_shot_accuracy_of_a_world_names_the_bundle():
    with pytest.raises(TypeError, match=r"zero_shot_accuracy needs a ClipBundle \(a world's is world.clip\), got "
                                        r"'not a bundle' \(str\)"):
        zero_shot_accuracy("not a bundle", n=8)


def test_weights_are_not_written_over_a_folder(tmp_path):
    """export_ddpm and the growths name a folder given as dest (it failed naming a temporary file)."""
    from bdlearn.training.grow import grow_attention
    from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS

    train_ddpm(tmp_path / "run", ONE_STEP, progress=False)
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match=r"dest .*folder is a folder; name the weights file to write"):
        export_ddpm(tmp_path / "run", tmp_path / "folder")
    with pytest.raises(InputError, match=r"dest .*folder is a folder"):
        grow_attention(TOY_DDPM_WEIGHTS, tmp_path / "folder", (2,))


def test_existing_weights_are_replaced_only_when_asked(tmp_path):
    """The shipped toy weights, or the weights a growth starts from, are not written over by accident."""
    from bdlearn.training.grow import grow_res_blocks
    from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS

    train_ddpm(tmp_path / "run", ONE_STEP, progress=False)
    dest = tmp_path / "weights.safetensors"
    dest.write_bytes(b"mine")
    with pytest.raises(InputError, match=r"dest .*weights.safetensors exists; pass overwrite=True to replace it"):
        export_ddpm(tmp_path / "run", dest)
    assert dest.read_bytes() == b"mine"
    export_ddpm(tmp_path / "run", dest, overwrite=True)
    assert dest.read_bytes() != b"mine"
    with pytest.raises(InputError, match=r"exists; pass overwrite=True"):
        grow_res_blocks(TOY_DDPM_WEIGHTS, TOY_DDPM_WEIGHTS, (2, 2, 2))
