#!/usr/bin/env bash
# Benchmarks live under benchmarks/ and report ratios to a bare Django view.
set -euo pipefail
if [ -d benchmarks ] && ls benchmarks/*.py >/dev/null 2>&1; then
  exec .venv/bin/python -m benchmarks "$@"
fi
echo "no benchmarks yet"
