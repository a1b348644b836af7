"""Webhook test fixtures: a receiver on 127.0.0.1, a `pro` tenant with an owner, and an endpoint factory.

Private addresses are allowed here (the receiver is on loopback), as on an
on-premises install; the SSRF tests turn that off. Retries wait 0 s and two
failed deliveries disable an endpoint, so the whole schedule runs in a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.common.outbox import rq_queue
from apps.identity.models import Tenant
from apps.integrations.tests.receiver import Receiver, receiver_start

WEBHOOKS = "/api/v1/integrations/webhooks/"


def detail(endpoint_id: Any) -> str:
    return f"{WEBHOOKS}{endpoint_id}/"


def redeliver(delivery_id: Any) -> str:
    return f"/api/v1/integrations/deliveries/{delivery_id}/redeliver/"


@pytest.fixture(autouse=True)
def webhook_settings(settings: Any) -> Any:
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 0]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    settings.WEBHOOKS_SECRET_OVERLAP_HOURS = 24
    settings.WEBHOOKS_TIMEOUT = 2.0
    return settings


@pytest.fixture(autouse=True)
def _fresh_embedded_redis(request: pytest.FixtureRequest) -> None:
    """The in-process queues' fakeredis starts empty (counters, scheduled retries); a real Redis is left alone."""
    if request.node.get_closest_marker("redis") is None:
        rq_queue("webhooks").connection.flushdb()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = receiver_start()
    yield server
    server.close()


@pytest.fixture
def pro(tenant: Any, other_tenant: Any) -> None:
    """Both test tenants on `pro`, whose plan includes webhooks (`free` does not)."""
    Tenant.objects.filter(pk__in=[tenant.pk, other_tenant.pk]).update(plan_code="pro")


@pytest.fixture
def owner(member: Any, rbac_seeded: None, pro: None) -> Any:
    return member("owner")


@pytest.fixture
def owner_api(api_client: Any, owner: Any, portal: Any) -> Any:
    return api_client(owner, portal)


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """`with run_jobs(): ...`: what the block promises runs when it ends, as after a commit (jobs inline)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def make_endpoint(owner_api: Any, receiver: Receiver) -> Callable[..., dict[str, Any]]:
    """`make_endpoint(events=[...], url=...)` → the create answer (with its `secret`)."""

    def make(events: list[str] | None = None, url: str | None = None, client: Any = None) -> dict[str, Any]:
        response = (client or owner_api).post(
            WEBHOOKS, {"url": url or receiver.url, "events": events or ["member.removed"]}, format="json"
        )
        assert response.status_code == 201, response.content
        body: dict[str, Any] = response.json()
        return body

    return make
