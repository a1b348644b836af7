"""django-rq queues: real Redis when REDIS_URL is set, else inline on fakeredis.

A bare `ASYNC: False` still connects to Redis to store the job, so the embedded
default hands every queue one in-process fakeredis server instead.
"""

from __future__ import annotations

from typing import Any

from config import env as E

RQ_QUEUE_NAMES = ("default", "mail", "billing")


def _queue_config() -> dict[str, Any]:
    if E.REDIS_URL:
        return {"URL": E.REDIS_URL, "DEFAULT_TIMEOUT": 300}
    import fakeredis
    import redis

    pool = redis.ConnectionPool(connection_class=fakeredis.FakeConnection, server=fakeredis.FakeServer())
    return {
        "HOST": "fakeredis",
        "PORT": 0,
        "DB": 0,
        "ASYNC": False,
        "DEFAULT_TIMEOUT": 300,
        "REDIS_CLIENT_KWARGS": {"connection_pool": pool},
    }


_config = _queue_config()
RQ_QUEUES = {name: dict(_config) for name in RQ_QUEUE_NAMES}
RQ_EMBEDDED = not E.REDIS_URL
RQ_CRON_CONFIG = "config.cron"
