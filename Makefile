# `make test` and `make demo` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# An unpinned torch pulls a multi-GB CUDA build: always install this CPU pin first.
TORCH := torch==2.13.0

.PHONY: install test test-all demo bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

demo: $(STAMP)
	$(VENV)/bin/lmzero analyse connect4 --positions examples/connect4_positions.txt --simulations 4000 --solver

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench,dev]'
	touch $@

bench: $(VENV)/.bench
	$(PY) bench/search_speed.py
	$(PY) bench/move_quality.py

clean:
	rm -rf $(VENV) .pytest_cache
