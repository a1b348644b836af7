"""Reads of the tenant's files (the current tenant context scopes every query)."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet, Sum

from apps.common.exceptions import NotFound
from apps.common.tenancy import TenantLike
from apps.files.models import File

# What the list and detail render; nothing else is read.
LIST_FIELDS = ("id", "name", "size", "content_type", "sha256", "created_at", "uploaded_by_id")


def file_list(*, tenant: TenantLike) -> QuerySet[File]:
    """The tenant's files, newest first (the cursor's order, on the (tenant, -created_at, -id) index)."""
    return File.objects.filter(tenant_id=tenant.id).order_by("-created_at", "-id")


def file_get(*, tenant: TenantLike, file_id: UUID | str) -> File:
    """One of the tenant's files; 404 for an unknown id or another tenant's file alike."""
    file: File | None = File.objects.filter(tenant_id=tenant.id, id=file_id).first()
    if file is None:
        raise NotFound("No such file.")
    return file


def file_storage_used(*, tenant: TenantLike) -> int:
    """Bytes the tenant's files take (what the storage quota is measured against)."""
    total = File.objects.filter(tenant_id=tenant.id).aggregate(total=Sum("size"))["total"]
    return int(total or 0)
