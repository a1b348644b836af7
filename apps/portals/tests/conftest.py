"""Fixtures for portal pages through Django's test client (browser tests live in tests/browser/)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client

from apps.identity.models import Portal
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


# --------------------------------------------------------------------------- shared by several test files


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[[], AbstractContextManager[Any]]:
    """`with committed():` the block's after-commit work (the outbox relay, hence the mail) runs, as in production."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def open_portal(portal: Portal) -> Portal:
    """The `portal` with its sign-up policy `open` (test_account_*.py)."""
    portal.signup_policy = Portal.SignupPolicy.OPEN
    portal.save(update_fields=["signup_policy"])
    return portal


@pytest.fixture
def signed_in(web, portal, member, portal_login, rbac_seeded):
    """`signed_in(role)` → the signed-in user of that role (the `web` client holds the session).

    The members and invitations page tests use this one; other test files define their own `signed_in`.
    """

    def make(role: str = "member", client: Client | None = None):
        user = member(role=role)
        response = portal_login(user, portal, client=client)
        assert response.status_code == 302, response.content
        return user

    return make
