"""GET `audit-events/`: the tenant's audit trail, newest first, cursor-paginated (no COUNT).

The list grows without bound, so it pages by cursor over the
(tenant, -created_at, -seq) index: each page is one indexed range query
whatever its depth. Actor and target come from the event row itself (the
e-mail as it was when the event happened), so no join and no query per row.

`data` is the event's details as stored, passed through the one redaction rule
(`audit_data_redacted` in `services/audit/redaction.py`): a value under a password,
token, code, secret or key-looking key comes out as `[REDACTED]`, whatever row
it is read from — new events already omit them, older ones may not.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.pagination import NewestFirstCursorPagination
from apps.common.prepared import PreparedQuerySet
from apps.identity.api.base import TenantViewSet
from apps.identity.models import AuditEvent
from apps.identity.permissions import VIEW_AUDIT
from apps.identity.principal import TenantRef
from apps.identity.selectors import audit_event_list
from apps.identity.services.audit import audit_data_redacted

# --------------------------------------------------------------------------- serializers


class AuditActorOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.CharField(help_text="The actor's e-mail when the event happened.")


class AuditTargetOutputSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="What kind of object, e.g. `identity.portal` or `session`.")
    id = serializers.CharField()


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    action = serializers.CharField(help_text="e.g. `auth.login`, `member.role_changed`, `portal.updated`.")
    actor = AuditActorOutputSerializer(allow_null=True, help_text="Null for events with no acting user.")
    target = AuditTargetOutputSerializer(allow_null=True)
    ip = serializers.IPAddressField(allow_null=True)
    created_at = serializers.DateTimeField()
    # The contract's name. DRF's metaclass moves declared fields into `fields`, so the
    # serializer's own `.data` property is untouched; only the type checker objects.
    data = serializers.DictField(  # type: ignore[assignment]
        help_text="The event's details, e.g. `portal`, `role`, `reason`, `count`. Redacted: any value under a "
        "password, token, code, secret or key-looking key is `[REDACTED]`. `{}` when there are none.",
    )


def _row(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event["id"],
        "action": event["action"],
        "actor": {"id": event["actor_id"], "email": event["actor_email"]} if event["actor_id"] is not None else None,
        "target": {"type": event["target_type"], "id": event["target_id"]} if event["target_type"] else None,
        "ip": event["ip"],
        "created_at": event["created_at"],
        "data": audit_data_redacted(action=event["action"], data=event["data"]),
    }


# --------------------------------------------------------------------------- pagination


class AuditEventCursorPagination(NewestFirstCursorPagination):
    """Newest first in the order of the (tenant, -created_at, -seq) index."""

    ordering = ("-created_at", "-seq")


# --------------------------------------------------------------------------- views


def _events(tenant_id: UUID) -> QuerySet[Any]:
    """The rows of a page, as plain values: they are read, never saved. (The cursor reads `created_at`.)"""
    return audit_event_list(tenant=TenantRef(id=tenant_id, slug="")).values(
        "id", "action", "actor_id", "actor_email", "target_type", "target_id", "ip", "created_at", "data"
    )


# Each page shape compiled once per process (ADR 0018): building and compiling the page query cost more than running it.
_PAGES = PreparedQuerySet(_events, model=AuditEvent)


class AuditEventViewSet(TenantViewSet):
    required_permissions = {"list": {VIEW_AUDIT}}
    lean_actions = frozenset({"list"})
    # Unbounded list: cursor, not pages. (The base class's attribute is typed as its PagePagination.)
    pagination_class = AuditEventCursorPagination

    def scoped_queryset(self) -> QuerySet[Any]:
        return _events(self.tenant.id)

    @extend_schema(
        operation_id="identity_audit_events_list",
        description="The tenant's audit events, newest first. Follow `next` for older events (cursor pagination).",
        responses={200: AuditEventOutputSerializer(many=True), **problems(401, 403, 404)},
    )
    def list(self, request: Request) -> Response:
        # The same rows as `scoped_queryset()`, through its prepared form; the tenant context checks them as ever.
        page: list[dict[str, Any]] = self.paginate_queryset(_PAGES.bind(tenant_id=self.tenant.id)) or []  # type: ignore[arg-type]
        # `_row` builds the documented shape from plain values: no serializer pass over each row.
        return self.get_paginated_response([_row(e) for e in page])
