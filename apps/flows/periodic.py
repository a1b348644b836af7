"""Flows' periodic work, one job per batch of tenants (`config/cron.py` defers them through
`identity.services.tenant_batches.tenant_batches_defer`)."""

from __future__ import annotations

from apps.common.jobs import tenant_job
from apps.flows.services import analytics_rollup


@tenant_job(queue="default")
def analytics_rollup_batch_job(*, tenant_ids: list[str]) -> None:
    """Recount yesterday's and today's analytics of these tenants into the daily table."""
    analytics_rollup(tenant_ids=tenant_ids)
