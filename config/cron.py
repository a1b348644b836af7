"""Periodic jobs, loaded by `manage.py rqcron` (settings.RQ_CRON_CONFIG).

rq's cron format: each `cron.register` call schedules one function on a queue,
every `interval` seconds or on a `cron` expression. Workers must run with
`--with-scheduler` for the retries these jobs schedule (RQ runs retries with
intervals only in a worker started with the scheduler).
"""

from rq import cron

from apps.billing.services.lifecycle import billing_nightly
from apps.billing.services.usage import usage_rollup_all
from apps.common.idempotency import idempotency_purge
from apps.common.jobs import recover_abandoned_jobs
from apps.common.outbox import outbox_purge, outbox_sweep
from apps.files.services import file_orphans_sweep_all
from apps.flows.services import analytics_rollup
from apps.identity.services.accounts import pending_signup_purge
from apps.integrations.services.housekeeping import webhooks_sweep_all

# Relays what Redis could not take at commit time: a promised job waits at most this long once Redis is back.
cron.register(outbox_sweep, queue_name="default", interval=30)
cron.register(outbox_purge, queue_name="default", interval=24 * 60 * 60)
# A job whose worker died mid-run goes back to its retries or the failed registry (`jobs_retry`), never lost.
cron.register(recover_abandoned_jobs, queue_name="default", interval=5 * 60)
cron.register(idempotency_purge, queue_name="default", interval=60 * 60)
cron.register(pending_signup_purge, queue_name="default", interval=24 * 60 * 60)
# Recounts yesterday and today so far per tenant into the daily analytics table (the usage page reads it).
cron.register(analytics_rollup, queue_name="default", interval=60 * 60)
# Billing: usage totals of the current period, hourly; expired trials, closed periods (invoices) and
# overdue invoices, nightly.
cron.register(usage_rollup_all, queue_name="billing", interval=60 * 60)
cron.register(billing_nightly, queue_name="billing", cron="15 2 * * *")
# Objects whose upload never committed (apps.files.services, "Orphans"), nightly.
cron.register(file_orphans_sweep_all, queue_name="default", cron="45 3 * * *")
# Webhooks (apps.integrations.services.housekeeping): overdue deliveries deferred again, old log rows deleted.
cron.register(webhooks_sweep_all, queue_name="webhooks", interval=60 * 60)
