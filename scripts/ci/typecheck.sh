#!/usr/bin/env bash
# mypy with django-stubs and DRF stubs; strict for services, selectors, permissions.
set -euo pipefail
echo "==> mypy"
DJANGO_DEBUG=true .venv/bin/mypy apps config benchmarks
