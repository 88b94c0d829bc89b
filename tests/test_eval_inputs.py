"""Bad inputs to ``bdlearn eval`` and the cost helpers: each is refused in bdlearn's words before any file is
written, and a corrected run finds nothing in its way."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bdlearn.cli import main
from bdlearn.errors import InputError
from bdlearn.evaluation import run_evaluation
from bdlearn.evaluation.run import parse_method
from bdlearn.evaluation.shards import Shard
from bdlearn.evaluation.tasks import named_task_set, toy_tasks
from bdlearn.machinery.cost import edits_that_fit, guided_step_cost, plan_batches

TINY = {"respacing": "10", "skip": 7, "num_augmentations": 0}


def _evaluate(world, tasks, out: Path, **changes):
    arguments = dict(tasks=tasks, methods=[parse_method("blended")], repetitions=1, seed=0, out=out,
                     shard=Shard(0, 1, "test"), options=TINY, progress=False)
    return run_evaluation(world, **{**arguments, **changes})


def _task_folder(folder: Path, prompt: str) -> Path:
    folder.mkdir()
    Image.new("RGB", (32, 32), "grey").save(folder / "a.png")
    Image.new("L", (32, 32), 255).save(folder / "a.mask.png")
    (folder / "a.txt").write_text(prompt)
    return folder


def test_a_too_long_prompt_is_refused_before_anything_is_written(world, tmp_path):
    long, out = _task_folder(tmp_path / "long", "red " * 60), tmp_path / "eval"
    with pytest.raises(InputError, match=r"task a: the prompt 'red red .*' has 62 tokens with start and end; this "
                                         r"CLIP takes at most 20: shorten it"):
        _evaluate(world, named_task_set(str(long)), out)
    assert not out.exists()  # no eval.json, no empty items file
    path, count = _evaluate(world, named_task_set(str(_task_folder(tmp_path / "fixed", "a red square"))), out)
    assert count == 1 and len(path.read_text().splitlines()) == 1


def test_a_too_long_prompt_on_the_command_line_leaves_no_folder(world, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("bdlearn.worlds.load._LOADED", {"toy": world})
    monkeypatch.setattr("bdlearn.worlds.load.load_world", lambda name, device=None: world)
    long, out = _task_folder(tmp_path / "long", "red " * 60), tmp_path / "eval"
    command = ["eval", "run", "--method", "blended", "--repetitions", "1", "--respacing", "10", "--skip", "7",
               "--augmentations", "0", "--out", str(out)]
    assert main([*command, "--tasks", str(long)]) == 2
    assert "task a: the prompt 'red red" in capsys.readouterr().err
    assert not out.exists()
    fixed = _task_folder(tmp_path / "fixed", "a red square")
    assert main([*command, "--tasks", str(fixed)]) == 0


def test_a_run_that_fails_before_its_first_record_leaves_nothing_behind(world, tmp_path, monkeypatch):
    def fails(*arguments):
        raise InputError("the edit came out NaN or infinite at the end")

    folder, out = _task_folder(tmp_path / "photos", "a red square"), tmp_path / "eval"
    with monkeypatch.context() as patched:
        patched.setattr("bdlearn.evaluation.run.edit_item", fails)
        with pytest.raises(InputError, match="came out NaN"):
            _evaluate(world, named_task_set(str(folder)), out)
    assert not out.exists()  # no eval.json to refuse the corrected run
    (folder / "a.txt").write_text("a blue square")
    path, count = _evaluate(world, named_task_set(str(folder)), out)
    assert count == 1 and len(path.read_text().splitlines()) == 1
    (folder / "a.txt").write_text("a red square")
    with pytest.raises(InputError, match="task a changed since this evaluation began"):  # beside records: kept
        _evaluate(world, named_task_set(str(folder)), out, resume=True)
    assert sorted(entry.name for entry in out.iterdir()) == ["eval.json", "items-0-of-1.jsonl"]


def test_unknown_evaluation_options_are_named_with_the_valid_ones(world, tmp_path):
    with pytest.raises(InputError, match=r"options 'bogus': an evaluation's options are edit\(\)'s keywords other "
                                         r"than those it sets for each item, i.e. one of .*num_augmentations.*skip"):
        _evaluate(world, toy_tasks(1), tmp_path / "eval", options={"bogus": 1, **TINY})
    with pytest.raises(InputError, match="options 'seed'"):  # set per item, not for the run
        _evaluate(world, toy_tasks(1), tmp_path / "eval", options={"seed": 3})
    assert not (tmp_path / "eval").exists()


def test_edits_that_fit_refuses_zero_bytes_per_edit():
    with pytest.raises(InputError, match=r"saved_bytes_per_edit must be at least 1, got 0 \(the bytes one edit's "
                                         r"guided step keeps"):
        edits_that_fit(10**9, 0)
    assert edits_that_fit(2 * 2**30, 2**20) > 1


def test_the_cost_helpers_take_a_world_by_name_and_refuse_other_things(world, monkeypatch):
    monkeypatch.setattr("bdlearn.worlds.load._LOADED", {"toy": world})
    assert guided_step_cost("toy", 0) == guided_step_cost(world, 0)
    assert plan_batches("toy", 2, 3, 0).batch_size == plan_batches(world, 2, 3, 0).batch_size
    with pytest.raises(TypeError, match=r"world must be a ModelWorld or one of 'toy', 'real', got .*\(ClipBundle\)"):
        guided_step_cost(world.clip, 0)
    with pytest.raises(ValueError, match="unknown world 'bogus'"):
        plan_batches("bogus", 1, 1, 0)


@pytest.mark.parametrize("names", [("edit_00.png", "report.json", "figure.png"), ("notes.txt", "figure.png"),
                                   ("figure.png",), ("checkpoint.pt",)])
def test_an_out_folder_with_other_files_is_refused_before_anything_is_written(world, tmp_path, names):
    out = tmp_path / "eval"
    out.mkdir()
    for name in names:
        (out / name).write_bytes(b"mine")
    with pytest.raises(InputError, match=r"holds other files than an evaluation's \(and no eval.json\), which merge "
                                         r"could write over; choose a new or empty --out folder"):
        _evaluate(world, toy_tasks(1), out)
    assert sorted(entry.name for entry in out.iterdir()) == sorted(names)
    assert all((out / name).read_bytes() == b"mine" for name in names)


def test_an_out_folder_with_only_evaluation_files_is_taken(world, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "items-1-of-2.jsonl").write_text("")  # another shard that began first, before its eval.json
    (out / ".eval.json.123.partial").write_text("")
    (out / ".bdlearn-lock").write_text("")
    path, count = _evaluate(world, toy_tasks(2), out, shard=Shard(0, 2, "test"))
    assert (out / "eval.json").is_file() and count == len(path.read_text().splitlines())
    (out / "notes.txt").write_text("mine")  # beside an evaluation's eval.json: a resume goes on
    path, count = _evaluate(world, toy_tasks(2), out, shard=Shard(0, 2, "test"), resume=True)
    assert count == 0
