"""Identity test helpers: signing in through the real login endpoint."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def login(api):  # type: ignore[no-untyped-def]
    """`login(user, portal)` → the token response of POST auth/login/."""

    def do(user, portal, password: str = PASSWORD) -> dict:
        response = api.post(
            "/api/v1/identity/auth/login/", {"email": user.email, "password": password, "portal": portal.slug}
        )
        assert response.status_code == 200, response.content
        body = response.json()
        if "access" in body:
            # Use what you get: a sign-in that answers 200 must give a token the API accepts.
            me = APIClient().get("/api/v1/identity/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
            assert me.status_code == 200, me.content
            assert me.json()["email"].lower() == user.email.lower()
        return body

    return do


@pytest.fixture
def api_client(login):  # type: ignore[no-untyped-def]
    """`api_client(user, portal)` → an APIClient with that user's bearer token."""

    def make(user, portal) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user, portal)['access']}")
        return client

    return make


@pytest.fixture
def rbac_seeded(db, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Permissions and system roles as `seed_rbac` makes them, and a fresh in-process role map.

    The on-commit RBAC version bump runs as a real commit would run it.
    """
    from apps.identity import rbac
    from apps.identity.services.rbac import rbac_seed

    rbac.declared_catalogue.cache_clear()
    rbac.reset_role_map()
    with django_capture_on_commit_callbacks(execute=True):
        rbac_seed()
    yield
    rbac.reset_role_map()


@pytest.fixture
def admin(member):  # type: ignore[no-untyped-def]
    return member("admin")


@pytest.fixture
def admin_api(api_client, admin, portal):  # type: ignore[no-untyped-def]
    return api_client(admin, portal)
