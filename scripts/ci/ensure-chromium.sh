#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium: the browser the browser tests
# (tests/browser/, Playwright for Python) drive. No browser is downloaded (`playwright install` is
# never run): the Debian package `chromium` is installed when missing (ensure-debian-package.sh).
#
#   scripts/ci/ensure-chromium.sh          (make test runs it before pytest; docs/testing.md)
#   CHROMIUM=/path/to/chromium ...         check another binary instead (no install is attempted)
set -euo pipefail
exec "$(dirname "$0")/ensure-debian-package.sh" "${CHROMIUM:-/usr/bin/chromium}" chromium \
  "the browser tests" /usr/bin/chromium
