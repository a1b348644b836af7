"""Billing test fixtures: the seeded catalogue, signed-in owner / admin / member clients, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.billing.services.plans import plan_seed

WEBHOOK_SECRET = "whsec_test_secret_for_atrium"
WEBHOOK_URL = "/api/v1/billing/webhooks/stripe/"
BILLING = "/api/v1/billing/"


@pytest.fixture(autouse=True)
def _plans(db: None) -> None:
    """The catalogue as the data migration seeds it (a transactional test elsewhere may have flushed it)."""
    plan_seed()


@pytest.fixture
def owner(member: Callable[..., Any]) -> Any:
    return member("owner")


@pytest.fixture
def owner_api(api_client: Callable[..., APIClient], owner: Any, portal: Any) -> APIClient:
    return api_client(owner, portal)


@pytest.fixture
def admin_api(api_client: Callable[..., APIClient], member: Callable[..., Any], portal: Any) -> APIClient:
    return api_client(member("admin"), portal)


@pytest.fixture
def member_api(api_client: Callable[..., APIClient], member: Callable[..., Any], portal: Any) -> APIClient:
    return api_client(member("member"), portal)


def signature_header(payload: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """`Stripe-Signature` as Stripe computes it: HMAC-SHA256 of "<t>.<payload>" with the endpoint secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_id: str, event_type: str, obj: dict[str, Any], *, created: int | None = None) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


@pytest.fixture
def webhook_secret(settings: Any) -> str:
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


@pytest.fixture
def deliver(webhook_secret: str, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """`deliver(payload, signature=None)` → the webhook's response to a (by default correctly) signed delivery.

    What the delivery's commit promises (the outbox relay, inline here) runs as a real commit would run it.
    """

    def post(payload: bytes, signature: str | None = None, client: APIClient | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return (client or APIClient()).post(
                WEBHOOK_URL,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature if signature is not None else signature_header(payload),
            )

    return post
