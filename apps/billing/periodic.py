"""Billing's periodic work, one job per batch of tenants (`config/cron.py` defers them through
`identity.services.tenant_batches.tenant_batches_defer`)."""

from __future__ import annotations

from apps.billing.services.lifecycle import billing_nightly
from apps.billing.services.usage import usage_rollup_all
from apps.common.jobs import tenant_job


@tenant_job(queue="billing")
def usage_rollup_batch_job(*, tenant_ids: list[str]) -> None:
    """The hourly usage roll-up of these tenants."""
    usage_rollup_all(tenant_ids=tenant_ids)


@tenant_job(queue="billing")
def billing_nightly_batch_job(*, tenant_ids: list[str]) -> None:
    """The nightly trials, period closes, overdue checks and usage pruning of these tenants."""
    billing_nightly(tenant_ids=tenant_ids)
