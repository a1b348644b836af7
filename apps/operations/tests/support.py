"""Helpers of the archive tests: seeding a tenant with data in every app, reading a tenant's rows."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from django.db import models

from apps.common.tenancy import tenant_context, unscoped
from apps.files.storage import object_exists
from apps.files.uploads import ReceivedFile
from apps.flows.models import AnalyticsEvent
from apps.identity.models import Tenant, User
from apps.identity.services.tenants import tenant_create
from apps.identity.tests.factories import PASSWORD, UserFactory, make_membership
from apps.operations.ownership import owned_models


@dataclass
class Seeded:
    tenant: Tenant
    owner: User
    member: User
    file_key: str
    file_bytes: bytes


def seed(slug: str) -> Seeded:
    from apps.files.services import file_upload

    created = tenant_create(
        slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test", owner_password=PASSWORD, notify_owner=False
    )
    tenant, owner = created.tenant, created.owner
    member = UserFactory(email=f"member@{slug}.test")
    make_membership(user=member, tenant=tenant, role="member")
    body = f"notes of {slug}\n".encode()
    upload = ReceivedFile(
        io.BytesIO(body),
        given_name="notes.txt",
        content_type="text/plain",
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        charset=None,
    )
    with tenant_context(tenant):
        stored = file_upload(tenant=tenant, actor=owner, upload=upload)
        AnalyticsEvent.objects.create(user=member, portal=slug, event="page.viewed", properties={"n": 1.5})
    assert object_exists(key=stored.key)
    return Seeded(tenant=tenant, owner=owner, member=member, file_key=stored.key, file_bytes=body)


def tenant_rows(tenant_id: Any) -> dict[str, list[dict[str, Any]]]:
    """Every owned row of the tenant (and its tenant row), model by model, as field dicts in pk order."""
    with unscoped():
        found = {"identity.Tenant": list(Tenant.objects.filter(pk=tenant_id).order_by("pk").values())}
        for entry in owned_models():
            found[entry.label] = list(entry.rows(tenant_id).values())
    return found


def tenant_counts(tenant_id: Any) -> dict[str, int]:
    return {label: len(rows) for label, rows in tenant_rows(tenant_id).items()}


def scoped_count(model: type[models.Model], tenant_id: Any) -> int:
    """Rows of a tenant-scoped model through its own `all_tenants` manager (the walker's models)."""
    with unscoped():
        return int(model.all_tenants.filter(tenant_id=tenant_id).count())  # type: ignore[attr-defined]
