"""Stripe mocked at the boundary: the `stripe` package runs for real, only its HTTP client is a fake.

`use_fake_stripe(settings, monkeypatch)` (a test module's `stripe_http` fixture
returns it) sets `STRIPE_SECRET_KEY`, so `provider_get()` is the Stripe
provider, and gives every `StripeClient` made during the test a `FakeStripeHTTP`: it records each
request (method, path, decoded form parameters) and answers with canned
Stripe objects. Nothing leaves the process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe._stripe_client as stripe_client_module
from stripe._http_client import HTTPClient

CHECKOUT_URL = "https://checkout.stripe.com/c/pay/cs_test_atrium"
PORTAL_URL = "https://billing.stripe.com/p/session/bps_test_atrium"


@dataclass(frozen=True)
class StripeRequest:
    method: str
    path: str
    params: dict[str, str]


def _answers() -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
    return {
        ("GET", "/v1/prices"): (
            200,
            {
                "object": "list",
                "url": "/v1/prices",
                "has_more": False,
                "data": [{"id": "price_pro", "object": "price"}],
            },
        ),
        ("POST", "/v1/checkout/sessions"): (
            200,
            {"id": "cs_test_atrium", "object": "checkout.session", "url": CHECKOUT_URL},
        ),
        ("POST", "/v1/billing_portal/sessions"): (
            200,
            {"id": "bps_test_atrium", "object": "billing_portal.session", "url": PORTAL_URL},
        ),
    }


class FakeStripeHTTP(HTTPClient):
    """Records what the `stripe` package sends and answers from `answers` ((method, path) → (status, body))."""

    name = "fake"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[StripeRequest] = []
        self.answers = _answers()

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *, _usage: Any = None
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        encoded = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        params = {key: values[-1] for key, values in parse_qs(encoded, keep_blank_values=True).items()}
        self.requests.append(StripeRequest(method.upper(), parts.path, params))
        status, body = self.answers.get(
            (method.upper(), parts.path),
            (404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL {parts.path}"}}),
        )
        return json.dumps(body), status, {"request-id": "req_test"}

    def close(self) -> None:
        return None

    def sent(self, method: str, path: str) -> list[dict[str, str]]:
        """The parameters of each request sent to `method path`."""
        return [r.params for r in self.requests if (r.method, r.path) == (method, path)]


def use_fake_stripe(settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakeStripeHTTP:
    """Make Stripe the provider for this test, every Stripe client talking to the fake returned."""
    settings.STRIPE_SECRET_KEY = "sk_test_atrium_fake"
    fake = FakeStripeHTTP()
    monkeypatch.setattr(stripe_client_module, "new_default_http_client", lambda *args, **kwargs: fake)
    return fake
