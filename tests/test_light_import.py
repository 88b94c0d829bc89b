"""``import bdlearn`` and the diffusion core stay light: no CLIP, augmentation, LPIPS or plotting
libraries until a name that needs them is used (notebook 01 should not wait for open_clip)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

HEAVY = ("open_clip", "kornia", "lpips", "matplotlib", "torchvision")


def _modules_loaded_by(code: str) -> list[str]:
    """The heavy top-level modules that ``code`` imports, run in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("code", ["import bdlearn", "import bdlearn.diffusion",
                                  "from bdlearn.diffusion import UNet, DiffusionSchedule, q_sample, sample",
                                  "import bdlearn.scenes",
                                  "from bdlearn.machinery import load_image, load_mask, read_image, read_mask"])
def test_light_imports(code):
    assert _modules_loaded_by(code) == []


def test_top_level_names_load_on_first_use():
    loaded = _modules_loaded_by("import bdlearn\nassert callable(bdlearn.edit) and callable(bdlearn.load_world)\n"
                                "assert bdlearn.EditResult.__name__ == 'EditResult'")
    assert "open_clip" in loaded  # the editing method needs CLIP, so using it brings open_clip in


def test_notebook_01s_imports_leave_clip_and_the_augmentations_out():
    cell = next(cell for cell in json.loads((REPO_ROOT / "notebooks" / "01_forward_noising.ipynb").read_text())["cells"]
                if cell["cell_type"] == "code" and "from bdlearn" in "".join(cell["source"]))
    code = "".join(line for line in cell["source"] if not line.startswith("%"))  # no IPython magics here
    imports = "\n".join(line for line in code.splitlines() if line.startswith(("import ", "from ", " ", ")")))
    assert "from bdlearn.notebook import" in imports
    assert not {"open_clip", "kornia", "lpips"} & set(_modules_loaded_by(imports))


def test_the_editor_loads_on_first_use():
    loaded = _modules_loaded_by("import bdlearn.notebook as nb\nassert nb.EditorApp.__name__ == 'EditorApp'")
    assert "open_clip" in loaded


def test_the_machinerys_cost_names_load_on_first_use():
    loaded = _modules_loaded_by("import bdlearn.machinery as m\nassert callable(m.plan_batches)")
    assert "open_clip" in loaded  # counting a guided step needs CLIP


def test_unknown_top_level_name_is_an_attribute_error():
    import bdlearn

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bdlearn.nope  # noqa: B018
    assert {"edit", "load_world", "ModelWorld", "EditResult"} <= set(dir(bdlearn))


EVAL = ["eval", "run", "--out", "x", "--method", "blended", "--tasks"]


@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["edit", "--help"], ["edit", "--method", "sideways"],
                                       ["grow", "--weights"], ["train", "dpm", "--out", "x"],
                                       [*EVAL, "toy:0"], [*EVAL, "toy:3", "--shard", "2/2"],
                                       [*EVAL, "toy:3", "--method", "sideways:skip=3"],
                                       [*EVAL, "toy:3", "--method", "blended:foo=1"]])
def test_the_command_line_answers_help_and_argument_errors_before_loading_torch(arguments, tmp_path):
    probe = ("import json, sys\nfrom bdlearn.cli import main\ntry:\n    code = main(" + repr(arguments) + ")\n"
             "except SystemExit as done:\n    code = done.code\n"
             "print(json.dumps([code, sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    answers = "--help" in arguments or "--version" in arguments
    assert loaded == [] and code == (0 if answers else 2)
    assert answers or out.stderr.startswith("bdlearn: error: ")
    assert list(tmp_path.iterdir()) == []
