"""Abstract base models every Atrium table builds on."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from apps.common.tenancy import TenantContextMissing, TenantMismatch, current_tenant, is_unscoped, require_tenant


class UUIDModel(models.Model):
    """UUID primary key: ids in URLs reveal neither counts nor order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(models.Model):
    # A default, not auto_now_add: rows that hash their own time (audit) set it first.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class BaseModel(UUIDModel, TimestampedModel):
    """UUID id plus created/updated timestamps."""

    class Meta:
        abstract = True


_M = TypeVar("_M", bound=models.Model)


class TenantScopedManager(models.Manager[_M]):
    """`objects`: only the current tenant's rows; raises without a tenant context.

    Inside `unscoped()` with no tenant set it sees every row, because Django's
    own machinery (saves, cascades) goes through the base manager.
    """

    def get_queryset(self) -> models.QuerySet[_M]:
        if is_unscoped() and current_tenant() is None:
            return super().get_queryset()
        tenant = require_tenant()
        return super().get_queryset().filter(tenant_id=tenant.id)


class AllTenantsManager(models.Manager[_M]):
    """`all_tenants`: every tenant's rows, only inside `with unscoped():`."""

    def get_queryset(self) -> models.QuerySet[_M]:
        if not is_unscoped():
            raise TenantContextMissing("`all_tenants` is only usable inside `with unscoped():` (operator code).")
        return super().get_queryset()


class TenantScopedModel(BaseModel):
    """A row owned by one tenant: `tenant` NOT NULL, filtered by the current context."""

    tenant = models.ForeignKey(
        settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False, editable=False
    )

    objects: TenantScopedManager[Any] = TenantScopedManager()
    all_tenants: AllTenantsManager[Any] = AllTenantsManager()

    class Meta:
        abstract = True
        default_permissions = ()
        base_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        tenant = current_tenant()
        if self.tenant_id is None:
            self.tenant_id = require_tenant().id
        elif tenant is not None and str(self.tenant_id) != str(tenant.id):
            raise TenantMismatch("This row belongs to another tenant than the current context.")
        elif tenant is None and not is_unscoped():
            require_tenant()
        super().save(*args, **kwargs)


class OutboxMessage(BaseModel):
    """A job that a committed write promises, relayed to RQ once the write commits.

    Global table (not tenant scoped): it is relay infrastructure, swept across
    every tenant by the operator job `outbox_sweep`; `tenant_id` records the
    tenant whose context the job re-enters in the worker.

    `pending` → written, not yet handed to RQ (Redis down at commit: the sweep
    retries); `relayed` → on an RQ queue; `done` → ran to completion (a re-run
    skips it); `failed` → the last run raised, RQ retries it per the job's
    `Retry` or keeps it in the failed registry.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RELAYED = "relayed", "Relayed"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    job_path = models.CharField(max_length=255)
    kwargs = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    queue = models.CharField(max_length=64, default="default")
    tenant_id = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    relayed_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="common_outbox_status_created"),
            # `outbox_purge`'s daily look for done rows past retention, without reading the table.
            models.Index(fields=["done_at"], condition=models.Q(status="done"), name="common_outbox_done_at"),
            # `outbox_sweep`'s stale pass (every 30 s), oldest relayed first, without sorting every relayed row.
            models.Index(fields=["relayed_at"], condition=models.Q(status="relayed"), name="common_outbox_relayed_at"),
            # Export and offboarding read and erase a tenant's rows.
            models.Index(fields=["tenant_id"], name="common_outbox_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.job_path} [{self.status}]"


class IdempotencyRecord(TenantScopedModel):
    """The first response to a create request sent with an `Idempotency-Key` (see `apps.common.idempotency`).

    One row per (tenant, user, endpoint, key). `fingerprint` is the SHA-256 of the
    request (canonical JSON body, or what the view supplies); `status_code` is
    NULL while the first request is still running.
    """

    user_id = models.UUIDField()
    endpoint = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, blank=True)

    class Meta(TenantScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user_id", "endpoint", "key"], name="common_idempotency_scope_unique"
            )
        ]
        # The purge walks rows by age within a tenant.
        indexes = [models.Index(fields=["tenant", "created_at"], name="common_idempotency_tenant_age")]

    def __str__(self) -> str:
        return f"idempotency key {self.key!r} on {self.endpoint}"
