"""Tenant administration API: the caller's tenant, and its members (list, change role, remove).

Thin views: parse, call one service, render. The base classes authenticate,
check `required_permissions` and enter the token's tenant context; the
services re-check what they need from the database.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.exceptions import NotFound
from apps.common.net import client_ip
from apps.common.prepared import PreparedQuerySet
from apps.identity.api.base import TenantAPIView, TenantViewSet
from apps.identity.models import Membership, Role
from apps.identity.permissions import MANAGE_MEMBER, VIEW_MEMBER
from apps.identity.principal import TenantRef
from apps.identity.selectors import membership_list
from apps.identity.services import members

# --------------------------------------------------------------------------- serializers


class TenantDetailOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "suspended", "offboarded"])
    plan = serializers.CharField(source="plan_code", help_text="The plan code.")


class MemberUserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()


class MemberOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The membership id.")
    user = MemberUserOutputSerializer()
    role = serializers.CharField(source="role.code", help_text="The role code.")
    status = serializers.ChoiceField(choices=["active", "suspended"])


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.CharField(max_length=50, help_text="A system role code or one of the tenant's custom roles.")


# --------------------------------------------------------------------------- views


class TenantDetailView(TenantAPIView):
    """The caller's tenant."""

    required_permissions = {"get": set()}

    @extend_schema(operation_id="identity_tenant_get", responses={200: TenantDetailOutputSerializer, **problems(401)})
    def get(self, request: Request) -> Response:
        return Response(TenantDetailOutputSerializer(self.tenant_row).data)


def _member_rows(tenant_id: UUID) -> QuerySet[Any]:
    """`membership_list` as the page reads it: plain values, each member's user joined and role code beside it.

    The role code is a scalar subquery, not a join: PostgreSQL evaluates it for the page's rows
    only, after the limit, where a join on the roles table made the planner sort the tenant's
    every member (`membership_list`).
    """
    role_code = Role.objects.filter(id=OuterRef("role_id")).values("code")[:1]
    return (
        membership_list(tenant=TenantRef(id=tenant_id, slug=""))
        .prefetch_related(None)
        .annotate(role_code=Subquery(role_code))
        .values("id", "user_id", "user__email", "user__name", "role_code", "status")
    )


# Each page size and number compiled once per process: building and compiling it cost more than running it.
_PAGES = PreparedQuerySet(_member_rows, model=Membership)


def _member(row: dict[str, Any]) -> dict[str, Any]:
    """`MemberOutputSerializer`'s shape from plain values (the serializer documents it)."""
    user = {"id": row["user_id"], "email": row["user__email"], "name": row["user__name"]}
    return {"id": row["id"], "user": user, "role": row["role_code"], "status": row["status"]}


def _membership_id(raw: Any) -> UUID:
    try:
        return UUID(str(raw))
    except ValueError as exc:
        raise NotFound("No such member.") from exc


class MemberViewSet(TenantViewSet):
    """The tenant's members: `id` is the membership id."""

    required_permissions = {
        "list": {VIEW_MEMBER},
        "partial_update": {MANAGE_MEMBER},
        "destroy": {MANAGE_MEMBER},
    }
    lean_actions = frozenset({"list"})

    def scoped_queryset(self) -> QuerySet[Membership]:
        return membership_list(tenant=self.tenant)

    @extend_schema(
        operation_id="identity_members_list",
        responses={200: MemberOutputSerializer(many=True), **problems(401, 403)},
    )
    def list(self, request: Request) -> Response:
        # `membership_list`'s rows as plain values, through its prepared form (ADR 0018).
        page: list[dict[str, Any]] = self.paginate_queryset(_PAGES.bind(tenant_id=self.tenant.id)) or []  # type: ignore[arg-type]
        return self.get_paginated_response([_member(row) for row in page])

    @extend_schema(
        operation_id="identity_members_update",
        description=(
            "Change a member's role. Only an owner grants `owner` or changes an owner's role, and nobody "
            "assigns a role with permissions they do not hold (403); the last owner cannot be demoted (409). "
            "The member's sessions in this tenant end at once."
        ),
        request=MemberUpdateInputSerializer,
        responses={200: MemberOutputSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def partial_update(self, request: Request, id: str) -> Response:
        data = MemberUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = members.membership_change_role(
            tenant=self.tenant_row,
            actor=self.actor,
            membership_id=_membership_id(id),
            role=data.validated_data["role"],
            ip=client_ip(request),
        )
        return Response(MemberOutputSerializer(membership).data)

    @extend_schema(
        operation_id="identity_members_delete",
        description=(
            "Remove a member. Only an owner removes an owner (403); the last owner stays (409). "
            "The member's sessions in this tenant end at once."
        ),
        request=None,
        responses={204: None, **problems(401, 403, 404, 409)},
    )
    def destroy(self, request: Request, id: str) -> Response:
        members.membership_remove(
            tenant=self.tenant_row,
            actor=self.actor,
            membership_id=_membership_id(id),
            ip=client_ip(request),
        )
        return Response(status=204)
