"""django-rq queues: real Redis when REDIS_URL is set, else inline on fakeredis.

A bare `ASYNC: False` still connects to Redis to store the job, so the embedded
default hands every queue one in-process fakeredis server instead.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config import env as E

RQ_QUEUE_NAMES = ("default", "mail", "billing", "webhooks")


def retry_intervals(raw: str) -> list[int]:
    """`ATRIUM_JOB_RETRY_INTERVALS`: seconds to wait before each retry, comma-separated; one retry per value."""
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"ATRIUM_JOB_RETRY_INTERVALS must be whole seconds, e.g. 10,60,300: {exc}") from exc
    if not values or min(values) < 0:
        raise ImproperlyConfigured("ATRIUM_JOB_RETRY_INTERVALS needs at least one interval, none negative (10,60,300)")
    return values


def embedded_queues() -> dict[str, dict[str, Any]]:
    """Every queue on one fresh in-process fakeredis server, run inline (also used by the tests)."""
    import fakeredis
    import redis

    pool = redis.ConnectionPool(connection_class=fakeredis.FakeRedisConnection, server=fakeredis.FakeServer())
    config = {
        "HOST": "fakeredis",
        "PORT": 0,
        "DB": 0,
        "ASYNC": False,
        "DEFAULT_TIMEOUT": 300,
        "REDIS_CLIENT_KWARGS": {"connection_pool": pool},
    }
    return {name: dict(config) for name in RQ_QUEUE_NAMES}


if E.REDIS_URL:
    RQ_QUEUES = {name: {"URL": E.REDIS_URL, "DEFAULT_TIMEOUT": 300} for name in RQ_QUEUE_NAMES}
else:
    RQ_QUEUES = embedded_queues()
RQ_EMBEDDED = not E.REDIS_URL
# The back-off of a `@tenant_job` without its own `retry=`: after a failure it runs again after 10 s, 60 s, then
# 300 s, and then stays in RQ's failed registry (`manage.py jobs_status`). Applied when a job is relayed; a
# retry with a wait needs a worker started `--with-scheduler`. Tests set it short ([0, 0]: two retries at once).
ATRIUM_JOB_RETRY_INTERVALS = retry_intervals(E.env.str("ATRIUM_JOB_RETRY_INTERVALS", default="10,60,300"))
# Periodic work over every tenant runs as one job per this many tenants (apps.identity.services.tenant_batches).
ATRIUM_TENANT_BATCH_SIZE = E.env.int("ATRIUM_TENANT_BATCH_SIZE", default=200)
if ATRIUM_TENANT_BATCH_SIZE < 1:
    raise ImproperlyConfigured(
        f"ATRIUM_TENANT_BATCH_SIZE must be at least 1 (tenants per periodic job), not {ATRIUM_TENANT_BATCH_SIZE}"
    )
RQ_CRON_CONFIG = "config.cron"
