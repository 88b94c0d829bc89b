"""``bdlearn eval``: a task set under named methods, split into shards that merge into exactly the records one
process writes, under ``--shard i/N``, under torchrun (2 CPU processes) and after a resume."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from bdlearn.choices import EDIT_OPTIONS
from bdlearn.cli import main
from bdlearn.evaluation import merge_records, run_evaluation
from bdlearn.evaluation.run import eval_items, parse_method
from bdlearn.evaluation.shards import Shard, parse_shard, shard_from_environment, shard_of
from bdlearn.evaluation.tasks import folder_tasks, named_task_set, toy_tasks
from bdlearn.machinery.inputs import InputError
from bdlearn.notebook.plotting import evaluation_figure
from bdlearn.pipeline import edit

#: Three toy tasks, two methods, two repetitions: 12 items, each a one-repetition edit of 4 steps.
RUN = ["--tasks", "toy:3", "--method", "blended", "--method", "local:background_weight=1000", "--repetitions", "2",
       "--respacing", "10", "--skip", "6", "--augmentations", "0"]


def _bdlearn(*arguments: str, launcher: tuple[str, ...] = ()) -> None:
    """``python -m bdlearn`` (or under a launcher) in a fresh process, one thread, as every run here."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, *launcher, "-m", "bdlearn", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "eval"
    _bdlearn("eval", "run", *RUN, "--out", str(out))
    assert main(["eval", "merge", str(out)]) == 0
    return out


def test_the_records_and_the_table(one_process):
    records = [json.loads(line) for line in (one_process / "records.jsonl").read_text().splitlines()]
    assert [record["index"] for record in records] == list(range(12))
    assert [record["seed"] for record in records] == list(range(12))  # seed + the item's index
    blended = [record for record in records if record["method"] == "blended"]
    assert len(blended) == 6 and all(record["background_error"] == 0.0 for record in blended)
    assert all(record["judge"] is not None and isinstance(record["success"], bool) for record in records)
    table = json.loads((one_process / "table.json").read_text())
    assert [row["method"] for row in table["methods"]] == ["blended", "local:background_weight=1000"]
    assert table["methods"][1]["background_error"] > 0
    with Image.open(one_process / "figure.png") as figure:  # the trade-off, drawn from the table
        assert figure.format == "PNG" and figure.width > 400


def test_the_figure_of_photos_without_a_judge_plots_clip_distance():
    table = {"world": "real", "tasks": 2, "repetitions": 1, "methods": [
        {"method": "blended", "edits": 2, "success": None, "clip_distance": 0.8, "background_error": 0.0, "seconds": 1},
        {"method": "sdedit", "edits": 2, "success": None, "clip_distance": 0.7, "background_error": 0.3, "seconds": 1}]}
    figure = evaluation_figure(table)
    axes = figure.axes[0]
    assert axes.get_ylabel().startswith("mean CLIP distance") and [line.get_label() for line in axes.lines] == [
        "blended", "sdedit"]
    plt.close(figure)


@pytest.mark.slow
def test_shards_merge_into_the_one_process_records(one_process, tmp_path):
    out = tmp_path / "sharded"
    for index in range(2):
        _bdlearn("eval", "run", *RUN, "--out", str(out), "--shard", f"{index}/2")
    assert main(["eval", "merge", str(out)]) == 0
    assert (out / "records.jsonl").read_bytes() == (one_process / "records.jsonl").read_bytes()


@pytest.mark.slow
def test_torchrun_processes_merge_into_the_one_process_records(one_process, tmp_path):
    out = tmp_path / "torchrun"
    _bdlearn("eval", "run", *RUN, "--out", str(out),
             launcher=("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"))
    assert sorted(path.name for path in out.glob("items-*")) == ["items-0-of-2.jsonl", "items-1-of-2.jsonl"]
    assert main(["eval", "merge", str(out)]) == 0
    assert (out / "records.jsonl").read_bytes() == (one_process / "records.jsonl").read_bytes()


