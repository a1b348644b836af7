# syntax=docker/dockerfile:1
# Atrium's image: the web process (gunicorn), and with another command the RQ worker and rqcron
# (compose.yaml, docs/runbooks/deploy.md). Two stages: the builder installs exactly uv.lock
# (hash-checked, runtime dependencies only: docs/adr/0010-locked-dependencies.md) and collects
# the static files; the runtime stage copies the result onto a clean slim Python and runs as a
# non-root user. Build from the checkout:   docker build -t atrium:$(git rev-parse --short HEAD) .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ------------------------------------------------------------------------------------------ builder
FROM ${PYTHON_IMAGE} AS builder
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHON=python3.11 \
    UV_VENV=/opt/uv \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1
WORKDIR /src

# Dependencies first (their layer is reused until the lock changes): the pinned uv (scripts/uv.sh)
# syncs uv.lock into /opt/venv with --frozen --no-dev, through the same script `make run` uses.
COPY pyproject.toml uv.lock ./
COPY scripts/uv.sh scripts/uv.sh
COPY scripts/ci/install.sh scripts/ci/install.sh
RUN scripts/ci/install.sh run /opt/venv

# The application, then its static files (whitenoise serves them from ATRIUM_VAR_DIR/static). The
# production guard wants a secret key and hosts even for collectstatic: build-only values, never used
# at run time (the container's environment provides the real ones).
COPY . .
RUN DJANGO_DEBUG=false \
    DJANGO_SECRET_KEY=collectstatic-only-build-key-not-used-at-run-time-0123456789 \
    ALLOWED_HOSTS=build.invalid \
    ATRIUM_SINGLE_PROCESS=true \
    ATRIUM_VAR_DIR=/src/var \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0

# ------------------------------------------------------------------------------------------ runtime
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    ATRIUM_VAR_DIR=/app/var \
    WEB_CONCURRENCY=4

RUN groupadd --system --gid 10001 atrium \
    && useradd --system --uid 10001 --gid atrium --home-dir /app --no-create-home --shell /usr/sbin/nologin atrium
WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
# The code and the collected static files stay root-owned (read-only to the app); only var/ is the
# app's: metrics samples, the embedded file cache, local uploads when no bucket is named.
COPY --from=builder /src/apps ./apps
COPY --from=builder /src/config ./config
COPY --from=builder /src/static ./static
COPY --from=builder /src/templates ./templates
COPY --from=builder /src/manage.py /src/pyproject.toml ./
COPY --from=builder /src/var/static ./var/static
RUN mkdir -p var/prometheus var/media var/cache var/jwt-keys \
    && chown atrium:atrium var var/prometheus var/media var/cache var/jwt-keys \
    && chmod 700 var/jwt-keys

USER atrium:atrium
EXPOSE 8000

# Liveness only (/healthz answers without the database); the load balancer's probe is /readyz. Django
# refuses a Host outside ALLOWED_HOSTS, so the probe sends the first one (a leading dot or `*` trimmed).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.*') or '127.0.0.1'; sys.exit(u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': h}), timeout=4).status != 200)"]

# The worker and cron override this (compose.yaml): manage.py rqworker ... / manage.py rqcron. Gunicorn reads
# its worker count from WEB_CONCURRENCY (config/gunicorn.conf.py sets none).
CMD ["gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py", "--bind", "0.0.0.0:8000"]
