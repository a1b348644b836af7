"""Jobs and fixtures shared by the jobs, outbox, mail and rqcron tests.

Not a conftest (other tests in this package have their own owners): test
modules load the fixtures with `pytest_plugins = ["apps.common.tests.jobs_fixtures"]`
and import the jobs and helpers they use. The jobs are module-level so RQ can import them
by dotted path, as a worker would. (PYTEST_DONT_REWRITE: the test modules
import this module before pytest loads it as a plugin; it holds no asserts.)
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import django_rq
import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from rq import Retry, SimpleWorker

from apps.common import tenancy
from apps.common.jobs import tenant_job
from apps.common.outbox import outbox_enqueue
from apps.common.tenancy import current_tenant_id

CALLS: list[dict[str, Any]] = []


@dataclass(frozen=True)
class FakeTenant:
    """apps.common knows no tenant model: anything with an `id` will do."""

    name: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@tenant_job(queue="default")
def record_job(*, tenant: FakeTenant | None, note: str) -> None:
    CALLS.append({"note": note, "tenant": tenant, "context_tenant_id": current_tenant_id()})


@tenant_job(queue="default", retry=Retry(max=2))
def failing_job(*, note: str) -> None:
    CALLS.append({"note": note, "context_tenant_id": current_tenant_id()})
    raise RuntimeError(f"boom: {note}")


@tenant_job(queue="default", retry=Retry(max=3, interval=[60]))
def failing_later_job(*, note: str) -> None:
    raise RuntimeError(f"boom later: {note}")


@tenant_job(queue="default", retry=None)
def write_then_fail_job(*, note: str) -> None:
    """Writes (another outbox row), then fails: the write must roll back with the job."""
    outbox_enqueue(job_path=record_job.path, kwargs={"note": f"from {note}"})
    raise RuntimeError("failed after writing")


@pytest.fixture
def job_calls() -> Iterator[list[dict[str, Any]]]:
    CALLS.clear()
    yield CALLS
    CALLS.clear()


@pytest.fixture
def fake_tenants(monkeypatch: pytest.MonkeyPatch) -> dict[uuid.UUID, FakeTenant]:
    """Tenants the job machinery can load by id; the real loader comes back after the test."""
    tenants: dict[uuid.UUID, FakeTenant] = {}

    def load(tenant_id: uuid.UUID | str) -> FakeTenant:
        return tenants[uuid.UUID(str(tenant_id))]

    monkeypatch.setattr(tenancy, "_loader", load)
    return tenants


def make_tenant(tenants: dict[uuid.UUID, FakeTenant], name: str) -> FakeTenant:
    tenant = FakeTenant(name=name)
    tenants[tenant.id] = tenant
    return tenant


def _embedded_queues() -> dict[str, dict[str, Any]]:
    from config.settings.rq import embedded_queues

    return embedded_queues()


@pytest.fixture
def embedded_queues() -> Iterator[None]:
    """The embedded (no REDIS_URL) queues, even in a run that has Redis: jobs run inline."""
    with override_settings(RQ_QUEUES=_embedded_queues()):
        yield


@pytest.fixture
def rq_redis() -> Iterator[redis.Redis]:
    """The CI Redis database named by REDIS_URL, emptied before and after the test."""
    connection = django_rq.get_connection("default")
    connection.flushdb()
    yield connection
    connection.flushdb()


def fail_after(write: Callable[[], object]) -> None:
    """Do `write` in a transaction that then fails, as an erroring request would."""
    with transaction.atomic():
        write()
        raise RuntimeError("rolled back after the write")


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable_queues() -> dict[str, dict[str, Any]]:
    url = f"redis://127.0.0.1:{closed_port()}/13"
    return {name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()}


def run_worker(*queue_names: str) -> None:
    """An in-process RQ worker that runs what is queued, then returns."""
    queues = [django_rq.get_queue(name) for name in queue_names or tuple(settings.RQ_QUEUES)]
    SimpleWorker(queues, connection=django_rq.get_connection(queues[0].name)).work(burst=True)
