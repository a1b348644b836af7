"""Readiness checks: each returns ok + milliseconds, and names itself when it fails."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection


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
    # Listing the root is a read-only probe that works for local disk and S3.
    default_storage.listdir("")


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
        except Exception as exc:  # noqa: BLE001 - any failure makes the check fail
            results[name] = {"ok": False, "ms": _ms(started), "error": type(exc).__name__}
        else:
            results[name] = {"ok": True, "ms": _ms(started)}
    return all(r["ok"] for r in results.values()), results


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
