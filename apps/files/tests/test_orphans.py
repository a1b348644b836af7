"""The nightly orphan sweep: objects no row names (an upload whose transaction never committed) go; nothing else."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.common.tenancy import tenant_context
from apps.files.services import ORPHAN_GRACE, file_orphans_sweep, file_orphans_sweep_all
from apps.files.storage import object_exists, object_key, object_write
from apps.files.tests.support import PNG, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rbac_seeded")]


def _orphan(tenant) -> str:  # type: ignore[no-untyped-def]
    key = object_key(tenant_id=tenant.id, file_id=uuid.uuid4())
    return object_write(key=key, content=io.BytesIO(PNG), content_type="image/png")


def _sweep_and_check(owner_api, tenant, other_tenant):  # type: ignore[no-untyped-def]
    created = upload(owner_api, "kept.png", PNG, content_type="image/png")
    assert created.status_code == 201, created.content
    kept = object_key(tenant_id=tenant.id, file_id=created.json()["id"])
    orphan, foreign_orphan = _orphan(tenant), _orphan(other_tenant)

    # Fresh objects are left alone: an upload may still be committing.
    with tenant_context(tenant):
        assert file_orphans_sweep(tenant=tenant) == 0
    assert object_exists(key=orphan)

    later = timezone.now() + ORPHAN_GRACE + timedelta(minutes=1)
    with tenant_context(tenant):
        assert file_orphans_sweep(tenant=tenant, now=later) == 1
    assert not object_exists(key=orphan)
    assert object_exists(key=kept)  # its row names it
    assert object_exists(key=foreign_orphan)  # another tenant's prefix is that tenant's sweep

    assert file_orphans_sweep_all(now=later) == 1
    assert not object_exists(key=foreign_orphan)
    assert object_exists(key=kept)
    assert owner_api.get(f"/api/v1/files/{created.json()['id']}/").status_code == 200


def test_local_storage_orphans_are_swept(owner_api, tenant, other_tenant):
    _sweep_and_check(owner_api, tenant, other_tenant)


def test_bucket_orphans_are_swept(owner_api, tenant, other_tenant, s3):
    _sweep_and_check(owner_api, tenant, other_tenant)
    assert len(s3.keys()) == 1


def test_a_tenant_without_objects_sweeps_nothing(tenant):
    with tenant_context(tenant):
        assert file_orphans_sweep(tenant=tenant) == 0
