#!/usr/bin/env bash
# `scripts/ci/ensure-debian-package.sh BINARY PACKAGE WHAT [OVERRIDE_VAR]`: makes sure BINARY (an absolute
# path) exists, installing Debian's PACKAGE with apt-get when it is missing — as root directly, else through
# `sudo -n` (no password prompt); apt-get update runs only if the install fails without it. WHAT says who
# needs it, in messages. When OVERRIDE_VAR names the variable the caller took BINARY from and BINARY is not
# the package's own path, nothing is installed: it must already be executable. Without apt-get or the
# rights to use it, it exits non-zero and says what to run. Quiet when the binary is there.
# Used by ensure-chromium.sh (the browser tests) and ensure-promtool.sh (the alert rule tests).
set -euo pipefail
binary=$1 package=$2 what=$3 default=${4:-}

if [ -x "$binary" ]; then
  exit 0
fi
if [ -n "$default" ] && [ "$binary" != "$default" ]; then
  echo "error: $binary is not an executable file." >&2
  exit 1
fi

manual="sudo apt-get update && sudo apt-get install -y --no-install-recommends $package"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $binary is missing and this machine has no apt-get to install Debian's $package package." >&2
  echo "       Install it so that $binary runs ($what need it), then rerun." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: $binary is missing ($what need Debian's $package package), and installing it" >&2
  echo "       needs root: run   $manual   and rerun." >&2
  exit 1
fi

install() {
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "$package"
}

echo "==> $binary is missing: installing Debian's $package package with apt-get (for $what)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! install >"$log" 2>&1; then
  echo "==> apt-get install failed without a package list update; running apt-get update and trying again"
  if ! "${as_root[@]}" apt-get update -q >"$log" 2>&1 || ! install >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "error: could not install the $package package (see above). Run   $manual   and rerun." >&2
    exit 1
  fi
fi
if [ ! -x "$binary" ]; then
  echo "error: the $package package installed, but $binary is not there." >&2
  exit 1
fi
# The package's version, from dpkg: some binaries (Debian's chromium wrapper) print shell noise first.
echo "==> installed: $package $(dpkg-query -W -f='${Version}' "$package" 2>/dev/null || echo "(version unknown)") ($binary)"
