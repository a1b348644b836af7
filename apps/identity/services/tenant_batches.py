"""Periodic work over every tenant, spread as one job per batch of tenants.

A periodic job that walked every tenant in one run would take hours at 100,000 tenants, hold one
worker throughout, and start again from the first tenant after a crash. Instead the cron entry
(`config/cron.py`) is `tenant_batches_defer(job=...)`: it walks the tenant table once (ids only)
and defers the named job once per batch of `ATRIUM_TENANT_BATCH_SIZE` tenant ids, through the
outbox. Batches run in parallel on however many workers there are; a failing batch is retried
alone, with the usual back-off. Each batch job takes `tenant_ids` and hands them to its service's
`..._all(tenant_ids=...)`, which enters each tenant's context in turn (docs/scaling.md).
"""

from __future__ import annotations

import inspect

from django.conf import settings
from django.db import transaction

from apps.common.job_registry import resolve_job
from apps.common.jobs import TenantJob
from apps.identity.selectors.tenant_walk import tenant_id_batches


class NotABatchJob(TypeError):
    """The named job does not take `tenant_ids`: it cannot be spread over tenant batches."""


def tenant_batches_defer(*, job: str, size: int | None = None) -> int:
    """Defer the registered job at path `job` once per batch of live tenants. Returns the batches."""
    batch_job = resolve_job(job)
    if not isinstance(batch_job, TenantJob) or "tenant_ids" not in inspect.signature(batch_job.fn).parameters:
        raise NotABatchJob(f"{job} is not a @tenant_job taking tenant_ids")
    batches = 0
    for ids in tenant_id_batches(size=size or settings.ATRIUM_TENANT_BATCH_SIZE):
        # One outbox row per batch, each committed on its own: a crash halfway loses no batch already promised.
        with transaction.atomic():
            batch_job.defer(tenant=None, tenant_ids=ids)
        batches += 1
    return batches
