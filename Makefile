# SampleMind: `make run` starts the server, `make test` runs every test.
# Both create .venv at the repo root when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-dev
BENCH_INSTALLED := $(VENV)/.installed-bench
NODE_DIR := tests/e2e/node

.PHONY: install run test pytest lint format bench-analyze node-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(BENCH_INSTALLED): pyproject.toml | $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/samplemind serve

node-deps:
	@if command -v npm >/dev/null && { [ ! -x $(NODE_DIR)/node_modules/.bin/tsc ] || \
		[ ! -d $(NODE_DIR)/node_modules/oidc-provider ]; }; then \
		npm ci --prefix $(NODE_DIR) --no-audit --no-fund; fi

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

pytest: install node-deps
	$(BIN)/pytest

test: lint pytest

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench-analyze: $(BENCH_INSTALLED)
	$(BIN)/python bench/analyze.py

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules $(NODE_DIR)/dist
