"""Reads of the tenant's webhooks (the current tenant context scopes every query; another tenant's id is 404)."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from apps.common.exceptions import NotFound
from apps.common.tenancy import TenantLike
from apps.integrations.models import WebhookDelivery, WebhookEndpoint

# What the endpoint list and detail render; the secrets are never read for them.
ENDPOINT_FIELDS = ("id", "url", "description", "events", "active", "disabled_at", "created_at")
DELIVERY_FIELDS = (
    "id",
    "event__type",
    "event_id",
    "message_id",
    "status",
    "attempts",
    "response_code",
    "duration_ms",
    "response_body",
    "error",
    "next_attempt_at",
    "created_at",
)


def endpoint_list(*, tenant: TenantLike) -> QuerySet[WebhookEndpoint]:
    """The tenant's endpoints, newest first."""
    return WebhookEndpoint.objects.filter(tenant_id=tenant.id).order_by("-created_at", "-id")


def endpoint_get(*, tenant: TenantLike, endpoint_id: UUID | str, lock: bool = False) -> WebhookEndpoint:
    """One of the tenant's endpoints; 404 for an unknown id, a malformed one, or another tenant's."""
    rows = WebhookEndpoint.objects.filter(tenant_id=tenant.id)
    if lock:
        rows = rows.select_for_update()
    try:
        endpoint: WebhookEndpoint | None = rows.filter(id=endpoint_id).first()
    except ValidationError:
        endpoint = None
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def delivery_list(*, tenant: TenantLike, endpoint_id: UUID | str) -> QuerySet[WebhookDelivery]:
    """An endpoint's delivery log, newest first (the cursor's order); 404 when the endpoint is not the tenant's."""
    endpoint = endpoint_get(tenant=tenant, endpoint_id=endpoint_id)
    return WebhookDelivery.objects.filter(tenant_id=tenant.id, endpoint_id=endpoint.id).order_by("-created_at", "-id")


def delivery_get(*, tenant: TenantLike, delivery_id: UUID | str, lock: bool = False) -> WebhookDelivery:
    """One of the tenant's deliveries with its endpoint and event; 404 unknown, malformed or foreign."""
    rows = WebhookDelivery.objects.filter(tenant_id=tenant.id).select_related("endpoint", "event")
    if lock:
        rows = rows.select_for_update(of=("self",))
    try:
        delivery: WebhookDelivery | None = rows.filter(id=delivery_id).first()
    except ValidationError:
        delivery = None
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery
