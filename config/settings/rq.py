"""django-rq queues: real Redis when REDIS_URL is set, else inline on fakeredis.

A bare `ASYNC: False` still connects to Redis to store the job, so the embedded
default hands every queue one in-process fakeredis server instead.
"""

from __future__ import annotations

from typing import Any

from config import env as E

RQ_QUEUE_NAMES = ("default", "mail", "billing")


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
RQ_CRON_CONFIG = "config.cron"
