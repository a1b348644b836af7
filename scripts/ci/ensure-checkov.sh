#!/usr/bin/env bash
# Makes sure checkov is installed in .venv-checkov, exactly as tools/checkov/uv.lock pins it (hash-checked,
# never re-resolved): tests/test_infra_terraform.py scans infra/terraform with it. checkov has its own
# environment because its pins clash with Atrium's (docs/adr/0017-hardening-dependencies.md).
#
#   scripts/ci/ensure-checkov.sh            (make test runs it before pytest; quick when already there)
#   CHECKOV=/path/to/checkov ...            use another binary instead (no install is attempted)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -n "${CHECKOV:-}" ]; then
  exit 0
fi
venv=.venv-checkov
stamp=$venv/.installed
lock=tools/checkov/uv.lock
if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ -x "$venv/bin/checkov" ]; then
  exit 0
fi
echo "==> installing checkov from $lock into $venv (the Terraform scan in tests/test_infra_terraform.py)"
set +e
UV_PROJECT_ENVIRONMENT="$PWD/$venv" scripts/uv.sh sync --frozen --project tools/checkov 2>&1 |
  awk '/^ [-+~] / { n++; next } { print } END { if (n) print "   " n " packages"}'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ] || [ ! -x "$venv/bin/checkov" ]; then
  echo "error: installing checkov into $venv failed (uv's message above). PyPI must be reachable; to use a" >&2
  echo "       checkov you already have, set CHECKOV=/path/to/checkov." >&2
  exit 1
fi
touch "$stamp"
echo "==> $venv matches $lock"
