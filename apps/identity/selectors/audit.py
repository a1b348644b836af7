"""Reads of the audit trail for the API; the writes and the chain check are in `services.audit`."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.common.tenancy import TenantLike
from apps.identity.models import AuditEvent


def audit_event_list(*, tenant: TenantLike) -> QuerySet[AuditEvent]:
    """The current tenant's events, newest first (the order of the tenant/created index).

    Call inside `tenant`'s context: the scoped manager raises without one, and
    the explicit filter refuses to return another tenant's rows if the two differ.
    """
    return AuditEvent.objects.filter(tenant_id=tenant.id).order_by("-created_at", "-seq")
