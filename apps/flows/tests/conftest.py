"""Flows test helpers on top of the root conftest's (`tenant`, `other_tenant`, `portal`, `member`, `api_client`)."""

from __future__ import annotations

from typing import Any

import pytest

from apps.common.tenancy import tenant_context
from apps.flows.services import onboarding_seed
from apps.identity.models import Portal

CHECKLIST = "/api/v1/flows/onboarding/checklist/"
RUNS = "/api/v1/flows/runs/"
TRACK = "/api/v1/analytics/track/"


def complete_url(code: str) -> str:
    return f"/api/v1/flows/onboarding/steps/{code}/complete/"


@pytest.fixture
def seeded_tenant(tenant: Any) -> Any:
    """`tenant` with the default onboarding steps, as the tenant-created plug gives a new tenant."""
    with tenant_context(tenant):
        onboarding_seed(tenant=tenant)
    return tenant


@pytest.fixture
def other_portal(other_tenant: Any) -> Portal:
    return Portal.objects.create(
        tenant=other_tenant,
        slug="globex-test",
        name="Globex Test Portal",
        is_default=True,
        admitted_roles=["owner", "admin", "member"],
    )
