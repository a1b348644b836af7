#!/usr/bin/env bash
# The test suite with coverage over apps/ and config/ (fails under 85%).
set -euo pipefail
echo "==> pytest (DATABASE_URL=${DATABASE_URL:-sqlite default}, REDIS_URL=${REDIS_URL:-none})"
exec .venv/bin/pytest --cov --cov-report=term "$@"
