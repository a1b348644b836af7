"""The global offboarding log: which tenant left, when, who ran it, and the archive that holds its data.

Global (no tenant wall): the tenant's rows are gone when this row is written.
The legal record is the export archive; this row proves which archive it was
(the SHA-256 of its manifest). The field is `former_tenant_id`, not
`tenant_id`, so the ownership walk never mistakes the log for tenant data.
"""

from __future__ import annotations

from django.db import models

from apps.common.models import BaseModel


class OffboardingRecord(BaseModel):
    former_tenant_id = models.UUIDField()
    slug = models.CharField(max_length=63)
    offboarded_at = models.DateTimeField()
    operator = models.CharField(max_length=150)
    manifest_sha256 = models.CharField(max_length=64)
    rows_erased = models.PositiveBigIntegerField(default=0)
    objects_erased = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["former_tenant_id"], name="operations_offboard_tenant")]

    def __str__(self) -> str:
        return f"{self.slug} offboarded {self.offboarded_at:%Y-%m-%d}"
