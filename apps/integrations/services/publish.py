"""Turning a domain event into deliveries, in the transaction that caused it.

Identity, billing, files and flows call `identity.plugs.domain_event` after a
write; `event_publish_hook` (registered in `IntegrationsConfig.ready`) runs
synchronously inside that transaction. It reads the tenant's active endpoints
(one indexed query; most tenants have none, and then nothing else happens),
and for those subscribed — when the tenant's plan includes `webhooks` — writes
the event, one `pending` delivery per endpoint, and one outbox message per
delivery. All of it commits or rolls back with the change itself, so an event
is never sent for a change that did not happen, and never lost for one that
did: if Redis is down at commit, the outbox keeps the promise until its sweep.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from django.conf import settings

from apps.common.tenancy import tenant_context
from apps.identity import plugs
from apps.identity.models import Tenant
from apps.integrations.events import EVENT_TYPES, FEATURE_WEBHOOKS
from apps.integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.integrations.services.delivery import delivery_defer


def message_id() -> str:
    """A `webhook-id`: unique per delivery, kept across its retries and redeliveries."""
    return f"msg_{uuid4().hex}"


def event_publish_hook(tenant: Tenant, event: str, data: dict[str, Any]) -> None:
    """`identity.plugs`' domain-event hook: see `event_publish`."""
    event_publish(tenant=tenant, event=event, data=data)


def event_publish(*, tenant: Tenant, event: str, data: dict[str, Any]) -> WebhookEvent | None:
    """Write `event` and a delivery to each active endpoint subscribed to it; None when nobody is."""
    if event not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {event!r}: declare it in apps.integrations.events.")
    # The plan first: it is read from the tenant row already loaded (and the process's plan cache), so
    # a tenant whose plan has no webhooks (every tenant on free) pays no query for its events.
    if not plugs.has_feature(tenant, FEATURE_WEBHOOKS):
        return None
    with tenant_context(tenant):
        endpoints = [
            endpoint
            for endpoint in WebhookEndpoint.objects.filter(tenant_id=tenant.id, active=True).only("id", "events")
            if event in endpoint.events
        ]
        if not endpoints:
            return None
        return event_send(tenant=tenant, event=event, data=data, endpoints=endpoints)


def event_send(*, tenant: Tenant, event: str, data: dict[str, Any], endpoints: list[WebhookEndpoint]) -> WebhookEvent:
    """Write the event and a pending delivery to each of `endpoints`, each promised to the delivery job."""
    record: WebhookEvent = WebhookEvent.objects.create(tenant_id=tenant.id, type=event, payload=data)
    retries = len(settings.WEBHOOKS_RETRY_SCHEDULE)
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                tenant_id=tenant.id,
                endpoint_id=endpoint.id,
                event=record,
                message_id=message_id(),
                retries_left=retries,
            )
            for endpoint in endpoints
        ]
    )
    for delivery in deliveries:
        delivery_defer(delivery)
    return record
