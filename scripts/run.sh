#!/usr/bin/env bash
# `make run`: migrate, seed and serve the development server.
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
py=.venv/bin/python
# Links printed and mailed (console) point at this server unless told otherwise.
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://$host:$port}
mkdir -p var/static
echo "==> migrating"
$py manage.py migrate --noinput
echo "==> seed_rbac"
$py manage.py seed_rbac
echo "==> seed_demo (credentials below; rerun with --password P to choose one)"
$py manage.py seed_demo
echo "==> serving on http://$host:$port/ (health: http://$host:$port/healthz)"
exec $py manage.py runserver "$host:$port"
