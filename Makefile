# Two entry points (see README): `make demo` runs every pipeline end to end on the embedded
# stack; `make test` runs ruff, mypy and pytest. Both create/update .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck pytest bench lock local-stack clean redis-server

venv: $(STAMP)

$(STAMP): requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: venv
	$(BIN)/pipelines demo

local-stack: venv
	$(BIN)/pipelines local-stack

test: venv redis-server
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# The telemetry cache tests run against a real Redis (tests/telemetry/conftest.py starts its own
# redis-server on a free port): install the Debian package when the binary is missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing redis-server (Debian package) for the tests"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    redis-server >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server is still missing" >&2; exit 1; }

bench: venv
	$(BIN)/python -m bench

# Regenerate the lock files from pyproject.toml (needs network access to the package index).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lockvenv/bin/python -m pip install --quiet .
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^prefect-data-pipelines' > requirements.lock
	.lockvenv/bin/python -m pip install --quiet ".[dev]"
	.lockvenv/bin/python -m pip freeze --exclude-editable | grep -v '^prefect-data-pipelines' > requirements-dev.lock
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache
