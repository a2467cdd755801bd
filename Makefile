# Tunix RT — `make run` serves the app, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WEB_INDEX := src/tunix_rt/web/index.html
FRONTEND_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig*.json frontend/package.json frontend/openapi.json -type f 2>/dev/null)

export TUNIX_RT_DATA_DIR ?= $(CURDIR)/var

.PHONY: run test install web lint typecheck check-api api-client pytest bench clean

run: install web ## Upgrade the database and serve on http://127.0.0.1:8000
	$(BIN)/tunix-rt db upgrade
	$(BIN)/tunix-rt serve

test: install web lint typecheck check-api pytest ## Lint, type-check and run every test

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

web: $(WEB_INDEX)

$(WEB_INDEX): frontend/node_modules/.package-lock.json $(FRONTEND_SRC)
	cd frontend && npm run build

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

# The committed OpenAPI schema and the generated TypeScript client must match the code.
check-api: install frontend/node_modules/.package-lock.json
	$(BIN)/tunix-rt openapi | diff -u frontend/openapi.json - \
		|| (echo "frontend/openapi.json is stale: run 'make api-client'" && exit 1)
	cd frontend && npm run --silent check:api

api-client: install frontend/node_modules/.package-lock.json
	$(BIN)/tunix-rt openapi --output frontend/openapi.json
	cd frontend && npm run gen:api

# One pytest-xdist worker per core (each with its own SQLite files and Postgres database).
PYTEST_WORKERS ?= auto

pytest: install web
	$(BIN)/pytest -n $(PYTEST_WORKERS)

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) frontend/node_modules src/tunix_rt/web .pytest_cache .mypy_cache .ruff_cache
