#!/usr/bin/env bash
# The test suite with coverage over apps/ and config/ (fails under 85%), Chromium made sure of first.
set -euo pipefail
# The browser tests (tests/browser/) drive Debian's Chromium: installed here when missing, never downloaded.
"$(dirname "$0")/ensure-chromium.sh"
echo "==> pytest (DATABASE_URL=${DATABASE_URL:-sqlite default}, REDIS_URL=${REDIS_URL:-none})"
exec .venv/bin/pytest --cov --cov-report=term "$@"
