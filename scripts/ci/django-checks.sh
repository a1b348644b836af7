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
DJANGO_DEBUG=false \
  DJANGO_SECRET_KEY="$($py -c 'import secrets; print(secrets.token_urlsafe(50))')" \
  ALLOWED_HOSTS=atrium.example.com \
  METRICS_TOKEN=deploy-check-token \
  SECURE_SSL_REDIRECT=true \
  $py manage.py check --deploy --fail-level WARNING
echo "==> OpenAPI schema validation"
DJANGO_DEBUG=true $py manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
