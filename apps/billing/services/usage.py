"""Usage: metered events and gauge readings, and their roll-up into per-period totals.

Metrics (`METRICS`): `api_calls` is a metered count (the period's total is
the sum of its records); `seats`, `portals` and `storage_bytes` are gauges,
read by the roll-up (the period's total is the peak reading). The roll-up
runs hourly (`config/cron.py`) tenant by tenant, inside each tenant's context,
on the worker's database role: no escape from the tenant wall is needed.

API calls are counted by the API's base view without a write per request
(`apps.common.metering`); each roll-up takes the tenant's counters off the
cache and records them, one record per hour counted. Readings older than
`BILLING_USAGE_RETENTION_DAYS` are deleted by the nightly job (`usage_prune`);
the period totals they made stay.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Final

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from apps.billing.models import UsageRecord, UsageTotal
from apps.billing.selectors import current_period, usage_gauges
from apps.common import metering
from apps.common.exceptions import ApplicationError
from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.identity.selectors.tenant_walk import tenants_each

SUM: Final = "sum"
PEAK: Final = "max"
METRICS: Final[dict[str, str]] = {"seats": PEAK, "portals": PEAK, "storage_bytes": PEAK, "api_calls": SUM}
GAUGES: Final = tuple(name for name, kind in METRICS.items() if kind == PEAK)


def usage_record(*, tenant: Tenant, metric: str, quantity: int, at: datetime | None = None) -> UsageRecord:
    """Record one measurement of `metric` for the tenant (in its context)."""
    if metric not in METRICS:
        raise ApplicationError(f"Unknown metric {metric!r}.", errors={"metric": [f"One of {', '.join(METRICS)}."]})
    if quantity < 0:
        raise ApplicationError("A quantity is not negative.", errors={"quantity": ["Not negative."]})
    record: UsageRecord = UsageRecord.objects.create(
        tenant_id=tenant.id, metric=metric, quantity=quantity, at=at or timezone.now()
    )
    return record


def usage_meter_collect(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Record the API calls counted for the tenant since the last collection (one record per hour); how many."""
    taken = metering.drain(metering.API_CALLS, tenant.id, now=now)
    for hour, calls in sorted(taken.items()):
        usage_record(tenant=tenant, metric="api_calls", quantity=calls, at=hour)
    return sum(taken.values())


def usage_prune(*, tenant: Tenant, now: datetime | None = None) -> int:
    """Delete the tenant's readings older than `BILLING_USAGE_RETENTION_DAYS`; how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BILLING_USAGE_RETENTION_DAYS)
    deleted, _ = UsageRecord.objects.filter(tenant_id=tenant.id, at__lt=cutoff).delete()
    return deleted


@transaction.atomic
def usage_rollup(*, tenant: Tenant, now: datetime | None = None) -> dict[str, int]:
    """Collect the API calls, read the gauges, then write the current period's totals of every metric."""
    now = now or timezone.now()
    usage_meter_collect(tenant=tenant, now=now)
    for metric, value in usage_gauges(tenant=tenant).items():
        UsageRecord.objects.create(tenant_id=tenant.id, metric=metric, quantity=value, at=now)
    start, end = current_period(tenant=tenant, now=now)
    records = UsageRecord.objects.filter(tenant_id=tenant.id, at__gte=start, at__lt=end)
    summed = records.filter(metric__in=[m for m, kind in METRICS.items() if kind == SUM])
    peaked = records.filter(metric__in=GAUGES)
    found = {
        row["metric"]: row["total"] for row in summed.values("metric").annotate(total=Sum("quantity")).order_by()
    } | {row["metric"]: row["total"] for row in peaked.values("metric").annotate(total=Max("quantity")).order_by()}
    totals = {metric: int(found.get(metric) or 0) for metric in METRICS}
    for metric, total in totals.items():
        UsageTotal.objects.update_or_create(
            tenant_id=tenant.id,
            period_start=start,
            metric=metric,
            defaults={"period_end": end, "total": total},
        )
    return totals


def usage_rollup_all(*, tenant_ids: Collection[str] | None = None) -> int:
    """Roll up the usage of every active tenant (or of `tenant_ids`), one short transaction each. Returns how many.

    Hourly, one job per batch of tenants (`apps.billing.periodic`, `config/cron.py`).
    """
    done = 0
    for tenant in tenants_each(active_only=True, ids=tenant_ids):
        with tenant_context(tenant):
            usage_rollup(tenant=tenant)
        done += 1
    return done
