#!/usr/bin/env bash
# The test suite with coverage over apps/ and config/ (fails under 85%), Chromium and promtool made sure of first.
set -euo pipefail
# The browser tests (tests/browser/) drive Debian's Chromium: installed here when missing, never downloaded.
"$(dirname "$0")/ensure-chromium.sh"
# The alert rule tests (tests/test_observability.py) run promtool: Debian's prometheus package, installed here when missing.
"$(dirname "$0")/ensure-promtool.sh"
# The Terraform scan (tests/test_infra_terraform.py) runs checkov from its own locked .venv-checkov.
"$(dirname "$0")/ensure-checkov.sh"
echo "==> pytest (DATABASE_URL=${DATABASE_URL:-sqlite default}, REDIS_URL=${REDIS_URL:-none})"
exec .venv/bin/pytest --cov --cov-report=term "$@"
