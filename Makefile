# Every target creates .venv from pyproject.toml on first use (and again when it changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test fuzz serve bench bench-full resilience sweep clean cluster console-screenshots

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.bench: $(VENV)/.base
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

demo: $(VENV)/.base
	$(BIN)/o2o-dispatch demo --out out

# Two test processes by default (DISPATCH_TEST_WORKERS=0 runs them in this one).
test: $(VENV)/.base
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $${DISPATCH_TEST_WORKERS:-2}

# A deeper Schemathesis run than `make test`'s: more examples per operation, role and mode.
fuzz: $(VENV)/.base
	DISPATCH_FUZZ_EXAMPLES=$${DISPATCH_FUZZ_EXAMPLES:-150} $(BIN)/python -m pytest -s tests/api/test_schemathesis.py

serve: $(VENV)/.base
	$(BIN)/python -m api serve --host 127.0.0.1 --port 8000

# Results go to benchmarks/results/local (ignored); `make bench PUBLISH=1` rewrites the tracked ones.
bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks run $(if $(PUBLISH),--publish,)

bench-full: $(VENV)/.bench
	$(BIN)/python -m benchmarks run --full --out benchmarks/results/full

resilience: $(VENV)/.base
	$(BIN)/python -m benchmarks resilience

sweep: $(VENV)/.base
	$(BIN)/python -m benchmarks.sweep

# The console at two sizes on a seeded store, for docs/ (needs Chromium: apt-get install chromium).
console-screenshots: $(VENV)/.base
	$(BIN)/python -m tests.api.test_console docs

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis

# Two API replicas and two workers on loopback against the local PostgreSQL and Redis (docs/DEPLOY.md).
cluster: $(VENV)/.base
	$(BIN)/python -m api.local_cluster
