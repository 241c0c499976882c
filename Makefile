# The two commands the README leads with. Both set themselves up from nothing but Python.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/glimpse demo --out demo-out

test: $(STAMP)
	$(VENV)/bin/ruff check src tests experiments benchmarks scripts
	bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/extract.py

clean:
	rm -rf demo-out .pytest_cache
