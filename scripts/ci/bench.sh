#!/usr/bin/env bash
# `make bench`: Atrium's speed as ratios to a bare Django view and a stock DRF + simplejwt list, measured
# in the same run (docs/performance.md). Needs DATABASE_URL (the operator role on PostgreSQL) and
# REDIS_URL; installs wrk with apt-get when it is missing. Options: `make bench BENCH_ARGS="--scale small"`,
# or `scripts/ci/bench.sh --scale small` (`--help` lists them all).
set -euo pipefail
if [ -d benchmarks ] && ls benchmarks/*.py >/dev/null 2>&1; then
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of options
  exec .venv/bin/python -m benchmarks ${BENCH_ARGS:-} "$@"
fi
echo "no benchmarks yet"
