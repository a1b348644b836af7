"""Webhook endpoints, the events they are sent, and the log of each delivery (all tenant-scoped, RLS)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.common.models import TenantScopedModel


class WebhookEndpoint(TenantScopedModel):
    """A receiver URL of the tenant's and the event types it subscribes to.

    The signing secret is stored encrypted (`apps.integrations.secret_store`) and
    shown once, when created or rotated. After a rotation the previous secret
    signs too, until `previous_secret_expires_at`. `consecutive_failures`
    counts deliveries that failed for good in a row; reaching
    `WEBHOOKS_DISABLE_AFTER_FAILURES` sets `active` off and `disabled_at`.
    """

    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantScopedModel.Meta):
        indexes: ClassVar = [models.Index(fields=["tenant", "-created_at", "-id"], name="integrations_endpoint_newest")]

    def __str__(self) -> str:
        return f"webhook endpoint {self.url}"


class WebhookEvent(TenantScopedModel):
    """Something that happened, as sent: written only when an active endpoint subscribes to its type."""

    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)

    class Meta(TenantScopedModel.Meta):
        indexes: ClassVar = [models.Index(fields=["tenant", "created_at"], name="integrations_event_age")]

    def __str__(self) -> str:
        return f"{self.type} event"


class WebhookDelivery(TenantScopedModel):
    """One event to one endpoint: its state, its last attempt's outcome, and a log of every attempt.

    `message_id` is the `webhook-id` header: the same on every retry and
    redelivery, so a receiver can drop a duplicate. `pending` with
    `next_attempt_at` in the future waits for a retry; `retries_left` counts
    the retries the schedule still allows.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    retries_left = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")
    error = models.CharField(max_length=300, blank=True, default="")
    log = models.JSONField(default=list, encoder=DjangoJSONEncoder)

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "endpoint", "event"], name="integrations_delivery_once")
        ]
        indexes: ClassVar = [
            # An endpoint's log, newest first, in the cursor's order.
            models.Index(fields=["tenant", "endpoint", "-created_at", "-id"], name="integrations_delivery_newest"),
            # The hourly sweep: overdue pending deliveries, and rows past retention.
            models.Index(fields=["tenant", "status", "next_attempt_at"], name="integrations_delivery_due"),
            models.Index(fields=["tenant", "created_at"], name="integrations_delivery_age"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.message_id} [{self.status}]"
