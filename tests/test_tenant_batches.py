"""Periodic work over every tenant: one walk of the tenant table, one job per batch of tenants."""

from __future__ import annotations

import pytest

from apps.billing.models import UsageTotal
from apps.common.job_registry import UnknownJob
from apps.common.models import OutboxMessage
from apps.common.tenancy import tenant_context, unscoped
from apps.identity.models import Tenant
from apps.identity.selectors.tenant_walk import tenant_id_batches, tenants_each
from apps.identity.services.tenant_batches import NotABatchJob, tenant_batches_defer
from apps.identity.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

BATCH_JOB = "apps.billing.periodic.usage_rollup_batch_job"


@pytest.fixture
def tenants(db: None) -> list[Tenant]:
    made = sorted((TenantFactory() for _ in range(7)), key=lambda tenant: tenant.id)
    Tenant.objects.filter(pk=made[3].pk).update(status=Tenant.Status.SUSPENDED)
    Tenant.objects.filter(pk=made[5].pk).update(status=Tenant.Status.OFFBOARDED)
    for tenant in made:
        tenant.refresh_from_db()
    return made


def _live_ids(tenants: list[Tenant]) -> list[str]:
    return [
        str(t.id)
        for t in Tenant.objects.filter(pk__in=[t.pk for t in tenants]).exclude(status="offboarded").order_by("id")
    ]


def test_the_walk_pages_through_every_live_tenant_once_in_id_order(tenants):
    walked = [str(t.id) for t in tenants_each(page_size=2) if t in tenants]
    assert walked == _live_ids(tenants)
    active = {str(t.id) for t in tenants_each(active_only=True, page_size=2) if t in tenants}
    assert active == set(_live_ids(tenants)) - {str(tenants[3].id)}
    chosen = [str(tenants[0].id), str(tenants[5].id), str(tenants[6].id)]
    assert [str(t.id) for t in tenants_each(ids=chosen, page_size=1)] == [chosen[0], chosen[2]]  # offboarded skipped


def test_batches_cover_every_live_tenant_exactly_once():
    ids = [TenantFactory().id for _ in range(5)]
    batches = list(tenant_id_batches(size=2))
    flat = [tenant_id for batch in batches for tenant_id in batch]
    assert len(flat) == len(set(flat)) == Tenant.objects.exclude(status="offboarded").count()
    assert {str(i) for i in ids} <= set(flat)
    assert all(1 <= len(batch) <= 2 for batch in batches)


def test_the_fan_out_defers_one_job_per_batch_and_each_batch_does_its_tenants(
    tenants, settings, django_capture_on_commit_callbacks
):
    settings.ATRIUM_TENANT_BATCH_SIZE = 3
    live = Tenant.objects.exclude(status="offboarded").count()
    with unscoped():
        before = OutboxMessage.objects.filter(job_path=BATCH_JOB).count()

    with django_capture_on_commit_callbacks(execute=True):
        batches = tenant_batches_defer(job=BATCH_JOB)

    assert batches == -(-live // 3)
    with unscoped():
        deferred = list(OutboxMessage.objects.filter(job_path=BATCH_JOB).order_by("created_at")[before:])
    assert len(deferred) == batches
    assert all(message.tenant_id is None and message.queue == "billing" for message in deferred)
    ids = [tenant_id for message in deferred for tenant_id in message.kwargs["tenant_ids"]]
    assert sorted(ids) == sorted(str(t.id) for t in Tenant.objects.exclude(status="offboarded"))
    # The jobs ran (inline here, as without Redis): every active tenant has its usage rolled up.
    for tenant in tenants:
        with tenant_context(tenant):
            rolled = UsageTotal.objects.filter(tenant_id=tenant.id).exists()
        assert rolled == (tenant.status == Tenant.Status.ACTIVE), tenant.status


def test_only_a_registered_job_taking_tenant_ids_can_be_spread():
    with pytest.raises(NotABatchJob, match="tenant_ids"):
        tenant_batches_defer(job="apps.files.jobs.file_object_delete_job")
    with pytest.raises(UnknownJob):
        tenant_batches_defer(job="apps.common.outbox.outbox_sweep")
