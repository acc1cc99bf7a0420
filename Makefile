# jewel-vision: `make demo` runs the main job end to end, `make test` runs every test and notebook.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
JEWEL  := $(VENV)/bin/jewel
STAMP  := $(VENV)/.installed

.PHONY: setup lock demo test notebooks clean

setup: $(STAMP)

# pyproject.toml holds version ranges; constraints.txt the exact tested set (CPython 3.11, x86_64 Linux).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -c constraints.txt -e '.[dev,scale]'
	touch $(STAMP)

# Rewrite constraints.txt from what .venv holds now (after upgrading a package there, then run `make test`).
lock:
	test -f $(STAMP) || { echo "no $(VENV): run make setup first"; exit 1; }
	{ echo "# The exact tested set: every package of the project venv (.venv, \`make setup\`), from \`pip freeze --exclude-editable\`."; \
	  echo "# For CPython 3.11 on x86_64 Linux (torch's CUDA wheels and their nvidia-* packages are Linux x86_64 builds)."; \
	  echo "# \`make setup\` and CI install with \`pip install -c constraints.txt -e '.[dev,scale]'\`; pyproject.toml keeps only ranges."; \
	  echo "# Regenerate after changing the venv: \`make lock\` (rewrites this file from .venv)."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(jewelhelpers|-e )'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

demo: setup
	$(JEWEL) demo

# The notebooks run in the smoke profile unless JEWEL_PROFILE asks for another (as CI does: .ci/run).
test: setup
	JEWEL_PROFILE=$${JEWEL_PROFILE:-smoke} $(PY) -m pytest -q tests notebooks --nbval-lax --nbval-current-env -p no:randomly

# Run notebooks/[0-9]*.ipynb in place in the quick profile on the drawn data (their outputs are committed) and time
# each one (benchmarks/notebook_times.py); JEWEL_DATA must be unset: no output may come from real photos.
notebooks: setup
	env -u JEWEL_DATA -u JEWEL_EXTERNAL_DATA -u JEWEL_RUN JEWEL_PROFILE=$${JEWEL_PROFILE:-quick} $(PY) benchmarks/notebook_times.py

clean:
	rm -rf $(VENV) data/synth* runs
