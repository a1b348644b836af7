# Atrium — the two commands people need are `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck fmt bench mutation clean

$(STAMP): pyproject.toml
	@scripts/ci/install.sh "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

install: $(STAMP)

## make run: install, migrate the embedded SQLite database, seed, serve on HOST:PORT.
run: install
	@DJANGO_DEBUG=$${DJANGO_DEBUG:-true} scripts/run.sh "$(HOST)" "$(PORT)"

## make test: the whole suite — lint, types, import contracts, Django checks, schema, audit, tests.
test: install
	@scripts/ci/test-all.sh

lint: install
	@scripts/ci/lint.sh

typecheck: install
	@scripts/ci/typecheck.sh

fmt: install
	@$(BIN)/ruff format $(wildcard apps config tests benchmarks scripts) conftest.py manage.py
	@$(BIN)/ruff check --fix $(wildcard apps config tests benchmarks scripts) conftest.py manage.py

bench: install
	@scripts/ci/bench.sh

## make mutation: mutation testing of the identity core (mutmut; slow, not in CI). See docs/testing.md.
mutation: install
	@scripts/ci/mutation.sh

clean:
	rm -rf $(VENV) var/static .pytest_cache .mypy_cache .ruff_cache .coverage
