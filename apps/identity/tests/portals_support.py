"""Helpers shared by the `portals/` administration tests (not a test module itself)."""

from __future__ import annotations

from apps.common.tenancy import tenant_context
from apps.identity.models import AuditEvent, Portal

PORTALS = "/api/v1/identity/portals/"


def _events(tenant, action):
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _portal(slug) -> Portal:
    return Portal.objects.get(slug=slug)


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()
