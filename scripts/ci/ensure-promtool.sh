#!/usr/bin/env bash
# Makes sure `promtool` is installed: tests/test_observability.py runs `promtool check rules` and
# `promtool test rules` on infra/observability/alerts.yml. Debian's `prometheus` package ships it
# (/usr/bin/promtool); it is installed with apt-get when missing, as root directly, else through
# `sudo -n` (no password prompt). apt-get update runs only if the install fails without it. The package's
# own server is never started here (policy-rc.d or no init system; the tests run promtool only). Without
# apt-get or the rights to use it, it exits non-zero and says what to run. Quiet when promtool is there.
#
#   scripts/ci/ensure-promtool.sh          (make test runs it before pytest, the test runs it too)
#   PROMTOOL=/path/to/promtool ...         check another binary instead (no install is attempted)
set -euo pipefail
promtool=${PROMTOOL:-/usr/bin/promtool}

if [ -x "$promtool" ]; then
  exit 0
fi
if [ "$promtool" != /usr/bin/promtool ]; then
  echo "error: PROMTOOL=$promtool is not an executable file." >&2
  exit 1
fi

manual="sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $promtool is missing and this machine has no apt-get to install Debian's prometheus package." >&2
  echo "       Install promtool so that $promtool runs it (the alert rule tests need it), then rerun." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: $promtool is missing (the alert rule tests need Debian's prometheus package), and installing" >&2
  echo "       it needs root: run   $manual   and rerun." >&2
  exit 1
fi

install() {
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends prometheus
}

echo "==> $promtool is missing: installing Debian's prometheus package with apt-get (for the alert rule tests)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! install >"$log" 2>&1; then
  echo "==> apt-get install failed without a package list update; running apt-get update and trying again"
  if ! "${as_root[@]}" apt-get update -q >"$log" 2>&1 || ! install >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "error: could not install the prometheus package (see above). Run   $manual   and rerun." >&2
    exit 1
  fi
fi
if [ ! -x "$promtool" ]; then
  echo "error: the prometheus package installed, but $promtool is not there." >&2
  exit 1
fi
echo "==> installed: $("$promtool" --version 2>&1 | head -n 1)"
