"""Checking a learner's answer against bdlearn's: exact, close, or wrong, and by how much."""
from __future__ import annotations

import torch


def check(name: str, mine, reference, rtol: float = 1e-4, atol: float = 1e-5) -> str:
    """Compare ``mine`` with ``reference`` (tensors, arrays or numbers), print and return the verdict.

    "exact" when equal, "close" when within ``rtol``/``atol`` (float round-off), else "wrong",
    with the largest absolute difference. Shapes must match for anything but "wrong".
    """
    mine_t = torch.as_tensor(mine).detach().cpu().to(torch.float64)
    ref_t = torch.as_tensor(reference).detach().cpu().to(torch.float64)
    if mine_t.shape != ref_t.shape:
        verdict = f"wrong: shape {tuple(mine_t.shape)} != expected {tuple(ref_t.shape)}"
    else:
        difference = (mine_t - ref_t).abs().max().item() if mine_t.numel() else 0.0
        if torch.equal(mine_t, ref_t):
            verdict = "exact"
        elif torch.allclose(mine_t, ref_t, rtol=rtol, atol=atol):
            verdict = f"close (max difference {difference:.2e})"
        else:
            verdict = f"wrong (max difference {difference:.3g})"
    print(f"{name}: {verdict}")
    return verdict.split(" ")[0].rstrip(":")
