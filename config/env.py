"""The one place that reads the process environment.

Every setting Atrium has comes from here, so a reader can see in one file what
the process expects and what it does without each value.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

# Marks the secret key used when none is set; production refuses to start on it.
DEV_SECRET_KEY = "dev-insecure-atrium-key-do-not-use-in-production"  # noqa: S105

env = environ.Env()


def _unset_if_blank(*names: str) -> None:
    """An empty variable means "not set": drop it before a library that only tests presence sees it.

    prometheus_client switches to multiprocess mode when `PROMETHEUS_MULTIPROC_DIR`
    merely exists (and django-prometheus then merges from it), so an empty value
    copied from an env file would write `counter_<pid>.db` samples into whatever
    the current directory is.
    """
    for name in names:
        if name in os.environ and not os.environ[name].strip():
            del os.environ[name]


_unset_if_blank("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")

DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)
TESTING: bool = env.bool("ATRIUM_TESTING", default=False)
CI: bool = env.bool("CI", default=False)

# Local state of the embedded default: SQLite database, dev keys, uploads, the shared cache, the
# base URL `make run` serves under. A test run or a read-only image points it elsewhere.
VAR_DIR = Path(env.str("ATRIUM_VAR_DIR", default="") or BASE_DIR / "var").resolve()
# Where `make run` (scripts/run.sh) records the base URL it serves under.
SERVED_BASE_URL_FILE = VAR_DIR / "public-base-url"

SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
# Previous secret keys, still accepted for signatures (sessions, reset links, backup codes) during a rotation.
SECRET_KEY_FALLBACKS: list[str] = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
DATABASE_URL: str = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'atrium.sqlite3'}")
REDIS_URL: str = env.str("REDIS_URL", default="")
EMAIL_URL: str = env.str("EMAIL_URL", default="consolemail://")
DEFAULT_FROM_EMAIL: str = env.str("DEFAULT_FROM_EMAIL", default="Atrium <no-reply@atrium.localhost>")
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
COMPLIANCE_PROFILES: list[str] = env.list("COMPLIANCE_PROFILES", default=[])
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO")
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", default=[])
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Browser origins (`scheme://host[:port]`, comma-separated) allowed to call the API cross-origin (CORS,
# config/settings/security.py). Empty: none. `*`, `null` or an entry with a path is refused at start-up.
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", default=[])


def _served_base_url() -> str:
    """In debug, the base URL the local `make run` server serves under, if it recorded one.

    Commands run by hand beside `make run HOST=… PORT=…` then print links to that
    server rather than to port 8000. Never in production: there PUBLIC_BASE_URL
    is configuration, not a guess.
    """
    if not DEBUG:
        return ""
    try:
        return SERVED_BASE_URL_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


PUBLIC_BASE_URL: str = env.str("PUBLIC_BASE_URL", default="") or _served_base_url() or "http://127.0.0.1:8000"

# Files: local disk unless a bucket is named.
MEDIA_ROOT: str = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
AWS_STORAGE_BUCKET_NAME: str = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL: str = env.str("AWS_S3_ENDPOINT_URL", default="")
AWS_S3_REGION_NAME: str = env.str("AWS_S3_REGION_NAME", default="us-east-1")
# Per-file upload limit (refused while the body is read), the allowed content types (judged by the bytes),
# and how long a download link (S3 presigned or the app's signed local link) works, in seconds.
FILES_MAX_UPLOAD_MB: int = env.int("FILES_MAX_UPLOAD_MB", default=10)
FILES_ALLOWED_TYPES: list[str] = env.list(
    "FILES_ALLOWED_TYPES",
    default=["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", "text/csv"],
)
FILES_DOWNLOAD_URL_TTL: int = env.int("FILES_DOWNLOAD_URL_TTL", default=300)

# Identity: JWT key directory and issuer.
JWT_KEYS_DIR: str = env.str("JWT_KEYS_DIR", default=str(VAR_DIR / "jwt-keys"))
JWT_ISSUER: str = env.str("JWT_ISSUER", default="atrium")
JWT_PRIVATE_KEY: str = env.str("JWT_PRIVATE_KEY", default="", multiline=True)

# Prometheus multiprocess mode (set by the gunicorn config for every worker); empty is unset (above).
PROMETHEUS_MULTIPROC_DIR: str = env.str("PROMETHEUS_MULTIPROC_DIR", default="").strip()

# Several app processes need one shared store (Redis) for revocation, lockout and throttles; a
# production process without REDIS_URL refuses to start unless it is declared the only one.
SINGLE_PROCESS: bool = env.bool("ATRIUM_SINGLE_PROCESS", default=False)
# Without REDIS_URL, that store is a file cache under VAR_DIR, shared by the server and `manage.py`
# commands on the same machine (docs/adr/0009-embedded-shared-cache.md).
CACHE_DIR = VAR_DIR / "cache"
# Overrides of the API throttle rates, e.g. ATRIUM_THROTTLE_RATES="login=10/min,register=5/hour".
THROTTLE_RATES: dict[str, str] = env.dict("ATRIUM_THROTTLE_RATES", default={})
# Requests per API key (`N/sec|min|hour|day`, or `none`); over it a key's calls are 429 (apps.identity.api_key_auth).
API_KEY_RATE: str = env.str("ATRIUM_API_KEY_RATE", default="600/min")
# Analytics event names `POST /api/v1/analytics/track/` accepts (comma-separated); others are 400.
ANALYTICS_EVENTS: list[str] = env.list(
    "ANALYTICS_EVENTS", default=["page_view", "feature_used", "onboarding_step_viewed", "onboarding_step_completed"]
)
# `make bench` only: serve the bench controls under /bench/ (benchmarks/controls, docs/performance.md).
BENCH_CONTROLS: bool = env.bool("BENCH_CONTROLS", default=False)
# `tenant_tfvars`: the DNS zone that holds each tenant's host name `<slug>.<ATRIUM_TENANT_DOMAIN>`.
ATRIUM_TENANT_DOMAIN: str = env.str("ATRIUM_TENANT_DOMAIN", default="atrium.example.com")

# Billing: the Stripe provider when a secret key is set (offline otherwise), and the webhook signing secret.
STRIPE_SECRET_KEY: str = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET: str = env.str("STRIPE_WEBHOOK_SECRET", default="")
BILLING_INVOICE_DUE_DAYS: int = env.int("BILLING_INVOICE_DUE_DAYS", default=14)
BILLING_USAGE_RETENTION_DAYS: int = env.int("BILLING_USAGE_RETENTION_DAYS", default=400)
# A test run flushes every count at once, so a test sees what it counted.
ATRIUM_METERING_FLUSH_SECONDS: float = env.float("ATRIUM_METERING_FLUSH_SECONDS", default=0 if TESTING else 10)

# Outbound webhooks (apps.integrations, config/settings/integrations.py): private addresses allowed (tests,
# on-premises), the retry back-off in seconds, failed deliveries in a row that disable an endpoint, how long
# the delivery log is kept, and how long a rotated-out secret still signs.
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: bool = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOKS_RETRY_SCHEDULE: str = env.str("WEBHOOKS_RETRY_SCHEDULE", default="30,120,600,3600,21600")
WEBHOOKS_DISABLE_AFTER_FAILURES: int = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=20)
WEBHOOKS_DELIVERY_RETENTION_DAYS: int = env.int("WEBHOOKS_DELIVERY_RETENTION_DAYS", default=30)
WEBHOOKS_SECRET_OVERLAP_HOURS: int = env.int("WEBHOOKS_SECRET_OVERLAP_HOURS", default=24)
