"""Periodic jobs, loaded by `manage.py rqcron` (settings.RQ_CRON_CONFIG).

rq's cron format: each `cron.register` call schedules one function on a queue,
every `interval` seconds or on a `cron` expression. Workers must run with
`--with-scheduler` for the retries these jobs schedule (RQ runs retries with
intervals only in a worker started with the scheduler).
"""

from typing import Any

from rq import cron

from apps.billing.periodic import billing_nightly_batch_job, usage_rollup_batch_job
from apps.common.idempotency import idempotency_purge
from apps.common.jobs import TenantJob, recover_abandoned_jobs
from apps.common.outbox import outbox_purge, outbox_sweep
from apps.files.periodic import file_orphans_sweep_batch_job
from apps.flows.periodic import analytics_rollup_batch_job
from apps.identity.services.accounts import pending_signup_purge
from apps.identity.services.tenant_batches import tenant_batches_defer
from apps.integrations.periodic import webhooks_sweep_batch_job

# Relays what Redis could not take at commit time: a promised job waits at most this long once Redis is back.
cron.register(outbox_sweep, queue_name="default", interval=30)
cron.register(outbox_purge, queue_name="default", interval=24 * 60 * 60)
# A job whose worker died mid-run goes back to its retries or the failed registry (`jobs_retry`), never lost.
cron.register(recover_abandoned_jobs, queue_name="default", interval=5 * 60)
cron.register(idempotency_purge, queue_name="default", interval=60 * 60)
cron.register(pending_signup_purge, queue_name="default", interval=24 * 60 * 60)


def per_tenant(job: TenantJob[Any], **schedule: Any) -> None:
    """Work over every tenant: the cron entry only defers `job` once per batch of tenants
    (`ATRIUM_TENANT_BATCH_SIZE`), so batches spread over the workers and a failure retries one batch."""
    cron.register(
        tenant_batches_defer, queue_name=job.queue, kwargs={"job": job.path}, name=f"per_tenant:{job.path}", **schedule
    )


# Recounts yesterday and today so far per tenant into the daily analytics table (the usage page reads it).
per_tenant(analytics_rollup_batch_job, interval=60 * 60)
# Billing: usage totals of the current period, hourly; expired trials, closed periods (invoices) and
# overdue invoices, nightly.
per_tenant(usage_rollup_batch_job, interval=60 * 60)
per_tenant(billing_nightly_batch_job, cron="15 2 * * *")
# Objects whose upload never committed (apps.files.services, "Orphans"), nightly.
per_tenant(file_orphans_sweep_batch_job, cron="45 3 * * *")
# Webhooks (apps.integrations.services.housekeeping): overdue deliveries deferred again, old log rows deleted.
per_tenant(webhooks_sweep_batch_job, interval=60 * 60)
