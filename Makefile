# Entry points. `make setup` builds .venv from pyproject.toml (pinned, registries only);
# `make test` is the test command CI runs (.ci/run).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test plan demo down status

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

# The README main command: environment, local stack (BigQuery, Prefect server,
# deployments, worker), demo warehouse, then one reconcile run through Prefect.
# The first run on the demo warehouse approves recreating market_data (seeded in US,
# declared in us-central1); on later runs the approval has nothing left to act on.
# Every other make target leaves the stack running; `make down` stops it.
DEMO_RUN_PARAMS ?= --param approvals='["market_data"]'

demo: setup
	$(BIN)/reconcile local up
	$(BIN)/reconcile demo seed
	@api=$$($(BIN)/reconcile local status --api-url) || exit 1; \
	printf '%s\n' "PREFECT_API_URL=$$api prefect deployment run 'reconcile/reconcile' $(subst ",\",$(DEMO_RUN_PARAMS)) --watch"; \
	PREFECT_API_URL=$$api $(BIN)/prefect deployment run 'reconcile/reconcile' $(DEMO_RUN_PARAMS) \
	  --watch --watch-timeout 900; rc=$$?; \
	PREFECT_API_URL=$$api $(BIN)/python -m flows.links reconcile/reconcile; \
	echo "Stop the stack with: make down"; exit $$rc

status: setup
	$(BIN)/reconcile local status

down:
	@if [ -x $(BIN)/reconcile ]; then $(BIN)/reconcile local down; else echo "no .venv: nothing to stop"; fi
