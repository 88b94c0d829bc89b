"""Shared test set-up: offline, nothing written to the user's home, and the reference fixtures."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Offline and home-clean before anything imports open_clip, lpips or matplotlib.
_TMP_HOME = Path(tempfile.mkdtemp(prefix="bdlearn-tests-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", str(_TMP_HOME / "torch"))
os.environ.setdefault("MPLCONFIGDIR", str(_TMP_HOME / "matplotlib"))
os.environ.setdefault("XDG_CACHE_HOME", str(_TMP_HOME / "cache"))
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference" / "guided_diffusion"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The guided-diffusion conformance fixtures; skips with a reason where they are absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(
            f"reference fixtures not found at {REFERENCE_DIR} "
            "(they live in ../shared beside the project's clone; a user's own clone has none)"
        )
    return REFERENCE_DIR