def test_a_resume_goes_on_after_a_torn_line_and_merges_the_same(one_process, tmp_path, capsys):
    out = tmp_path / "resumed"
    out.mkdir()
    (out / "eval.json").write_bytes((one_process / "eval.json").read_bytes())
    whole = (one_process / "items-0-of-1.jsonl").read_text().splitlines(keepends=True)
    (out / "items-0-of-1.jsonl").write_text("".join(whole[:5]) + whole[5][:20])  # killed while writing line 6
    assert main(["eval", "merge", str(out)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main(["eval", "run", *RUN, "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err
    _bdlearn("eval", "run", *RUN, "--out", str(out), "--resume")
    assert main(["eval", "merge", str(out)]) == 0
    assert (out / "records.jsonl").read_bytes() == (one_process / "records.jsonl").read_bytes()


def test_another_evaluation_in_the_same_folder_and_missing_items_are_refused(one_process, tmp_path, capsys):
    out = tmp_path / "other"
    out.mkdir()
    (out / "eval.json").write_bytes((one_process / "eval.json").read_bytes())
    assert main(["eval", "run", *RUN[:-2], "--augmentations", "1", "--out", str(out)]) == 2
    assert "holds another evaluation (its options differ)" in capsys.readouterr().err
    assert main(["eval", "merge", str(out)]) == 2
    assert "12 of 12 items are missing" in capsys.readouterr().err


def test_shards_come_from_the_option_or_the_launcher():
    assert shard_of("toy-1", 4) == shard_of("toy-1", 4) == int.from_bytes(
        __import__("hashlib").sha256(b"toy-1").digest()[:8], "big") % 4
    assert parse_shard("1/4").index == 1 and parse_shard(" 0 / 1 ").count == 1
    for bad in ("4/4", "1/0", "-1/2", "a/b", "1"):
        with pytest.raises(InputError, match="write i/N"):
            parse_shard(bad)
    assert shard_from_environment({"RANK": "1", "WORLD_SIZE": "2"}).source == "torchrun"
    slurm = shard_from_environment({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3",
                                    "SLURM_ARRAY_TASK_MIN": "1"})
    assert (slurm.index, slurm.count, slurm.source) == (2, 3, "Slurm")
    assert shard_from_environment({}).count == 1
    with pytest.raises(InputError, match="shard 5 of 2"):
        shard_from_environment({"RANK": "5", "WORLD_SIZE": "2"})


def test_method_specs_name_edit_options():
    spec = parse_method("local:background_weight=1000,resample=2")
    assert (spec.method, spec.options) == ("local", {"background_weight": 1000, "resample": 2})
    assert parse_method("blended:invert_mask=True,clip_denoised=false").options == {"invert_mask": True,
                                                                                      "clip_denoised": False}
    assert parse_method("blended:").label == parse_method(" blended ").label == "blended"  # one row when merged
    for bad, message in (("magic", "the method is one of"), ("local:lambda=3", "not KEY=VALUE"),
                         ("blended:seed=3", "set by bdlearn eval run itself"),
                         ("blended:repetitions=2", r"--repetitions"), ("local:background_weight", "not KEY=VALUE"),
                         (None, "NAME:KEY=VALUE")):
        with pytest.raises(InputError, match=message):
            parse_method(bad)


def test_the_method_options_are_edits_keyword_options():
    """bdlearn.choices.EDIT_OPTIONS (checked before torch loads) names exactly edit()'s keyword-only options."""
    parameters = inspect.signature(edit).parameters.values()
    assert EDIT_OPTIONS == tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def test_shards_and_task_sets_refuse_what_they_cannot_be():
    for call, message in ((lambda: Shard(5, 2, "x"), "0 <= i < N"), (lambda: shard_of("toy-1", 0), "at least 1"),
                          (lambda: parse_shard(3), "'i/N'"), (lambda: named_task_set(5), "toy:N or a folder"),
                          (lambda: named_task_set(""), "unset shell variable"), (lambda: toy_tasks(-1), "at least 1")):
        with pytest.raises(InputError, match=message):
            call()


def _photo_folder(folder: Path, names=("a.png",), prompt: bytes = b"a red circle") -> Path:
    folder.mkdir()
    for name in names:
        Image.new("RGB", (32, 32), "grey").save(folder / name)
        stem = name.rsplit(".", 1)[0]
        Image.new("L", (32, 32), 255).save(folder / f"{stem}.mask.png")
        (folder / f"{stem}.txt").write_bytes(prompt)
    return folder


def test_a_folder_of_photos_names_its_bad_files(tmp_path):
    with pytest.raises(InputError, match="two pictures of one name, a.jpg and a.png"):
        named_task_set(str(_photo_folder(tmp_path / "twice", ("a.png", "a.jpg"))))
    with pytest.raises(InputError, match=r"b.txt is not UTF-8"):
        named_task_set(str(_photo_folder(tmp_path / "latin", ("b.png",), "une fleur bleue \xe9".encode("latin-1"))))
    windows = named_task_set(str(_photo_folder(tmp_path / "bom", ("c.png",), "\ufeffa red circle\r\n".encode())))
    assert windows[0].prompt == "a red circle"  # a byte-order mark is not part of the prompt


TINY = {"respacing": "10", "skip": 7, "num_augmentations": 0}


def _evaluate(world, folder, **changes):
    arguments = dict(tasks=toy_tasks(2), methods=[parse_method("blended")], repetitions=1, seed=0, out=folder,
                     shard=Shard(0, 1, "test"), options=TINY, progress=False)
    return run_evaluation(world, **{**arguments, **changes})


def test_an_evaluation_checks_everything_before_it_writes(world, tmp_path):
    out = tmp_path / "eval"
    for changes, message in (({"methods": []}, "at least one method"), ({"tasks": []}, "task set is empty"),
                             ({"repetitions": 0}, "at least 1"), ({"seed": 2**32 - 1}, "below 2\\*\\*32"),
                             ({"shard": "0/1"}, "must be a Shard"),
                             ({"options": {"skip": 99}}, "--method blended: skip"),
                             ({"methods": [parse_method("blended:jump=3")]}, "resampling"),
                             ({"methods": [parse_method("blended"), parse_method("blended:")]}, "given twice"),
                             ({"methods": [parse_method("local:background_weight=1e3"),
                                           parse_method("local:background_weight=1000")]}, "given twice"),
                             ({"out": None}, "folder's path")):
        with pytest.raises(InputError, match=message):
            _evaluate(world, out, **changes)
        assert not out.exists(), f"{changes} left a half-begun evaluation behind"


def test_merge_takes_only_this_evaluations_records(world, tmp_path):
    out = tmp_path / "eval"
    _evaluate(world, str(out))  # a str path, as every bdlearn function takes
    shard = out / "items-0-of-1.jsonl"
    lines = shard.read_text().splitlines()
    assert merge_records(str(out))["methods"][0]["edits"] == 2
    shard.write_text("\n".join([*lines, lines[0]]) + "\n")  # the same record twice: its seconds counted once
    assert merge_records(out)["methods"][0]["seconds"] == pytest.approx(
        sum(json.loads(line)["seconds"] for line in lines), abs=1e-3)
    other = json.loads(lines[0])
    for change, message in (({"seed": 7}, "seed differs"), ({"method": "local"}, "method differs"),
                            ({"index": 5}, "item 5 is not one of")):
        shard.write_text("\n".join([json.dumps({**other, "record": {**other["record"], **change}}), lines[1]]) + "\n")
        with pytest.raises(InputError, match=message):
            merge_records(out)
    shard.write_text("{}\n")
    with pytest.raises(InputError, match="line 1, is not a record"):
        merge_records(out)
    for text in ("{torn", '{"items": 2}', "[1, 2]"):
        (out / "eval.json").write_text(text)
        with pytest.raises(InputError, match="eval.json is not"):
            merge_records(out)
        with pytest.raises(InputError, match="eval.json is not"):  # a resumed run reads it as merge does
            _evaluate(world, out, resume=True)
    with pytest.raises(InputError, match="folder"):
        merge_records(None)


def test_a_second_process_on_the_same_shard_stops_at_once(world, tmp_path):
    import fcntl

    out = tmp_path / "eval"
    out.mkdir()
    with open(out / "items-0-of-1.jsonl", "a") as held:  # another process, writing this shard
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another process is writing"):
            _evaluate(world, out, resume=True)
    assert (out / "items-0-of-1.jsonl").read_text() == ""



# --- the fourth battery's findings -------------------------------------------------------------------------------

def test_a_folder_skips_hidden_files_takes_masks_of_any_picture_suffix_and_names_folders(tmp_path):
    folder = _photo_folder(tmp_path / "photos", ("a.png", ".b.png", "C.JPG"))
    (folder / "C.mask.png").rename(folder / "C.mask.PNG")
    Image.new("L", (32, 32), 255).save(folder / "d.png")
    (folder / "d.txt").write_text("a red circle")
    Image.new("L", (32, 32), 255).save(folder / "d.mask.jpg")
    tasks = named_task_set(str(folder))
    assert [(task.id, task.mask.name) for task in tasks] == [("C", "C.mask.PNG"), ("a", "a.mask.png"),
                                                              ("d", "d.mask.jpg")]
    (folder / "d.mask.jpg").unlink()
    (folder / "d.mask.png").mkdir()
    with pytest.raises(InputError, match="d.mask.png, d.png's mask, is a folder, not a file"):
        named_task_set(str(folder))
    (folder / "d.mask.png").rmdir()
    with pytest.raises(InputError, match="d.png has no mask d.mask.png beside it"):
        named_task_set(str(folder))


def test_a_method_option_given_twice_is_refused():
    with pytest.raises(InputError, match="skip is given twice"):
        parse_method("blended:skip=7,skip=8")


def test_a_resume_refuses_a_changed_task_and_another_split(world, tmp_path):
    folder, out = _photo_folder(tmp_path / "photos", ("a.png", "b.png")), tmp_path / "eval"
    _evaluate(world, out, tasks=named_task_set(str(folder)))
    (folder / "b.txt").write_text("a purple cross")
    with pytest.raises(InputError, match="task b changed since this evaluation began"):
        _evaluate(world, out, tasks=named_task_set(str(folder)), resume=True)
    (folder / "b.txt").write_text("a red circle")
    with pytest.raises(InputError, match="shards of a split into 1.*give --shard i/1"):
        _evaluate(world, out, tasks=named_task_set(str(folder)), resume=True, shard=Shard(1, 2, "test"))
    assert sorted(path.name for path in out.iterdir()) == ["eval.json", "items-0-of-1.jsonl"]
    _evaluate(world, out, tasks=named_task_set(str(folder)), resume=True)  # as it was: goes on


def test_merge_refuses_records_that_are_not_measures(world, tmp_path):
    out = tmp_path / "eval"
    _evaluate(world, out)
    shard = out / "items-0-of-1.jsonl"
    first, second = (json.loads(line) for line in shard.read_text().splitlines())
    for change, message in (({"clip_distance": float("nan")}, "clip_distance is nan"),
                            ({"background_error": -1.0}, "background_error is -1.0"),
                            ({"success": "yes"}, "success is 'yes'"), ({"success": 1}, "success is 1")):
        shard.write_text(json.dumps({**first, "record": {**first["record"], **change}}) + "\n" + json.dumps(second))
        with pytest.raises(InputError, match=message):
            merge_records(out)
    for seconds in (float("inf"), -5):
        shard.write_text(json.dumps({**first, "seconds": seconds}) + "\n" + json.dumps(second))
        with pytest.raises(InputError, match="line 1, is not a record"):
            merge_records(out)


def test_a_second_merge_of_a_folder_stops_at_once(world, tmp_path, capsys):
    import fcntl

    out = tmp_path / "eval"
    _evaluate(world, out)
    with open(out / ".bdlearn-lock", "w") as held:  # another bdlearn eval merge, writing there now
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["eval", "merge", str(out)]) == 2
    assert "another bdlearn command is writing into" in capsys.readouterr().err
    assert not (out / "table.json").exists()


def test_a_bad_task_is_named_before_any_edit(world, tmp_path):
    folder, out = _photo_folder(tmp_path / "photos", ("a.png", "b.png", "c.png")), tmp_path / "eval"
    Image.new("L", (32, 32), 0).save(folder / "c.mask.png")  # selects nothing
    with pytest.raises(InputError, match="task c: the mask selects nothing"):
        _evaluate(world, out, tasks=folder_tasks(str(folder)))  # a str folder, as every path bdlearn takes
    assert not out.exists()
    with pytest.raises(InputError, match="at least 1, got -1"):
        eval_items(toy_tasks(1), [parse_method("blended")], -1, 0)


def test_an_evaluation_takes_a_world_by_name(world, tmp_path, monkeypatch):
    monkeypatch.setattr("bdlearn.worlds.load._LOADED", {"toy": world})
    path, count = _evaluate("toy", tmp_path / "eval")
    assert count == 2 and len(path.read_text().splitlines()) == 2


def test_a_prompt_file_that_is_a_pipe_is_named_as_one(tmp_path):
    import os

    folder = _photo_folder(tmp_path / "photos")
    (folder / "a.txt").unlink()
    os.mkfifo(folder / "a.txt")
    with pytest.raises(InputError, match=r"a.txt, a.png's prompt, is not a regular file \(a pipe"):
        named_task_set(str(folder))


def test_an_inverted_mask_is_refused_where_the_judge_looks_inside_the_mask(world, tmp_path):
    with pytest.raises(InputError, match="the judge looks inside each toy task's mask"):
        _evaluate(world, tmp_path / "eval", methods=[parse_method("blended:invert_mask=true")])
