"""Identity test helpers on top of the root conftest's (`api`, `login`, `api_client`, `rbac_seeded`, `PASSWORD`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin(member):  # type: ignore[no-untyped-def]
    return member("admin")


@pytest.fixture
def admin_api(api_client, admin, portal):  # type: ignore[no-untyped-def]
    return api_client(admin, portal)


@pytest.fixture
def invite(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """`invite(client, email, role)` → the response; the invitation mail is sent as after a real commit."""
    from apps.identity.tests.invitations_support import LIST

    def do(client, email: str = "new@example.test", role: str = "member", **headers):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(LIST, {"email": email, "role": role}, format="json", headers=headers or None)

    return do
