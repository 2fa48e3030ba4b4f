# Every target builds the virtualenv from the lock first, so a fresh clone needs nothing else.
# Running the bot needs only requirements.lock; the tests and linters add requirements-dev.lock.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
DEV     := $(VENV)/.dev

.PHONY: sandbox serve test test-fast container lint bench lock clean

$(RUNTIME): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "failover-bot needs Python >= 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(RUNTIME)

$(DEV): $(RUNTIME) requirements-dev.lock
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	@touch $(DEV)

# The name earlier versions used for the full (development) virtualenv.
$(VENV)/.installed: $(DEV)
	@touch $@

sandbox: $(RUNTIME)  ## the whole bot, a local Slack and a simulated fleet
	$(BIN)/failover-bot sandbox

serve: $(RUNTIME)    ## the real bot (needs Slack and Azure settings)
	$(BIN)/failover-bot serve

test: $(DEV)         ## the test suite (PostgreSQL tests run when POSTGRES_TEST_URL is set)
	$(BIN)/pytest

test-fast: $(DEV)    ## the unit tier only (tests/unit): pure, done in seconds
	$(BIN)/pytest -q tests/unit

container: $(DEV)    ## build the image and run it (buildah + podman, as root; part of make test)
	$(BIN)/pytest -q tests/integration/packaging/test_container.py

lint: $(DEV)         ## ruff, mypy and the architecture contract
	$(BIN)/ruff check bot failover_sandbox tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEV)         ## every benchmark; each prints a VERDICT, the target fails if any failed
	@failed=""; for b in bench/*.py; do \
		case $$b in */_*) continue;; esac; \
		$(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "benchmarks that failed:$$failed"; exit 1; fi

lock:                       ## re-pin after changing dependencies in pyproject.toml
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --upgrade pip && .lockenv/bin/pip install --quiet .
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^failover-bot' > requirements.lock
	.lockenv/bin/pip install --quiet '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^failover-bot' > requirements-dev.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
