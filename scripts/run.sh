#!/usr/bin/env bash
# `make run`: migrate, seed and serve the development server.
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-127.0.0.1}
port=${2:-8000}
# The runtime environment (make run installs it: scripts/ci/install.sh run), no test or lint tools.
py=${VENV:-.venv-run}/bin/python
# Local state (embedded database, dev keys, uploads, the shared cache): config/env.py reads the same variable.
var=${ATRIUM_VAR_DIR:-var}
# Links printed and mailed (console) point at this server unless told otherwise.
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://$host:$port}
mkdir -p "$var/static"
# The cache that the server and `manage.py` commands share (revocation, lockouts, throttles):
# files, private to this user because they hold pickled values (docs/adr/0009-embedded-shared-cache.md).
mkdir -p -m 700 "$var/cache"
# Commands run by hand in debug mode (seed_demo, create_tenant, …) print links to this server too.
printf '%s\n' "$PUBLIC_BASE_URL" >"$var/public-base-url"
echo "==> migrating"
$py manage.py migrate --noinput
echo "==> seed_rbac"
$py manage.py seed_rbac
echo "==> seed_demo (credentials below; rerun with --password P to choose one)"
$py manage.py seed_demo
echo "==> serving on http://$host:$port/ (health: http://$host:$port/healthz)"
exec $py manage.py runserver "$host:$port"
