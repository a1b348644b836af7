"""Fixtures for portal pages through Django's test client (browser tests live in tests/browser/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.identity.tests.factories import PASSWORD


@pytest.fixture
def web() -> Client:
    """A browser-like client: CSRF is enforced, as a real browser meets it."""
    return Client(enforce_csrf_checks=True)


def csrf_post(client: Client, path: str, data: dict[str, Any] | None = None, **extra: Any) -> Any:
    """GET the page (for its CSRF cookie), then POST the form with the token, as a browser does."""
    client.get(path)
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": token}, **extra)


@pytest.fixture
def portal_login(web: Client) -> Callable[..., Any]:
    """`portal_login(user, portal, password=PASSWORD)` → the response to the login form's POST."""

    def sign_in(user: Any, portal: Any, password: str = PASSWORD, client: Client | None = None) -> Any:
        return csrf_post(client or web, f"/portal/{portal.slug}/login/", {"email": user.email, "password": password})

    return sign_in
