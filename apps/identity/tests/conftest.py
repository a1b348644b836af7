"""Identity test helpers on top of the root conftest's (`api`, `login`, `api_client`, `rbac_seeded`, `PASSWORD`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin(member):  # type: ignore[no-untyped-def]
    return member("admin")


@pytest.fixture
def admin_api(api_client, admin, portal):  # type: ignore[no-untyped-def]
    return api_client(admin, portal)
