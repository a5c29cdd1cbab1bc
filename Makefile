# Two commands do all set-up: `make run` and `make test`. Both create .venv and install the
# pinned dependencies (requirements.lock) when needed; a stamp keyed on the lock and on
# pyproject.toml makes the second call skip installation.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: run test serve bench clean-data lock

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "leadrank needs Python 3.11+ (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-compile -r requirements.lock
	@# Byte-compiled on every core, not by pip one file at a time (the installation 75 -> ~55 s on
	@# two cores). Compiled ahead because a process with PYTHONDONTWRITEBYTECODE set would otherwise
	@# compile every module it imports, every time. A failure is a file for another Python version
	@# (whenever's _typing_312.py), which pip's own compilation skips alike.
	@$(BIN)/python -m compileall -q -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') >/dev/null || true
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

## run: one nightly refresh on the bundled offline demo sources, then the top leads
run: $(STAMP)
	$(BIN)/leadrank run
	$(BIN)/leadrank top -n 15

## test: the test suite on every core (PostgreSQL tests run when LEADRANK_TEST_PG_URL is set)
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadgroup

## serve: serve the nightly and weekly schedules from this machine
serve: $(STAMP)
	$(BIN)/leadrank serve

## bench: the performance harness at 10k, beside Splink 5 (SIZE=100k or SIZE=1m for more; see bench/README.md)
SIZE ?= 10k
bench: $(STAMP)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r bench/requirements-splink.txt
	$(BIN)/python bench/run.py --size $(SIZE)

## lock: re-pin the full dependency set after changing pyproject.toml
lock:
	rm -rf /tmp/leadrank-lock && $(PYTHON) -m venv /tmp/leadrank-lock
	/tmp/leadrank-lock/bin/pip install -q ".[test]"
	/tmp/leadrank-lock/bin/pip freeze --exclude leadrank > requirements.lock

clean-data:
	rm -rf data/
