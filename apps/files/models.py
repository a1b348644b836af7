"""Files a tenant uploaded: the metadata row; the bytes live in the storage under `key`."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from apps.common.models import TenantScopedModel


class File(TenantScopedModel):
    """One uploaded file.

    `name` is the name as the uploader gave it (shown to users, escaped on
    output); `safe_name` is the sanitised form used in download headers
    (`apps.files.names`). `content_type` is what the bytes are, not what the
    client said. `key` is the object's key in the storage,
    `tenants/<tenant id>/files/<id>`: no user input in it. A row is written
    only after its object, and its object is removed only after the row's
    deletion commits, so no row points at a missing object.
    """

    name = models.CharField(max_length=255)
    safe_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    key = models.CharField(max_length=300)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(TenantScopedModel.Meta):
        constraints: ClassVar = [models.UniqueConstraint(fields=["tenant", "key"], name="files_file_tenant_key_unique")]
        # The tenant's list, newest first, in the cursor's order (-created_at, -id).
        indexes: ClassVar = [models.Index(fields=["tenant", "-created_at", "-id"], name="files_file_newest")]

    def __str__(self) -> str:
        return f"{self.safe_name} ({self.size} bytes)"
