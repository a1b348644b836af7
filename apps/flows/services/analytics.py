"""Product analytics: recording an event (the one home, for the API and portal pages) and the daily roll-up.

Events go to their own append-only table (`AnalyticsEvent`), never the audit
chain: recording is one INSERT in the caller's tenant context. Only names in
the `ANALYTICS_EVENTS` setting are accepted, and `properties` is a small flat
object, so a client cannot turn the table into free storage.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.common.exceptions import ApplicationError
from apps.common.tenancy import TenantLike, tenant_context
from apps.flows.models import AnalyticsDaily, AnalyticsEvent
from apps.identity.selectors.tenant_walk import tenants_each

MAX_PROPERTIES = 20
MAX_KEY_LENGTH = 40
MAX_STRING_LENGTH = 200
MAX_PROPERTIES_BYTES = 2048
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def allowed_events() -> frozenset[str]:
    return frozenset(settings.ANALYTICS_EVENTS)


def _properties_errors(properties: Any) -> list[str]:
    if not isinstance(properties, Mapping):
        return ["Must be a JSON object."]
    if len(properties) > MAX_PROPERTIES:
        return [f"At most {MAX_PROPERTIES} properties."]
    for key, value in properties.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH or not _KEY.match(key):
            return [f"Property names are 1-{MAX_KEY_LENGTH} letters, digits, '_', '.' or '-', starting with a letter."]
        if isinstance(value, str):
            if len(value) > MAX_STRING_LENGTH:
                return [f"{key!r}: strings are at most {MAX_STRING_LENGTH} characters."]
        elif isinstance(value, float):
            if not math.isfinite(value):
                return [f"{key!r}: numbers must be finite."]
        elif value is not None and not isinstance(value, bool | int):
            return [f"{key!r}: values are strings, numbers, booleans or null (a flat object)."]
    if len(json.dumps(properties, separators=(",", ":")).encode()) > MAX_PROPERTIES_BYTES:
        return [f"At most {MAX_PROPERTIES_BYTES} bytes of JSON."]
    return []


def analytics_validate(*, event: Any, properties: Any = None) -> dict[str, Any]:
    """The properties to store, or ApplicationError (400) naming the field: unknown event, oversized properties."""
    errors: dict[str, list[str]] = {}
    if not isinstance(event, str) or event not in allowed_events():
        errors["event"] = [f"Unknown event; accepted: {', '.join(sorted(allowed_events()))}."]
    props = {} if properties is None else properties
    problems = _properties_errors(props)
    if problems:
        errors["properties"] = problems
    if errors:
        raise ApplicationError("The event was not recorded.", errors=errors)
    return dict(props)


def analytics_record(
    *,
    tenant: TenantLike,
    user_id: UUID | None,
    event: str,
    properties: Mapping[str, Any] | None = None,
    portal: str = "",
) -> AnalyticsEvent:
    """Append one event for `tenant` (call inside its context); 400 for an event not allow-listed or bad properties."""
    props = analytics_validate(event=event, properties=properties)
    recorded: AnalyticsEvent = AnalyticsEvent.objects.create(
        tenant_id=tenant.id, user_id=user_id, portal=portal or "", event=event, properties=props
    )
    return recorded


@dataclass(frozen=True)
class _TenantRef:
    id: UUID


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _rollup_tenant(tenant_id: UUID, days: list[date]) -> int:
    written = 0
    with tenant_context(_TenantRef(tenant_id)):
        for day in days:
            start, end = _day_bounds(day)
            counts = (
                AnalyticsEvent.objects.filter(created_at__gte=start, created_at__lt=end)
                .order_by()
                .values_list("event")
                .annotate(n=Count("id"))
            )
            rows = [AnalyticsDaily(tenant_id=tenant_id, day=day, event=name, count=n) for name, n in counts]
            if rows:
                AnalyticsDaily.objects.bulk_create(
                    rows,
                    update_conflicts=True,
                    unique_fields=["tenant", "day", "event"],
                    update_fields=["count", "updated_at"],
                )
                written += len(rows)
    return written


def analytics_rollup(*, day: date | None = None, tenant_ids: Collection[str] | None = None) -> int:
    """Recount each tenant's events per UTC day into `AnalyticsDaily`; the number of daily rows written.

    A periodic job (config/cron.py): with no `day` it recounts yesterday and
    today so far, so rerunning it is harmless and the usage page is at most one
    interval behind. It runs on the worker's database role, which cannot lift
    row-level security, so it walks the (global) tenant table and counts each
    tenant inside that tenant's own context, one short transaction per tenant.
    """
    today = timezone.now().astimezone(UTC).date()
    days = [day] if day is not None else [today - timedelta(days=1), today]
    written = 0
    for tenant in tenants_each(ids=tenant_ids):
        written += _rollup_tenant(tenant.id, days)
    return written
