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

#: Notebooks that edit on the real models only: without the weights they say what is missing.
REAL_WORLD_NOTEBOOKS = {"08_real_photos.ipynb"}
#: How many claims each toy-world lesson lists near its top and prints: one missing is a failure too.
CLAIMS_PER_NOTEBOOK = {"01_forward_noising.ipynb": 2, "02_reverse_process.ipynb": 6, "03_clip.ipynb": 4,
                       "04_local_clip_guided_diffusion.ipynb": 2, "05_blended_diffusion.ipynb": 3,
                       "06_extending_augmentations.ipynb": 2, "07_putting_it_together.ipynb": 3,
                       "09_beyond_the_paper.ipynb": 2}
