#!/usr/bin/env bash
# Creates the virtual environment and installs Atrium with its dev tools.
set -euo pipefail
python=${1:-python3.11}
venv=${2:-.venv}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found. Atrium needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
echo "==> installing Atrium into $venv (first run takes a minute or two)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip install --quiet --progress-bar off --no-warn-script-location -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
# pip's exit status is hidden by the filter above: check the result instead.
"$venv/bin/python" -c "import django, rest_framework, rq, pytest, mypy" || {
  echo "error: installing dependencies failed; rerun '$venv/bin/pip install -e .[dev]' to see why." >&2
  exit 1
}
echo "==> installed"
