"""The UNet's attention runs PyTorch's fused kernel (flash attention on the CPU), forward and backward.

``scaled_dot_product_attention`` silently falls back to its unfused math kernel when q, k, v are
transposed views; the conformance tests would not notice (the results agree), so the profiler does.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile

from bdlearn.diffusion import UNet
from bdlearn.worlds.toy import TOY_UNET_CONFIG


def _attention_ops(unet: UNet) -> set[str]:
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        unet(x, torch.tensor([10.0, 500.0])).sum().backward()
    return {event.key for event in prof.key_averages() if "attention" in event.key}


def test_unet_attention_runs_the_fused_kernel_forward_and_backward():
    torch.manual_seed(0)
    ops = _attention_ops(UNet(TOY_UNET_CONFIG))
    assert "aten::_scaled_dot_product_attention_math" not in ops, ops
    assert {"aten::_scaled_dot_product_flash_attention_for_cpu",
            "aten::_scaled_dot_product_flash_attention_for_cpu_backward"} <= ops, ops


def test_fused_and_einsum_attention_agree():
    torch.manual_seed(0)
    fused = UNet(TOY_UNET_CONFIG).eval()
    plain = UNet(replace(TOY_UNET_CONFIG, attention_kernel="einsum")).eval()
    plain.load_state_dict(fused.state_dict())
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([10.0, 500.0])
    with torch.no_grad():
        torch.testing.assert_close(fused(x, t), plain(x, t), rtol=1e-5, atol=1e-5)
