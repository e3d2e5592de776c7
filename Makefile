# Sagemill: `make serve` installs into .venv and serves; `make test` installs test deps and runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 4600
DATA_DIR ?= .sagemill

.PHONY: serve test check install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

serve: install
	$(BIN)/sagemill serve --migrate --port $(PORT) --data-dir $(DATA_DIR)

test: install-test
	scripts/check

check: test

bench: install-test
	$(BIN)/python bench/control_plane.py
	$(BIN)/python bench/objects.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/rollout.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
