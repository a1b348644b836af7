"""Identity test helpers on top of the root conftest's (`api`, `login`, `api_client`, `rbac_seeded`, `PASSWORD`).

`committed` and `seeded` serve the RBAC tests (`test_rbac.py`, `test_rbac_request_checks.py`);
`invite` the invitation tests.
"""

from __future__ import annotations

import pytest

from apps.identity.services.seeding import rbac_seed


@pytest.fixture
def admin(member):  # type: ignore[no-untyped-def]
    return member("admin")


@pytest.fixture
def admin_api(api_client, admin, portal):  # type: ignore[no-untyped-def]
    return api_client(admin, portal)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """`with committed():` runs the block's on-commit callbacks, as a real commit would.

    Tests run inside a transaction that never commits; RBAC bumps its version on commit.
    """
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def seeded(db, committed):  # type: ignore[no-untyped-def]
    with committed():
        rbac_seed()


@pytest.fixture
def invite(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """`invite(client, email, role)` → the response; the invitation mail is sent as after a real commit."""
    from apps.identity.tests.invitations_support import LIST

    def do(client, email: str = "new@example.test", role: str = "member", **headers):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(LIST, {"email": email, "role": role}, format="json", headers=headers or None)

    return do
