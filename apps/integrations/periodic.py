"""Integrations' periodic work, one job per batch of tenants (`config/cron.py` defers them through
`identity.services.tenant_batches.tenant_batches_defer`)."""

from __future__ import annotations

from apps.common.jobs import tenant_job
from apps.integrations.services.housekeeping import webhooks_sweep_all


@tenant_job(queue="webhooks")
def webhooks_sweep_batch_job(*, tenant_ids: list[str]) -> None:
    """Defer these tenants' overdue deliveries again and delete their old delivery logs."""
    webhooks_sweep_all(tenant_ids=tenant_ids)
