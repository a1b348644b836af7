"""Roles API: the system roles and the tenant's custom roles (list, create, change, delete).

Thin views: parse, call one service, render. `{code}` names a system role or
one of the caller's tenant's custom roles; another tenant's code is 404.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api import problems
from apps.common.net import client_ip
from apps.identity.api.base import TenantViewSet
from apps.identity.models import Role
from apps.identity.permissions import MANAGE_ROLE, VIEW_ROLE
from apps.identity.selectors import role_list
from apps.identity.services import roles

# --------------------------------------------------------------------------- serializers


class RoleOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    system = serializers.BooleanField(help_text="A system role (owner, admin, member): read-only.")


class RoleCreateInputSerializer(serializers.Serializer):
    code = serializers.RegexField(
        roles.ROLE_CODE_RE,
        max_length=roles.ROLE_CODE_MAX,
        help_text="Lower-case slug, unique in the tenant; the system codes owner, admin and member are reserved (409).",
        error_messages={"invalid": "Use lower-case letters, digits, '-' and '_'."},
    )
    name = serializers.CharField(max_length=roles.ROLE_NAME_MAX)
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=roles.PERMISSIONS_MAX, allow_empty=True
    )


class RoleUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=roles.ROLE_NAME_MAX, required=False)
    permissions = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=roles.PERMISSIONS_MAX, allow_empty=True, required=False
    )


# --------------------------------------------------------------------------- views


class RoleViewSet(TenantViewSet):
    """System roles first, then the tenant's custom roles, each by code."""

    required_permissions = {
        "list": {VIEW_ROLE},
        "create": {MANAGE_ROLE},
        "partial_update": {MANAGE_ROLE},
        "destroy": {MANAGE_ROLE},
    }

    def scoped_queryset(self) -> QuerySet[Role]:
        return role_list(tenant=self.tenant)

    @extend_schema(
        operation_id="identity_roles_list",
        responses={200: RoleOutputSerializer(many=True), **problems(401, 403)},
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RoleOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="identity_roles_create",
        description=(
            "Create a custom role. Permission codes must exist (400) and the caller must hold each (403). "
            "409 when the tenant already has the code, or the code is a system role's (reserved)."
        ),
        request=RoleCreateInputSerializer,
        responses={201: RoleOutputSerializer, **problems(400, 401, 403, 409)},
    )
    def create(self, request: Request) -> Response:
        data = RoleCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = roles.role_create(
            tenant=self.tenant_row,
            actor=self.actor,
            code=data.validated_data["code"],
            name=data.validated_data["name"],
            permissions=data.validated_data["permissions"],
            ip=client_ip(request),
        )
        return Response(RoleOutputSerializer(role).data, status=201)

    @extend_schema(
        operation_id="identity_roles_update",
        description=(
            "Rename a custom role or replace its permissions; its holders get the new permissions at their "
            "next request. System roles cannot be changed (409); added codes must exist (400) and be held "
            "by the caller (403)."
        ),
        request=RoleUpdateInputSerializer,
        responses={200: RoleOutputSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def partial_update(self, request: Request, code: str) -> Response:
        data = RoleUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        role = roles.role_update(
            tenant=self.tenant_row,
            actor=self.actor,
            code=code,
            name=data.validated_data.get("name"),
            permissions=data.validated_data.get("permissions"),
            ip=client_ip(request),
        )
        return Response(RoleOutputSerializer(role).data)

    @extend_schema(
        operation_id="identity_roles_delete",
        description=(
            "Delete a custom role. System roles (409) and roles held by a member or offered by a pending "
            "invitation (409) stay."
        ),
        request=None,
        responses={204: None, **problems(401, 403, 404, 409)},
    )
    def destroy(self, request: Request, code: str) -> Response:
        roles.role_delete(
            tenant=self.tenant_row,
            actor=self.actor,
            code=code,
            ip=client_ip(request),
        )
        return Response(status=204)
