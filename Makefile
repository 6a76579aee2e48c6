# Entry points. `make setup` builds .venv from pyproject.toml (pinned, registries only);
# `make test` is the test command CI runs (.ci/run).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test plan

$(BIN)/reconcile: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[demo,test]'
	# DuckDB's spatial extension from its PyPI package, so the local BigQuery never downloads.
	$(BIN)/python -c "from duckdb_extensions import import_extension; import_extension('spatial')"
	touch $(BIN)/reconcile

setup: $(BIN)/reconcile

test: setup
	$(BIN)/python -m pytest -q

plan: setup
	$(BIN)/reconcile plan
