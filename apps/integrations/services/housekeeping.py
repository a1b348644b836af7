"""The hourly sweep of every tenant's webhooks: overdue deliveries deferred again, old log rows deleted.

Row-level security keeps the worker inside one tenant at a time, so the sweep
walks the (global) tenant table and works in each tenant's context, as the
other periodic jobs do (`config/cron.py`).

- **Overdue**: a pending delivery whose retry is more than `OVERDUE_AFTER` late
  (Redis lost the scheduled retry, or the embedded queues, which have no
  scheduler), or whose first attempt never ran (its job crashed), is deferred
  again. The attempt itself skips what is no longer due, so a duplicate sends
  nothing twice.
- **Retention**: events older than `WEBHOOKS_DELIVERY_RETENTION_DAYS` go with
  their deliveries, unless one of those is still pending.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.identity.selectors.tenant_walk import tenants_each
from apps.integrations.models import WebhookDelivery, WebhookEvent
from apps.integrations.services.delivery import delivery_defer

OVERDUE_AFTER = timedelta(minutes=5)
NEVER_TRIED_AFTER = timedelta(minutes=15)  # the outbox relays within seconds; this is a crashed first attempt
BATCH = 500

Status = WebhookDelivery.Status


@dataclass(frozen=True)
class Swept:
    deferred: int
    purged: int


def webhooks_sweep(*, tenant: Tenant, now: datetime | None = None) -> Swept:
    """One tenant's sweep (call inside its context)."""
    now = now or timezone.now()
    overdue = (
        WebhookDelivery.objects.filter(tenant_id=tenant.id, status=Status.PENDING)
        .filter(
            Q(next_attempt_at__lte=now - OVERDUE_AFTER)
            | Q(next_attempt_at__isnull=True, created_at__lte=now - NEVER_TRIED_AFTER)
        )
        .order_by("created_at")
        .only("id")[:BATCH]
    )
    deferred = 0
    for delivery in overdue:
        delivery_defer(delivery)
        deferred += 1
    cutoff = now - timedelta(days=settings.WEBHOOKS_DELIVERY_RETENTION_DAYS)
    old = (
        WebhookEvent.objects.filter(tenant_id=tenant.id, created_at__lt=cutoff)
        .exclude(deliveries__status=Status.PENDING)
        .values_list("id", flat=True)[:BATCH]
    )
    purged, _ = WebhookEvent.objects.filter(id__in=list(old)).delete()
    return Swept(deferred=deferred, purged=purged)


def webhooks_sweep_all(*, now: datetime | None = None, tenant_ids: Collection[str] | None = None) -> Swept:
    """Every tenant's sweep (or only `tenant_ids`'), each in its own context.

    Hourly, one job per batch of tenants (`apps.integrations.periodic`, `config/cron.py`).
    """
    deferred = purged = 0
    for tenant in tenants_each(ids=tenant_ids):
        with tenant_context(tenant), transaction.atomic():
            swept = webhooks_sweep(tenant=tenant, now=now)
        deferred += swept.deferred
        purged += swept.purged
    return Swept(deferred=deferred, purged=purged)
