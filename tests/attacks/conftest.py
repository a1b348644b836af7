"""Fixtures of the attack tests: two tenants with one row of every kind, files under a temp dir, no throttles.

None is autouse (the `test_web_*` modules here are another suite's): a module asks with `usefixtures`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.attacks.two_tenants import World, build


@pytest.fixture
def attack_media_root(tmp_path: Path, settings: Any) -> None:
    """Local storage writes under this test's temporary directory, never into the checkout."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def attack_settings(settings: Any) -> None:
    """No request throttle (an attacker's many tries would meet it first); loopback webhooks allowed."""
    rates = dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def two_tenants(
    attack_media_root: None,
    attack_settings: None,
    rbac_seeded: None,
    pro_plan: None,
    tenant: Any,
    other_tenant: Any,
    portal: Any,
    member: Any,
    login: Any,
) -> World:
    """Tenant A and tenant B (`two_tenants.build`), with the attack settings."""
    return build(tenant=tenant, other_tenant=other_tenant, portal=portal, member=member, login=login)
