# Two commands matter: `make run` and `make test`. Everything else is what they build on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench-read bench-write bench-fallback bench-restore clean

setup: $(STAMP)

# Debian's python3 ships without ensurepip unless python3-venv is installed; install it when missing.
# setup.py compiles the read path's modules (mypyc) in place: an edit to them must rebuild.
COMPILED := $(shell grep -v '^\#' compiled-modules.txt)

$(STAMP): pyproject.toml setup.py compiled-modules.txt $(COMPILED)
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { apt-get update && apt-get install -y python3-venv; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The read path is compiled (setup.py): it needs a C compiler and Python's headers.
	@test -n "$$RGW_PURE_PYTHON" || { command -v cc >/dev/null && $(PYTHON) -c 'import os, sys, sysconfig; \
		sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; } \
		|| { apt-get update && apt-get install -y gcc python3-dev; }
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: setup
	$(BIN)/rgw demo

lint: setup
	$(BIN)/ruff check rgw tests

test: lint
	$(BIN)/pytest -q

bench-read: setup
	$(BIN)/rgw bench read

bench-write: setup
	$(BIN)/rgw bench write

bench-fallback: setup
	$(BIN)/rgw bench fallback

bench-restore: setup
	$(BIN)/rgw bench restore

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache build rgw_compiled__mypyc*.so
	find rgw -name '*.so' -delete
