"""Helpers and fixtures for the webhook page tests (test_webhooks_pages*.py): URLs, rows, a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.common.tenancy import tenant_context
from apps.identity.models import Tenant
from apps.integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.integrations.secret_store import secret_decrypt
from apps.integrations.services import endpoints
from apps.integrations.tests.receiver import Receiver, receiver_start

ZERO = "00000000-0000-0000-0000-000000000000"


def hooks_url(portal: Any, suffix: str = "") -> str:
    return f"/portal/{portal.slug}/webhooks/{suffix}"


def endpoint_url(portal: Any, endpoint_id: Any, action: str = "") -> str:
    return hooks_url(portal, f"{endpoint_id}/{action + '/' if action else ''}")


def redeliver_url(portal: Any, delivery_id: Any) -> str:
    return hooks_url(portal, f"deliveries/{delivery_id}/redeliver/")


def nav_links(content: bytes) -> str:
    text = content.decode()
    return text[text.index('<nav aria-label="Main">') : text.index("</nav>")]


def endpoints_of(tenant: Any) -> list[WebhookEndpoint]:
    with tenant_context(tenant):
        return list(WebhookEndpoint.objects.filter(tenant_id=tenant.id).order_by("created_at"))


def deliveries_of(tenant: Any) -> list[WebhookDelivery]:
    with tenant_context(tenant):
        return list(WebhookDelivery.objects.filter(tenant_id=tenant.id).select_related("event").order_by("created_at"))


def stored_secret(endpoint: WebhookEndpoint) -> str:
    return secret_decrypt(endpoint.secret_encrypted, endpoint_id=endpoint.id)


def make_endpoint(tenant: Any, actor: Any, url: str, events: list[str] | None = None) -> WebhookEndpoint:
    """An endpoint made through the service, as the API makes it."""
    with tenant_context(tenant):
        made = endpoints.endpoint_create(
            tenant=Tenant.objects.get(id=tenant.id), actor=actor, url=url, events=events or ["member.added"]
        )
    return made.endpoint


def bulk_endpoints(tenant: Any, count: int) -> None:
    """`count` endpoints written directly (past the service's limit of 20: only the list's cost is measured)."""
    with tenant_context(tenant):
        WebhookEndpoint.objects.bulk_create(
            WebhookEndpoint(tenant_id=tenant.id, url=f"https://hooks.example.test/{i}", events=["member.added"])
            for i in range(count)
        )


def bulk_deliveries(tenant: Any, endpoint: WebhookEndpoint, count: int) -> None:
    with tenant_context(tenant):
        events = WebhookEvent.objects.bulk_create(
            WebhookEvent(tenant_id=tenant.id, type="member.added", payload={}) for _ in range(count)
        )
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                tenant_id=tenant.id,
                endpoint=endpoint,
                event=event,
                message_id=f"msg_{event.id.hex}",
                status=WebhookDelivery.Status.SUCCEEDED,
                attempts=1,
                response_code=200,
                duration_ms=12,
            )
            for event in events
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (apps/integrations/tests/receiver.py), stopped after the test."""
    server = receiver_start()
    yield server
    server.close()


@pytest.fixture
def hooks_settings(settings: Any) -> Any:
    """Loopback receivers allowed (as on-premises); retries at once, two failures disable an endpoint."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 0]
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    settings.WEBHOOKS_SECRET_OVERLAP_HOURS = 24
    settings.WEBHOOKS_TIMEOUT = 2.0
    return settings
