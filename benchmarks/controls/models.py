"""The stock control's table: a copy of the audit rows, made and indexed by the harness (benchmarks/seed.py).

Unmanaged: no migration creates it. The harness copies `identity_auditevent` into it
with `CREATE TABLE … AS`, without row-level security, and indexes `(tenant_id, seq DESC)`,
the index a team would add for "newest first in my tenant".
"""

from __future__ import annotations

from django.db import models


class StockAuditRow(models.Model):
    id = models.UUIDField(primary_key=True)
    tenant_id = models.UUIDField()
    seq = models.BigIntegerField()
    action = models.CharField(max_length=100)
    actor_id = models.UUIDField(null=True)
    actor_email = models.CharField(max_length=254)
    target_type = models.CharField(max_length=50)
    target_id = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True)
    data = models.JSONField()
    created_at = models.DateTimeField()

    objects: models.Manager[StockAuditRow] = models.Manager()

    class Meta:
        managed = False
        db_table = "bench_stock_auditrow"
        default_permissions = ()

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"
