"""The documents agree with the repository: the README stays a short guide, every kept benchmark report
is cited and every cited one exists, no report names a folder of one machine, and the README's package
map names modules that exist."""
from __future__ import annotations

import re

import pytest

from tests.helpers import REPO_ROOT

README = REPO_ROOT / "README.md"
RESULTS = REPO_ROOT / "benchmarks" / "results"
#: The documents that may cite a report in benchmarks/results/.
CITING = (README, REPO_ROOT / "docs" / "toy_models.md", REPO_ROOT / "benchmarks" / "README.md")
MAX_README_LINES = 220
#: Folders of one machine that a kept report must not name.
MACHINE_PATH = re.compile(r"/(?:work|tmp|root|home)/")


def _kept_results() -> list:
    """The reports kept in benchmarks/results/ (its tmp/ folder is ignored by git and not kept)."""
    return sorted(path for path in RESULTS.iterdir() if path.is_file())


def _cited_paths(document) -> set[str]:
    """Paths under benchmarks/results/ that ``document`` names as files of today's tree (a file cited by
    commit, as in ``git show 9411d64:benchmarks/results/toy_ddpm_batch64.json``, is history)."""
    text = document.read_text()
    pattern = r"(?<![\w:/])benchmarks/results/([\w.-]+(?:/[\w.-]+)*)"
    if document.parent.name == "benchmarks":  # benchmarks/README.md also writes them as results/...
        pattern = r"(?<![\w:/])(?:benchmarks/)?results/([\w.-]+(?:/[\w.-]+)*)"
    return {match.rstrip(".") for match in re.findall(pattern, text)}


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail to docs/"


def test_citing_documents_exist():
    for document in CITING:
        assert document.is_file(), f"{document.relative_to(REPO_ROOT)} is missing"


@pytest.mark.parametrize("report", _kept_results(), ids=lambda path: path.name)
def test_every_kept_report_is_cited(report):
    text = "\n".join(document.read_text() for document in CITING)
    cited = re.search(rf"(?<![\w.-]){re.escape(report.name)}(?![\w-])", text)
    assert cited, (f"benchmarks/results/{report.name} is cited by no document: cite it in "
                                 "benchmarks/README.md (or git rm it and cite it by commit)")


@pytest.mark.parametrize("document", CITING, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_cited_report_exists(document):
    cited = _cited_paths(document)
    kept = {path for path in cited if path.split("/")[0] != "tmp"}  # results/tmp/ holds scratch runs
    missing = sorted(path for path in kept if not (RESULTS / path).exists())
    assert not missing, (f"{document.relative_to(REPO_ROOT)} names reports not in benchmarks/results/: "
                         f"{missing} (cite removed ones by commit)")


def test_citations_are_found():
    """The checks above see the citations: the README names the headline reports."""
    assert {"toy_models.json", "edit_quality.json", "speed.json", "real_step.json"} <= _cited_paths(README)


@pytest.mark.parametrize("report", _kept_results(), ids=lambda path: path.name)
def test_no_report_names_a_machines_folder(report):
    text = report.read_bytes().decode("utf-8", errors="replace")
    found = sorted({text[max(0, m.start() - 30):m.end() + 30] for m in MACHINE_PATH.finditer(text)})
    assert not found, f"{report.name} names folders of one machine: {found} (record paths relative to the repository)"


def _package_map_rows() -> list[tuple[str, list[str]]]:
    """(folder, names) for each row of the README's package map: the folder in the first cell, and every
    file name written in backticks in the others (e.g. `schedule.py`, or `editing/loop.py`)."""
    text = README.read_text()
    section = re.search(r"^## Map of the package\n(.*?)(?=^## )", text, flags=re.MULTILINE | re.DOTALL)
    assert section, "README.md has no '## Map of the package' section"
    rows = []
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        folder = cells[0].strip("`")
        names = re.findall(r"`([\w./-]+\.(?:py|json|safetensors))`", " ".join(cells[1:]))
        rows.append((folder, names))
    return rows


def test_package_map_names_existing_modules():
    rows = _package_map_rows()
    folders = {folder for folder, _ in rows}
    assert {"bdlearn/diffusion/", "bdlearn/editing/", "bdlearn/worlds/"} <= folders, folders
    missing = []
    for folder, names in rows:
        assert (REPO_ROOT / folder).is_dir(), f"the package map names {folder}, which does not exist"
        for name in names:
            # A name may be written from the row's folder (`loop.py`) or from the package (`editing/loop.py`).
            candidates = (REPO_ROOT / folder / name, REPO_ROOT / "bdlearn" / name, REPO_ROOT / name)
            if not any(path.is_file() for path in candidates):
                missing.append(f"{folder}{name}")
    assert not missing, f"the README's package map names modules that do not exist: {missing}"

