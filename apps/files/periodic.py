"""Files' periodic work, one job per batch of tenants (`config/cron.py` defers them through
`identity.services.tenant_batches.tenant_batches_defer`)."""

from __future__ import annotations

from apps.common.jobs import tenant_job
from apps.files.services import file_orphans_sweep_all


@tenant_job(queue="default")
def file_orphans_sweep_batch_job(*, tenant_ids: list[str]) -> None:
    """Delete the stored objects of these tenants that no file row names (past the grace period)."""
    file_orphans_sweep_all(tenant_ids=tenant_ids)
