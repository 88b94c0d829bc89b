"""The course, run once as a student gets it: every notebook top to bottom from the installed wheel.

Each notebook is copied out of the checkout and run in a kernel whose ``PYTHONPATH`` holds only the
wheel's folder (fixtures in conftest.py), so this is also the proof that the wheel carries the
course. This is the suite's only run of the course notebooks (a run takes up to 3 minutes on a
2-core CPU; the suite must stay within 15). They run two at a time, each kernel on one thread: the
toy world's small tensors keep a second thread of one kernel far from busy, so two kernels finish
sooner than one after the other (05 and 06: 211 s at once against 265 s, AMD EPYC, 2 cores).

A lesson is only as good as what its own run shows: every notebook up to 07 prints claim lines
(``bdlearn.notebook.claims``), and a run in which any says ``does not hold`` fails here. Set
``BDLEARN_NOTEBOOK_SEED`` to run the course under another seed (``benchmarks/bench_claims.py``
does that for ten seeds); ``BDLEARN_COURSE_OUTPUT`` to a folder to keep the executed notebooks.
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from tests.helpers import CLAIMS_PER_NOTEBOOK, REAL_WORLD_NOTEBOOKS, REPO_ROOT, cell_text, execute_notebook

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))


def claim_lines(notebook: nbformat.NotebookNode) -> list[str]:
    """Every line a code cell of ``notebook`` printed that starts with ``claim:``.

    Read output by output: joined, a figure's text (``<Figure size ...>``, no newline) would run into
    the claim printed after it.
    """
    return [line.strip() for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
            for line in (output.get("text", "") or output.get("data", {}).get("text/plain", "")).splitlines()
            if line.startswith("claim:")]


def test_claim_lines_are_found_after_a_figure_in_the_same_cell():
    cell = nbformat.v4.new_code_cell("...")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "<Figure size 640x480 with 1 Axes>"}),
                    nbformat.v4.new_output("stream", name="stdout",
                                           text="claim: a — holds (x)\nclaim: b — does not hold (y)\n")]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    assert claim_lines(notebook) == ["claim: a — holds (x)", "claim: b — does not hold (y)"]


def test_claim_lines_are_read_as_the_claims_module_prints_them(capsys):
    from bdlearn.notebook import claim, claim_greater
    from bdlearn.notebook.claims import Claim, parse_claim

    claim("a statement", True, "1 vs 0")
    claim_greater("more with augmentations", [True] * 30 + [False] * 2, [True] * 10 + [False] * 22, scale=100,
                  unit=" points")
    claim_greater("not a difference", [1.0, 2.0, 3.0], [1.5, 2.5, 2.0])
    lines = capsys.readouterr().out.splitlines()
    assert [parse_claim(line).holds for line in lines] == [True, True, False], lines
    assert parse_claim(lines[0]) == Claim("a statement", True, "1 vs 0")
    assert parse_claim("claim: no verdict here") is None


#: Kernels the course runs at once, one thread each (the CPUs CI has).
KERNELS_AT_ONCE = 2
#: The longest lessons, started first so that the two kernels finish close together.
LONGEST_FIRST = ("04", "05", "06", "07", "09", "02")


@dataclass
class CourseRun:
    """A notebook run from the wheel: the executed notebook, or the error that stopped it, and its seconds."""

    notebook: nbformat.NotebookNode | None
    error: BaseException | None
    seconds: float


def _run_from_the_wheel(name: str, folder: Path, environment: dict[str, str]) -> CourseRun:
    copy = folder / name
    shutil.copy(REPO_ROOT / "notebooks" / name, copy)
    notebook = nbformat.read(copy, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import bdlearn; print(bdlearn.__file__)"))
    nbformat.write(notebook, copy)
    started = time.perf_counter()
    try:
        done, error = execute_notebook(copy, env=environment), None
    except Exception as err:  # raised again by the notebook's own test
        done, error = None, err
    return CourseRun(done, error, time.perf_counter() - started)


@pytest.fixture(scope="module")
def course(request: pytest.FixtureRequest, wheel_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The selected notebooks, started KERNELS_AT_ONCE at a time in kernels that see only the wheel; each test
    waits for its own."""
    test = test_notebook_runs_from_the_wheel_and_shows_its_claims.__name__
    selected = sorted({item.callspec.params["name"] for item in request.session.items
                       if getattr(item, "originalname", None) == test},
                      key=lambda name: (LONGEST_FIRST.index(name[:2]) if name[:2] in LONGEST_FIRST else 99, name))
    folder = tmp_path_factory.mktemp("course")
    environment = {**os.environ, "PYTHONPATH": str(wheel_dir), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pool = ThreadPoolExecutor(KERNELS_AT_ONCE, thread_name_prefix="course")
    runs = {name: pool.submit(_run_from_the_wheel, name, folder, environment) for name in selected}
    yield runs
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_from_the_wheel_and_shows_its_claims(name, course, wheel_dir):
    run = course[name].result()
    if run.error is not None:
        raise run.error
    done = run.notebook
    kept = os.environ.get("BDLEARN_COURSE_OUTPUT")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        nbformat.write(done, Path(kept) / name)

    assert Path(cell_text(done.cells[-1]).strip()).is_relative_to(wheel_dir), "the notebook imported another bdlearn"
    claims = claim_lines(done)
    print(f"\n{name}: {run.seconds:.0f} s on one thread, beside another kernel; {len(claims)} claims", *claims,
          sep="\n  ")
    from bdlearn.notebook.claims import parse_claim

    malformed = [line for line in claims if parse_claim(line) is None]
    assert not malformed, f"claim lines not in the form 'claim: ... — holds|does not hold (...)': {malformed}"
    failing = [line for line in claims if not parse_claim(line).holds]
    assert not failing, f"{name} printed claims that do not hold:\n" + "\n".join(failing)
    if name not in REAL_WORLD_NOTEBOOKS:
        assert len(claims) == CLAIMS_PER_NOTEBOOK[name], (
            f"{name} printed {len(claims)} claim lines, its lesson lists {CLAIMS_PER_NOTEBOOK[name]}")
