# Two commands do all set-up on a fresh machine:
#   make run   — build the warehouse and publish maps/profiles from the embedded data
#   make test  — run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.PHONY: run test test-fast lint typecheck bench bench-smoke clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/wijkprofiel run $(ARGS)

# test processes: one per core (at most 4, ~4 GB each); whole modules per process, and the modules
# that use the national load or warehouse together in one (tests/process_groups.py), so each
# fixture is built once per run; modules with slow tests first (tests/conftest.py);
# WORKERS=0 runs in this process
WORKERS ?= auto
XDIST   := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --maxprocesses 4 --dist loadgroup --no-loadscope-reorder)

# everything that guards correctness (slow end-to-end and browser tests included); CI runs this
test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not bench" $(PYTEST_ARGS)

# the edit loop: unit and fast integration tests (nothing that builds the national warehouse, no browser)
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not browser and not bench" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src pipelines tests

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf data/processed data/fetched data/cache maps .pytest_cache

# benchmarks (not part of `make test`): make bench, make bench BENCH_ARGS=--quick, make bench-smoke
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# the quick benchmark as a test (about ten minutes on two cores)
bench-smoke: $(STAMP)
	$(BIN)/python -m pytest -m bench $(PYTEST_ARGS)
