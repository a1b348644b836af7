"""Every write a tenant makes to its webhooks: endpoints, secret rotation, the test event, redelivery.

Each needs `integrations.manage_webhook` (checked here, from the database, as
every service checks its actor) and is audited without the secret. The URL is
vetted by the SSRF guard when it is saved (400 when it resolves to a private
address, unless `WEBHOOKS_ALLOW_PRIVATE_ADDRESSES`) and again at every attempt.
Event types must be known ones (400 otherwise). The secret is shown once:
`EndpointWithSecret` is what create and rotate return; no read returns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.common.exceptions import ApplicationError, Conflict
from apps.identity.models import Tenant, User
from apps.identity.permissions import MANAGE_WEBHOOK
from apps.identity.services.audit import audit_record
from apps.identity.services.grants import actor_require
from apps.integrations.addresses import UnsafeUrl, target_resolve
from apps.integrations.events import EVENT_TYPES, PING
from apps.integrations.metrics import endpoint_disabled_mark
from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from apps.integrations.secret_store import secret_encrypt, secret_generate
from apps.integrations.selectors import delivery_get, endpoint_get
from apps.integrations.services.delivery import delivery_defer
from apps.integrations.services.publish import event_send

MAX_ENDPOINTS = 20  # per tenant: each event fans out to every subscribed endpoint
_UNSET: Any = object()


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown to the caller once; only its ciphertext is stored


def _url_require(url: str) -> str:
    url = url.strip()
    try:
        target_resolve(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES)
    except UnsafeUrl as exc:
        raise ApplicationError(str(exc), errors={"url": [str(exc)]}) from exc
    return url


def _events_require(events: Sequence[str]) -> list[str]:
    unknown = sorted({str(e) for e in events} - EVENT_TYPES.keys())
    if unknown:
        message = f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(sorted(EVENT_TYPES))}."
        raise ApplicationError(message, errors={"events": [message]})
    if not events:
        raise ApplicationError("Subscribe to at least one event type.", errors={"events": ["This list is empty."]})
    return sorted(set(events))


@transaction.atomic
def endpoint_create(
    *, tenant: Tenant, actor: User, url: str, events: Sequence[str], description: str = "", ip: str | None = None
) -> EndpointWithSecret:
    """A new active endpoint with a fresh secret (returned once). 400 bad URL or events; 409 at the limit."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_WEBHOOK)
    events = _events_require(events)
    url = _url_require(url)
    if WebhookEndpoint.objects.filter(tenant_id=tenant.id).count() >= MAX_ENDPOINTS:
        raise Conflict(f"An organisation has at most {MAX_ENDPOINTS} webhook endpoints; delete one first.")
    secret = secret_generate()
    endpoint = WebhookEndpoint(
        tenant_id=tenant.id, url=url, events=events, description=description.strip(), created_by=actor
    )
    endpoint.secret_encrypted = secret_encrypt(secret, endpoint_id=endpoint.id)
    endpoint.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="integrations.webhook_created",
        target=endpoint,
        ip=ip,
        data={"url": url, "events": events},
    )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


