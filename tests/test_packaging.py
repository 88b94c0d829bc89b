"""The project's set-up files agree with each other."""
from __future__ import annotations

import tomllib

import yaml

from tests.helpers import REPO_ROOT


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["lab"]) | set(extras["test"])
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    pip = pip_sections[0]
    assert "-e ." in pip, "environment.yml must install bdlearn itself"
    listed = {line for line in pip if line != "-e ."}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject.toml: {wanted - listed}"
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python, "environment.yml pins no Python"


def test_torch_range_admits_the_local_builds():
    from packaging.requirements import Requirement

    deps = {Requirement(d).name: Requirement(d) for d in _pyproject()["project"]["dependencies"]}
    assert "2.14.1" in deps["torch"].specifier
    assert "0.29.1" in deps["torchvision"].specifier


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert "make -s test" in ci


def test_every_package_is_listed_and_the_data_folder_is_bdlearn_data():
    setuptools = _pyproject()["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(REPO_ROOT).parts)
             for init in (REPO_ROOT / "bdlearn").rglob("__init__.py")}
    assert set(setuptools["packages"]) == found | {"bdlearn.data"}, "pyproject.toml's packages miss or name extra ones"
    assert setuptools["package-dir"] == {"bdlearn.data": "data"}
    assert (REPO_ROOT / "data" / "__init__.py").is_file() and not (REPO_ROOT / "bdlearn" / "data").exists()


def test_the_installed_bdlearn_reads_the_data_folder_in_place():
    # make install installs bdlearn editable: its data are this clone's data/, not a copy (the wheel's
    # layout, bdlearn/data/ inside the package, is tested in tests/test_packaged.py)
    from bdlearn.worlds.package_data import DATA_DIR

    assert DATA_DIR.resolve() == (REPO_ROOT / "data").resolve()
