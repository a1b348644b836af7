#!/usr/bin/env bash
# uv.lock in step with pyproject.toml: a dependency added, removed or re-ranged in pyproject.toml
# without refreshing the lock fails here. Offline (the lock records what it was resolved from) and
# instant. docs/adr/0010-locked-dependencies.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "==> uv.lock up to date with pyproject.toml"
if ! out=$(scripts/uv.sh lock --check --offline 2>&1); then
  # A stale lock reads "needs to be updated", or, when the new requirement is not in uv's cache,
  # "network was disabled": both mean the same here. Anything else (a broken pyproject.toml) is shown.
  if grep -qE "needs to be updated|network was disabled" <<<"$out"; then
    echo "error: uv.lock is out of date with pyproject.toml. Refresh it with 'make lock' (scripts/uv.sh lock) and commit uv.lock." >&2
  else
    printf '%s\n' "$out" >&2
    echo "error: could not check uv.lock against pyproject.toml (see above)." >&2
  fi
  exit 1
fi
echo "==> tools/checkov/uv.lock up to date with its pyproject.toml"
if ! scripts/uv.sh lock --check --offline --project tools/checkov >/dev/null 2>&1; then
  echo "error: tools/checkov/uv.lock is out of date. Refresh it with 'scripts/uv.sh lock --project tools/checkov' and commit it." >&2
  exit 1
fi
