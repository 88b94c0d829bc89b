"""The ADM UNet against guided-diffusion's own outputs (../shared/reference/guided_diffusion).

Tolerances. The float32 fixtures were computed by the reference in float32; an independent float32
implementation can differ only by summation order, so FLOAT32_ATOL = 1e-5 (outputs are O(1)).
A wrong head order, a swapped sin/cos or an off-by-one timestep shows up near 1e-3 or above.
The float64 fixture allows FLOAT64_ATOL = 1e-12.
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from bdlearn.diffusion.unet import UNet, UNetConfig, adm256_uncond_config, count_parameters, timestep_embedding
from bdlearn.worlds.checkpoint import load_unet
from tests.helpers import TINY_UNET

FLOAT32_ATOL = 1e-5
FLOAT64_ATOL = 1e-12
SMALL_MODELS = ["adm_small", "adm_small_b"]


def _small(reference_dir, name: str, kernel: str = "sdpa"):
    config_json = json.loads((reference_dir / f"{name}_config.json").read_text())
    config = UNetConfig.from_dict({**config_json["unet_kwargs"], "attention_kernel": kernel})
    model = load_unet(reference_dir / f"{name}.safetensors", config)
    io = load_file(reference_dir / f"{name}_io.safetensors")
    return config_json, model, io


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_state_dict_keys_in_reference_order(reference_dir, name):
    config_json = json.loads((reference_dir / f"{name}_config.json").read_text())
    model = UNet(UNetConfig.from_dict(config_json["unet_kwargs"]))
    assert list(model.state_dict()) == config_json["state_dict_keys_in_order"]
    assert count_parameters(model) == config_json["num_parameters"]


@pytest.mark.parametrize("kernel", ["sdpa", "einsum"])
@pytest.mark.parametrize("name", SMALL_MODELS)
def test_outputs_float32(reference_dir, name, kernel):
    _, model, io = _small(reference_dir, name, kernel)
    with torch.no_grad():
        out = model(io["x"], io["timesteps"])
        out_frac = model(io["x"], io["timesteps_frac"])
    torch.testing.assert_close(out, io["out"], atol=FLOAT32_ATOL, rtol=0)
    torch.testing.assert_close(out, io["out_eval"], atol=FLOAT32_ATOL, rtol=0)
    torch.testing.assert_close(out_frac, io["out_frac"], atol=FLOAT32_ATOL, rtol=0)


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_intermediates_float32(reference_dir, name):
    _, model, io = _small(reference_dir, name)
    captured = {}
    model.middle_block.register_forward_hook(lambda m, args, out: captured.update(middle=out))
    with torch.no_grad():
        sinusoid = timestep_embedding(io["timesteps"], model.config.model_channels)
        emb = model.time_embed(sinusoid)
        model(io["x"], io["timesteps"])
    torch.testing.assert_close(sinusoid, io["dbg.t_sinusoid"], atol=FLOAT32_ATOL, rtol=0)
    torch.testing.assert_close(emb, io["dbg.emb"], atol=FLOAT32_ATOL, rtol=0)
    torch.testing.assert_close(captured["middle"], io["dbg.middle_out"], atol=FLOAT32_ATOL, rtol=0)


@pytest.mark.parametrize("kernel", ["sdpa", "einsum"])
@pytest.mark.parametrize("name", SMALL_MODELS)
def test_outputs_float64(reference_dir, name, kernel):
    _, model, io = _small(reference_dir, name, kernel)
    model.double()
    with torch.no_grad():
        out = model(io["x"].double(), io["timesteps"])
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, io["out_f64"], atol=FLOAT64_ATOL, rtol=0)


def test_half_precision_torso_follows_reference(reference_dir):
    """use_fp16 casts exactly the tensors the reference casts; outputs stay close to float32."""
    layout = json.loads((reference_dir / "adm256_uncond_state_dict_layout.json").read_text())
    with torch.device("meta"):
        model = UNet(adm256_uncond_config(use_fp16=True))
    half = sorted(k for k, v in model.state_dict().items() if v.dtype == torch.float16)
    assert half == sorted(layout["fp16_after_convert_to_fp16"])

    config_json, model32, io = _small(reference_dir, "adm_small")
    config16 = UNetConfig.from_dict({**config_json["unet_kwargs"], "use_fp16": True})
    model16 = load_unet(reference_dir / "adm_small.safetensors", config16)
    with torch.no_grad():
        out16 = model16(io["x"], io["timesteps"])
    assert out16.dtype == torch.float32
    # float16 keeps ~3 significant digits through ~15 layers: a loose, stated bound.
    assert (out16 - io["out"]).abs().max() < 0.05


def test_adm256_layout(reference_dir):
    """The released 256x256 checkpoint's every key and shape, built on the meta device (no memory)."""
    layout = json.loads((reference_dir / "adm256_uncond_state_dict_layout.json").read_text())
    with torch.device("meta"):
        model = UNet(adm256_uncond_config())
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    theirs = [(k, shape) for k, shape, _dtype in layout["state_dict"]]
    assert ours == theirs
    assert count_parameters(model) == layout["total_parameters"] == 552_814_086
    args = layout["unet_constructor_args"]
    assert tuple(args["channel_mult"]) == model.config.channel_mult
    assert tuple(sorted(args["attention_resolutions(ds)"])) == tuple(sorted(model.config.attention_resolutions))


def test_norm_groups_default_to_the_reference_and_reach_every_norm():
    assert adm256_uncond_config().norm_groups == 32
    config = replace(TINY_UNET, norm_groups=8)
    norms = [m for m in UNet(config).modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == 8 for m in norms)


def test_norm_groups_must_divide_the_channels():
    with pytest.raises(ValueError, match="multiple of norm_groups"):
        UNetConfig(model_channels=32, norm_groups=12)


def test_residual_blocks_per_level():
    """bdlearn's extension: one count per level builds that many blocks there (and one more on the
    way up); a single count means every level, as in the reference; a card's list loads as a tuple."""
    small = dict(image_size=16, model_channels=32, channel_mult=(1, 2), attention_resolutions=(), norm_groups=8)
    uniform = UNet(UNetConfig(num_res_blocks=1, **small))
    per_level = UNet(UNetConfig.from_dict({"num_res_blocks": [2, 1], **small}))
    assert per_level.config.num_res_blocks == (2, 1) and per_level.config.blocks_per_level == (2, 1)
    assert UNetConfig(num_res_blocks=1, **small).blocks_per_level == (1, 1)
    assert UNetConfig(num_res_blocks=[1, 1], **small) == UNetConfig(num_res_blocks=1, **small)
    assert (len(uniform.input_blocks), len(uniform.output_blocks)) == (4, 4)
    assert (len(per_level.input_blocks), len(per_level.output_blocks)) == (5, 5)
    full_resolution = [block for block in per_level.output_blocks if block[0].out_layers[-1].out_channels == 32]
    assert len(full_resolution) == 3
    x = torch.randn(2, 3, 16, 16)
    assert per_level(x, torch.tensor([1, 900])).shape == (2, 6, 16, 16)


@pytest.mark.parametrize("counts, message", [((1, 1, 1), "one count per level"), ((1, 0), "at least one")])
def test_residual_block_counts_are_checked(counts, message):
    with pytest.raises(ValueError, match=message):
        UNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=counts, norm_groups=8)
