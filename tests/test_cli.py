"""The `bdlearn` command: an edit writes ranked PNGs, a figure and a report, and never overwrites."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bdlearn.cli import main
from bdlearn.scenes.tasks import make_edit_task
from bdlearn.worlds.toy import TOY_DDPM_WEIGHTS
from bdlearn.worlds.toy_clip import TOY_CLIP_WEIGHTS

pytestmark = pytest.mark.skipif(not (TOY_DDPM_WEIGHTS.exists() and TOY_CLIP_WEIGHTS.exists()),
                                reason="the toy weights are not in data/")
FAST = ["--respacing", "10", "--skip", "6", "--repetitions", "2", "--augmentations", "2"]


@pytest.fixture
def inputs(tmp_path):
    task = make_edit_task(3)
    image, mask = tmp_path / "in.png", tmp_path / "mask.png"
    Image.fromarray(np.round(task.image * 255).astype(np.uint8)).save(image)
    Image.fromarray(task.mask.astype(np.uint8) * 255).save(mask)
    return image, mask, task


def test_edit_writes_ranked_pngs_figure_and_report(inputs, tmp_path, capsys):
    image, mask, task = inputs
    out = tmp_path / "out"
    before = image.read_bytes()
    code = main(["edit", "--image", str(image), "--mask", str(mask), "--prompt", task.prompt, "--out", str(out), *FAST,
                 "--resample", "2", "--jump", "2"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["prompt"] == task.prompt and report["settings"]["repetitions"] == 2
    assert (report["settings"]["resample"], report["settings"]["jump"]) == (2, 2)
    assert report["settings"]["seed"] == 0 and report["run"]["batches"] == [2]  # edit()'s default seed
    distances = [e["clip_distance"] for e in report["edits"]]
    assert distances == sorted(distances)
    for entry in report["edits"]:
        assert Image.open(out / entry["file"]).size == (32, 32)
    assert (out / "figure.png").exists() and "figure" in capsys.readouterr().out
    assert image.read_bytes() == before


def test_edit_options_are_edits_keywords_and_unset_ones_are_not_passed():
    """The command passes on only the options a user typed, under edit()'s own names: the defaults live in edit()."""
    import inspect

    from bdlearn.cli import build_parser
    from bdlearn.pipeline import edit

    inputs = ["edit", "--image", "a.png", "--mask", "m.png", "--prompt", "p", "--out", "o"]
    bare = vars(build_parser().parse_args(inputs))
    every = vars(build_parser().parse_args(inputs + [
        "--world", "toy", "--method", "local", "--variant", "official", "--respacing", "10", "--skip", "2",
        "--sampler", "ddim",
        "--augmentations", "3", "--repetitions", "2", "--batch-size", "1", "--clip-weight", "5",
        "--range-weight", "6", "--lambda", "7", "--invert-mask", "--seed", "9", "--resample", "2", "--jump", "3"]))
    keywords = {name for name, each in inspect.signature(edit).parameters.items() if each.default is not each.empty}
    passed = {name: value for name, value in every.items() if name not in bare}
    assert len(passed) == 16 and set(passed) <= keywords, set(passed) - keywords
    assert passed["num_augmentations"] == 3 and passed["background_weight"] == 7.0 and passed["invert_mask"] is True
    assert not set(bare) & keywords, "an unset option was passed with a default of the CLI's own"


def test_refuses_existing_output_without_force(inputs, tmp_path, capsys):
    image, mask, task = inputs
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["edit", "--image", str(image), "--mask", str(mask), "--prompt", task.prompt, "--out", str(out), *FAST]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert (out / "keep.txt").read_text() == "mine"


def test_refuses_to_write_over_its_input(inputs, capsys):
    image, mask, task = inputs
    code = main(["edit", "--image", str(image), "--mask", str(mask), "--prompt", task.prompt,
                 "--out", str(image), "--force", *FAST])
    assert code == 2 and "overwrite the input" in capsys.readouterr().err


@pytest.mark.parametrize("prompt, message", [("   ", "empty"), ("a " * 40, "tokens")])
def test_bad_prompts_are_clear_errors(inputs, tmp_path, capsys, prompt, message):
    image, mask, _ = inputs
    code = main(["edit", "--image", str(image), "--mask", str(mask), "--prompt", prompt,
                 "--out", str(tmp_path / "o"), *FAST])
    assert code == 2 and message in capsys.readouterr().err


def test_empty_mask_is_a_clear_error(inputs, tmp_path, capsys):
    image, _, task = inputs
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(empty)
    code = main(["edit", "--image", str(image), "--mask", str(empty), "--prompt", task.prompt,
                 "--out", str(tmp_path / "o"), *FAST])
    assert code == 2 and "selects nothing" in capsys.readouterr().err


def test_train_anneal_needs_init_weights(tmp_path, capsys):
    assert main(["train", "ddpm", "--preset", "anneal", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.startswith("bdlearn: error: --preset anneal continues a trained DDPM")


def test_train_from_weights_without_a_card_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "cardless.safetensors").write_bytes(b"weights")  # the file is there, its .json card is not
    code = main(["train", "ddpm", "--preset", "anneal", "--init-weights", str(tmp_path / "cardless.safetensors"),
                 "--out", str(tmp_path / "run")])
    assert code == 2 and "has no card" in capsys.readouterr().err


@pytest.mark.parametrize("corner", ["top-left", "bottom-right"])
def test_edit_of_a_photo_of_any_size_comes_back_at_its_size_exact_outside_the_mask(tmp_path, corner):
    """A JPEG that is not square, a mask in a corner outside the centre square: the edits are PNGs of the
    photo's size, equal to the decoded photo outside the mask, and the report says which window was edited."""
    rng = np.random.default_rng(1)
    photo = (rng.random((90, 140, 3)) * 255).astype(np.uint8)
    image, mask_path, out = tmp_path / "photo.jpg", tmp_path / "mask.png", tmp_path / "out"
    Image.fromarray(photo).save(image, quality=90)
    mask = np.zeros((90, 140), dtype=bool)
    if corner == "top-left":
        mask[0:12, 0:20] = True
    else:
        mask[70:90, 118:140] = True
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_path)
    assert main(["edit", "--image", str(image), "--mask", str(mask_path), "--prompt", "a red circle", "--out",
                 str(out), *FAST]) == 0
    decoded = np.asarray(Image.open(image).convert("RGB"))
    report = json.loads((out / "report.json").read_text())
    assert report["input_size"] == {"width": 140, "height": 90} and report["model_side"] == 32
    for entry in report["edits"]:
        edited = np.asarray(Image.open(out / entry["file"]))
        assert edited.shape == (90, 140, 3)
        assert (edited[~mask] == decoded[~mask]).all()
        assert (edited[mask] != decoded[mask]).any()


def test_python_m_bdlearn_is_the_bdlearn_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bdlearn", "edit", "--image", "missing.png", "--mask", "missing.png",
                           "--prompt", "a red circle", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("bdlearn: error:") and len(done.stderr.splitlines()) == 1, done.stderr


def test_the_defaults_the_command_line_shows_are_edits():
    """Read from pipeline.py's source (no torch), they are the signature's own."""
    import inspect

    from bdlearn.cli import _edit_defaults
    from bdlearn.pipeline import edit

    signature = inspect.signature(edit).parameters.items()
    assert _edit_defaults() == {name: each.default for name, each in signature if each.default is not each.empty}
