"""Outbound webhooks (`apps.integrations`, docs/adr/0016-outbound-webhooks.md).

Deliveries refuse private, loopback, link-local, multicast and reserved
addresses unless `WEBHOOKS_ALLOW_PRIVATE_ADDRESSES` (tests, on-premises
receivers). A failed attempt is retried after each `WEBHOOKS_RETRY_SCHEDULE`
value in turn (seconds; tests set `0,0`); `WEBHOOKS_DISABLE_AFTER_FAILURES`
deliveries failed in a row disable the endpoint and mail its creator.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config import env as E


def retry_schedule(raw: str) -> list[int]:
    """`WEBHOOKS_RETRY_SCHEDULE`: seconds before each retry, comma-separated; empty means no retries."""
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise ImproperlyConfigured(f"WEBHOOKS_RETRY_SCHEDULE must be whole seconds, e.g. 30,120,600: {exc}") from exc
    if values and min(values) < 0:
        raise ImproperlyConfigured("WEBHOOKS_RETRY_SCHEDULE takes no negative wait (e.g. 30,120,600).")
    return values


def _at_least(name: str, value: int, minimum: int) -> int:
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum} (it is {value}).")
    return value


WEBHOOKS_ALLOW_PRIVATE_ADDRESSES: bool = E.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES
WEBHOOKS_RETRY_SCHEDULE: list[int] = retry_schedule(E.WEBHOOKS_RETRY_SCHEDULE)
WEBHOOKS_DISABLE_AFTER_FAILURES: int = _at_least(
    "WEBHOOKS_DISABLE_AFTER_FAILURES", E.WEBHOOKS_DISABLE_AFTER_FAILURES, 1
)
WEBHOOKS_DELIVERY_RETENTION_DAYS: int = _at_least(
    "WEBHOOKS_DELIVERY_RETENTION_DAYS", E.WEBHOOKS_DELIVERY_RETENTION_DAYS, 1
)
WEBHOOKS_SECRET_OVERLAP_HOURS: int = _at_least("WEBHOOKS_SECRET_OVERLAP_HOURS", E.WEBHOOKS_SECRET_OVERLAP_HOURS, 0)
# Seconds to connect, and for the whole request (connect, send, the response's status and first KB).
WEBHOOKS_CONNECT_TIMEOUT: float = 3.0
WEBHOOKS_TIMEOUT: float = 10.0
