"""Plain helpers the test modules share: the checkout's root, running a notebook, the tiny UNet.

Fixtures and hooks live in conftest.py; this module holds what a test imports by name.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from bdlearn.diffusion.unet import UNetConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The smallest UNet with every kind of block (two levels, attention at the second): a real model
#: for the tests, built in a blink. ``replace(TINY_UNET, image_size=32)`` for the toy world's size.
TINY_UNET = UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                       attention_resolutions=(2,), num_head_channels=32)


def execute_notebook(path: Path, timeout: int = 900, **kernel_kwargs) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` top to bottom in its own folder and return it with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(**kernel_kwargs)
    return notebook


def cell_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed (streams and plain-text results)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "".join(parts)
