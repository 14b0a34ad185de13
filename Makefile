# Two entry points (see README): `make demo` runs every pipeline end to end on the embedded
# stack; `make test` runs ruff, mypy and pytest. Both create/update .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv demo test lint typecheck pytest bench lock local-stack screenshots clean

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

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# PNGs of the Prefect UI after a demo run (docs/img), taken by Debian's headless Chromium.
screenshots: venv
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium (headless screenshots)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	$(BIN)/pipelines screenshots --out docs/img

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
