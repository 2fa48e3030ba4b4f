# Every target builds the virtualenv from the lock first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sandbox serve test lint bench lock clean

$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "failover-bot needs Python >= 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

sandbox: $(STAMP)           ## the whole bot, a local Slack and a simulated fleet
	$(BIN)/failover-bot sandbox

serve: $(STAMP)             ## the real bot (needs Slack and Azure settings)
	$(BIN)/failover-bot serve

test: $(STAMP)              ## the test suite (PostgreSQL tests run when POSTGRES_TEST_URL is set)
	$(BIN)/pytest

lint: $(STAMP)              ## ruff, mypy and the architecture contract
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

lock:                       ## re-pin after changing dependencies in pyproject.toml
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip && .lockenv/bin/pip install --quiet .
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^failover-bot' > requirements.lock
	.lockenv/bin/pip install --quiet '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^failover-bot' > requirements-dev.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
