#!/usr/bin/env bash
# Django's own checks: migrations in step with models, system checks, deploy checks
# under production-like settings, and the OpenAPI schema.
set -euo pipefail
py=.venv/bin/python
export DJANGO_SETTINGS_MODULE=config.settings DJANGO_DEBUG=true
echo "==> makemigrations --check"
$py manage.py makemigrations --check --dry-run
echo "==> check"
DJANGO_DEBUG=true $py manage.py check --fail-level WARNING
echo "==> check --deploy (production-like environment)"
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
DJANGO_DEBUG=true JWT_KEYS_DIR="$keys" $py manage.py jwt_keys add >/dev/null
DJANGO_DEBUG=false JWT_KEYS_DIR="$keys" \
  DJANGO_SECRET_KEY="$($py -c 'import secrets; print(secrets.token_urlsafe(50))')" \
  ALLOWED_HOSTS=atrium.example.com \
  METRICS_TOKEN=deploy-check-token \
  REDIS_URL=redis://127.0.0.1:6379/0 \
  SECURE_SSL_REDIRECT=true \
  $py manage.py check --deploy --fail-level WARNING
echo "==> OpenAPI schema validation"
DJANGO_DEBUG=true $py manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
