# The two commands the README leads with. Both set themselves up from nothing but Python.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# glimpse as `pip install .` leaves it, no extras: tests/test_no_extras.py runs the main
# commands there (issue 48). Re-installed (glimpse alone) when the package's files change.
PLAIN  := .venv-plain
PLAIN_STAMP := $(PLAIN)/.installed

.PHONY: demo test setup plain bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(PLAIN_STAMP): pyproject.toml $(shell find src/glimpse -type f -not -name '*.pyc')
	test -x $(PLAIN)/bin/python || $(PYTHON) -m venv $(PLAIN)
	$(PLAIN)/bin/python -m pip install --quiet --upgrade pip
	bash -c 'set -o pipefail; $(PLAIN)/bin/python -m pip install --quiet . 2>&1 | { grep -v "^WARNING: Location" || true; }'
	$(PLAIN)/bin/glimpse --version
	touch $(PLAIN_STAMP)

plain: $(PLAIN_STAMP)

demo: $(STAMP)
	$(VENV)/bin/glimpse demo --out demo-out

test: $(STAMP) $(PLAIN_STAMP)
	$(VENV)/bin/ruff check src tests experiments benchmarks scripts
	bash scripts/ensure-chromium.sh
	GLIMPSE_PLAIN_VENV=$(PLAIN) $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/extract.py

clean:
	rm -rf demo-out .pytest_cache build
