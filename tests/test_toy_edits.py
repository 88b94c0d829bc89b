"""Toy-world edits at the shipped defaults succeed as the independent judge (not CLIP) sees them.

The demo task (``make_edit_task(3)``, the README's example and ``make demo``'s) edited from Python
and from the command line: the judge must find the prompt's colour and shape inside the mask of the
best-ranked edit. Success rates over many tasks are the business of ``benchmarks/bench_edit_quality.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bdlearn import edit
from bdlearn.cli import main
from bdlearn.scenes.judge import judge_region
from bdlearn.scenes.tasks import make_edit_task
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS

pytestmark = pytest.mark.skipif(not (TOY_DDPM_WEIGHTS.exists() and TOY_CLIP_WEIGHTS.exists()),
                                reason="the toy weights are not in data/")
DEMO_TASK = 3


def test_python_edit_at_the_defaults_succeeds():
    task = make_edit_task(DEMO_TASK)
    result = edit(task.image, task.mask, task.prompt, progress=False)
    best = result.full_size(0)
    verdict = judge_region(best.astype(np.float32) / 255, task.mask)
    assert verdict.matches(task.target_colour, task.target_shape), (task.prompt, verdict)
    outside = ~task.mask
    assert (best[outside] == np.round(task.image[outside] * 255)).all()  # the background, exactly


def test_cli_demo_succeeds(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--task-seed", str(DEMO_TASK)]) == 0
    assert "(success)" in capsys.readouterr().out
    task = make_edit_task(DEMO_TASK)
    best = np.asarray(Image.open(out / "edit_00.png"), dtype=np.float32) / 255
    assert judge_region(best, task.mask).matches(task.target_colour, task.target_shape)
