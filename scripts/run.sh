#!/usr/bin/env bash
# `make run`: migrate, seed and serve the development server.
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
py=.venv/bin/python
mkdir -p var
echo "==> migrating"
$py manage.py migrate --noinput
for cmd in seed_rbac seed_demo; do
  if $py manage.py help "$cmd" >/dev/null 2>&1; then
    echo "==> $cmd"
    $py manage.py "$cmd"
  fi
done
echo "==> serving on http://$host:$port/ (health: http://$host:$port/healthz)"
exec $py manage.py runserver "$host:$port"
