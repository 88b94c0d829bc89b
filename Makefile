# bdlearn: two commands do everything on a fresh machine with Python 3.11 and make.
#   make lab    create .venv, install bdlearn, open JupyterLab on notebooks/
#   make test   create .venv, install bdlearn with its test tools, lint (ruff), run every test
#   make test-fast  the same without the slow tests (the course notebooks, the wheel, the browser)
#   make demo   run a toy-world edit from the command line and say where the figure is
#   make wheel  build bdlearn's wheel into dist/ (toy weights and photos inside; e.g. for a Colab class)
# Re-running reuses .venv: the install step runs again only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision first, pinned to builds known to work here (override on other machines,
# e.g. make TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu").
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.bdlearn-installed
# The tests never download (a missing file fails at once); `make lab` may (the real models, LPIPS's backbone).
test test-fast: export HF_HUB_OFFLINE ?= 1

.PHONY: install lab lint test test-fast demo wheel clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[lab,test]"
	$(PY) tools/setup_jupyter.py $(VENV)
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

test-fast: lint
	$(PY) -m pytest -m "not slow"

demo: $(STAMP)
	$(VENV)/bin/bdlearn demo --out demo_output --force

wheel: $(STAMP)
	rm -rf build  # setuptools would copy stale modules from an earlier build into the wheel
	$(PY) -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) demo_output build dist
