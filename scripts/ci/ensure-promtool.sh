#!/usr/bin/env bash
# Makes sure `promtool` is installed: tests/test_observability.py runs `promtool check rules` and
# `promtool test rules` on infra/observability/alerts.yml. Debian's `prometheus` package ships it
# (/usr/bin/promtool) and is installed when missing (ensure-debian-package.sh); the package's own server
# is never started here (the tests run promtool only).
#
#   scripts/ci/ensure-promtool.sh          (make test runs it before pytest, the test runs it too)
#   PROMTOOL=/path/to/promtool ...         check another binary instead (no install is attempted)
set -euo pipefail
exec "$(dirname "$0")/ensure-debian-package.sh" "${PROMTOOL:-/usr/bin/promtool}" prometheus \
  "the alert rule tests" /usr/bin/promtool
