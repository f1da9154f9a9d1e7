# Two entry points: `make run` serves the API on SQLite; `make test` is the whole gate
# (lint, format, types, import contracts, tests). Both create .venv from python3 if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check lint types contracts pytest openapi clean

$(BIN)/ftmatrix: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/ftmatrix
	$(BIN)/ftmatrix db upgrade
	$(BIN)/ftmatrix serve --host $(HOST) --port $(PORT)

test: $(BIN)/ftmatrix check

check: lint types contracts pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

pytest:
	$(BIN)/pytest -n 2

openapi: $(BIN)/ftmatrix
	$(BIN)/ftmatrix openapi

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
