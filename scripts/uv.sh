#!/usr/bin/env bash
# `scripts/uv.sh ARGS…`: run the uv version pinned in pyproject.toml ([tool.uv] required-version),
# installing it first into its own small environment ($UV_VENV, default .venv-uv) if it is missing or
# another version. Everything Atrium installs comes from uv.lock through this uv
# (docs/adr/0010-locked-dependencies.md). Examples:
#
#   scripts/uv.sh lock                          refresh uv.lock after editing pyproject.toml (make lock)
#   scripts/uv.sh lock --upgrade-package django move one package to its newest allowed version
#   scripts/uv.sh tree --frozen --no-dev        what make run installs, as a tree
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
uv_venv=${UV_VENV:-.venv-uv}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found. Atrium needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
# "==0.13.9" -> "0.13.9": the one version every developer, CI and Dependabot's pull requests use.
version=$("$python" - <<'PYTHON'
import sys
import tomllib

try:
    with open("pyproject.toml", "rb") as f:
        print(tomllib.load(f)["tool"]["uv"]["required-version"].removeprefix("=="))
except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
    sys.exit(f"error: cannot read [tool.uv] required-version from pyproject.toml: {exc!r}")
PYTHON
)
if [ "$("$uv_venv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$version" ]; then
  echo "==> installing uv $version into $uv_venv (the installer; first run only)" >&2
  "$python" -m venv --clear "$uv_venv"
  if ! log=$("$uv_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      "uv==$version" 2>&1); then
    printf '%s\n' "$log" >&2
    echo "error: could not install uv $version from PyPI (see above)." >&2
    exit 1
  fi
fi
# uv never downloads a Python: it uses $python. Nor does it read pip's configuration: the lock
# names the exact PyPI files and their hashes.
export UV_PYTHON="$python" UV_PYTHON_DOWNLOADS=never
exec "$uv_venv/bin/uv" "$@"
