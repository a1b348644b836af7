"""The webhooks API's shapes (docs/api.md, "Integrations: webhooks"). Rows render from plain values."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.common.api import StrictCharField
from apps.integrations.events import EVENT_TYPES
from apps.integrations.models import WebhookDelivery, WebhookEndpoint

_EVENTS_HELP = "Event types to send: " + ", ".join(sorted(EVENT_TYPES)) + "."


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: DRF's BooleanField would read "yes", 1 or "off" too."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class EventListField(serializers.ListField):
    child = StrictCharField(max_length=64)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=len(EVENT_TYPES), help_text=_EVENTS_HELP, **kwargs)


class EndpointCreateInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, help_text="The receiver: https:// (or http://), on the public internet.")
    events = EventListField()
    description = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class EndpointUpdateInputSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, required=False)
    events = EventListField(required=False)
    active = StrictBooleanField(
        required=False, help_text="false stops deliveries; true enables again, clearing the run of failures."
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(
        allow_null=True, help_text="When failing deliveries disabled it; null unless so disabled."
    )
    created_at = serializers.DateTimeField()


class EndpointSecretOutputSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_…`, Standard Webhooks). Shown only in this answer: store it now."
    )


class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField(help_text="The event type.")
    event_id = serializers.UUIDField()
    webhook_id = serializers.CharField(help_text="The `webhook-id` header: the same on every retry and redelivery.")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.values)
    attempts = serializers.IntegerField()
    response_code = serializers.IntegerField(allow_null=True, help_text="The last attempt's HTTP status, if any.")
    duration_ms = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(help_text="The first 1 KB of the last attempt's answer.")
    error = serializers.CharField(help_text="Why the last attempt failed; empty when it succeeded.")
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="When the next retry is due, if pending.")
    created_at = serializers.DateTimeField()


def endpoint_row(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "active": endpoint.active,
        "disabled_at": endpoint.disabled_at,
        "created_at": endpoint.created_at,
    }


def delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event.type,
        "event_id": delivery.event_id,
        "webhook_id": delivery.message_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "response_code": delivery.response_code,
        "duration_ms": delivery.duration_ms,
        "response_body": delivery.response_body,
        "error": delivery.error,
        "next_attempt_at": delivery.next_attempt_at,
        "created_at": delivery.created_at,
    }
