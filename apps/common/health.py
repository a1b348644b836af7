"""Readiness checks behind `/readyz`: database, cache, Redis (when configured) and file storage.

Each check reports `{ok, ms}`; a failing one adds the error's class name (never
its message or traceback) and is logged with the detail for the operator.

A failing check also counts in `atrium_readiness_check_failures_total{check}`
(exported at `/metrics`), which the "readiness failing" alert watches
(infra/observability/alerts.yml): the load balancer sees the 503s, Prometheus
sees them only this way.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from prometheus_client import Counter

logger = logging.getLogger("atrium.health")

CHECK_FAILURES = Counter(
    "atrium_readiness_check_failures", "Readiness checks (/readyz) that failed, by check.", labelnames=["check"]
)
# Every check's series exists from the start at 0, so the first failure is an increase an alert can see.
for _name in ("database", "cache", "redis", "storage"):
    CHECK_FAILURES.labels(check=_name)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def _redis() -> None:
    import django_rq

    django_rq.get_connection("default").ping()


def _storage() -> None:
    if isinstance(default_storage, FileSystemStorage):
        # Local disk: the root need not exist yet (the first upload creates it), but it must be creatable
        # and writable.
        root = Path(default_storage.location)
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(f"{root} is not writable")
        return
    # Remote storage: one HEAD of a key that need not exist proves the bucket answers and lets us read.
    # (Listing the root would page through every tenant's prefix.)
    default_storage.exists("readyz-probe")


def checks() -> dict[str, Callable[[], None]]:
    found: dict[str, Callable[[], None]] = {"database": _database, "cache": _cache}
    if settings.REDIS_URL:
        found["redis"] = _redis
    found["storage"] = _storage
    return found


def run_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in checks().items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure makes the check fail
            # The body names the check and the error class only; the operator's detail goes to the log.
            results[name] = {"ok": False, "ms": _ms(started), "error": type(exc).__name__}
            CHECK_FAILURES.labels(check=name).inc()
            logger.warning("readiness_check_failed", extra={"check": name}, exc_info=exc)
        else:
            results[name] = {"ok": True, "ms": _ms(started)}
    return all(r["ok"] for r in results.values()), results


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
