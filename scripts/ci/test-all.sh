#!/usr/bin/env bash
# `make test`: every check in the order that fails fastest.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p var  # generated files (the OpenAPI document, dev keys) live here; a fresh clone has none
started=$(date +%s)
scripts/ci/lint.sh
scripts/ci/typecheck.sh
scripts/ci/django-checks.sh
scripts/ci/audit.sh
scripts/ci/pytest.sh
echo "==> make test passed in $(( $(date +%s) - started ))s"
