#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium: the browser the browser tests
# (tests/browser/, Playwright for Python) drive. No browser is downloaded (`playwright install` is
# never run): the Debian package `chromium` is installed with apt-get when it is missing, as root
# directly, else through `sudo -n` (no password prompt). apt-get update runs only if the install
# fails without it. Without apt-get or the rights to use it, it exits non-zero and says what to run.
#
#   scripts/ci/ensure-chromium.sh          (make test runs it before pytest; docs/testing.md)
#   CHROMIUM=/path/to/chromium ...         check another binary instead (no install is attempted)
set -euo pipefail
chromium=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$chromium" ]; then
  exit 0
fi
if [ "$chromium" != /usr/bin/chromium ]; then
  echo "error: CHROMIUM=$chromium is not an executable file." >&2
  exit 1
fi

manual="sudo apt-get update && sudo apt-get install -y chromium"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $chromium is missing and this machine has no apt-get to install Debian's chromium package." >&2
  echo "       Install Chromium so that $chromium runs it (the browser tests need it), then rerun." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: $chromium is missing (the browser tests need Debian's chromium package), and installing it" >&2
  echo "       needs root: run   $manual   and rerun." >&2
  exit 1
fi

install() {
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends chromium
}

echo "==> $chromium is missing: installing Debian's chromium package with apt-get (for the browser tests)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! install >"$log" 2>&1; then
  echo "==> apt-get install failed without a package list update; running apt-get update and trying again"
  if ! "${as_root[@]}" apt-get update -q >"$log" 2>&1 || ! install >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "error: could not install the chromium package (see above). Run   $manual   and rerun." >&2
    exit 1
  fi
fi
if [ ! -x "$chromium" ]; then
  echo "error: the chromium package installed, but $chromium is not there." >&2
  exit 1
fi
echo "==> installed: $("$chromium" --version 2>/dev/null || echo "$chromium")"
