"""Whether downloads are off: ``HF_HUB_OFFLINE``, the switch open_clip's (Hugging Face's) downloads obey,
turns bdlearn's own off too (the real UNet's weights, LPIPS's ImageNet backbone), so that an offline
machine fails at once, saying what is missing, instead of after a minute of retries.

This module imports nothing from bdlearn: every layer may ask it.
"""
from __future__ import annotations

import os

#: The environment variable that turns downloads off ("1", "true", "yes" or "on").
OFFLINE_ENV = "HF_HUB_OFFLINE"


def downloads_are_off() -> bool:
    """Whether ``$HF_HUB_OFFLINE`` is set to "1", "true", "yes" or "on" (any case)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
