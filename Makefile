# jewel-vision: `make demo` runs the main job end to end, `make test` runs every test and notebook.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
JEWEL  := $(VENV)/bin/jewel
STAMP  := $(VENV)/.installed

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(JEWEL) demo

test: setup
	$(PY) -m pytest -q tests notebooks --nbval-lax --nbval-current-env -p no:randomly

clean:
	rm -rf $(VENV) data/synth runs
