# The two commands of the README: `make run` and `make test` (both set up .venv on a fresh machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's front-end libraries (Leaflet), pinned by package-lock.json, installed with the
# machine's npm from the npm registry into emergency/web/node_modules and served by the app.
WEB := emergency/web
WEB_STAMP := $(WEB)/node_modules/.installed
PYTEST_ARGS ?=

.PHONY: run test lint bench install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "warning: npm not found: the dashboard's map library is not installed (the page says so)"; fi

install: $(STAMP) $(WEB_STAMP)

run: $(STAMP) $(WEB_STAMP)
	$(BIN)/typhoon serve --demo

test: $(STAMP) $(WEB_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check emergency alerts geo tests benchmarks
	$(BIN)/ruff format --check emergency alerts geo tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache typhoon.db typhoon.db-wal typhoon.db-shm $(WEB)/node_modules
