# Atrium — the two commands people need are `make run` and `make test`.
# Both install from uv.lock, hash-checked (docs/adr/0010-locked-dependencies.md):
# `make run` into .venv-run (runtime dependencies only), everything else into .venv (runtime + dev tools).
PYTHON   ?= python3.11
VENV     ?= .venv
RUN_VENV ?= .venv-run
BIN      := $(VENV)/bin
HOST     ?= 127.0.0.1
PORT     ?= 8000
STAMP     := $(VENV)/.installed
RUN_STAMP := $(RUN_VENV)/.installed
export PYTHON

.PHONY: install install-run lock run test lint typecheck fmt bench soak mutation clean

# Reinstalled whenever the lock (or pyproject.toml, which pins the uv version) is newer than the stamp.
$(STAMP): uv.lock pyproject.toml
	@scripts/ci/install.sh dev "$(VENV)"
	@touch $@

$(RUN_STAMP): uv.lock pyproject.toml
	@scripts/ci/install.sh run "$(RUN_VENV)"
	@touch $@

install: $(STAMP)

install-run: $(RUN_STAMP)

## make lock: re-resolve uv.lock after editing the ranges in pyproject.toml (changes only what it must).
## Newest allowed versions of everything: scripts/uv.sh lock --upgrade; of one: --upgrade-package NAME.
lock:
	@scripts/uv.sh lock

## make run: install the runtime lock, migrate the embedded SQLite database, seed, serve on HOST:PORT.
run: install-run
	@VENV="$(RUN_VENV)" DJANGO_DEBUG=$${DJANGO_DEBUG:-true} scripts/run.sh "$(HOST)" "$(PORT)"

## make test: the whole suite — lock check, lint, types, import contracts, Django checks, schema, audit, tests.
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

## make soak: SOAK_MINUTES (default 5) of list, me, detail and create at saturation through gunicorn;
## fails on any non-2xx or socket error, or a worker's RSS growing over SOAK_MAX_GROWTH % (default 10)
## after warm-up. Same needs as bench (DATABASE_URL, REDIS_URL); var/bench/soak.json, soak.svg.
soak: install
	@.venv/bin/python -m benchmarks.soak $(SOAK_ARGS)

## make mutation: mutation testing of the identity core (mutmut; slow, not in CI). See docs/testing.md.
mutation: install
	@scripts/ci/mutation.sh

clean:
	rm -rf $(VENV) $(RUN_VENV) .venv-uv var/static .pytest_cache .mypy_cache .ruff_cache .coverage
