"""`@tenant_job`: registration by path, the tenant a deferred job records and re-enters."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from apps.common.job_registry import UnknownJob, resolve_job
from apps.common.jobs import DEFAULT_RETRY, tenant_job
from apps.common.models import OutboxMessage
from apps.common.tenancy import current_tenant, tenant_context
from apps.common.tests.jobs_fixtures import failing_job, make_tenant, record_job

pytest_plugins = ["apps.common.tests.jobs_fixtures"]

pytestmark = pytest.mark.usefixtures("embedded_queues")


def test_job_is_registered_by_dotted_path_with_its_queue_and_retry():
    assert record_job.path == "apps.common.tests.jobs_fixtures.record_job"
    assert resolve_job(record_job.path) is record_job
    assert record_job.queue == "default"
    assert record_job.retry is DEFAULT_RETRY
    assert DEFAULT_RETRY.max == 3
    assert DEFAULT_RETRY.intervals == [10, 60, 300]
    assert failing_job.retry is not None
    assert failing_job.retry.max == 2


def test_resolve_job_refuses_paths_that_are_not_registered_jobs():
    with pytest.raises(UnknownJob):
        resolve_job("apps.common.outbox.outbox_sweep")  # a real function, but not a tenant job
    with pytest.raises(UnknownJob):
        resolve_job("apps.common.no_such_module.job")
    with pytest.raises(UnknownJob):
        resolve_job("os.system")


def test_decorated_function_still_runs_when_called_directly(job_calls):
    record_job(tenant=None, note="direct")
    assert job_calls == [{"note": "direct", "tenant": None, "context_tenant_id": None}]


def test_decorator_defaults_to_default_queue():
    @tenant_job()
    def local_job(*, x: int) -> None:  # pragma: no cover - never run
        pass

    assert local_job.queue == "default"
    assert local_job.retry is DEFAULT_RETRY
    assert not local_job.takes_tenant


@pytest.mark.django_db(transaction=True)
def test_deferred_job_records_current_tenant_and_reenters_it(fake_tenants, job_calls):
    acme = make_tenant(fake_tenants, "Acme")

    with tenant_context(acme), transaction.atomic():
        message = record_job.defer(note="hello")

    message.refresh_from_db()
    assert message.tenant_id == acme.id
    assert message.status == OutboxMessage.Status.DONE
    assert job_calls == [{"note": "hello", "tenant": acme, "context_tenant_id": acme.id}]
    assert current_tenant() is None  # the worker's context did not leak out


@pytest.mark.django_db(transaction=True)
def test_job_deferred_without_tenant_runs_with_no_tenant(job_calls):
    with transaction.atomic():
        message = record_job.defer(note="platform")

    assert message.tenant_id is None
    assert job_calls == [{"note": "platform", "tenant": None, "context_tenant_id": None}]


@pytest.mark.django_db
def test_run_enters_the_recorded_context_not_the_callers(fake_tenants, job_calls):
    acme = make_tenant(fake_tenants, "Acme")
    globex = make_tenant(fake_tenants, "Globex")

    with tenant_context(acme):
        record_job.run(tenant_id=None, kwargs={"note": "none"})
        record_job.run(tenant_id=str(globex.id), kwargs={"note": "globex"})
        assert current_tenant() is acme

    assert [(c["note"], c["context_tenant_id"], c["tenant"]) for c in job_calls] == [
        ("none", None, None),
        ("globex", globex.id, globex),
    ]


@pytest.mark.django_db(transaction=True)
def test_explicit_tenant_overrides_the_context(fake_tenants, job_calls):
    acme = make_tenant(fake_tenants, "Acme")
    globex = make_tenant(fake_tenants, "Globex")

    with tenant_context(acme), transaction.atomic():
        message = record_job.defer(tenant=globex, note="for globex")

    assert message.tenant_id == globex.id
    assert job_calls[0]["context_tenant_id"] == globex.id


@pytest.mark.django_db
def test_model_instances_are_refused_as_job_kwargs():
    instance = OutboxMessage(job_path="x")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        record_job.defer(note=instance)
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_uuid_kwargs_are_stored_as_strings(django_capture_on_commit_callbacks):
    some_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = record_job.defer(note=some_id)
    message.refresh_from_db()
    assert message.kwargs == {"note": str(some_id)}
    assert len(callbacks) == 1  # the relay waits for the commit
