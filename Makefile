# Perpetua Flow: `make run` starts the whole service, `make test` runs the test suite.
# Everything installs into ./.venv; nothing outside the checkout is touched.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Reinstall only when the project metadata changed (or the venv was recreated).
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test bench lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test,bench]'
	@touch $@

install: $(STAMP) ## create .venv, install the project with its test tools, compile hot modules
	@# The rebuild's hottest modules, compiled with mypyc (infra/compiled.py); a no-op while
	@# they match their sources (an environment that never built them runs the sources).
	$(BIN)/python -m infra.compiled

run: install ## run everything (embedded PostgreSQL unless DATABASE_URL is set); Ctrl-C stops it
	$(BIN)/perpetua up

test: install ## run the whole test suite
	$(BIN)/pytest

bench: install ## every benchmark against its baseline; writes bench/results.json (~20 min)
	$(BIN)/python -m bench

lint: $(STAMP) ## ruff check, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove caches (keeps .venv and the .perpetua data directory)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info
