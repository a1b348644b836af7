"""Counting per-tenant events on the hot path (API calls) without a write per request.

`count` adds to an in-process buffer; every `ATRIUM_METERING_FLUSH_SECONDS`
(and at process exit) the buffer goes to the cache as one counter per
(metric, tenant, hour). The cache is Redis in production, shared by every
worker and app server; a request pays nothing but a dict update, and a flush
a few round trips per tenant seen since the last one.

`drain` is the reading side, run by billing's hourly job: it takes each
counter's value off atomically (`decr` by what it read, so a flush landing in
between is kept for the next run) and returns the counts to record. The order
is "take, then record": a crash between the two loses an hour's count rather
than billing it twice. What a worker held when it was killed (at most one
flush interval) is lost the same way; both are documented in
docs/runbooks/jobs.md.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

API_CALLS: Final = "api_calls"
KEY_TTL: Final = 3 * 24 * 3600  # counters outlive two missed hourly runs and then some
_HOUR_FORMAT: Final = "%Y%m%d%H"

_lock = threading.Lock()
_pending: Counter[str] = Counter()
_last_flush = time.monotonic()


def _key(metric: str, tenant_id: UUID | str, hour: datetime) -> str:
    return f"metering:{metric}:{tenant_id}:{hour.astimezone(UTC).strftime(_HOUR_FORMAT)}"


def hour_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def count(metric: str, tenant_id: UUID | str, n: int = 1, *, now: datetime | None = None) -> None:
    """Count `n` events of `metric` for the tenant now; flushed to the cache now and then."""
    global _last_flush
    key = _key(metric, tenant_id, now or timezone.now())
    with _lock:
        _pending[key] += n
        elapsed = time.monotonic() - _last_flush
        due = elapsed >= settings.ATRIUM_METERING_FLUSH_SECONDS or elapsed < 0  # < 0: a clock that went back
    if due:
        flush()


def flush() -> None:
    """Move the buffered counts into the cache (one counter per metric, tenant and hour)."""
    global _last_flush
    with _lock:
        batch = dict(_pending)
        _pending.clear()
        _last_flush = time.monotonic()
    for key, n in batch.items():
        try:
            cache.add(key, 0, timeout=KEY_TTL)
            cache.incr(key, n)
        except Exception:  # noqa: BLE001 - the cache is down: keep the counts for the next flush
            with _lock:
                _pending[key] += n


def drain(metric: str, tenant_id: UUID | str, *, now: datetime | None = None, hours: int = 48) -> dict[datetime, int]:
    """Take the tenant's counted events of the last `hours` hours off the cache: {hour start: count}."""
    now = now or timezone.now()
    starts = [hour_start(now) - timedelta(hours=back) for back in range(hours)]
    keys = {_key(metric, tenant_id, start): start for start in starts}
    taken: dict[datetime, int] = {}
    for key, value in cache.get_many(list(keys)).items():
        if not value:
            continue
        cache.decr(key, int(value))
        taken[keys[key]] = int(value)
    return taken


def pending(metric: str | None = None) -> Iterable[tuple[str, int]]:
    """What this process has counted and not yet flushed (for tests and diagnostics)."""
    with _lock:
        return [(k, n) for k, n in _pending.items() if metric is None or k.startswith(f"metering:{metric}:")]


atexit.register(flush)
