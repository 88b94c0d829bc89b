"""The errors bdlearn raises for what a user can fix: a bad input or setting, broken weights, a failed download.

Each says what is wrong and what to do. The command line prints any of them as one line,
``bdlearn: error: ...``, with exit status 2. This module imports nothing, so the command line can
catch them before torch is loaded; each is also importable from the module that raises it.
"""
from __future__ import annotations


class InputError(ValueError):
    """An image, mask, prompt or setting that bdlearn cannot use, with what to do about it."""


class CheckpointError(ValueError):
    """A weights file that is missing, unreadable, not a state dict, or does not fit the model."""


class DownloadError(RuntimeError):
    """A download that could not be completed, or whose result failed its size or checksum test."""
