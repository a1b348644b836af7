"""Helpers for the social sign-in page tests: the fake OIDC provider, and the round trip a browser makes.

The Django client plays the browser on Atrium's side; `requests` plays it at the
provider (tests/fixtures/fake_oidc.py), which answers the authorisation
request with a redirect back to Atrium's callback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from apps.identity.models import User
from tests.fixtures.fake_oidc import FakeOidc

PROVIDER_NAME = "Fake ID"


def serve() -> Iterator[FakeOidc]:
    """The fake provider for a module's tests (its `oidc_server` fixture): started, then stopped."""
    fake = FakeOidc().start()
    yield fake
    fake.stop()


def configure(fake: FakeOidc, settings: Any) -> FakeOidc:
    """The fake provider as the only social provider (an `oidc` fixture), with a fresh identity and log."""
    fake.identity = {"sub": "fake-sub-1", "email": "someone@example.test", "email_verified": True}
    fake.deny = False
    fake.requests.clear()
    settings.SOCIALACCOUNT_PROVIDERS = fake.provider_settings(PROVIDER_NAME)
    return fake


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def at_provider(location: str) -> str:
    """Follow Atrium's redirect to the provider, which answers with a redirect back: that URL."""
    assert location.startswith("http://127.0.0.1:"), location
    answer = requests.get(location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def post_from(client: Client, page: str, action: str, data: dict[str, str] | None = None) -> Any:
    """A form on `page` posted to `action`, with the CSRF token the page's cookie holds (as a browser does)."""
    client.get(page)
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    return client.post(action, {**(data or {}), "csrfmiddlewaretoken": token})


def start(client: Client, portal: Any, provider: str = "oidc", data: dict[str, str] | None = None) -> Any:
    """The login page's button: a POST with the CSRF token."""
    return post_from(client, f"/portal/{portal.slug}/login/", f"/portal/{portal.slug}/social/{provider}/login/", data)


def destination(started: Any) -> str:
    """Where a start's page moves on to: the provider's authorisation URL (its `Refresh` header and its link)."""
    assert started.status_code == 200, started.content
    delay, _, url = started["Refresh"].partition(";url=")
    assert delay == "0"
    assert f'href="{url.replace("&", "&amp;")}"'.encode() in started.content  # the same, for a browser without Refresh
    return url


def round_trip(client: Client, started: Any) -> Any:
    """From the start's page to the provider, back to Atrium's callback: the callback's response."""
    return client.get(path_of(at_provider(destination(started))))


def social_sign_in(client: Client, portal: Any, oidc: FakeOidc, **identity: Any) -> Any:
    """The whole sign-in as `identity`: start, provider, callback, and the portal page it leads to."""
    if identity:
        oidc.identity = {"sub": "fake-sub-1", "email_verified": True, **identity}
    back = round_trip(client, start(client, portal))
    assert back.status_code == 302, back.content
    return client.get(back["Location"])


def link(user: User, sub: str = "fake-sub-1") -> SocialAccount:
    """A link made as the security page makes one, for a verified account."""
    User.objects.filter(id=user.id).update(email_verified=True)
    return SocialAccount.objects.create(user=user, provider="oidc", uid=sub, extra_data={"email": "x@fake.test"})
