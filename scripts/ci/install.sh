#!/usr/bin/env bash
# Installs exactly what uv.lock pins, every file checked against its hash, into a virtual environment.
# Packages the lock does not list are removed, so the environment is the lock and nothing else.
#
#   scripts/ci/install.sh run [VENV]   runtime dependencies only: make run (default .venv-run)
#   scripts/ci/install.sh dev [VENV]   runtime + the dev group (test, lint, type, audit, mutation
#                                      tools): make test and the other targets (default .venv)
#
# PYTHON picks the interpreter (default python3.11). docs/adr/0010-locked-dependencies.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:-}
case $kind in
  run)
    venv=${2:-.venv-run}
    sync_args=(--no-dev)
    what="runtime dependencies (no test or lint tools)"
    must_import="django, rest_framework, rq, gunicorn, psycopg"
    ;;
  dev)
    venv=${2:-.venv}
    sync_args=()
    what="runtime and dev dependencies"
    must_import="django, rest_framework, rq, gunicorn, psycopg, pytest, mypy, ruff, pip_audit"
    ;;
  *)
    echo "usage: scripts/ci/install.sh run|dev [VENV]" >&2
    exit 2
    ;;
esac
if [ ! -f uv.lock ]; then
  echo "error: uv.lock is missing. Create it with 'make lock' and commit it." >&2
  exit 1
fi

# The pinned uv, installed on first use (its progress shows here, not in the quiet check below).
scripts/uv.sh --version >/dev/null
# Installing never re-resolves (--frozen), but a lock older than pyproject.toml deserves a word.
# Offline and in milliseconds; make test fails on it (scripts/ci/lock-check.sh).
if ! scripts/uv.sh lock --check --offline >/dev/null 2>&1; then
  echo "warning: uv.lock is out of date with pyproject.toml; installing uv.lock as it is. Run 'make lock'." >&2
fi

echo "==> installing $what from uv.lock into $venv"
# uv lists each package it adds or removes: the first ten, then a count, so a first install stays short.
set +e
UV_PROJECT_ENVIRONMENT="$venv" scripts/uv.sh sync --frozen "${sync_args[@]}" 2>&1 |
  awk '/^ [-+~] / { n++; if (n <= 10) print; next } { print } END { if (n > 10) print "   ... and " n - 10 " more" }'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "error: installing from uv.lock into $venv failed (uv's message above): PyPI unreachable, or a" >&2
  echo "       file whose hash is not the one locked (never edit hashes by hand: 'make lock' writes them)." >&2
  echo "       The lock is installed as it is, never re-resolved: after editing pyproject.toml, run 'make lock'." >&2
  exit "$status"
fi

if ! "$venv/bin/python" -c "import $must_import" 2>/dev/null; then
  echo "error: $venv is incomplete after the install: 'import $must_import' fails." >&2
  exit 1
fi
if [ "$kind" = run ]; then
  # The runtime environment serves; it must not carry the tools make test uses (pyproject [dependency-groups]).
  found=$("$venv/bin/python" - <<'PYTHON'
import importlib.util

tools = ["pytest", "ruff", "mypy", "playwright", "moto", "mutmut", "hypothesis", "pip_audit", "factory", "importlinter"]
print(" ".join(tool for tool in tools if importlib.util.find_spec(tool) is not None))
PYTHON
)
  if [ -n "$found" ]; then
    echo "error: $venv holds test or lint tools ($found): they belong in the dev group of pyproject.toml." >&2
    exit 1
  fi
fi
echo "==> $venv matches uv.lock"
