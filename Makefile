# Two entry points: `make run` serves the API on SQLite; `make test` is the whole gate
# (lint, format, types, import contracts, tests). Both create .venv from python3 if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check lint types contracts pytest openapi snapshot clean

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

# The suite runs twice: on SQLite, then on a throwaway PostgreSQL (Debian's binaries) when
# installed. Under CI=true a missing PostgreSQL is an error, not a skip.
pytest:
	$(BIN)/pytest -n 2
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "== the same suite on PostgreSQL"; \
		FTM_TEST_DB=postgresql scripts/with-postgres $(BIN)/pytest -n 2; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is required in CI (apt-get install postgresql)" >&2; exit 1; \
	else \
		echo "PostgreSQL is not installed: skipped the PostgreSQL run (apt-get install postgresql)" >&2; \
	fi

openapi: $(BIN)/ftmatrix
	$(BIN)/ftmatrix openapi

# The data snapshot shipped for `ftmatrix check --offline`: the export of a freshly migrated
# database (a test fails when it and the migrations disagree).
snapshot: $(BIN)/ftmatrix
	rm -f .snapshot.db
	FTM_DATABASE_URL=sqlite:///.snapshot.db $(BIN)/ftmatrix db upgrade
	FTM_DATABASE_URL=sqlite:///.snapshot.db $(BIN)/ftmatrix export --output service/data/snapshot.json
	rm -f .snapshot.db

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
