"""Growing a trained UNet by attention or by residual blocks keeps what it computes."""
import stat
from dataclasses import asdict, replace

import pytest
import torch

import bdlearn.training.ddpm
from bdlearn.cli import main
from bdlearn.diffusion.unet import UNet
from bdlearn.training.common import export_weights
from bdlearn.training.ddpm import PRESETS, train_ddpm
from bdlearn.training.grow import grow_attention, grow_res_blocks
from bdlearn.worlds.checkpoint import CheckpointError, load_unet, weight_card
from bdlearn.worlds.toy import TOY_UNET_CONFIG, toy_unet_config

SMALL = replace(TOY_UNET_CONFIG, model_channels=16, num_head_channels=16, attention_resolutions=(4,))


@pytest.fixture
def trained(tmp_path):
    """Random weights standing in for trained ones, with a card as the trainer writes it."""
    torch.manual_seed(0)
    model = UNet(SMALL)
    for parameter in model.parameters():  # no zero-initialised layers: every block contributes
        parameter.data.normal_(0, 0.05)
    path = tmp_path / "small.safetensors"
    export_weights(path, model.state_dict(), {"unet": asdict(SMALL), "steps": 123})
    return path, model.eval()


def test_grown_unet_computes_what_it_grew_from(trained, tmp_path):
    path, model = trained
    dest = tmp_path / "grown.safetensors"
    config = grow_attention(path, dest, (2,))
    assert config.attention_resolutions == (2, 4)
    assert toy_unet_config(dest) == config and weight_card(dest)["steps"] == 123
    grown = load_unet(dest, config)
    added = sum(p.numel() for p in grown.parameters()) - sum(p.numel() for p in model.parameters())
    assert added > 0
    x, t = torch.randn(3, 3, 32, 32), torch.tensor([0, 400, 999])
    with torch.no_grad():
        assert torch.equal(grown(x, t), model(x, t))


@pytest.mark.parametrize("counts", [(2, 1, 1), (1, 3, 2)])
def test_deeper_unet_computes_what_it_grew_from(trained, tmp_path, counts):
    path, model = trained
    dest = tmp_path / "deeper.safetensors"
    config = grow_res_blocks(path, dest, counts, seed=4)
    assert config.num_res_blocks == counts and toy_unet_config(dest) == config
    grown = load_unet(dest, config)
    assert len(grown.input_blocks) - len(model.input_blocks) == sum(counts) - 3
    assert len(grown.output_blocks) - len(model.output_blocks) == sum(counts) - 3
    x, t = torch.randn(3, 3, 32, 32), torch.tensor([0, 400, 999])
    with torch.no_grad():
        assert torch.equal(grown(x, t), model(x, t))
    grown_state, old_state = grown.state_dict(), model.state_dict()
    assert all(torch.equal(grown_state[key], old_state[key]) for key in ("out.2.weight", "time_embed.0.weight"))


def test_deeper_unet_refuses_fewer_or_as_many_blocks(trained, tmp_path):
    path, _ = trained
    with pytest.raises(ValueError, match="at least"):
        grow_res_blocks(path, tmp_path / "deeper.safetensors", (2, 1))
    with pytest.raises(ValueError, match="nothing to add"):
        grow_res_blocks(path, tmp_path / "deeper.safetensors", (1, 1, 1))


def test_cli_grows_residual_blocks(trained, tmp_path, capsys):
    path, _ = trained
    dest = tmp_path / "deeper.safetensors"
    assert main(["grow", "--weights", str(path), "--res-blocks", "2", "1", "1", "--out", str(dest)]) == 0
    assert "(2, 1, 1)" in capsys.readouterr().out
    assert toy_unet_config(dest).num_res_blocks == (2, 1, 1)
    (tmp_path / "plain").write_text("made as the user's other files are")  # the mode the umask gives
    assert {stat.S_IMODE(path.stat().st_mode) for path in (dest, dest.with_suffix(".json"), tmp_path / "plain")} \
        == {stat.S_IMODE((tmp_path / "plain").stat().st_mode)}  # not safetensors' owner-only 0600
    assert main(["grow", "--weights", str(path), "--res-blocks", "0", "1", "1", "--out", str(dest), "--force"]) == 2
    assert "at least" in capsys.readouterr().err


def test_growing_where_attention_already_is_refused(trained, tmp_path):
    path, _ = trained
    with pytest.raises(ValueError, match="nothing to add"):
        grow_attention(path, tmp_path / "grown.safetensors", (4,))


def test_cli_grows_and_trains_on_with_the_grown_architecture(trained, tmp_path, monkeypatch, capsys):
    path, _ = trained
    dest = tmp_path / "grown.safetensors"
    assert main(["grow", "--weights", str(path), "--attention", "2", "--out", str(dest)]) == 0
    assert "--init-weights" in capsys.readouterr().out
    assert main(["grow", "--weights", str(path), "--attention", "2", "--out", str(dest)]) == 2
    assert "--force" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr(bdlearn.training.ddpm, "train_ddpm",
                        lambda out, config, resume: seen.update(config=config) or {"steps": 0})
    assert main(["train", "ddpm", "--preset", "anneal", "--init-weights", str(dest),
                 "--out", str(tmp_path / "run")]) == 0
    assert seen["config"].unet == toy_unet_config(dest) == replace(SMALL, attention_resolutions=(2, 4))


def test_training_grown_weights_with_another_architecture_is_refused(trained, tmp_path):
    path, _ = trained
    dest = tmp_path / "grown.safetensors"
    grow_attention(path, dest, (2,))
    config = replace(PRESETS["anneal"], init_weights=str(dest), unet=SMALL)
    with pytest.raises(ValueError, match="toy_unet_config"):
        train_ddpm(tmp_path / "run", config, progress=False)


def test_growing_needs_weights_and_their_card(trained, tmp_path):
    path, _ = trained
    with pytest.raises(CheckpointError, match="does not exist"):
        grow_attention(tmp_path / "missing.safetensors", tmp_path / "grown.safetensors", (2,))
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="no card"):
        grow_attention(path, tmp_path / "grown.safetensors", (2,))
