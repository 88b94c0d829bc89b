"""The errors bdlearn raises for what a user can fix: a bad input or setting, broken weights, a failed download.

Each says what is wrong and what to do. The command line prints any of them as one line,
``bdlearn: error: ...``, with exit status 2. This module imports only the standard library, so the command line can
catch them before torch is loaded; each is also importable from the module that raises it.
"""
from __future__ import annotations

import re


class InputError(ValueError):
    """An image, mask, prompt or setting that bdlearn cannot use, with what to do about it."""


class CheckpointError(ValueError):
    """A weights file that is missing, unreadable, not a state dict, or does not fit the model."""


class DownloadError(RuntimeError):
    """A download that could not be completed, or whose result failed its size or checksum test."""


def first_words(err: BaseException, width: int = 160) -> str:
    """The first sentence of a library's error message, without terminal colour codes, cut at a word (``…``)
    when longer than ``width`` characters: enough of torch's or PIL's own words to quote in one of bdlearn's."""
    first = (re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines() or [""])[0].split(". ")[0]
    return first if len(first) <= width else first[:width - 1].rsplit(" ", 1)[0] + " …"
