#!/usr/bin/env bash
# ruff lint + format check, and the import-linter contract (docs/architecture.md, section 1).
set -euo pipefail
paths=(apps config scripts conftest.py manage.py)
[ -d tests ] && paths+=(tests)
[ -d benchmarks ] && paths+=(benchmarks)
echo "==> ruff check"
.venv/bin/ruff check "${paths[@]}"
echo "==> ruff format --check"
.venv/bin/ruff format --check "${paths[@]}"
echo "==> import contracts"
.venv/bin/lint-imports --no-cache | tail -n 3
