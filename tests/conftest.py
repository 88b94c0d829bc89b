"""Shared test fixtures. The offline, home-clean environment is set by the root conftest.py."""
from __future__ import annotations

from pathlib import Path

import pytest

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
