"""Helpers shared by the API-key tests (not a test module itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.common.tenancy import tenant_context
from apps.identity.api_key_auth import forget_standings
from apps.identity.models import ApiKey, AuditEvent, Tenant
from apps.identity.services.api_keys import api_key_create

KEYS = "/api/v1/integrations/api-keys/"
MEMBERS = "/api/v1/identity/members/"
EVENTS = "/api/v1/identity/audit-events/"
ROLES = "/api/v1/identity/roles/"
TENANT = "/api/v1/identity/tenant/"
INVITATIONS = "/api/v1/identity/invitations/"


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    """Each test starts with no key loaded in this process (the rows of the last one were rolled back)."""
    forget_standings()
    yield
    forget_standings()


def make_key(
    tenant: Any, creator: Any, role: str = "member", *, expires_at: datetime | None = None, name: str = "CI"
) -> tuple[ApiKey, str]:
    """A key made through the service, as the API makes it."""
    row = Tenant.objects.get(id=tenant.id)
    with tenant_context(row):
        return api_key_create(tenant=row, actor=creator, name=name, role=role, expires_at=expires_at)


def key_client(full_key: str, *, ip: str = "198.51.100.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    return client


def key_row(tenant: Any, key_id: Any) -> ApiKey:
    with tenant_context(tenant):
        return ApiKey.objects.get(id=key_id)


def events(tenant: Any, action: str) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement Django sends in the block."""
    seen: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen
