#!/usr/bin/env bash
# pip-audit --strict over everything uv.lock pins (runtime and dev, every platform), not over
# whatever one environment happens to hold. A known vulnerability fails the build; an advisory
# service we cannot reach prints a loud WARNING (and does not fail), since nothing was audited.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
echo "==> pip-audit (uv.lock)"
locked=$(mktemp)
trap 'rm -f "$locked"' EXIT
# The lock as pinned, hashed requirements: pip-audit reads them without installing anything.
if ! scripts/uv.sh export --frozen --all-groups --no-emit-project --format requirements.txt --no-header \
    --quiet -o "$locked"; then
  echo "pip-audit: could not export uv.lock; see above." >&2
  exit 1
fi
audit=(.venv/bin/pip-audit --disable-pip --requirement "$locked" --progress-spinner off)
out=$("${audit[@]}" --strict 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
  echo "$out" | tail -n 3
  exit 0
fi
if echo "$out" | grep -q "could not be audited"; then
  # Strict mode stops at the first package it cannot look up. Without it, any
  # package that *can* be looked up and is vulnerable still fails the build.
  lenient=$("${audit[@]}" 2>&1)
  if [ $? -ne 0 ] && echo "$lenient" | grep -qi "known vulnerabilit"; then
    echo "$lenient"
    echo "pip-audit: known vulnerabilities found — move each package above to a fixed version with" >&2
    echo "'scripts/uv.sh lock --upgrade-package NAME' (widen its range in pyproject.toml first if needed)." >&2
    exit 1
  fi
  cause=$(echo "$out" | grep -m1 "could not be audited" | sed 's/^ERROR:[^:]*://')
  echo "################################################################################"
  echo "WARNING: pip-audit could not reach the vulnerability service; NOTHING WAS AUDITED."
  echo "WARNING: cause: ${cause}"
  echo "WARNING: run 'make test' where PyPI's JSON API is reachable to audit dependencies."
  echo "################################################################################"
  exit 0
fi
echo "$out"
echo "pip-audit failed; see above." >&2
exit $rc
