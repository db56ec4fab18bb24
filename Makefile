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
# --compile-bytecode: the packages' .pyc files are written once at install; uv, unlike pip,
# leaves them to the first import otherwise (see PYTHONDONTWRITEBYTECODE below).
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

# The tests start many Python processes (the xdist workers; `typhoon serve`, `worker`,
# `scheduler` and CLI commands in the process tests): where PYTHONDONTWRITEBYTECODE is set (as
# on this project's session and CI machines), each one compiled every module it imports from
# source, every time: importing the app took 5.9 s of CPU against 2.1 s from .pyc files.
# __pycache__/ is in .gitignore.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint bench install browser clean lock

# Installs are reproducible: every package, its version and its files' hashes come from the lock
# (requirements-dev.lock: the app and its dev tools; requirements.lock: the app alone, for the
# Dockerfile). The installer is uv, itself pinned with its hashes (requirements-uv.lock) and put
# in by pip: it installs the lock in ~3 s where pip took ~32 s (every fresh clone, every CI
# run). Both refuse a package the lock does not name or whose hash differs; the project itself
# is installed on top without resolving anything. `make lock` updates the lock files.
$(STAMP): pyproject.toml requirements-dev.lock requirements-uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-uv.lock
	$(UV_INSTALL) --require-hashes -r requirements-dev.lock
	$(UV_INSTALL) --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(WEB) --no-audit --no-fund --ignore-scripts --loglevel=error && touch $@; \
	else echo "warning: npm not found: the dashboard's map library is not installed (the page says so)"; fi

install: $(STAMP) $(WEB_STAMP)

run: $(STAMP) $(WEB_STAMP)
	$(BIN)/typhoon serve --demo

# Three workers on the two cores: the heavy group's browser and process tests wait on other
# processes much of the time, and a third worker fills that (SQLite-only suite, idle machine:
# 254 s against 273 s with two). tests/conftest.py says how the tests are grouped, and orders
# the groups longest first (--no-loadscope-reorder keeps that order); the 15 slowest tests.
TEST_WORKERS ?= 3
test: $(STAMP) $(WEB_STAMP)
	$(BIN)/python -m compileall -q -j 0 emergency alerts geo  # once, not in each worker
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check emergency alerts geo tests benchmarks
	$(BIN)/ruff format --check emergency alerts geo tests benchmarks
	$(BIN)/mypy  # [tool.mypy] in pyproject.toml: strict, the migrations excepted

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Re-resolve the locks after a change to pyproject.toml's dependencies; versions already pinned
# stay unless `make lock UPGRADE=1` (then every package takes its newest release). Both files
# hold hashes of every file of each pinned release and markers for other platforms and Pythons;
# the app's lock is drawn from the dev lock, so both pin the same versions.
# uv's own pin is requirements-uv.lock (`make lock UV=0.x.y` moves it).
UV ?=
UPGRADE ?=
COMPILE := $(BIN)/uv pip compile --generate-hashes --universal --python-version 3.11 --quiet
LOCK := $(COMPILE) pyproject.toml $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(if $(UV),echo "uv==$(UV)" | $(COMPILE) - -o requirements-uv.lock)
	$(LOCK) --extra dev -o requirements-dev.lock
	$(LOCK) -c requirements-dev.lock -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache typhoon.db typhoon.db-wal typhoon.db-shm $(WEB)/node_modules
