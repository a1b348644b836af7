"""What a delivery sends: the body (fixed once per event) and the Standard Webhooks headers (per attempt).

The body is `{"type", "timestamp", "data"}` as the specification suggests,
serialised the same way on every attempt, so a redelivery carries the same
bytes under the same `webhook-id`. `webhook-signature` holds one `v1,<sig>`
per valid secret, space-separated: during a rotation's overlap both the new
and the previous secret sign, and a receiver holding either verifies.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from standardwebhooks import Webhook

from apps.integrations.models import WebhookEndpoint, WebhookEvent
from apps.integrations.secret_store import secret_decrypt


def event_body(event: WebhookEvent) -> bytes:
    document = {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.payload}
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The endpoint's secret, and the previous one while its overlap lasts."""
    found = [secret_decrypt(endpoint.secret_encrypted, endpoint_id=endpoint.id)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(secret_decrypt(endpoint.previous_secret_encrypted, endpoint_id=endpoint.id))
    return found


def signed_headers(*, endpoint: WebhookEndpoint, message_id: str, body: bytes, now: datetime) -> dict[str, str]:
    signatures = [Webhook(secret).sign(message_id, now, body) for secret in signing_secrets(endpoint, now=now)]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