@transaction.atomic
def endpoint_update(
    *,
    tenant: Tenant,
    actor: User,
    endpoint_id: UUID | str,
    url: str = _UNSET,
    events: Sequence[str] = _UNSET,
    active: bool = _UNSET,
    description: str = _UNSET,
    ip: str | None = None,
) -> WebhookEndpoint:
    """Change what is given. Enabling a disabled endpoint clears its run of failures. 400 / 404 as create."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_WEBHOOK)
    endpoint = endpoint_get(tenant=tenant, endpoint_id=endpoint_id, lock=True)
    changed: dict[str, Any] = {}
    if events is not _UNSET:
        endpoint.events = changed["events"] = _events_require(events)
    if url is not _UNSET:
        endpoint.url = changed["url"] = _url_require(url)
    if description is not _UNSET:
        endpoint.description = changed["description"] = description.strip()
    if active is not _UNSET and bool(active) != endpoint.active:
        endpoint.active = changed["active"] = bool(active)
        was_disabled = endpoint.disabled_at is not None
        endpoint.disabled_at = None
        endpoint.consecutive_failures = 0
        if was_disabled:
            transaction.on_commit(partial(endpoint_disabled_mark, str(endpoint.id), disabled=False), robust=True)
    if not changed:
        return endpoint
    endpoint.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="integrations.webhook_updated",
        target=endpoint,
        ip=ip,
        data={key: value for key, value in changed.items() if key != "description"},
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, tenant: Tenant, actor: User, endpoint_id: UUID | str, ip: str | None = None) -> None:
    """Delete an endpoint and its delivery log; a pending delivery to it is dropped. 404 unknown or foreign."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_WEBHOOK)
    endpoint = endpoint_get(tenant=tenant, endpoint_id=endpoint_id, lock=True)
    url, endpoint_pk = endpoint.url, endpoint.id
    endpoint.delete()
    transaction.on_commit(partial(endpoint_disabled_mark, str(endpoint_pk), disabled=False), robust=True)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="integrations.webhook_deleted",
        target=("integrations.webhookendpoint", endpoint_pk),
        ip=ip,
        data={"url": url},
    )


@transaction.atomic
def endpoint_rotate_secret(
    *, tenant: Tenant, actor: User, endpoint_id: UUID | str, ip: str | None = None
) -> EndpointWithSecret:
    """A new secret (returned once); the current one keeps signing for `WEBHOOKS_SECRET_OVERLAP_HOURS`."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_WEBHOOK)
    endpoint = endpoint_get(tenant=tenant, endpoint_id=endpoint_id, lock=True)
    secret = secret_generate()
    overlap = timedelta(hours=settings.WEBHOOKS_SECRET_OVERLAP_HOURS)
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted if overlap else ""
    endpoint.previous_secret_expires_at = timezone.now() + overlap if overlap else None
    endpoint.secret_encrypted = secret_encrypt(secret, endpoint_id=endpoint.id)
    endpoint.save()
    audit_record(
        tenant=tenant,
        actor=actor,
        action="integrations.webhook_secret_rotated",
        target=endpoint,
        ip=ip,
        data={"previous_valid_until": until.isoformat() if (until := endpoint.previous_secret_expires_at) else None},
    )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


@transaction.atomic
def endpoint_test(*, tenant: Tenant, actor: User, endpoint_id: UUID | str) -> WebhookDelivery:
    """Send the endpoint a `ping` event (retried like any other). 409 while the endpoint is disabled."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_WEBHOOK)
    endpoint = endpoint_get(tenant=tenant, endpoint_id=endpoint_id)
    if not endpoint.active:
        raise Conflict("The endpoint is disabled: enable it (PATCH active=true) before testing it.")
    event = event_send(
        tenant=tenant, event=PING, data={"endpoint_id": str(endpoint.id), "by": str(actor.id)}, endpoints=[endpoint]
    )
    delivery: WebhookDelivery = WebhookDelivery.objects.select_related("event").get(event=event, endpoint=endpoint)
    return delivery


@transaction.atomic
def delivery_redeliver(
    *, tenant: Tenant, actor: User, delivery_id: UUID | str, ip: str | None = None
) -> WebhookDelivery:
    """One more attempt of a delivery, now, with the same `webhook-id` and body. 409 while the endpoint is off."""
    actor_require(tenant=tenant, actor=actor, code=MANAGE_WEBHOOK)
    delivery = delivery_get(tenant=tenant, delivery_id=delivery_id, lock=True)
    if not delivery.endpoint.active:
        raise Conflict("The endpoint is disabled: enable it (PATCH active=true) before redelivering to it.")
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.retries_left = 0  # a manual redelivery is one attempt; its failure does not restart the schedule
    delivery.save()
    delivery_defer(delivery)
    audit_record(
        tenant=tenant,
        actor=actor,
        action="integrations.webhook_redelivered",
        target=delivery,
        ip=ip,
        data={"endpoint_id": str(delivery.endpoint_id), "event": delivery.event.type},
    )
    return delivery
