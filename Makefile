# Two entry points (see README): `make demo` runs every pipeline end to end on the embedded
# stack; `make test` runs ruff, mypy and pytest. Both create/update .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# $(call ensure,COMMAND,DEBIAN PACKAGE): install the package with a non-interactive apt-get when
# COMMAND is missing (sudo only when not root); without apt-get, say what to install.
define ensure
	@command -v $(1) >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "$(1) is required: install $(2)" >&2; exit 1; }; \
	  echo "installing $(2) ($(1)) with apt-get"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
	  && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; }
endef

.PHONY: venv tools demo test lint typecheck pytest bench lock local-stack screenshots clean

venv: $(STAMP) tools

# System tools the flows run: `7z` (Debian p7zip-full) unpacks the ArcGIS archives that use
# Deflate64, which Python's zipfile cannot read (historic backfills); `redis-server` (Debian
# redis-server) is the real Redis the telemetry cache tests start on a free port. Installed with a
# non-interactive apt-get when missing (sudo only when not root); elsewhere, install it by hand.
tools:
	$(call ensure,7z,p7zip-full)
	$(call ensure,redis-server,redis-server)

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
	$(call ensure,chromium,chromium)
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
